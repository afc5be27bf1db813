//! A local implementation of the AWS Lambda Runtime API.
//!
//! [`Lambda`] runs each function's real binary as child processes, the way Lambda runs a custom
//! runtime: every instance is a process with a clean environment holding the function's variables
//! plus the ones Lambda sets, and it fetches work from its own Runtime API listener on
//! `127.0.0.1` (`AWS_LAMBDA_RUNTIME_API`). Instances are pooled per function: an invocation takes
//! a warm instance, starts a new one while the function is below its concurrency limit, or waits
//! its turn. Timeouts, crashes and init failures are reported with the payloads Lambda's Invoke
//! API returns for them, and the instance concerned is replaced.

mod instance;
mod outcome;
mod pool;
mod process;
mod server;

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::watch;

use crate::instance::{Dispatch, Instance, InstanceExit, RunResult, Running};
use crate::pool::{Busy, Pool};
use crate::process::Spawner;

pub use crate::outcome::{FunctionError, FunctionErrorKind, Outcome};
pub use crate::pool::PoolStats;

/// One deployed function, as the template describes it.
#[derive(Debug, Clone)]
pub struct FunctionConfig {
    /// Physical function name (`AWS_LAMBDA_FUNCTION_NAME`).
    pub name: String,
    /// Function ARN, sent to the runtime as `Lambda-Runtime-Invoked-Function-Arn`.
    pub arn: String,
    /// The function's `bootstrap` binary.
    pub executable: PathBuf,
    /// The function's environment: the template's variables plus `AWS_REGION`, credentials and
    /// `AWS_ENDPOINT_URL*`, as the caller decides. The Lambda-reserved variables are added on top.
    pub environment: BTreeMap<String, String>,
    /// Invocation timeout.
    pub timeout: Duration,
    /// `AWS_LAMBDA_FUNCTION_MEMORY_SIZE`; not enforced.
    pub memory_mb: u32,
    /// Most instances running at once (`ReservedConcurrentExecutions` or a default); 0 counts as 1.
    pub max_instances: usize,
}

/// Which output stream of an instance a log line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogStream {
    Stdout,
    Stderr,
}

impl LogStream {
    pub fn as_str(self) -> &'static str {
        match self {
            LogStream::Stdout => "stdout",
            LogStream::Stderr => "stderr",
        }
    }
}

/// One line an instance wrote, without its line ending.
#[derive(Debug, Clone, Copy)]
pub struct LogLine<'a> {
    pub function: &'a str,
    pub instance: u64,
    pub pid: Option<u32>,
    pub stream: LogStream,
    pub line: &'a str,
}

/// Where the lines instances write on stdout and stderr go.
#[derive(Clone)]
pub struct LogSink(Arc<dyn Fn(&LogLine<'_>) + Send + Sync>);

impl LogSink {
    pub fn new(sink: impl Fn(&LogLine<'_>) + Send + Sync + 'static) -> Self {
        Self(Arc::new(sink))
    }

    /// Emits every line as a `tracing` event with target `function` and the fields `function`,
    /// `instance` and `stream`.
    pub fn tracing() -> Self {
        Self::new(|line| {
            tracing::info!(
                target: "function",
                function = line.function,
                instance = line.instance,
                stream = line.stream.as_str(),
                "{}",
                line.line
            );
        })
    }

    /// Drops every line.
    pub fn discard() -> Self {
        Self::new(|_| {})
    }

    /// Hands `line` to the sink.
    pub fn emit(&self, line: &LogLine<'_>) {
        (self.0)(line);
    }
}

impl fmt::Debug for LogSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LogSink(..)")
    }
}

impl Default for LogSink {
    fn default() -> Self {
        Self::tracing()
    }
}

/// How the runtime behaves, for every function.
#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    /// Longest an instance may take from start to its first poll of `/invocation/next`.
    pub init_timeout: Duration,
    /// Where instance output goes.
    pub log_sink: LogSink,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        Self {
            init_timeout: Duration::from_secs(10),
            log_sink: LogSink::default(),
        }
    }
}

/// One invocation's input.
#[derive(Debug, Clone, Default)]
pub struct InvokeRequest {
    /// The event, usually JSON.
    pub payload: Bytes,
    /// The X-Ray trace header (`Root=1-...;Parent=...;Sampled=0`); one is made up when absent.
    pub trace_id: Option<String>,
    /// Client context as JSON text (already decoded from the Invoke API's base64).
    pub client_context: Option<String>,
}

impl InvokeRequest {
    pub fn new(payload: impl Into<Bytes>) -> Self {
        Self {
            payload: payload.into(),
            ..Self::default()
        }
    }
}

/// What became of one invocation.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub request_id: String,
    pub outcome: Outcome,
    /// True when this was the first invocation its instance served.
    pub cold_start: bool,
    /// From handing the event to the instance until its answer (zero when init failed).
    pub duration: Duration,
    /// From process start until its first poll, on a cold start.
    pub init_duration: Option<Duration>,
    /// Instance id, unique within one [`Lambda`].
    pub instance: u64,
    pub pid: Option<u32>,
}

/// Why an invocation could not be attempted at all.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    /// No function of that name is configured.
    #[error("function not found: {0}")]
    UnknownFunction(String),
    /// The function's process or its Runtime API listener could not be started.
    #[error("could not start an instance of function {function}")]
    Spawn {
        function: String,
        #[source]
        source: io::Error,
    },
    /// [`Lambda::shutdown`] was called.
    #[error("the local Lambda runtime is shutting down")]
    ShuttingDown,
}

/// The local Lambda service: every configured function with its pool of instances.
///
/// Each invocation runs in a task of its own: a caller that stops waiting (an API's
/// integration timeout, say) neither kills an instance that is still starting nor one that
/// is working, as on Lambda, where both finish and the instance stays warm. Dropping the
/// `Lambda` kills every instance.
pub struct Lambda {
    shared: Arc<Shared>,
}

struct Shared {
    pools: BTreeMap<String, Arc<Pool>>,
    options: RuntimeOptions,
    next_instance: AtomicU64,
    shutting_down: AtomicBool,
    /// Number of invocations in progress, so shutdown can wait for all of them.
    in_flight: watch::Sender<usize>,
    spawner: Spawner,
}

impl fmt::Debug for Lambda {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lambda")
            .field("functions", &self.shared.pools.keys().collect::<Vec<_>>())
            .field("options", &self.shared.options)
            .finish_non_exhaustive()
    }
}

impl Lambda {
    /// Configures the functions; no process starts until the first invocation. When two
    /// functions share a name, the last one wins.
    pub fn new(functions: Vec<FunctionConfig>, options: RuntimeOptions) -> Arc<Lambda> {
        let pools = functions
            .into_iter()
            .map(|config| (config.name.clone(), Arc::new(Pool::new(config))))
            .collect();
        Arc::new(Lambda {
            shared: Arc::new(Shared {
                pools,
                options,
                next_instance: AtomicU64::new(0),
                shutting_down: AtomicBool::new(false),
                in_flight: watch::Sender::new(0),
                spawner: Spawner::default(),
            }),
        })
    }

    pub fn function(&self, name: &str) -> Option<&FunctionConfig> {
        self.shared.pools.get(name).map(|pool| &*pool.config)
    }

    /// Names of the configured functions.
    pub fn functions(&self) -> impl Iterator<Item = &str> {
        self.shared.pools.keys().map(String::as_str)
    }

    pub fn stats(&self, function: &str) -> Option<PoolStats> {
        self.shared.pools.get(function).map(|pool| pool.stats())
    }

    /// Runs one invocation and waits for its outcome. A function error, a timeout, a crash or a
    /// failed init is an `Ok` invocation with [`Outcome::Error`], as with Lambda's Invoke API.
    ///
    /// The invocation goes on to its end if this future is dropped.
    pub async fn invoke(
        &self,
        function: &str,
        request: InvokeRequest,
    ) -> Result<Invocation, InvokeError> {
        let shared = Arc::clone(&self.shared);
        let function = function.to_owned();
        tokio::spawn(async move { shared.invoke(&function, request).await })
            .await
            .unwrap_or(Err(InvokeError::ShuttingDown))
    }

    /// Stops accepting invocations, kills every instance and waits until all have exited and
    /// every invocation in progress has returned.
    pub async fn shutdown(&self) {
        self.shared.shutdown().await;
    }
}

impl Drop for Lambda {
    fn drop(&mut self) {
        self.shared.close();
    }
}

impl Shared {
    async fn invoke(
        &self,
        function: &str,
        request: InvokeRequest,
    ) -> Result<Invocation, InvokeError> {
        let pool = self
            .pools
            .get(function)
            .ok_or_else(|| InvokeError::UnknownFunction(function.to_string()))?;
        if self.is_shutting_down() {
            return Err(InvokeError::ShuttingDown);
        }
        let _in_flight = InFlight::enter(&self.in_flight);
        let busy = pool.acquire().await.ok_or(InvokeError::ShuttingDown)?;
        let request_id = uuid::Uuid::new_v4().to_string();

        let (mut instance, init_duration) = match pool.take_idle() {
            Some(instance) => (instance, None),
            None => match self.start_instance(pool, &request_id).await? {
                Started::Ready(instance, init_duration) => (instance, Some(init_duration)),
                Started::Failed(invocation) => return Ok(invocation),
            },
        };

        let cold_start = instance.served() == 0;
        let (id, pid) = (instance.id(), instance.pid());
        let started = Instant::now();
        let dispatch = Dispatch::new(&pool.config, request_id.clone(), request);
        let running = instance.dispatch(dispatch, pool.config.timeout);
        let mut invocation = InFlightInvocation(Some((instance, running, busy)));
        let result = invocation.finish().await;
        let duration = started.elapsed();
        let Some((instance, _, _busy)) = invocation.0.take() else {
            return Err(InvokeError::ShuttingDown);
        };

        let outcome = match result {
            RunResult::Response(payload) => {
                pool.release(instance);
                Outcome::Success(payload)
            }
            RunResult::FunctionError(error) => {
                pool.release(instance);
                Outcome::Error(error)
            }
            RunResult::Timeout => {
                instance.kill_and_wait().await;
                if self.is_shutting_down() {
                    return Err(InvokeError::ShuttingDown);
                }
                tracing::warn!(function, instance = id, request_id, "invocation timed out");
                Outcome::Error(FunctionError::timeout(&request_id, pool.config.timeout))
            }
            RunResult::Exited(status) => {
                drop(instance);
                if self.is_shutting_down() {
                    return Err(InvokeError::ShuttingDown);
                }
                tracing::warn!(function, instance = id, request_id, %status, "instance exited during an invocation");
                Outcome::Error(FunctionError::crash(&request_id, &status))
            }
        };
        Ok(Invocation {
            request_id,
            outcome,
            cold_start,
            duration,
            init_duration,
            instance: id,
            pid,
        })
    }

    async fn start_instance(&self, pool: &Pool, request_id: &str) -> Result<Started, InvokeError> {
        let config = &pool.config;
        let id = self.next_instance.fetch_add(1, Ordering::Relaxed) + 1;
        let begun = Instant::now();
        let instance = Instance::spawn(
            &self.spawner,
            Arc::clone(config),
            id,
            self.options.log_sink.clone(),
        )
        .await
        .map_err(|source| InvokeError::Spawn {
            function: config.name.clone(),
            source,
        })?;
        let mut instance = match pool.register(instance) {
            Ok(instance) => instance,
            Err(instance) => {
                instance.kill_and_wait().await;
                return Err(InvokeError::ShuttingDown);
            }
        };
        tracing::debug!(function = %config.name, instance = id, pid = ?instance.pid(), "instance started");

        let failure = match instance.wait_ready(self.options.init_timeout).await {
            Ok(()) => return Ok(Started::Ready(instance, begun.elapsed())),
            Err(failure) => failure,
        };
        let init_duration = begun.elapsed();
        let pid = instance.pid();
        instance.kill_and_wait().await;
        if self.is_shutting_down() {
            return Err(InvokeError::ShuttingDown);
        }
        let error = match failure {
            InstanceExit::InitError {
                error_type,
                payload,
            } => FunctionError::init_reported(error_type, payload),
            InstanceExit::Exited(status) => FunctionError::init_exit(request_id, &status),
            InstanceExit::TimedOut => {
                FunctionError::init_timeout(request_id, self.options.init_timeout)
            }
        };
        tracing::warn!(
            function = %config.name,
            instance = id,
            error_type = %error.error_type,
            message = %error.error_message,
            "instance failed to initialise"
        );
        Ok(Started::Failed(Invocation {
            request_id: request_id.to_string(),
            outcome: Outcome::Error(error),
            cold_start: true,
            duration: Duration::ZERO,
            init_duration: Some(init_duration),
            instance: id,
            pid,
        }))
    }

    async fn shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
        let mut exits = Vec::new();
        for pool in self.pools.values() {
            exits.extend(pool.close());
        }
        for exit in exits {
            exit.killed().await;
        }
        let mut in_flight = self.in_flight.subscribe();
        // The sender lives in `self`, so this only returns once the count reaches zero.
        let _ = in_flight.wait_for(|n| *n == 0).await;
    }

    fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::SeqCst)
    }
}

impl Shared {
    /// Stops accepting invocations and sends every instance its kill signal; the processes
    /// are reaped by their own tasks.
    fn close(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
        for pool in self.pools.values() {
            drop(pool.close());
        }
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.close();
    }
}

/// An invocation handed to an instance. If the caller stops waiting for it (drops the `invoke`
/// future), the invocation still runs to its end in the background, as on Lambda, and the
/// instance then goes back to the pool instead of being killed mid-work.
struct InFlightInvocation(Option<(Instance, Running, Busy)>);

impl InFlightInvocation {
    async fn finish(&mut self) -> RunResult {
        match &mut self.0 {
            Some((instance, running, _)) => instance.finish(running).await,
            None => RunResult::Timeout,
        }
    }
}

impl Drop for InFlightInvocation {
    fn drop(&mut self) {
        let Some((mut instance, mut running, busy)) = self.0.take() else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        runtime.spawn(async move {
            match instance.finish(&mut running).await {
                RunResult::Response(_) | RunResult::FunctionError(_) => busy.pool.release(instance),
                RunResult::Timeout => instance.kill_and_wait().await,
                RunResult::Exited(_) => {}
            }
            drop(busy);
        });
    }
}

enum Started {
    Ready(Instance, Duration),
    Failed(Invocation),
}

/// Counts one invocation in progress for as long as it lives.
struct InFlight<'a>(&'a watch::Sender<usize>);

impl<'a> InFlight<'a> {
    fn enter(counter: &'a watch::Sender<usize>) -> Self {
        counter.send_modify(|n| *n += 1);
        Self(counter)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}
