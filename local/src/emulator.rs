//! The AWS API emulator, pinned, installed into a project-local environment on first use, and
//! started on a free loopback port: MiniStack by default, moto with `LOCAL_EMULATOR=moto`
//! (see [`Kind`]).
//!
//! It serves DynamoDB, SNS, SQS, Secrets Manager and SES. DynamoDB applies each request
//! atomically as on AWS (MiniStack serves it one request at a time; `moto_server.py` puts a lock
//! around moto's), and both keep the emails and SMS sent through them and count the calls they
//! serve the same way (`local/emulator/recording.py`, read by [`crate::mailbox`] and
//! [`call_counts`]). The emulator exits when its standard input closes, so it never outlives
//! the process that started it.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::{oneshot, watch};

use crate::paths;

/// The region every local resource lives in.
pub const REGION: &str = "us-east-1";
/// The account every local resource belongs to.
pub const ACCOUNT_ID: &str = "123456789012";
/// Credentials the functions and the stack sign with (the emulator accepts any).
pub const ACCESS_KEY_ID: &str = "local";
/// See [`ACCESS_KEY_ID`].
pub const SECRET_ACCESS_KEY: &str = "local";

const START_TIMEOUT: Duration = Duration::from_secs(60);

/// Installs the pinned Python environment `name` (`local/python/<name>.txt`) if needed and
/// returns its directory. Concurrent callers wait for one installer.
pub async fn install_tools(root: &Path, name: &str) -> anyhow::Result<PathBuf> {
    let script = root.join("local/python/install.sh");
    let status = Command::new("bash")
        .arg(&script)
        .arg(name)
        .env("LOCAL_TOOLS_DIR", paths::tools_dir(root))
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("run {}", script.display()))?
        .wait()
        .await
        .with_context(|| format!("wait for {}", script.display()))?;
    if !status.success() {
        bail!("installing the {name} tools failed ({status}); see the output above");
    }
    Ok(paths::tools_dir(root).join(name))
}

/// Which emulator serves the AWS APIs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// MiniStack (`local/emulator/ministack_server.py`): the default.
    MiniStack,
    /// moto in server mode (`local/emulator/moto_server.py`).
    Moto,
}

impl Kind {
    /// The environment variable that chooses the emulator: `ministack` (the default) or `moto`.
    pub const SETTING: &str = "LOCAL_EMULATOR";

    /// The emulator [`Self::SETTING`] names.
    ///
    /// # Errors
    /// When it names neither.
    pub fn from_env() -> anyhow::Result<Self> {
        match std::env::var(Self::SETTING) {
            Err(std::env::VarError::NotPresent) => Ok(Self::MiniStack),
            Ok(value) => value.parse(),
            Err(err) => bail!("{}: {err}", Self::SETTING),
        }
    }

    /// The name of its pinned Python environment (`local/python/<name>.txt`).
    pub fn name(self) -> &'static str {
        match self {
            Self::MiniStack => "ministack",
            Self::Moto => "moto",
        }
    }
}

impl std::str::FromStr for Kind {
    type Err = anyhow::Error;

    fn from_str(value: &str) -> anyhow::Result<Self> {
        match value.trim().to_ascii_lowercase().as_str() {
            "" | "ministack" => Ok(Self::MiniStack),
            "moto" => Ok(Self::Moto),
            other => bail!(
                "{}={other:?}: the emulator is `ministack` (the default) or `moto`",
                Self::SETTING
            ),
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A running emulator process.
///
/// A task owns the process: it stops it when asked (or when the `Emulator` is dropped) and
/// reports its exit, so that a stack notices an emulator that died under it ([`Self::exited`]).
#[derive(Debug)]
pub struct Emulator {
    stop: Option<oneshot::Sender<()>>,
    exit: watch::Receiver<Option<String>>,
    supervisor: Option<tokio::task::JoinHandle<()>>,
    endpoint: String,
    kind: Kind,
    pid: Option<u32>,
}

impl Emulator {
    /// Installs (first run only) and starts the emulator [`Kind::SETTING`] chooses on
    /// `127.0.0.1:port` (0 picks a free port), returning once it accepts requests.
    pub async fn start(root: &Path, port: u16) -> anyhow::Result<Self> {
        Self::start_kind(root, Kind::from_env()?, port).await
    }

    /// Installs (first run only) and starts the emulator `kind` on `127.0.0.1:port` (0 picks a
    /// free port), returning once it accepts requests.
    pub async fn start_kind(root: &Path, kind: Kind, port: u16) -> anyhow::Result<Self> {
        let venv = install_tools(root, kind.name()).await?;
        let python = venv.join("bin/python");
        let script = root.join(format!("local/emulator/{}_server.py", kind.name()));
        let started = Instant::now();
        let mut child = Command::new(&python)
            .arg(&script)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .env("PYTHONUNBUFFERED", "1")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("start {} {}", python.display(), script.display()))?;

        let stdout = child.stdout.take().context("emulator stdout")?;
        let stderr = child.stderr.take().context("emulator stderr")?;
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                tracing::debug!(target: "local::emulator", "{line}");
            }
        });
        let mut lines = BufReader::new(stdout).lines();
        let first = tokio::time::timeout(START_TIMEOUT, lines.next_line())
            .await
            .with_context(|| format!("the emulator ({kind}) did not start within 60 s"))?
            .context("read the emulator's port")?;
        let Some(first) = first else {
            let status = child.wait().await.context("wait for the emulator")?;
            bail!(
                "the emulator ({kind}) exited before it was ready ({status}); run with RUST_LOG=local::emulator=debug to see why"
            );
        };
        let port = serde_json::from_str::<serde_json::Value>(&first)
            .ok()
            .and_then(|v| v.get("port")?.as_u64())
            .and_then(|p| u16::try_from(p).ok())
            .with_context(|| format!("unexpected first line from the emulator: {first}"))?;
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        tracing::debug!(target: "local::emulator", %kind, port, elapsed_ms = started.elapsed().as_millis() as u64, "emulator ready");

        let (stop, stopped) = oneshot::channel();
        let (exited, exit) = watch::channel(None);
        let stdin = child.stdin.take();
        let pid = child.id();
        let supervisor = tokio::spawn(supervise(child, stdin, stopped, exited));
        Ok(Self {
            stop: Some(stop),
            exit,
            supervisor: Some(supervisor),
            endpoint: format!("http://127.0.0.1:{port}"),
            kind,
            pid,
        })
    }

    /// Resolves when the emulator process exits without having been asked to stop, with its
    /// exit status (`signal: 9 (SIGKILL)`, `exit status: 1`).
    pub async fn exited(&self) -> String {
        let mut exit = self.exit.clone();
        match exit.wait_for(Option::is_some).await {
            Ok(status) => status.clone().unwrap_or_default(),
            // The supervisor is gone only once the emulator was stopped: never resolve then.
            Err(_) => std::future::pending().await,
        }
    }

    /// `http://127.0.0.1:<port>`: the value of `AWS_ENDPOINT_URL` for everything that talks to it.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The emulator's process id (for benchmarks reading its memory).
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// Which emulator this is.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// SDK configuration pointing at this emulator with the local region and credentials.
    pub async fn sdk_config(&self) -> SdkConfig {
        sdk_config(&self.endpoint).await
    }

    /// Stops the emulator and waits for it to exit.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(supervisor) = self.supervisor.take() {
            let _ = supervisor.await;
        }
    }
}

/// Owns the emulator process: publishes its exit status if it dies, and stops it (closing its
/// standard input, then killing it after 2 s) when told to or when the [`Emulator`] is dropped.
async fn supervise(
    mut child: Child,
    stdin: Option<ChildStdin>,
    stopped: oneshot::Receiver<()>,
    exited: watch::Sender<Option<String>>,
) {
    tokio::select! {
        status = child.wait() => {
            let status = status.map_or_else(|e| format!("unknown status: {e}"), |s| s.to_string());
            tracing::debug!(target: "local::emulator", %status, "emulator exited");
            exited.send_replace(Some(status));
        }
        _ = stopped => {
            drop(stdin);
            if tokio::time::timeout(Duration::from_secs(2), child.wait()).await.is_err() {
                let _ = child.kill().await;
            }
        }
    }
}

/// SDK configuration for an emulator at `endpoint`, independent of the host's AWS settings.
pub async fn sdk_config(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(
            ACCESS_KEY_ID,
            SECRET_ACCESS_KEY,
            None,
            None,
            "local-stack",
        ))
        .load()
        .await
}

/// How many requests of each operation (`DynamoDB_20120810.Query`, `SNS.Publish`, ...) the
/// emulator at `endpoint` has served since it started.
///
/// # Errors
/// When the emulator cannot be reached or answers something else.
pub async fn call_counts(
    endpoint: &str,
) -> anyhow::Result<std::collections::BTreeMap<String, u64>> {
    use http_body_util::BodyExt as _;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<bytes::Bytes>>();
    let uri: http::Uri = format!("{}/_local/calls", endpoint.trim_end_matches('/')).parse()?;
    let response = client
        .get(uri)
        .await
        .context("ask the emulator for its call counts")?;
    let body = response.into_body().collect().await?.to_bytes();
    serde_json::from_slice(&body).context("read the emulator's call counts")
}
