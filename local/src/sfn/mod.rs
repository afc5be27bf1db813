//! The local Step Functions service: the template's state machines, their executions run by
//! the `local-states` interpreter with the stack's task integrations, and the subset of the
//! Step Functions API that `aws-sdk-sfn` calls ([`api`]), on its own loopback endpoint that
//! every function gets as `AWS_ENDPOINT_URL_SFN`.
//!
//! - Executions are kept in memory for the life of the stack, with their history.
//! - Names are unique per state machine. As in the service, starting a STANDARD execution
//!   again with the same name and the same input while it runs returns the running one; a
//!   different input, or a closed execution, is `ExecutionAlreadyExists`.
//! - Every state transition is logged under the `local::sfn` target with the execution name
//!   and the correlation id (the input's top-level `correlationId`, else the execution name).
//! - Unlike the service, EXPRESS executions can be described, listed and their history read:
//!   locally there are no CloudWatch Logs to read them from.

pub mod api;
pub mod listing;
pub mod tasks;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::sync::lock;
use std::time::Duration;

use anyhow::Context as _;
use local_states::{
    EventType, ExecutionOptions, ExecutionOutcome, HistoryEvent, HistorySink, StateMachine,
    TaskRunner,
};
use serde_json::{Value, json};
use time::OffsetDateTime;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use self::tasks::TaskTokens;

/// The log target of executions.
pub const LOG_TARGET: &str = "local::sfn";

/// The longest execution name the service accepts.
pub const MAX_NAME_LENGTH: usize = 80;

/// A Step Functions API error, with the `__type` the service answers with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SfnError {
    /// `ExecutionAlreadyExists` (400).
    #[error("{0}")]
    ExecutionAlreadyExists(String),
    /// `ExecutionDoesNotExist` (400).
    #[error("{0}")]
    ExecutionDoesNotExist(String),
    /// `StateMachineDoesNotExist` (400).
    #[error("{0}")]
    StateMachineDoesNotExist(String),
    /// `StateMachineTypeNotSupported` (400).
    #[error("{0}")]
    StateMachineTypeNotSupported(String),
    /// `InvalidArn` (400).
    #[error("{0}")]
    InvalidArn(String),
    /// `InvalidName` (400).
    #[error("{0}")]
    InvalidName(String),
    /// `InvalidExecutionInput` (400).
    #[error("{0}")]
    InvalidExecutionInput(String),
    /// `InvalidOutput` (400).
    #[error("{0}")]
    InvalidOutput(String),
    /// `InvalidToken` (400): a task token, or a pagination token, that is not valid.
    #[error("{0}")]
    InvalidToken(String),
    /// `TaskTimedOut` (400): the task of this token timed out or already completed.
    #[error("{0}")]
    TaskTimedOut(String),
    /// `ValidationException` (400): a request that does not match the operation's shape.
    #[error("{0}")]
    Validation(String),
    /// `SerializationException` (400): a body that is not JSON.
    #[error("{0}")]
    Serialization(String),
    /// `UnknownOperationException` (400).
    #[error("{0}")]
    UnknownOperation(String),
}

impl SfnError {
    /// The error code (`__type`) of the JSON error body.
    pub fn code(&self) -> &'static str {
        match self {
            Self::ExecutionAlreadyExists(_) => "ExecutionAlreadyExists",
            Self::ExecutionDoesNotExist(_) => "ExecutionDoesNotExist",
            Self::StateMachineDoesNotExist(_) => "StateMachineDoesNotExist",
            Self::StateMachineTypeNotSupported(_) => "StateMachineTypeNotSupported",
            Self::InvalidArn(_) => "InvalidArn",
            Self::InvalidName(_) => "InvalidName",
            Self::InvalidExecutionInput(_) => "InvalidExecutionInput",
            Self::InvalidOutput(_) => "InvalidOutput",
            Self::InvalidToken(_) => "InvalidToken",
            Self::TaskTimedOut(_) => "TaskTimedOut",
            Self::Validation(_) => "ValidationException",
            Self::Serialization(_) => "SerializationException",
            Self::UnknownOperation(_) => "UnknownOperationException",
        }
    }
}

/// `STANDARD` or `EXPRESS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MachineType {
    Standard,
    Express,
}

impl MachineType {
    /// The name used in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Standard => "STANDARD",
            Self::Express => "EXPRESS",
        }
    }
}

/// A state machine of the template, parsed.
#[derive(Debug)]
pub struct Machine {
    pub logical_id: String,
    pub name: String,
    pub arn: String,
    pub kind: MachineType,
    /// The definition as deployed (substitutions applied).
    pub definition: Value,
    /// The definition as the interpreter runs it.
    pub parsed: StateMachine,
    /// When the stack created it.
    pub created: OffsetDateTime,
}

impl Machine {
    /// Parses a state machine of the template's model.
    pub fn from_model(machine: &local_template::StateMachine) -> anyhow::Result<Self> {
        let kind = match machine.kind.as_str() {
            "STANDARD" => MachineType::Standard,
            "EXPRESS" => MachineType::Express,
            other => anyhow::bail!(
                "state machine {} ({}) has Type {other:?}, not STANDARD or EXPRESS",
                machine.logical_id,
                machine.name
            ),
        };
        let parsed = StateMachine::parse(&machine.definition).with_context(|| {
            format!(
                "state machine {} ({}) has an invalid definition",
                machine.logical_id, machine.name
            )
        })?;
        Ok(Self {
            logical_id: machine.logical_id.clone(),
            name: machine.name.clone(),
            arn: machine.arn.clone(),
            kind,
            definition: machine.definition.clone(),
            parsed,
            created: OffsetDateTime::now_utc(),
        })
    }

    /// The execution role reported for it (`$$.Execution.RoleArn`).
    pub fn role_arn(&self) -> String {
        let account = self.arn.split(':').nth(4).unwrap_or_default();
        format!("arn:aws:iam::{account}:role/{}-role", self.name)
    }
}

/// Parses every state machine of the model; the first invalid one fails, named.
pub fn machines_from_model(model: &local_template::Model) -> anyhow::Result<Vec<Machine>> {
    model
        .state_machines
        .iter()
        .map(Machine::from_model)
        .collect()
}

/// How the service runs executions.
#[derive(Debug, Clone)]
pub struct SfnOptions {
    /// The region of execution ARNs.
    pub region: String,
    /// The account of execution ARNs.
    pub account_id: String,
    /// Multiplies every wait of the interpreter (see `ExecutionOptions::time_scale`).
    pub time_scale: f64,
}

/// The status of an execution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExecutionStatus {
    Running,
    Succeeded,
    Failed,
    TimedOut,
    Aborted,
}

impl ExecutionStatus {
    /// The name used in the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "RUNNING",
            Self::Succeeded => "SUCCEEDED",
            Self::Failed => "FAILED",
            Self::TimedOut => "TIMED_OUT",
            Self::Aborted => "ABORTED",
        }
    }

    /// Parses an API status name.
    pub fn parse(name: &str) -> Option<Self> {
        [
            Self::Running,
            Self::Succeeded,
            Self::Failed,
            Self::TimedOut,
            Self::Aborted,
        ]
        .into_iter()
        .find(|s| s.as_str() == name)
    }
}

/// Where an execution is: its status and, once it ended, its result.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    pub status: ExecutionStatus,
    pub output: Option<Value>,
    pub error: Option<String>,
    pub cause: Option<String>,
    pub stop_date: Option<OffsetDateTime>,
}

/// One execution of a state machine.
#[derive(Debug)]
pub struct Execution {
    pub arn: String,
    pub name: String,
    pub machine: Arc<Machine>,
    pub input: Value,
    pub start_date: OffsetDateTime,
    /// The input's top-level `correlationId` if it is a string, else the execution name.
    pub correlation_id: String,
    cancel: CancellationToken,
    /// `error` and `cause` given to StopExecution.
    stop_request: Mutex<Option<(Option<String>, Option<String>)>>,
    progress: Mutex<Progress>,
    history: Mutex<Vec<HistoryEvent>>,
    finished: watch::Sender<bool>,
}

impl Execution {
    /// Its status and result so far.
    pub fn progress(&self) -> Progress {
        lock(&self.progress).clone()
    }

    /// Its history events so far, in order.
    pub fn history(&self) -> Vec<HistoryEvent> {
        lock(&self.history).clone()
    }

    /// Waits until it ends, and returns how it ended.
    pub async fn wait(&self) -> Progress {
        let mut finished = self.finished.subscribe();
        // The sender lives as long as `self`, so waiting cannot fail.
        let _ = finished.wait_for(|done| *done).await;
        self.progress()
    }

    fn finish(&self, outcome: ExecutionOutcome) {
        let stop = self.stop_request();
        {
            let mut progress = lock(&self.progress);
            progress.stop_date = Some(OffsetDateTime::now_utc());
            match outcome {
                ExecutionOutcome::Succeeded(output) => {
                    progress.status = ExecutionStatus::Succeeded;
                    progress.output = Some(output);
                }
                ExecutionOutcome::Failed { error, cause } => {
                    progress.status = ExecutionStatus::Failed;
                    progress.error = (!error.is_empty()).then_some(error);
                    progress.cause = cause;
                }
                ExecutionOutcome::TimedOut => {
                    progress.status = ExecutionStatus::TimedOut;
                    progress.error = Some(local_states::names::TIMEOUT.to_owned());
                    progress.cause = Some("The execution exceeded its TimeoutSeconds".to_owned());
                }
                ExecutionOutcome::Aborted => {
                    progress.status = ExecutionStatus::Aborted;
                    if let Some((error, cause)) = stop {
                        progress.error = error;
                        progress.cause = cause;
                    }
                }
            }
        }
        self.finished.send_replace(true);
    }

    fn stop_request(&self) -> Option<(Option<String>, Option<String>)> {
        lock(&self.stop_request).clone()
    }

    fn is_running(&self) -> bool {
        !*self.finished.borrow()
    }
}

/// Records an execution's history and logs its transitions.
struct ExecutionSink<'a> {
    execution: &'a Execution,
}

impl HistorySink for ExecutionSink<'_> {
    fn record(&self, mut event: HistoryEvent) {
        let execution = self.execution;
        if event.event_type == EventType::ExecutionAborted
            && let Some((error, cause)) = execution.stop_request()
        {
            let mut details = serde_json::Map::new();
            if let Some(error) = error {
                details.insert("error".into(), Value::String(error));
            }
            if let Some(cause) = cause {
                details.insert("cause".into(), Value::String(cause));
            }
            event.details = Some(Value::Object(details));
        }
        log_event(execution, &event);
        lock(&execution.history).push(event);
    }
}

fn log_event(execution: &Execution, event: &HistoryEvent) {
    let kind = event.event_type.as_str();
    let machine = &execution.machine.name;
    let name = &execution.name;
    let correlation_id = &execution.correlation_id;
    let detail = |key: &str| {
        event
            .details
            .as_ref()
            .and_then(|d| d.get(key))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    match event.event_type {
        EventType::ExecutionFailed | EventType::ExecutionTimedOut | EventType::ExecutionAborted
            if !detail("error").is_empty() || !detail("cause").is_empty() =>
        {
            tracing::info!(
                target: LOG_TARGET,
                execution = %name,
                correlation_id = %correlation_id,
                error = %detail("error"),
                cause = %detail("cause"),
                "{machine} {kind}"
            );
        }
        EventType::ExecutionStarted
        | EventType::ExecutionSucceeded
        | EventType::ExecutionFailed
        | EventType::ExecutionTimedOut
        | EventType::ExecutionAborted => {
            tracing::info!(target: LOG_TARGET, execution = %name, correlation_id = %correlation_id, "{machine} {kind}");
        }
        _ if kind.ends_with("StateEntered") || kind.ends_with("StateExited") => {
            tracing::info!(
                target: LOG_TARGET,
                execution = %name,
                correlation_id = %correlation_id,
                "{machine} {kind} {}",
                detail("name")
            );
        }
        _ => {}
    }
}

/// The local Step Functions service.
pub struct Sfn {
    machines: Vec<Arc<Machine>>,
    runner: Arc<dyn TaskRunner>,
    tokens: Arc<TaskTokens>,
    options: SfnOptions,
    /// Cancelled at shutdown; every execution's token is a child of it.
    stopping: CancellationToken,
    executions: Mutex<Executions>,
}

#[derive(Default)]
struct Executions {
    by_arn: HashMap<String, Arc<Execution>>,
    /// In start order.
    all: Vec<Arc<Execution>>,
}

impl Sfn {
    /// A service running `machines` with `runner`; `tokens` are those the runner's
    /// `.waitForTaskToken` tasks wait on.
    pub fn new(
        machines: Vec<Machine>,
        runner: Arc<dyn TaskRunner>,
        tokens: Arc<TaskTokens>,
        options: SfnOptions,
    ) -> Arc<Self> {
        Arc::new(Self {
            machines: machines.into_iter().map(Arc::new).collect(),
            runner,
            tokens,
            options,
            stopping: CancellationToken::new(),
            executions: Mutex::new(Executions::default()),
        })
    }

    /// The state machines, in template order.
    pub fn machines(&self) -> &[Arc<Machine>] {
        &self.machines
    }

    /// The state machine with this ARN.
    pub fn machine(&self, arn: &str) -> Result<&Arc<Machine>, SfnError> {
        if let Some(machine) = self.machines.iter().find(|m| m.arn == arn) {
            return Ok(machine);
        }
        if !is_arn(arn, "stateMachine") {
            return Err(SfnError::InvalidArn(format!("Invalid Arn: '{arn}'")));
        }
        Err(SfnError::StateMachineDoesNotExist(format!(
            "State Machine Does Not Exist: '{arn}'"
        )))
    }

    /// The task tokens of `.waitForTaskToken` tasks.
    pub fn tokens(&self) -> &Arc<TaskTokens> {
        &self.tokens
    }

    /// Every execution, in start order.
    pub fn executions(&self) -> Vec<Arc<Execution>> {
        lock(&self.executions).all.clone()
    }

    /// The execution with this ARN.
    pub fn execution(&self, arn: &str) -> Result<Arc<Execution>, SfnError> {
        if let Some(execution) = lock(&self.executions).by_arn.get(arn) {
            return Ok(execution.clone());
        }
        if !is_arn(arn, "execution") && !is_arn(arn, "express") {
            return Err(SfnError::InvalidArn(format!("Invalid Arn: '{arn}'")));
        }
        Err(SfnError::ExecutionDoesNotExist(format!(
            "Execution Does Not Exist: '{arn}'"
        )))
    }

    /// StartExecution: starts an execution (a UUID names it if `name` is `None`), or returns
    /// the running one with the same name and input.
    pub fn start_execution(
        &self,
        machine_arn: &str,
        name: Option<&str>,
        input: Option<&str>,
    ) -> Result<Arc<Execution>, SfnError> {
        let machine = self.machine(machine_arn)?.clone();
        self.start(machine, name, input, true)
    }

    /// StartSyncExecution: runs an EXPRESS execution to its end.
    pub async fn start_sync_execution(
        &self,
        machine_arn: &str,
        name: Option<&str>,
        input: Option<&str>,
    ) -> Result<Arc<Execution>, SfnError> {
        let machine = self.machine(machine_arn)?.clone();
        if machine.kind != MachineType::Express {
            return Err(SfnError::StateMachineTypeNotSupported(format!(
                "This operation is not supported by this type of state machine: {} is {}",
                machine.arn,
                machine.kind.as_str()
            )));
        }
        let execution = self.start(machine, name, input, false)?;
        execution.wait().await;
        Ok(execution)
    }

    /// StopExecution: aborts a running execution and waits (briefly) until it has stopped.
    /// Returns the stop date.
    pub async fn stop_execution(
        &self,
        arn: &str,
        error: Option<String>,
        cause: Option<String>,
    ) -> Result<OffsetDateTime, SfnError> {
        let execution = self.execution(arn)?;
        if execution.is_running() {
            *lock(&execution.stop_request) = Some((error, cause));
            execution.cancel.cancel();
            // The interpreter stops at its next await; a task runner that ignores cancellation
            // must not hold up the caller.
            let _stopped = tokio::time::timeout(Duration::from_secs(5), execution.wait()).await;
        }
        Ok(execution
            .progress()
            .stop_date
            .unwrap_or_else(OffsetDateTime::now_utc))
    }

    /// Aborts every running execution and waits up to `grace` for them to stop.
    pub async fn shutdown(&self, grace: Duration) {
        let running: Vec<_> = self
            .executions()
            .into_iter()
            .filter(|e| e.is_running())
            .collect();
        for execution in &running {
            lock(&execution.stop_request)
                .get_or_insert_with(|| (None, Some("the local stack stopped".to_owned())));
        }
        self.stopping.cancel();
        let all = futures::future::join_all(running.iter().map(|e| e.wait()));
        if tokio::time::timeout(grace, all).await.is_err() {
            tracing::warn!(target: LOG_TARGET, "executions still running at shutdown");
        }
    }

    fn start(
        &self,
        machine: Arc<Machine>,
        name: Option<&str>,
        input: Option<&str>,
        idempotent: bool,
    ) -> Result<Arc<Execution>, SfnError> {
        let name = match name {
            Some(name) => {
                validate_name(name)?;
                name.to_owned()
            }
            None => uuid::Uuid::new_v4().to_string(),
        };
        let input_text = input.unwrap_or("{}");
        let input: Value = serde_json::from_str(input_text).map_err(|e| {
            SfnError::InvalidExecutionInput(format!("Invalid State Machine Execution Input: {e}"))
        })?;
        let arn = format!(
            "arn:aws:states:{}:{}:{}:{}:{name}",
            self.options.region,
            self.options.account_id,
            match machine.kind {
                MachineType::Standard => "execution",
                MachineType::Express => "express",
            },
            machine.name
        );

        let execution = {
            let mut executions = lock(&self.executions);
            if let Some(existing) = executions.by_arn.get(&arn) {
                let same = idempotent
                    && machine.kind == MachineType::Standard
                    && existing.is_running()
                    && existing.input == input;
                return if same {
                    Ok(existing.clone())
                } else {
                    Err(SfnError::ExecutionAlreadyExists(format!(
                        "Execution Already Exists: '{arn}'"
                    )))
                };
            }
            let correlation_id = input
                .get("correlationId")
                .and_then(Value::as_str)
                .map_or_else(|| name.clone(), str::to_owned);
            let execution = Arc::new(Execution {
                arn: arn.clone(),
                name,
                machine,
                input,
                start_date: OffsetDateTime::now_utc(),
                correlation_id,
                cancel: self.stopping.child_token(),
                stop_request: Mutex::new(None),
                progress: Mutex::new(Progress {
                    status: ExecutionStatus::Running,
                    output: None,
                    error: None,
                    cause: None,
                    stop_date: None,
                }),
                history: Mutex::new(Vec::new()),
                finished: watch::Sender::new(false),
            });
            executions.by_arn.insert(arn, execution.clone());
            executions.all.push(execution.clone());
            execution
        };

        let options = ExecutionOptions {
            execution_name: execution.name.clone(),
            execution_arn: execution.arn.clone(),
            state_machine_name: execution.machine.name.clone(),
            state_machine_arn: execution.machine.arn.clone(),
            role_arn: execution.machine.role_arn(),
            region: self.options.region.clone(),
            start_time: execution.start_date,
            time_scale: self.options.time_scale,
            cancellation: execution.cancel.clone(),
        };
        let runner = self.runner.clone();
        let running = execution.clone();
        tokio::spawn(async move {
            let sink = ExecutionSink {
                execution: &running,
            };
            let outcome = local_states::execute(
                &running.machine.parsed,
                running.input.clone(),
                runner,
                options,
                &sink,
            )
            .await;
            running.finish(outcome);
        });
        Ok(execution)
    }
}

/// Checks an execution name as the service does: 1 to 80 characters, none of them
/// whitespace, brackets, wildcards, special or control characters.
pub fn validate_name(name: &str) -> Result<(), SfnError> {
    const FORBIDDEN: &str = "<>{}[]?*\"#%\\^|~`$&,;:/";
    let length = name.chars().count();
    let bad = name.chars().find(|c| {
        c.is_whitespace()
            || FORBIDDEN.contains(*c)
            || matches!(*c as u32, 0x00..=0x1f | 0x7f..=0x9f)
    });
    if length == 0 || length > MAX_NAME_LENGTH || bad.is_some() {
        return Err(SfnError::InvalidName(format!("Invalid Name: '{name}'")));
    }
    Ok(())
}

/// Whether `arn` looks like `arn:aws:states:<region>:<account>:<resource>:...`.
fn is_arn(arn: &str, resource: &str) -> bool {
    let parts: Vec<&str> = arn.split(':').collect();
    parts.len() >= 7
        && parts[0] == "arn"
        && parts[2] == "states"
        && parts[5] == resource
        && parts[6..].iter().all(|p| !p.is_empty())
}

/// A date as the API's JSON protocol sends it: epoch seconds, to the millisecond.
pub fn epoch_seconds(date: OffsetDateTime) -> Value {
    let millis = date.unix_timestamp_nanos() / 1_000_000;
    json!(millis as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_service_rules() {
        assert!(validate_name("order-123_ABC.x").is_ok());
        assert!(validate_name(&"a".repeat(80)).is_ok());
        for bad in [
            "",
            "has space",
            "a/b",
            "a:b",
            "{x}",
            "tab\there",
            "q?",
            "\u{85}",
        ] {
            assert!(validate_name(bad).is_err(), "{bad:?} should be invalid");
        }
        assert!(validate_name(&"a".repeat(81)).is_err());
    }

    #[test]
    fn arns_are_recognised_by_resource_type() {
        assert!(is_arn(
            "arn:aws:states:us-east-1:123456789012:execution:m:n",
            "execution"
        ));
        assert!(!is_arn(
            "arn:aws:states:us-east-1:123456789012:execution:m:",
            "execution"
        ));
        assert!(!is_arn("not-an-arn", "execution"));
    }

    #[test]
    fn dates_are_epoch_seconds_with_milliseconds() {
        let date = OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_456_789)
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        assert_eq!(epoch_seconds(date), json!(1_700_000_000.123));
    }
}
