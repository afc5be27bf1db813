//! One instance of a function: its process, its Runtime API listener, and the hand-off of
//! invocations between the pool and the runtime inside the process.

use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::net::TcpListener;
use tokio::process::{Child, Command};
use tokio::sync::{Notify, mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::outcome::FunctionError;
use crate::process::{Spawner, die_with_parent};
use crate::server::{self, ApiState, Completion};
use crate::{FunctionConfig, InvokeRequest, LogLine, LogSink, LogStream};

/// Lambda's defaults for the variables a function may extend (`LANG`, `PATH`, `LD_LIBRARY_PATH`).
const DEFAULT_PATH: &str = "/usr/local/bin:/usr/bin/:/bin:/opt/bin";

/// An invocation as the runtime receives it from `/invocation/next`.
#[derive(Debug)]
pub(crate) struct Dispatch {
    pub(crate) request_id: String,
    pub(crate) payload: Bytes,
    pub(crate) deadline_ms: u128,
    pub(crate) function_arn: String,
    pub(crate) trace_id: String,
    pub(crate) client_context: Option<String>,
}

impl Dispatch {
    pub(crate) fn new(config: &FunctionConfig, request_id: String, request: InvokeRequest) -> Self {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Self {
            request_id,
            payload: request.payload,
            deadline_ms: (now + config.timeout).as_millis(),
            function_arn: config.arn.clone(),
            trace_id: request.trace_id.unwrap_or_else(|| new_trace_id(now)),
            client_context: request.client_context,
        }
    }
}

/// An X-Ray trace header like the one Lambda passes when the caller sent none.
fn new_trace_id(now: Duration) -> String {
    let root = uuid::Uuid::new_v4().simple().to_string();
    let parent = uuid::Uuid::new_v4().simple().to_string();
    format!(
        "Root=1-{:08x}-{};Parent={};Sampled=0",
        now.as_secs(),
        &root[..24],
        &parent[..16]
    )
}

/// What the runtime said during init.
#[derive(Debug)]
pub(crate) enum InitSignal {
    /// It polled `/invocation/next`.
    Ready,
    /// It posted to `/init/error`.
    Error {
        error_type: Option<String>,
        payload: Bytes,
    },
}

/// Why an instance did not become ready.
#[derive(Debug)]
pub(crate) enum InstanceExit {
    InitError {
        error_type: Option<String>,
        payload: Bytes,
    },
    Exited(ExitStatus),
    TimedOut,
}

/// What came of handing one invocation to an instance.
#[derive(Debug)]
pub(crate) enum RunResult {
    Response(Bytes),
    FunctionError(FunctionError),
    Timeout,
    Exited(ExitStatus),
}

/// An invocation handed to an instance, not finished yet.
pub(crate) struct Running {
    answer: oneshot::Receiver<Completion>,
    deadline: tokio::time::Instant,
}

/// Kills an instance's process and learns when it has exited and been reaped.
#[derive(Clone)]
pub(crate) struct ExitHandle {
    kill: Arc<Notify>,
    status: watch::Receiver<Option<ExitStatus>>,
}

impl ExitHandle {
    pub(crate) fn kill(&self) {
        self.kill.notify_one();
    }

    pub(crate) fn has_exited(&self) -> bool {
        self.status.borrow().is_some()
    }

    /// Waits until the process has exited and been reaped.
    pub(crate) async fn exited(&self) -> ExitStatus {
        let mut status = self.status.clone();
        match status.wait_for(Option::is_some).await {
            Ok(status) => (*status).unwrap_or_else(killed),
            // The reaper is gone (its runtime stopped); the child was killed on drop.
            Err(_) => killed(),
        }
    }

    /// Kills the process and waits until it has been reaped.
    pub(crate) async fn killed(self) {
        self.kill();
        self.exited().await;
    }
}

fn killed() -> ExitStatus {
    ExitStatus::from_raw(libc::SIGKILL)
}

pub(crate) struct Instance {
    id: u64,
    pid: Option<u32>,
    api: Arc<ApiState>,
    next: mpsc::Sender<Dispatch>,
    ready: Option<oneshot::Receiver<InitSignal>>,
    exit: ExitHandle,
    server: JoinHandle<()>,
    served: u64,
}

impl Instance {
    /// Starts the Runtime API listener and the process; the instance is usable once
    /// [`Instance::wait_ready`] returns.
    pub(crate) async fn spawn(
        spawner: &Spawner,
        config: Arc<FunctionConfig>,
        id: u64,
        log_sink: LogSink,
    ) -> std::io::Result<Instance> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let address = listener.local_addr()?;
        let (next, next_rx) = mpsc::channel(1);
        let (ready_tx, ready) = oneshot::channel();
        let api = Arc::new(ApiState::new(next_rx, ready_tx));
        let server = tokio::spawn(server::serve(listener, Arc::clone(&api)));

        let mut child = match spawner.spawn(command(&config, address)).await {
            Ok(child) => child,
            Err(error) => {
                server.abort();
                return Err(error);
            }
        };
        let pid = child.id();
        let function: Arc<str> = Arc::from(config.name.as_str());
        if let Some(stdout) = child.stdout.take() {
            capture(stdout, LogStream::Stdout, &function, id, pid, &log_sink);
        }
        if let Some(stderr) = child.stderr.take() {
            capture(stderr, LogStream::Stderr, &function, id, pid, &log_sink);
        }
        let kill = Arc::new(Notify::new());
        let (status_tx, status) = watch::channel(None);
        tokio::spawn(reap(child, Arc::clone(&kill), status_tx));

        Ok(Instance {
            id,
            pid,
            api,
            next,
            ready: Some(ready),
            exit: ExitHandle { kill, status },
            server,
            served: 0,
        })
    }

    pub(crate) fn id(&self) -> u64 {
        self.id
    }

    pub(crate) fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// Invocations handed to this instance so far.
    pub(crate) fn served(&self) -> u64 {
        self.served
    }

    pub(crate) fn has_exited(&self) -> bool {
        self.exit.has_exited()
    }

    pub(crate) fn exit_handle(&self) -> ExitHandle {
        self.exit.clone()
    }

    /// Waits for the runtime's first poll of `/invocation/next`.
    pub(crate) async fn wait_ready(&mut self, timeout: Duration) -> Result<(), InstanceExit> {
        let Some(ready) = self.ready.take() else {
            return Ok(());
        };
        tokio::select! {
            biased;
            signal = ready => match signal {
                Ok(InitSignal::Ready) => Ok(()),
                Ok(InitSignal::Error { error_type, payload }) => {
                    Err(InstanceExit::InitError { error_type, payload })
                }
                Err(_) => Err(InstanceExit::Exited(self.exit.exited().await)),
            },
            status = self.exit.exited() => Err(InstanceExit::Exited(status)),
            () = tokio::time::sleep(timeout) => Err(InstanceExit::TimedOut),
        }
    }

    /// Hands one invocation to the runtime; [`Instance::finish`] waits for the outcome.
    pub(crate) fn dispatch(&mut self, dispatch: Dispatch, timeout: Duration) -> Running {
        self.served += 1;
        let (reply, answer) = oneshot::channel();
        self.api.begin(dispatch.request_id.clone(), reply);
        if self.next.try_send(dispatch).is_err() {
            // Only possible if the listener is gone, which means the instance is dying; dropping
            // the reply makes `finish` report the exit.
            self.api.end();
            self.exit.kill();
        }
        Running {
            answer,
            deadline: tokio::time::Instant::now() + timeout,
        }
    }

    /// Waits for the runtime's answer, the process's exit, or the timeout, whichever comes first.
    pub(crate) async fn finish(&mut self, running: &mut Running) -> RunResult {
        let result = tokio::select! {
            biased;
            answer = &mut running.answer => match answer {
                Ok(Completion::Response(body)) => RunResult::Response(body),
                Ok(Completion::Error(error)) => RunResult::FunctionError(error),
                Err(_) => RunResult::Exited(self.exit.exited().await),
            },
            status = self.exit.exited() => RunResult::Exited(status),
            () = tokio::time::sleep_until(running.deadline) => RunResult::Timeout,
        };
        self.api.end();
        result
    }

    /// Kills the process and waits until it has been reaped.
    pub(crate) async fn kill_and_wait(self) {
        self.exit.clone().killed().await;
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        self.exit.kill();
        self.server.abort();
    }
}

/// Owns the child: waits for it to exit, or kills it when asked, and publishes the status.
async fn reap(mut child: Child, kill: Arc<Notify>, status: watch::Sender<Option<ExitStatus>>) {
    let exited = tokio::select! {
        exited = child.wait() => exited,
        () = kill.notified() => {
            if let Err(error) = child.start_kill() {
                tracing::debug!(%error, "could not kill an instance");
            }
            child.wait().await
        }
    };
    let exited = exited.unwrap_or_else(|error| {
        tracing::warn!(%error, "could not wait for an instance");
        killed()
    });
    status.send_replace(Some(exited));
}

/// Forwards every line of one output stream to the log sink.
fn capture(
    stream: impl AsyncRead + Unpin + Send + 'static,
    which: LogStream,
    function: &Arc<str>,
    instance: u64,
    pid: Option<u32>,
    sink: &LogSink,
) {
    let function = Arc::clone(function);
    let sink = sink.clone();
    tokio::spawn(async move {
        let mut reader = BufReader::new(stream);
        let mut buffer = Vec::new();
        loop {
            buffer.clear();
            match reader.read_until(b'\n', &mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    let line = String::from_utf8_lossy(&buffer);
                    sink.emit(&LogLine {
                        function: &function,
                        instance,
                        pid,
                        stream: which,
                        line: line.trim_end_matches(['\n', '\r']),
                    });
                }
            }
        }
    });
}

/// The command for one instance: a clean environment with the function's variables and the ones
/// Lambda sets, run from the executable's directory (Lambda's `LAMBDA_TASK_ROOT`).
fn command(config: &FunctionConfig, runtime_api: SocketAddr) -> Command {
    let task_root = match config.executable.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let root = task_root.to_string_lossy();

    let mut command = Command::new(&config.executable);
    command
        .env_clear()
        .env("LANG", "en_US.UTF-8")
        .env("PATH", DEFAULT_PATH)
        .env(
            "LD_LIBRARY_PATH",
            format!("/lib64:/usr/lib64:{root}:{root}/lib:/opt/lib"),
        )
        .envs(&config.environment)
        .envs(lambda_variables(config, runtime_api, &root))
        .current_dir(task_root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    die_with_parent(&mut command);
    command
}

/// The variables Lambda reserves; they win over the function's own.
fn lambda_variables(
    config: &FunctionConfig,
    runtime_api: SocketAddr,
    task_root: &str,
) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_LAMBDA_RUNTIME_API", runtime_api.to_string()),
        ("AWS_LAMBDA_FUNCTION_NAME", config.name.clone()),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_string()),
        (
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
            config.memory_mb.to_string(),
        ),
        (
            "AWS_LAMBDA_LOG_GROUP_NAME",
            format!("/aws/lambda/{}", config.name),
        ),
        ("AWS_LAMBDA_LOG_STREAM_NAME", log_stream_name()),
        ("AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand".to_string()),
        ("_HANDLER", "bootstrap".to_string()),
        ("LAMBDA_TASK_ROOT", task_root.to_string()),
        ("LAMBDA_RUNTIME_DIR", task_root.to_string()),
        ("TZ", ":UTC".to_string()),
    ]
}

/// `2024/01/31/[$LATEST]<32 hex digits>`, as Lambda names an instance's log stream.
fn log_stream_name() -> String {
    let date = time::OffsetDateTime::now_utc().date();
    format!(
        "{:04}/{:02}/{:02}/[$LATEST]{}",
        date.year(),
        u8::from(date.month()),
        date.day(),
        uuid::Uuid::new_v4().simple()
    )
}
