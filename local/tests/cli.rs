//! `local up` as a developer runs it: the repository's template comes up, answers
//! `GET /v1/health`, and Ctrl-C stops it without leaving any process behind; when the emulator
//! dies under it, it says so and stops.

// Helpers outside the test functions fail the test on a setup error too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Pids of the live children of `pid`.
fn children(pid: u32) -> Vec<u32> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Some(child) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else {
            continue;
        };
        // The fields after the parenthesised command name: state, ppid, ...
        let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let ppid = after
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(pid) {
            found.push(child);
        }
    }
    found
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|stat| {
            let state = stat
                .rsplit_once(')')
                .map_or("", |(_, rest)| rest)
                .split_whitespace()
                .next();
            state != Some("Z")
        })
        .unwrap_or(false)
}

fn http_get(url: &str) -> (u16, String) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http::<http_body_util::Empty<bytes::Bytes>>();
        let response = client.get(url.parse().unwrap()).await.unwrap();
        let status = response.status().as_u16();
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .unwrap()
            .to_bytes();
        (status, String::from_utf8_lossy(&body).into_owned())
    })
}

/// A running `local up` of the repository's template.
struct Up {
    child: std::process::Child,
    lines: mpsc::Receiver<String>,
    url: String,
}

impl Up {
    /// Starts `local up` and waits until its summary names the HTTP API's address.
    fn start(stack_name: &str) -> Self {
        let root = local::paths::repo_root();
        let mut child = Command::new(env!("CARGO_BIN_EXE_local"))
            .current_dir(&root)
            .args(["up", "--port", "0", "--stack-name", stack_name])
            .env("RUST_LOG", "warn,local=info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (lines_tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let deadline = Instant::now() + Duration::from_secs(300);
        let mut log = Vec::new();
        let url = loop {
            let line = lines
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
                .unwrap_or_else(|_| {
                    panic!("no API address printed; log so far:\n{}", log.join("\n"))
                });
            log.push(line.clone());
            if let Some(start) = line.find("HttpApi") {
                let rest = &line[start..];
                if let Some(at) = rest.find("http://") {
                    break rest[at..].split_whitespace().next().unwrap().to_owned();
                }
            }
        };
        Self { child, lines, url }
    }

    /// Waits up to `within` for `local up` to exit, and returns its status.
    fn exit_status(&mut self, within: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "local up did not stop");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[test]
fn up_serves_the_template_and_ctrl_c_leaves_no_process_behind() {
    let mut up = Up::start("cli-test");
    let url = up.url.clone();

    let (status, body) = http_get(&format!("{url}/v1/health"));
    assert_eq!(status, 200, "{body}");
    let health: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(health["status"], "ok");

    let (status, body) = http_get(&format!("{url}/v1/no-such-route"));
    assert_eq!(status, 404, "{body}");
    let problem: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(problem["status"], 404);
    assert!(problem["code"].is_string());

    let started: Vec<u32> = children(up.child.id());
    assert!(
        started.len() >= 3,
        "the emulator and two function instances run as children: {started:?}"
    );

    // Ctrl-C.
    let pid = i32::try_from(up.child.id()).unwrap();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    let status = up.exit_status(Duration::from_secs(20));
    assert!(status.success(), "local up exits cleanly: {status}");
    let left: Vec<u32> = started.into_iter().filter(|pid| alive(*pid)).collect();
    assert!(left.is_empty(), "processes left behind: {left:?}");
}

#[test]
fn up_stops_and_says_why_when_the_emulator_dies_under_it() {
    let mut up = Up::start("cli-emulator-death");
    let (status, body) = http_get(&format!("{}/v1/health", up.url));
    assert_eq!(status, 200, "{body}");

    let started: Vec<u32> = children(up.child.id());
    let emulator = started
        .iter()
        .copied()
        .find(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|cmdline| String::from_utf8_lossy(&cmdline).contains("_server.py"))
        })
        .unwrap_or_else(|| panic!("no emulator among the children {started:?}"));
    assert!(
        Command::new("kill")
            .args(["-KILL", &emulator.to_string()])
            .status()
            .unwrap()
            .success()
    );

    let status = up.exit_status(Duration::from_secs(30));
    assert!(!status.success(), "a lost emulator is a failure: {status}");
    // The rest of what it printed, up to the end of its output.
    let mut said = Vec::new();
    while let Ok(line) = up.lines.recv_timeout(Duration::from_secs(5)) {
        said.push(line);
    }
    assert!(
        said.iter().any(|line| line.contains("emulator exited")
            && line.contains("SIGKILL")
            && line.contains("lost")),
        "{said:#?}"
    );
    let left: Vec<u32> = started.into_iter().filter(|pid| alive(*pid)).collect();
    assert!(left.is_empty(), "processes left behind: {left:?}");
}

#[test]
fn invoke_runs_one_function_with_a_sample_event_and_prints_its_response() {
    let root = local::paths::repo_root();
    let output = Command::new(env!("CARGO_BIN_EXE_local"))
        .current_dir(&root)
        .args([
            "invoke",
            "HealthFunction",
            "--event",
            "events/health.json",
            "--stack-name",
            "cli-invoke",
        ])
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let response: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(response["statusCode"], 200);
    let body: serde_json::Value = serde_json::from_str(response["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["status"], "ok");
}

#[test]
fn invoke_names_an_unknown_function() {
    let output = Command::new(env!("CARGO_BIN_EXE_local"))
        .current_dir(local::paths::repo_root())
        .args(["invoke", "NoSuchFunction", "--stack-name", "cli-unknown"])
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("NoSuchFunction"), "{stderr}");
}
