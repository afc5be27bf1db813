//! What the runtime tests share: the fixture binaries, function configs and waiting helpers.
// Test helpers: failing loudly is their job.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

use local_lambda::{FunctionConfig, FunctionError, Invocation, LogSink, Outcome, RuntimeOptions};
use serde_json::Value;

/// Path of a `local-fixtures` binary, building the crate once per test binary.
pub fn fixture(name: &str) -> PathBuf {
    static BINARIES: OnceLock<HashMap<String, PathBuf>> = OnceLock::new();
    BINARIES
        .get_or_init(build_fixtures)
        .get(name)
        .cloned()
        .unwrap_or_else(|| panic!("no fixture binary named {name}"))
}

fn build_fixtures() -> HashMap<String, PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let output = Command::new(cargo)
        .args([
            "build",
            "-p",
            "local-fixtures",
            "--bins",
            "--message-format=json-render-diagnostics",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stderr(Stdio::inherit())
        .output()
        .expect("run cargo build for the fixtures");
    assert!(output.status.success(), "building local-fixtures failed");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|message| message["reason"] == "compiler-artifact")
        .filter(|message| {
            message["target"]["kind"]
                .as_array()
                .is_some_and(|kinds| kinds.iter().any(|k| k == "bin"))
        })
        .filter_map(|message| {
            let name = message["target"]["name"].as_str()?.to_string();
            let executable = message["executable"].as_str()?;
            Some((name, PathBuf::from(executable)))
        })
        .collect()
}

/// A function running `fixture`, with a small environment of its own.
pub fn function(name: &str, fixture_name: &str) -> FunctionConfig {
    FunctionConfig {
        name: name.to_string(),
        arn: format!("arn:aws:lambda:us-east-1:123456789012:function:{name}"),
        executable: fixture(fixture_name),
        environment: BTreeMap::from([
            ("AWS_REGION".to_string(), "us-east-1".to_string()),
            ("FIXTURE_GREETING".to_string(), "hello".to_string()),
        ]),
        timeout: Duration::from_secs(10),
        memory_mb: 256,
        max_instances: 4,
    }
}

pub fn options() -> RuntimeOptions {
    RuntimeOptions {
        init_timeout: Duration::from_secs(10),
        log_sink: LogSink::discard(),
    }
}

pub fn success(invocation: &Invocation) -> Value {
    match &invocation.outcome {
        Outcome::Success(body) => serde_json::from_slice(body).expect("a JSON response"),
        Outcome::Error(error) => panic!("expected success, got {error:?}"),
    }
}

pub fn failure(invocation: &Invocation) -> &FunctionError {
    match &invocation.outcome {
        Outcome::Error(error) => error,
        Outcome::Success(body) => panic!("expected an error, got {body:?}"),
    }
}

pub fn json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).expect("JSON")
}

/// Polls `check` until it holds, failing the test after `limit`.
pub async fn eventually(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    while !check() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn process_exists(pid: u32) -> bool {
    // A reaped process has no /proc entry; a zombie would still show with state Z.
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok()
}

/// Processes whose parent is this test process.
pub fn children() -> Vec<u32> {
    let me = std::process::id();
    std::fs::read_dir("/proc")
        .expect("read /proc")
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| {
                    let after_name = &stat[stat.rfind(')')? + 1..];
                    after_name.split_whitespace().nth(1)?.parse::<u32>().ok()
                })
                == Some(me)
        })
        .collect()
}
