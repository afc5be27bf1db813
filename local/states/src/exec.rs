//! The executor: runs a [`StateMachine`] against an input, calling a [`TaskRunner`] for
//! Task states and reporting [`HistoryEvent`]s to a [`HistorySink`].
//!
//! Events follow the service's histories: `<Type>StateEntered`/`<Type>StateExited` around
//! every state (a Fail state, and a state whose error is not caught, never exits; a caught
//! error exits with the Catcher's output); `LambdaFunction*` events for Lambda ARNs,
//! `Activity*` events for activity ARNs and `Task*` events for service integrations, once
//! per attempt; `TaskSubmitted` (without output) right after `TaskStarted` for `.sync` and
//! `.waitForTaskToken` resources, since the runner reports only the final result;
//! `ParallelStateStarted/Succeeded/Failed` and `MapStateStarted/Succeeded/Failed` with
//! `MapIterationStarted/Succeeded/Failed` per item (`MapIterationAborted` for items still
//! running when the Map state fails). The first state's entry has
//! `previousEventId` 0, as the service records it.
//!
//! Stopping an execution, a failing branch or item, or a timeout drops the futures still
//! running (task runner futures included), so runners must be cancellation-safe.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::StreamExt as _;
use futures::future::BoxFuture;
use rand::Rng as _;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate::choice::parse_timestamp;
use crate::error::{StatesError, names};
use crate::history::{EventType, HistoryEvent, HistorySink};
use crate::jsonata::Jv;
use crate::model::{
    Assign, ChoiceTest, Dynamic, Language, MapSpec, Number, State, StateKind, StateMachine,
    TaskSpec, WaitSpec,
};
use crate::path::{JsonPath, Root, VARIABLES_KEY};
use crate::template::Template;

/// Workflow variables in scope: names to values.
type Vars = Map<String, Value>;

/// One invocation of a Task state's resource.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskCall {
    /// The state's `Resource` ARN, as written.
    pub resource: String,
    /// The effective input: the state input after `InputPath` and `Parameters`.
    pub input: Value,
    /// The name of the Task state.
    pub state_name: String,
    /// The task token, generated when the resource ends with `.waitForTaskToken`; it is also
    /// in the context object as `$$.Task.Token`.
    pub task_token: Option<String>,
    /// The heartbeat interval (`HeartbeatSeconds`, already scaled by the time scale); the
    /// runner reports `States.HeartbeatTimeout` when the worker does not heartbeat in time.
    pub heartbeat: Option<Duration>,
    /// The context object (`$$`) as the state sees it.
    pub context: Value,
}

/// A failed task: its error name (for a Lambda function, its `errorType`) and cause.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}: {}", cause.as_deref().unwrap_or(""))]
pub struct TaskError {
    /// The error name matched by `ErrorEquals`.
    pub error: String,
    /// The cause, passed on in the error output.
    pub cause: Option<String>,
}

impl TaskError {
    /// An error with a name and a cause.
    pub fn new(error: impl Into<String>, cause: impl Into<String>) -> Self {
        Self {
            error: error.into(),
            cause: Some(cause.into()),
        }
    }
}

/// Runs the resources of Task states (Lambda functions, service integrations, activities).
pub trait TaskRunner: Send + Sync {
    /// Runs one task and returns its result or its error.
    fn run<'a>(&'a self, task: TaskCall) -> BoxFuture<'a, Result<Value, TaskError>>;
}

/// How an execution is identified and timed.
#[derive(Debug, Clone)]
pub struct ExecutionOptions {
    /// The execution name (`$$.Execution.Name`).
    pub execution_name: String,
    /// The execution ARN (`$$.Execution.Id`).
    pub execution_arn: String,
    /// The state machine name (`$$.StateMachine.Name`).
    pub state_machine_name: String,
    /// The state machine ARN (`$$.StateMachine.Id`).
    pub state_machine_arn: String,
    /// The execution role (`$$.Execution.RoleArn`).
    pub role_arn: String,
    /// The region reported in `taskScheduledEventDetails`.
    pub region: String,
    /// When the execution started (`$$.Execution.StartTime`).
    pub start_time: OffsetDateTime,
    /// Multiplies every duration the executor waits for: Wait states (`Seconds`,
    /// `SecondsPath`, and the time remaining until `Timestamp`/`TimestampPath`), retry
    /// intervals (after backoff, `MaxDelaySeconds` and jitter), Task `TimeoutSeconds` /
    /// `TimeoutSecondsPath`, the `HeartbeatSeconds` passed to the runner, and the
    /// machine-level `TimeoutSeconds`. It does not touch timestamps reported in the history
    /// or the context object. 1.0 is real time; tests use e.g. 0.001.
    pub time_scale: f64,
    /// Cancelling this token stops the execution (`ExecutionAborted`).
    pub cancellation: CancellationToken,
}

impl ExecutionOptions {
    /// Options for an execution `execution_name` of the state machine `state_machine_name`,
    /// with ARNs in the local account (`123456789012`, `us-east-1`).
    pub fn new(state_machine_name: &str, execution_name: &str) -> Self {
        let region = "us-east-1";
        let account = "123456789012";
        Self {
            execution_name: execution_name.to_owned(),
            execution_arn: format!(
                "arn:aws:states:{region}:{account}:execution:{state_machine_name}:{execution_name}"
            ),
            state_machine_name: state_machine_name.to_owned(),
            state_machine_arn: format!(
                "arn:aws:states:{region}:{account}:stateMachine:{state_machine_name}"
            ),
            role_arn: format!("arn:aws:iam::{account}:role/{state_machine_name}-role"),
            region: region.to_owned(),
            start_time: OffsetDateTime::now_utc(),
            time_scale: 1.0,
            cancellation: CancellationToken::new(),
        }
    }

    /// The same options with another time scale.
    pub fn with_time_scale(mut self, time_scale: f64) -> Self {
        self.time_scale = time_scale;
        self
    }
}

impl Default for ExecutionOptions {
    fn default() -> Self {
        Self::new("local", &uuid::Uuid::new_v4().to_string())
    }
}

/// How an execution ended.
#[derive(Debug, Clone, PartialEq)]
pub enum ExecutionOutcome {
    /// The machine reached a terminal state; its output.
    Succeeded(Value),
    /// An error was not handled, or a Fail state was reached.
    Failed {
        /// The error name (empty when a Fail state has no `Error`).
        error: String,
        /// The cause.
        cause: Option<String>,
    },
    /// The machine-level `TimeoutSeconds` elapsed.
    TimedOut,
    /// The execution was stopped through its cancellation token.
    Aborted,
}

/// Runs `machine` on `input` to completion, recording history events in `history`.
///
/// The execution ends `Aborted` when `options.cancellation` is cancelled, `TimedOut` when
/// the machine-level `TimeoutSeconds` (scaled) elapses, and `Failed` on an unhandled error.
#[tracing::instrument(skip_all, fields(execution = %options.execution_arn))]
pub async fn execute(
    machine: &StateMachine,
    input: Value,
    runner: Arc<dyn TaskRunner>,
    options: ExecutionOptions,
    history: &dyn HistorySink,
) -> ExecutionOutcome {
    let exec = Exec::new(runner, &options, history, &input);
    let mut prev = 0;
    exec.emit(
        &mut prev,
        EventType::ExecutionStarted,
        Some(json!({"input": input.to_string(), "inputDetails": {"truncated": false}, "roleArn": options.role_arn})),
    );
    // The first state's events follow the start of the execution with previousEventId 0,
    // as in the service's histories.
    let mut prev = 0;
    let timeout = machine.timeout_seconds.map(|s| exec.scaled(s));
    let ended = {
        let run = exec.run_machine(machine, input, &mut prev, Vars::new());
        tokio::select! {
            biased;
            () = options.cancellation.cancelled() => Ended::Aborted,
            () = sleep_for(timeout) => Ended::TimedOut,
            r = run => Ended::Finished(r),
        }
    };
    let mut last = exec.last_id();
    match ended {
        Ended::Aborted => {
            exec.emit(&mut last, EventType::ExecutionAborted, None);
            ExecutionOutcome::Aborted
        }
        Ended::TimedOut => {
            let e = StatesError::new(names::TIMEOUT, "The execution exceeded its TimeoutSeconds");
            exec.emit(
                &mut last,
                EventType::ExecutionTimedOut,
                Some(error_details(&e)),
            );
            ExecutionOutcome::TimedOut
        }
        Ended::Finished(Ok(output)) => {
            exec.emit(
                &mut last,
                EventType::ExecutionSucceeded,
                Some(json!({"output": output.to_string(), "outputDetails": {"truncated": false}})),
            );
            ExecutionOutcome::Succeeded(output)
        }
        Ended::Finished(Err(e)) => {
            exec.emit(
                &mut last,
                EventType::ExecutionFailed,
                Some(error_details(&e)),
            );
            ExecutionOutcome::Failed {
                error: e.error,
                cause: e.cause,
            }
        }
    }
}

enum Ended {
    Aborted,
    TimedOut,
    Finished(Result<Value, StatesError>),
}

async fn sleep_for(duration: Option<Duration>) {
    match duration {
        Some(d) => tokio::time::sleep(d).await,
        None => std::future::pending().await,
    }
}

fn error_details(e: &StatesError) -> Value {
    let mut map = Map::new();
    if !e.error.is_empty() {
        map.insert("error".into(), Value::String(e.error.clone()));
    }
    if let Some(cause) = &e.cause {
        map.insert("cause".into(), Value::String(cause.clone()));
    }
    Value::Object(map)
}

fn timestamp_text(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

enum Step {
    Next(usize, Value),
    End(Value),
}

/// How a Task, Parallel or Map state ended: with an output, or through a Catcher; with the
/// variables it assigns.
enum Finished {
    Output(Value, Vars),
    Caught(Step, Vars),
}

/// What a state needs to build its context object and evaluate its expressions.
struct StateCtx<'s> {
    name: &'s str,
    entered: OffsetDateTime,
    /// The id of the state's `...StateEntered` event.
    entered_event: u64,
    retry_count: u32,
    token: Option<String>,
    /// The variables as they were when the state was entered.
    vars: &'s Vars,
}

impl<'s> StateCtx<'s> {
    /// The same state, for another attempt of its task.
    fn attempt(&self, retry_count: u32, token: Option<String>) -> StateCtx<'s> {
        StateCtx {
            name: self.name,
            entered: self.entered,
            entered_event: self.entered_event,
            retry_count,
            token,
            vars: self.vars,
        }
    }
}

/// What a JSONata field sees as `$states`: the state input and the context object, and the
/// result or the error output where those exist.
fn states_value(input: &Value, context: Value, extra: Option<(&str, &Value)>) -> Value {
    let mut map = Map::new();
    map.insert("input".into(), input.clone());
    map.insert("context".into(), context);
    if let Some((key, value)) = extra {
        map.insert(key.into(), value.clone());
    }
    Value::Object(map)
}

/// The JSONata name of a JSON value's type, for error messages.
fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// How a task resource is reported in the history.
enum ResourceKind {
    Lambda,
    Activity,
    Service {
        resource_type: String,
        resource: String,
    },
}

fn classify(resource: &str) -> ResourceKind {
    let parts: Vec<&str> = resource.splitn(6, ':').collect();
    if let [_, _, service, region, account, rest] = parts.as_slice() {
        if *service == "lambda" && rest.starts_with("function:") {
            return ResourceKind::Lambda;
        }
        if *service == "states" && rest.starts_with("activity:") {
            return ResourceKind::Activity;
        }
        if *service == "states" && region.is_empty() && account.is_empty() {
            let split = if rest.starts_with("aws-sdk:") {
                rest.rsplit_once(':')
            } else {
                rest.split_once(':')
            };
            if let Some((resource_type, name)) = split {
                return ResourceKind::Service {
                    resource_type: resource_type.to_owned(),
                    resource: name.to_owned(),
                };
            }
        }
    }
    ResourceKind::Service {
        resource_type: "task".to_owned(),
        resource: resource.to_owned(),
    }
}

struct Exec<'a> {
    runner: Arc<dyn TaskRunner>,
    options: &'a ExecutionOptions,
    history: &'a dyn HistorySink,
    counter: Mutex<u64>,
    base_context: Value,
}

fn io_details(key: &str, name: &str, value: &Value) -> Value {
    let mut map = Map::new();
    map.insert("name".into(), Value::String(name.to_owned()));
    map.insert(key.into(), Value::String(value.to_string()));
    map.insert(format!("{key}Details"), json!({"truncated": false}));
    Value::Object(map)
}

impl<'a> Exec<'a> {
    fn new(
        runner: Arc<dyn TaskRunner>,
        options: &'a ExecutionOptions,
        history: &'a dyn HistorySink,
        input: &Value,
    ) -> Self {
        let base_context = json!({
            "Execution": {
                "Id": options.execution_arn,
                "Input": input,
                "Name": options.execution_name,
                "RoleArn": options.role_arn,
                "StartTime": timestamp_text(options.start_time),
                "RedriveCount": 0,
            },
            "StateMachine": {"Id": options.state_machine_arn, "Name": options.state_machine_name},
        });
        Self {
            runner,
            options,
            history,
            counter: Mutex::new(0),
            base_context,
        }
    }

    fn emit(&self, prev: &mut u64, event_type: EventType, details: Option<Value>) -> u64 {
        let mut counter = self.counter.lock().unwrap_or_else(PoisonError::into_inner);
        *counter += 1;
        let id = *counter;
        self.history.record(HistoryEvent {
            id,
            previous_event_id: *prev,
            timestamp: OffsetDateTime::now_utc(),
            event_type,
            details,
        });
        *prev = id;
        id
    }

    fn last_id(&self) -> u64 {
        *self.counter.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn scaled(&self, seconds: f64) -> Duration {
        let s = seconds * self.options.time_scale;
        if s.is_finite() && s > 0.0 {
            Duration::from_secs_f64(s.min(1.0e9))
        } else {
            Duration::ZERO
        }
    }

    async fn sleep(&self, seconds: f64) {
        let d = self.scaled(seconds);
        if !d.is_zero() {
            tokio::time::sleep(d).await;
        }
    }

    /// The context object, carrying the variables in scope for `$name` paths.
    fn context(&self, sc: &StateCtx<'_>) -> Value {
        let mut ctx = self.plain_context(sc);
        if !sc.vars.is_empty()
            && let Value::Object(map) = &mut ctx
        {
            map.insert(VARIABLES_KEY.into(), Value::Object(sc.vars.clone()));
        }
        ctx
    }

    /// The context object as `$$` and `$states.context` show it.
    fn plain_context(&self, sc: &StateCtx<'_>) -> Value {
        let mut ctx = self.base_context.clone();
        if let Value::Object(map) = &mut ctx {
            map.insert(
                "State".into(),
                json!({"EnteredTime": timestamp_text(sc.entered), "Name": sc.name, "RetryCount": sc.retry_count}),
            );
            if let Some(token) = &sc.token {
                map.insert("Task".into(), json!({"Token": token}));
            }
        }
        ctx
    }

    /// `$states` for a field of the state: its input, the context object, and `extra`
    /// (`result` or `errorOutput`).
    fn states(&self, sc: &StateCtx<'_>, input: &Value, extra: Option<(&str, &Value)>) -> Value {
        states_value(input, self.plain_context(sc), extra)
    }

    /// Evaluates a JSONata field with `$states` and the variables in scope.
    fn jv(
        &self,
        jv: &Jv,
        field: &str,
        sc: &StateCtx<'_>,
        states: &Value,
    ) -> Result<Value, StatesError> {
        if let Jv::Literal(v) = jv {
            return Ok(v.clone());
        }
        let mut bindings: Vec<(&str, &Value)> =
            sc.vars.iter().map(|(k, v)| (k.as_str(), v)).collect();
        bindings.push(("states", states));
        jv.eval(field, &bindings)
            .map_err(|e| self.query_error(sc, &e.describe()))
    }

    /// `States.QueryEvaluationError`, with Step Functions' prefix.
    fn query_error(&self, sc: &StateCtx<'_>, message: &str) -> StatesError {
        StatesError::new(
            names::QUERY_EVALUATION_ERROR,
            format!(
                "An error occurred while executing the state '{}' (entered at the event id #{}). {message}",
                sc.name, sc.entered_event
            ),
        )
    }

    /// A JSONata field whose result has the wrong type.
    fn unexpected_type(
        &self,
        sc: &StateCtx<'_>,
        jv: &Jv,
        field: &str,
        expected: &str,
        value: &Value,
    ) -> StatesError {
        let expr = jv.as_expr().unwrap_or_default();
        self.query_error(
            sc,
            &format!(
                "The JSONata expression '{expr}' specified for the field '{field}' returned an unexpected result type. Expected '{expected}', but was '{}' for value: {value}",
                type_name(value)
            ),
        )
    }

    /// The variables an `Assign` sets. In a JSONPath state, `$` is `dollar` (the result, the
    /// error output or the effective input, depending on the state); in a JSONata state,
    /// `$states` is `states`.
    fn assignments(
        &self,
        assign: Option<&Assign>,
        dollar: &Value,
        states: &Value,
        sc: &StateCtx<'_>,
    ) -> Result<Vars, StatesError> {
        let value = match assign {
            None => return Ok(Vars::new()),
            Some(Assign::Path(template)) => template.eval(dollar, &self.context(sc))?,
            Some(Assign::Jsonata(jv)) => self.jv(jv, "Assign", sc, states)?,
        };
        match value {
            Value::Object(map) => Ok(map),
            other => Err(StatesError::runtime(format!(
                "'Assign' must give an object, got {other}"
            ))),
        }
    }

    /// A JSONata state's output: `Output` evaluated, or `default`.
    fn jsonata_output(
        &self,
        output: Option<&Jv>,
        default: Value,
        sc: &StateCtx<'_>,
        states: &Value,
    ) -> Result<Value, StatesError> {
        match output {
            Some(jv) => self.jv(jv, "Output", sc, states),
            None => Ok(default),
        }
    }

    fn resolve(&self, path: &JsonPath, input: &Value, sc: &StateCtx<'_>) -> Option<Value> {
        if path.root() != Root::Input {
            path.resolve(input, &self.context(sc))
        } else {
            path.resolve(input, &Value::Null)
        }
    }

    fn template(
        &self,
        template: &Template,
        input: &Value,
        sc: &StateCtx<'_>,
    ) -> Result<Value, StatesError> {
        if template.uses_context() {
            template.eval(input, &self.context(sc))
        } else {
            template.eval(input, &Value::Null)
        }
    }

    /// `InputPath`: `null` gives `{}`; a path that matches nothing is a runtime error.
    fn input_path(
        &self,
        state: &State,
        raw: &Value,
        sc: &StateCtx<'_>,
    ) -> Result<Value, StatesError> {
        match &state.input_path {
            None => Ok(Value::Object(Map::new())),
            Some(p) if p.is_identity() => Ok(raw.clone()),
            Some(p) => self.resolve(p, raw, sc).ok_or_else(|| {
                StatesError::runtime(format!(
                    "Invalid path '{p}' : No results for path: {p} in the input '{raw}'"
                ))
            }),
        }
    }

    /// `InputPath` then `Parameters`.
    fn effective_input(
        &self,
        state: &State,
        raw: &Value,
        sc: &StateCtx<'_>,
    ) -> Result<Value, StatesError> {
        let input = self.input_path(state, raw, sc)?;
        match &state.parameters {
            Some(t) => self.template(t, &input, sc),
            None => Ok(input),
        }
    }

    /// `ResultSelector`, `ResultPath` and `OutputPath`, in that order.
    fn output(
        &self,
        state: &State,
        raw: Value,
        result: Value,
        sc: &StateCtx<'_>,
    ) -> Result<Value, StatesError> {
        let result = match &state.result_selector {
            Some(t) => self.template(t, &result, sc)?,
            None => result,
        };
        let combined = apply_result_path(state.result_path.as_ref(), raw, result)?;
        self.output_path(state, combined, sc)
    }

    fn output_path(
        &self,
        state: &State,
        value: Value,
        sc: &StateCtx<'_>,
    ) -> Result<Value, StatesError> {
        match &state.output_path {
            None => Ok(Value::Object(Map::new())),
            Some(p) if p.is_identity() => Ok(value),
            Some(p) => self.resolve(p, &value, sc).ok_or_else(|| {
                StatesError::runtime(format!(
                    "Invalid path '{p}' : No results for path: {p} in the output '{value}'"
                ))
            }),
        }
    }

    fn run_machine<'b>(
        &'b self,
        machine: &'b StateMachine,
        input: Value,
        prev: &'b mut u64,
        vars: Vars,
    ) -> BoxFuture<'b, Result<Value, StatesError>> {
        Box::pin(async move {
            let mut current = machine.start;
            let mut input = input;
            let mut vars = vars;
            loop {
                let Some(state) = machine.states.get(current) else {
                    return Err(StatesError::runtime(format!("no state at index {current}")));
                };
                match self.run_state(state, input, prev, &mut vars).await? {
                    Step::Next(next, output) => {
                        current = next;
                        input = output;
                    }
                    Step::End(output) => return Ok(output),
                }
            }
        })
    }

    /// Runs one state; the variables it assigns take effect after it, for the next states.
    async fn run_state(
        &self,
        state: &State,
        raw: Value,
        prev: &mut u64,
        vars: &mut Vars,
    ) -> Result<Step, StatesError> {
        let type_name = state.type_name();
        let entered_event = self.emit(
            prev,
            EventType::entered(type_name),
            Some(io_details("input", &state.name, &raw)),
        );
        tracing::debug!(state = %state.name, kind = type_name, "entering state");
        let (step, assigned) = {
            let sc = StateCtx {
                name: &state.name,
                entered: OffsetDateTime::now_utc(),
                entered_event,
                retry_count: 0,
                token: None,
                vars,
            };
            self.run_state_kind(state, raw, prev, &sc).await?
        };
        vars.extend(assigned);
        Ok(step)
    }

    async fn run_state_kind(
        &self,
        state: &State,
        raw: Value,
        prev: &mut u64,
        sc: &StateCtx<'_>,
    ) -> Result<(Step, Vars), StatesError> {
        let type_name = state.type_name();
        let jsonata = state.language == Language::Jsonata;
        let (output, next, assigned) = match &state.kind {
            StateKind::Pass { .. } if jsonata => {
                let states = self.states(sc, &raw, None);
                let assigned = self.assignments(state.assign.as_ref(), &raw, &states, sc)?;
                let output = self.jsonata_output(state.output.as_ref(), raw, sc, &states)?;
                (output, state.next, assigned)
            }
            StateKind::Pass { result } => {
                let effective = self.effective_input(state, &raw, sc)?;
                let result = result.clone().unwrap_or(effective);
                let assigned =
                    self.assignments(state.assign.as_ref(), &result, &Value::Null, sc)?;
                (self.output(state, raw, result, sc)?, state.next, assigned)
            }
            StateKind::Choice { choices, default } => {
                let effective = if jsonata {
                    raw.clone()
                } else {
                    self.input_path(state, &raw, sc)?
                };
                let states = self.states(sc, &raw, None);
                let context = self.context(sc);
                let mut chosen = None;
                for (i, rule) in choices.iter().enumerate() {
                    let matched = match &rule.test {
                        ChoiceTest::Rule(r) => r.eval(&effective, &context)?,
                        ChoiceTest::Condition(jv) => {
                            let field = format!("Choices[{i}].Condition");
                            match self.jv(jv, &field, sc, &states)? {
                                Value::Bool(b) => b,
                                other => {
                                    return Err(
                                        self.unexpected_type(sc, jv, &field, "boolean", &other)
                                    );
                                }
                            }
                        }
                    };
                    if matched {
                        chosen = Some(rule);
                        break;
                    }
                }
                let (next, assign, output) = match chosen {
                    Some(rule) => (Some(rule.next), rule.assign.as_ref(), rule.output.as_ref()),
                    None => (*default, state.assign.as_ref(), state.output.as_ref()),
                };
                let next = next.ok_or_else(|| {
                    StatesError::new(
                        names::NO_CHOICE_MATCHED,
                        format!("No Matches! in state '{}'", state.name),
                    )
                })?;
                let assigned = self.assignments(assign, &effective, &states, sc)?;
                let output = if jsonata {
                    self.jsonata_output(output, raw, sc, &states)?
                } else {
                    self.output_path(state, effective, sc)?
                };
                (output, Some(next), assigned)
            }
            StateKind::Wait(spec) => {
                let effective = if jsonata {
                    raw.clone()
                } else {
                    self.input_path(state, &raw, sc)?
                };
                let states = self.states(sc, &raw, None);
                let seconds = self.wait_seconds(spec, &effective, sc, &states)?;
                let assigned = self.assignments(state.assign.as_ref(), &effective, &states, sc)?;
                self.sleep(seconds).await;
                let output = if jsonata {
                    self.jsonata_output(state.output.as_ref(), raw, sc, &states)?
                } else {
                    self.output_path(state, effective, sc)?
                };
                (output, state.next, assigned)
            }
            StateKind::Succeed => {
                let output = if jsonata {
                    let states = self.states(sc, &raw, None);
                    self.jsonata_output(state.output.as_ref(), raw, sc, &states)?
                } else {
                    let effective = self.input_path(state, &raw, sc)?;
                    self.output_path(state, effective, sc)?
                };
                (output, None, Vars::new())
            }
            StateKind::Fail { error, cause } => {
                let error = self
                    .dynamic(error.as_ref(), &raw, sc, "Error")?
                    .unwrap_or_default();
                let cause = self.dynamic(cause.as_ref(), &raw, sc, "Cause")?;
                return Err(StatesError { error, cause });
            }
            StateKind::Task(spec) => {
                let result = self.run_task(state, spec, &raw, sc, prev).await;
                match self.finish(state, raw, result, sc, prev)? {
                    Finished::Output(output, assigned) => (output, state.next, assigned),
                    Finished::Caught(step, assigned) => return Ok((step, assigned)),
                }
            }
            StateKind::Parallel { branches } => {
                let result = self.run_parallel(state, branches, &raw, sc, prev).await;
                match self.finish(state, raw, result, sc, prev)? {
                    Finished::Output(output, assigned) => (output, state.next, assigned),
                    Finished::Caught(step, assigned) => return Ok((step, assigned)),
                }
            }
            StateKind::Map(spec) => {
                let result = self.run_map(state, spec, &raw, sc, prev).await;
                match self.finish(state, raw, result, sc, prev)? {
                    Finished::Output(output, assigned) => (output, state.next, assigned),
                    Finished::Caught(step, assigned) => return Ok((step, assigned)),
                }
            }
        };
        self.emit(
            prev,
            EventType::exited(type_name),
            Some(io_details("output", &state.name, &output)),
        );
        let step = match next {
            Some(n) => Step::Next(n, output),
            None => Step::End(output),
        };
        Ok((step, assigned))
    }

    /// Output processing and `Assign` for Task, Parallel and Map states; failures of the
    /// state itself and of its output processing go to the Catchers.
    fn finish(
        &self,
        state: &State,
        raw: Value,
        result: Result<Value, StatesError>,
        sc: &StateCtx<'_>,
        prev: &mut u64,
    ) -> Result<Finished, StatesError> {
        let kept = (!state.catch.is_empty()).then(|| raw.clone());
        let processed = result.and_then(|r| {
            if state.language == Language::Jsonata {
                let states = self.states(sc, &raw, Some(("result", &r)));
                let assigned = self.assignments(state.assign.as_ref(), &r, &states, sc)?;
                let output = self.jsonata_output(state.output.as_ref(), r, sc, &states)?;
                Ok((output, assigned))
            } else {
                let assigned = self.assignments(state.assign.as_ref(), &r, &Value::Null, sc)?;
                Ok((self.output(state, raw, r, sc)?, assigned))
            }
        });
        match processed {
            Ok((output, assigned)) => Ok(Finished::Output(output, assigned)),
            Err(e) => self.catch(state, kept.unwrap_or(Value::Null), e, sc, prev),
        }
    }

    /// Hands an error to the first matching Catcher, or returns it. The Catcher's `Assign`
    /// replaces the state's.
    fn catch(
        &self,
        state: &State,
        raw: Value,
        error: StatesError,
        sc: &StateCtx<'_>,
        prev: &mut u64,
    ) -> Result<Finished, StatesError> {
        if error.is_terminal() {
            return Err(error);
        }
        let Some(catcher) = state
            .catch
            .iter()
            .find(|c| c.error_equals.iter().any(|n| error.matches(n)))
        else {
            return Err(error);
        };
        tracing::debug!(state = %state.name, error = %error.error, "error caught");
        let error_output = error.to_output();
        let (output, assigned) = if state.language == Language::Jsonata {
            let states = self.states(sc, &raw, Some(("errorOutput", &error_output)));
            let assigned = self.assignments(catcher.assign.as_ref(), &error_output, &states, sc)?;
            let output = self.jsonata_output(catcher.output.as_ref(), error_output, sc, &states)?;
            (output, assigned)
        } else {
            let assigned =
                self.assignments(catcher.assign.as_ref(), &error_output, &Value::Null, sc)?;
            let output = apply_result_path(catcher.result_path.as_ref(), raw, error_output)?;
            (output, assigned)
        };
        self.emit(
            prev,
            EventType::exited(state.type_name()),
            Some(io_details("output", &state.name, &output)),
        );
        Ok(Finished::Caught(Step::Next(catcher.next, output), assigned))
    }

    /// The delay before the next attempt, or `None` when the error is not retried.
    fn next_retry(&self, state: &State, error: &StatesError, counts: &mut [u32]) -> Option<f64> {
        if error.is_terminal() {
            return None;
        }
        let (i, retrier) = state
            .retry
            .iter()
            .enumerate()
            .find(|(_, r)| r.error_equals.iter().any(|n| error.matches(n)))?;
        let count = counts.get_mut(i)?;
        if *count >= retrier.max_attempts {
            return None;
        }
        let mut delay = retrier.interval_seconds
            * retrier
                .backoff_rate
                .powi(i32::try_from(*count).unwrap_or(i32::MAX));
        if let Some(max) = retrier.max_delay_seconds {
            delay = delay.min(max);
        }
        if retrier.full_jitter {
            delay *= rand::thread_rng().gen_range(0.0..=1.0);
        }
        *count += 1;
        tracing::debug!(state = %state.name, error = %error.error, attempt = *count, delay, "retrying");
        Some(delay)
    }

    /// A number field: fixed, read with a `...Path` field (`what` names it), or a JSONata
    /// expression evaluated against the state input `input`.
    fn number(
        &self,
        n: &Number,
        input: &Value,
        sc: &StateCtx<'_>,
        what: &str,
    ) -> Result<f64, StatesError> {
        match n {
            Number::Fixed(v) => Ok(*v),
            Number::Path(p) => match self.resolve(p, input, sc) {
                Some(Value::Number(v)) if v.as_f64().is_some_and(|f| f >= 0.0) => {
                    Ok(v.as_f64().unwrap_or_default())
                }
                Some(other) => Err(StatesError::runtime(format!(
                    "The value of {what} '{p}' must be a non-negative number, got {other}"
                ))),
                None => Err(StatesError::runtime(format!(
                    "Invalid path '{p}' for {what}: no value in the input '{input}'"
                ))),
            },
            Number::Expr(expr) => {
                let field = what.trim_end_matches("Path");
                let jv = Jv::Expr(expr.clone());
                let states = self.states(sc, input, None);
                let value = self.jv(&jv, field, sc, &states)?;
                let positive = matches!(field, "TimeoutSeconds" | "HeartbeatSeconds");
                let integer = field != "ToleratedFailurePercentage";
                match value.as_f64() {
                    Some(f)
                        if f.is_finite()
                            && (if positive { f > 0.0 } else { f >= 0.0 })
                            && (!integer || f.fract() == 0.0)
                            && (integer || f <= 100.0) =>
                    {
                        Ok(f)
                    }
                    _ => {
                        let expected = if positive {
                            "positive integer"
                        } else if integer {
                            "non-negative integer"
                        } else {
                            "number between 0 and 100"
                        };
                        Err(self.unexpected_type(sc, &jv, field, expected, &value))
                    }
                }
            }
        }
    }

    fn dynamic(
        &self,
        d: Option<&Dynamic>,
        raw: &Value,
        sc: &StateCtx<'_>,
        what: &str,
    ) -> Result<Option<String>, StatesError> {
        let value = match d {
            None => return Ok(None),
            Some(Dynamic::Literal(s)) => return Ok(Some(s.clone())),
            Some(Dynamic::Path(p)) => self.resolve(p, raw, sc).ok_or_else(|| {
                StatesError::runtime(format!(
                    "Invalid path '{p}' for {what}Path: no value in the input '{raw}'"
                ))
            })?,
            Some(Dynamic::Intrinsic(i)) => i.eval(raw, &self.context(sc))?,
            Some(Dynamic::Expr(expr)) => {
                let jv = Jv::Expr(expr.clone());
                let states = self.states(sc, raw, None);
                let value = self.jv(&jv, what, sc, &states)?;
                return match value {
                    Value::String(s) => Ok(Some(s)),
                    other => Err(self.unexpected_type(sc, &jv, what, "string", &other)),
                };
            }
        };
        match value {
            Value::String(s) => Ok(Some(s)),
            other => Err(StatesError::runtime(format!(
                "The value of {what}Path must be a string, got {other}"
            ))),
        }
    }

    fn wait_seconds(
        &self,
        spec: &WaitSpec,
        input: &Value,
        sc: &StateCtx<'_>,
        states: &Value,
    ) -> Result<f64, StatesError> {
        let until =
            |ts: OffsetDateTime| ((ts - OffsetDateTime::now_utc()).as_seconds_f64()).max(0.0);
        match spec {
            WaitSpec::SecondsExpr(expr) => {
                let jv = Jv::Expr(expr.clone());
                match self.jv(&jv, "Seconds", sc, states)? {
                    Value::Number(n) if n.as_u64().is_some() => {
                        Ok(n.as_u64().unwrap_or_default() as f64)
                    }
                    other => Err(self.unexpected_type(
                        sc,
                        &jv,
                        "Seconds",
                        "non-negative integer",
                        &other,
                    )),
                }
            }
            WaitSpec::TimestampExpr(expr) => {
                let jv = Jv::Expr(expr.clone());
                match self.jv(&jv, "Timestamp", sc, states)? {
                    Value::String(text) => parse_timestamp(&text).map(until).ok_or_else(|| {
                        self.query_error(
                            sc,
                            &format!(
                                "The Timestamp field cannot be parsed as an ISO-8601 extended offset date-time format string: {text}"
                            ),
                        )
                    }),
                    other => Err(self.unexpected_type(sc, &jv, "Timestamp", "string", &other)),
                }
            }
            WaitSpec::Seconds(s) => Ok(*s),
            WaitSpec::Timestamp(ts) => Ok(until(*ts)),
            WaitSpec::SecondsPath(p) => match self.resolve(p, input, sc) {
                Some(Value::Number(n)) if n.as_u64().is_some() => {
                    Ok(n.as_u64().unwrap_or_default() as f64)
                }
                Some(other) => Err(StatesError::runtime(format!(
                    "The SecondsPath '{p}' must be a non-negative integer, got {other}"
                ))),
                None => Err(StatesError::runtime(format!(
                    "Invalid path '{p}' for SecondsPath: no value in the input '{input}'"
                ))),
            },
            WaitSpec::TimestampPath(p) => match self.resolve(p, input, sc) {
                Some(Value::String(s)) => parse_timestamp(&s).map(until).ok_or_else(|| {
                    StatesError::runtime(format!(
                        "The TimestampPath '{p}' must be an RFC 3339 timestamp, got '{s}'"
                    ))
                }),
                Some(other) => Err(StatesError::runtime(format!(
                    "The TimestampPath '{p}' must be a timestamp string, got {other}"
                ))),
                None => Err(StatesError::runtime(format!(
                    "Invalid path '{p}' for TimestampPath: no value in the input '{input}'"
                ))),
            },
        }
    }

    async fn run_task(
        &self,
        state: &State,
        spec: &TaskSpec,
        raw: &Value,
        sc: &StateCtx<'_>,
        prev: &mut u64,
    ) -> Result<Value, StatesError> {
        let jsonata = state.language == Language::Jsonata;
        let base = if jsonata {
            raw.clone()
        } else {
            self.input_path(state, raw, sc)?
        };
        let timeout = spec
            .timeout
            .as_ref()
            .map(|n| self.number(n, &base, sc, "TimeoutSecondsPath"))
            .transpose()?;
        let heartbeat = spec
            .heartbeat
            .as_ref()
            .map(|n| self.number(n, &base, sc, "HeartbeatSecondsPath"))
            .transpose()?;
        if let (Some(t), Some(h)) = (timeout, heartbeat)
            && h >= t
        {
            return Err(self.query_error(
                sc,
                &format!("HeartbeatSeconds ({h}) must be smaller than TimeoutSeconds ({t})"),
            ));
        }
        let kind = classify(&spec.resource);
        let wants_token = spec.resource.ends_with(".waitForTaskToken");
        let submits = wants_token || spec.resource.contains(".sync");
        let mut counts = vec![0u32; state.retry.len()];
        loop {
            let token = wants_token.then(|| {
                format!(
                    "{}{}",
                    uuid::Uuid::new_v4().simple(),
                    uuid::Uuid::new_v4().simple()
                )
            });
            let attempt_ctx = sc.attempt(counts.iter().sum(), token.clone());
            let params = match (&state.arguments, &state.parameters) {
                (Some(jv), _) if jsonata => {
                    let states = self.states(&attempt_ctx, raw, None);
                    self.jv(jv, "Arguments", &attempt_ctx, &states)?
                }
                (_, Some(t)) if !jsonata => self.template(t, &base, &attempt_ctx)?,
                _ => base.clone(),
            };
            self.task_scheduled(&kind, spec, &params, timeout, heartbeat, prev);
            match &kind {
                ResourceKind::Lambda => self.emit(prev, EventType::LambdaFunctionStarted, None),
                ResourceKind::Activity => self.emit(
                    prev,
                    EventType::ActivityStarted,
                    Some(json!({"workerName": "local"})),
                ),
                ResourceKind::Service {
                    resource_type,
                    resource,
                } => {
                    let details = json!({"resourceType": resource_type, "resource": resource});
                    self.emit(prev, EventType::TaskStarted, Some(details.clone()));
                    if submits {
                        self.emit(prev, EventType::TaskSubmitted, Some(details))
                    } else {
                        0
                    }
                }
            };
            let call = TaskCall {
                resource: spec.resource.clone(),
                input: params,
                state_name: state.name.clone(),
                task_token: token,
                heartbeat: heartbeat.map(|h| self.scaled(h)),
                context: self.plain_context(&attempt_ctx),
            };
            let outcome = match timeout {
                Some(t) => {
                    match tokio::time::timeout(self.scaled(t), self.runner.run(call)).await {
                        Ok(r) => r.map_err(|e| StatesError {
                            error: e.error,
                            cause: e.cause,
                        }),
                        Err(_) => Err(StatesError::new(
                            names::TIMEOUT,
                            format!("The task did not finish within {t} seconds"),
                        )),
                    }
                }
                None => self.runner.run(call).await.map_err(|e| StatesError {
                    error: e.error,
                    cause: e.cause,
                }),
            };
            match outcome {
                Ok(result) => {
                    self.task_succeeded(&kind, &result, prev);
                    return Ok(result);
                }
                Err(error) => {
                    self.task_failed(&kind, &error, prev);
                    match self.next_retry(state, &error, &mut counts) {
                        Some(delay) => self.sleep(delay).await,
                        None => return Err(error),
                    }
                }
            }
        }
    }

    fn task_scheduled(
        &self,
        kind: &ResourceKind,
        spec: &TaskSpec,
        params: &Value,
        timeout: Option<f64>,
        heartbeat: Option<f64>,
        prev: &mut u64,
    ) {
        let mut details = Map::new();
        let event = match kind {
            ResourceKind::Lambda | ResourceKind::Activity => {
                details.insert("resource".into(), Value::String(spec.resource.clone()));
                details.insert("input".into(), Value::String(params.to_string()));
                details.insert("inputDetails".into(), json!({"truncated": false}));
                if matches!(kind, ResourceKind::Lambda) {
                    EventType::LambdaFunctionScheduled
                } else {
                    EventType::ActivityScheduled
                }
            }
            ResourceKind::Service {
                resource_type,
                resource,
            } => {
                details.insert("resourceType".into(), Value::String(resource_type.clone()));
                details.insert("resource".into(), Value::String(resource.clone()));
                details.insert("region".into(), Value::String(self.options.region.clone()));
                details.insert("parameters".into(), Value::String(params.to_string()));
                EventType::TaskScheduled
            }
        };
        if let Some(t) = timeout {
            details.insert("timeoutInSeconds".into(), Value::from(t as u64));
        }
        if let (Some(h), false) = (heartbeat, matches!(kind, ResourceKind::Lambda)) {
            details.insert("heartbeatInSeconds".into(), Value::from(h as u64));
        }
        self.emit(prev, event, Some(Value::Object(details)));
    }

    fn task_succeeded(&self, kind: &ResourceKind, result: &Value, prev: &mut u64) {
        let mut details = Map::new();
        let event = match kind {
            ResourceKind::Lambda => EventType::LambdaFunctionSucceeded,
            ResourceKind::Activity => EventType::ActivitySucceeded,
            ResourceKind::Service {
                resource_type,
                resource,
            } => {
                details.insert("resourceType".into(), Value::String(resource_type.clone()));
                details.insert("resource".into(), Value::String(resource.clone()));
                EventType::TaskSucceeded
            }
        };
        details.insert("output".into(), Value::String(result.to_string()));
        details.insert("outputDetails".into(), json!({"truncated": false}));
        self.emit(prev, event, Some(Value::Object(details)));
    }

    fn task_failed(&self, kind: &ResourceKind, error: &StatesError, prev: &mut u64) {
        let timed_out = error.error == names::TIMEOUT || error.error == names::HEARTBEAT_TIMEOUT;
        let mut details = Map::new();
        let event = match (kind, timed_out) {
            (ResourceKind::Lambda, false) => EventType::LambdaFunctionFailed,
            (ResourceKind::Lambda, true) => EventType::LambdaFunctionTimedOut,
            (ResourceKind::Activity, false) => EventType::ActivityFailed,
            (ResourceKind::Activity, true) => EventType::ActivityTimedOut,
            (
                ResourceKind::Service {
                    resource_type,
                    resource,
                },
                _,
            ) => {
                details.insert("resourceType".into(), Value::String(resource_type.clone()));
                details.insert("resource".into(), Value::String(resource.clone()));
                if timed_out {
                    EventType::TaskTimedOut
                } else {
                    EventType::TaskFailed
                }
            }
        };
        details.insert("error".into(), Value::String(error.error.clone()));
        if let Some(cause) = &error.cause {
            details.insert("cause".into(), Value::String(cause.clone()));
        }
        self.emit(prev, event, Some(Value::Object(details)));
    }

    async fn run_parallel(
        &self,
        state: &State,
        branches: &[StateMachine],
        raw: &Value,
        sc: &StateCtx<'_>,
        prev: &mut u64,
    ) -> Result<Value, StatesError> {
        let effective = match (&state.arguments, state.language) {
            (Some(jv), Language::Jsonata) => {
                let states = self.states(sc, raw, None);
                self.jv(jv, "Arguments", sc, &states)?
            }
            (None, Language::Jsonata) => raw.clone(),
            (_, Language::JsonPath) => self.effective_input(state, raw, sc)?,
        };
        let mut counts = vec![0u32; state.retry.len()];
        loop {
            let started = self.emit(prev, EventType::ParallelStateStarted, None);
            let mut runs: Vec<BoxFuture<'_, Result<Value, StatesError>>> =
                Vec::with_capacity(branches.len());
            for branch in branches {
                runs.push(self.run_branch(branch, effective.clone(), started, sc.vars.clone()));
            }
            match futures::future::try_join_all(runs).await {
                Ok(outputs) => {
                    *prev = self.last_id();
                    self.emit(prev, EventType::ParallelStateSucceeded, None);
                    return Ok(Value::Array(outputs));
                }
                Err(error) => {
                    *prev = self.last_id();
                    self.emit(prev, EventType::ParallelStateFailed, None);
                    match self.next_retry(state, &error, &mut counts) {
                        Some(delay) => self.sleep(delay).await,
                        None => return Err(error),
                    }
                }
            }
        }
    }

    /// One Parallel branch, in its own scope: it reads the outer variables as they were when
    /// the Parallel state was entered.
    fn run_branch<'b>(
        &'b self,
        branch: &'b StateMachine,
        input: Value,
        started: u64,
        vars: Vars,
    ) -> BoxFuture<'b, Result<Value, StatesError>> {
        Box::pin(async move {
            let mut branch_prev = started;
            self.run_machine(branch, input, &mut branch_prev, vars)
                .await
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn run_iteration<'b>(
        &'b self,
        state: &'b State,
        spec: &'b MapSpec,
        effective: &'b Value,
        sc: &'b StateCtx<'_>,
        index: usize,
        item: &'b Value,
        started: u64,
        running: &'b Mutex<BTreeSet<usize>>,
    ) -> BoxFuture<'b, (usize, Result<Value, StatesError>)> {
        let with_item = |mut context: Value| {
            if let Value::Object(map) = &mut context {
                map.insert(
                    "Map".into(),
                    json!({"Item": {"Index": index, "Value": item}}),
                );
            }
            context
        };
        let input = match (&spec.selector, &spec.item_selector) {
            (Some(jv), _) => {
                let states = states_value(effective, with_item(self.plain_context(sc)), None);
                self.jv(jv, "ItemSelector", sc, &states)
            }
            (None, Some(t)) => t.eval(effective, &with_item(self.context(sc))),
            (None, None) => Ok(item.clone()),
        };
        let vars = sc.vars.clone();
        Box::pin(async move {
            let mut iter_prev = started;
            let details = json!({"name": state.name, "index": index});
            self.emit(
                &mut iter_prev,
                EventType::MapIterationStarted,
                Some(details.clone()),
            );
            running
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(index);
            let result = match input {
                Ok(input) => {
                    self.run_machine(&spec.processor, input, &mut iter_prev, vars)
                        .await
                }
                Err(e) => Err(e),
            };
            let event = if result.is_ok() {
                EventType::MapIterationSucceeded
            } else {
                EventType::MapIterationFailed
            };
            running
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(&index);
            self.emit(&mut iter_prev, event, Some(details));
            (index, result)
        })
    }

    async fn run_map(
        &self,
        state: &State,
        spec: &MapSpec,
        raw: &Value,
        sc: &StateCtx<'_>,
        prev: &mut u64,
    ) -> Result<Value, StatesError> {
        let jsonata = state.language == Language::Jsonata;
        let effective = if jsonata {
            raw.clone()
        } else {
            self.input_path(state, raw, sc)?
        };
        let resolved = if jsonata {
            match &spec.items {
                Some(jv) => {
                    let states = self.states(sc, raw, None);
                    match self.jv(jv, "Items", sc, &states)? {
                        items @ Value::Array(_) => Some(items),
                        other => return Err(self.unexpected_type(sc, jv, "Items", "array", &other)),
                    }
                }
                None if raw.is_array() => Some(raw.clone()),
                None => {
                    return Err(self.query_error(
                        sc,
                        &format!("Map state input must be an array but was: {raw}"),
                    ));
                }
            }
        } else {
            self.resolve(&spec.items_path, &effective, sc)
        };
        let items = match resolved {
            Some(Value::Array(items)) => items,
            Some(other) => {
                return Err(StatesError::runtime(format!(
                    "Invalid path '{}': the ItemsPath value must be an array, got {other}",
                    spec.items_path
                )));
            }
            None => {
                return Err(StatesError::runtime(format!(
                    "Invalid path '{}' : No results for path in the input '{effective}'",
                    spec.items_path
                )));
            }
        };
        let max_concurrency =
            self.number(&spec.max_concurrency, &effective, sc, "MaxConcurrencyPath")? as usize;
        let tolerated_count = spec
            .tolerated_count
            .as_ref()
            .map(|n| self.number(n, &effective, sc, "ToleratedFailureCountPath"))
            .transpose()?;
        let tolerated_percentage = spec
            .tolerated_percentage
            .as_ref()
            .map(|n| self.number(n, &effective, sc, "ToleratedFailurePercentagePath"))
            .transpose()?;
        let tolerates = tolerated_count.is_some() || tolerated_percentage.is_some();
        let total = items.len();
        let exceeded = |failures: usize| {
            let by_count = tolerated_count.is_some_and(|c| failures as f64 > c);
            let by_percentage =
                tolerated_percentage.is_some_and(|p| (failures as f64) * 100.0 > p * total as f64);
            by_count || by_percentage
        };
        let limit = if max_concurrency == 0 {
            total.max(1)
        } else {
            max_concurrency
        };
        let mut counts = vec![0u32; state.retry.len()];
        let running = Mutex::new(BTreeSet::new());
        loop {
            let started = self.emit(
                prev,
                EventType::MapStateStarted,
                Some(json!({"length": total})),
            );
            let mut iterations: Vec<BoxFuture<'_, (usize, Result<Value, StatesError>)>> =
                Vec::with_capacity(total);
            for (index, item) in items.iter().enumerate() {
                iterations.push(
                    self.run_iteration(state, spec, &effective, sc, index, item, started, &running),
                );
            }
            let mut stream = futures::stream::iter(iterations).buffer_unordered(limit);
            let mut outputs: Vec<Value> = vec![Value::Null; total];
            let mut failures = 0usize;
            let mut failure: Option<StatesError> = None;
            while let Some((index, result)) = stream.next().await {
                match result {
                    Ok(v) => {
                        if let Some(slot) = outputs.get_mut(index) {
                            *slot = v;
                        }
                    }
                    Err(e) if e.is_terminal() || !tolerates => {
                        failure = Some(e);
                        break;
                    }
                    Err(e) => {
                        failures += 1;
                        if exceeded(failures) {
                            failure = Some(StatesError::new(
                                names::EXCEED_TOLERATED_FAILURE_THRESHOLD,
                                format!(
                                    "The specified tolerated failure threshold was exceeded ({failures} of {total} items failed)"
                                ),
                            ));
                            break;
                        }
                        if let Some(slot) = outputs.get_mut(index) {
                            *slot = e.to_output();
                        }
                    }
                }
            }
            drop(stream);
            // Iterations still running when the Map state failed were stopped.
            let aborted =
                std::mem::take(&mut *running.lock().unwrap_or_else(PoisonError::into_inner));
            for index in aborted {
                let mut last = self.last_id();
                self.emit(
                    &mut last,
                    EventType::MapIterationAborted,
                    Some(json!({"name": state.name, "index": index})),
                );
            }
            *prev = self.last_id();
            match failure {
                None => {
                    self.emit(prev, EventType::MapStateSucceeded, None);
                    return Ok(Value::Array(outputs));
                }
                Some(error) => {
                    self.emit(prev, EventType::MapStateFailed, None);
                    match self.next_retry(state, &error, &mut counts) {
                        Some(delay) => self.sleep(delay).await,
                        None => return Err(error),
                    }
                }
            }
        }
    }
}

/// `ResultPath`: `null` keeps the input, `$` replaces it, any other reference path writes
/// the result into (a copy of) the input.
fn apply_result_path(
    path: Option<&JsonPath>,
    raw: Value,
    result: Value,
) -> Result<Value, StatesError> {
    match path {
        None => Ok(raw),
        Some(p) if p.is_identity() => Ok(result),
        Some(p) => {
            let mut combined = raw;
            p.set(&mut combined, result)
                .map_err(|m| StatesError::new(names::RESULT_PATH_MATCH_FAILURE, m))?;
            Ok(combined)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resources_are_classified_like_the_history_reports_them() {
        assert!(matches!(
            classify("arn:aws:lambda:us-east-1:123456789012:function:f"),
            ResourceKind::Lambda
        ));
        assert!(matches!(
            classify("arn:aws:states:us-east-1:123456789012:activity:a"),
            ResourceKind::Activity
        ));
        match classify("arn:aws:states:::lambda:invoke") {
            ResourceKind::Service {
                resource_type,
                resource,
            } => assert_eq!(
                (resource_type.as_str(), resource.as_str()),
                ("lambda", "invoke")
            ),
            _ => panic!("expected a service integration"),
        }
        match classify("arn:aws:states:::aws-sdk:dynamodb:getItem") {
            ResourceKind::Service {
                resource_type,
                resource,
            } => {
                assert_eq!(
                    (resource_type.as_str(), resource.as_str()),
                    ("aws-sdk:dynamodb", "getItem")
                )
            }
            _ => panic!("expected a service integration"),
        }
        match classify("arn:aws:states:::states:startExecution.sync:2") {
            ResourceKind::Service {
                resource_type,
                resource,
            } => {
                assert_eq!(
                    (resource_type.as_str(), resource.as_str()),
                    ("states", "startExecution.sync:2")
                )
            }
            _ => panic!("expected a service integration"),
        }
    }

    #[test]
    fn result_path_null_keeps_the_input() {
        let out = apply_result_path(None, json!({"a": 1}), json!(2)).unwrap();
        assert_eq!(out, json!({"a": 1}));
    }

    #[test]
    fn timestamps_render_with_milliseconds() {
        assert_eq!(
            timestamp_text(OffsetDateTime::UNIX_EPOCH),
            "1970-01-01T00:00:00.000Z"
        );
    }
}
