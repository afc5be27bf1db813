//! The Task resources of the local Step Functions service: the template's Lambda functions
//! (by ARN, and through `arn:aws:states:::lambda:invoke`), the SNS, SQS and DynamoDB
//! optimized integrations (served by the emulator), and the `.waitForTaskToken` callback
//! pattern with its heartbeats.
//!
//! Errors are named as Step Functions names them, so a definition's `Retry` and `Catch`
//! behave locally as they do once deployed:
//!
//! | what happened                               | error                                    |
//! |---------------------------------------------|------------------------------------------|
//! | the function returned an error              | its `errorType` (cause: the error JSON)  |
//! | the function's process crashed or its init failed | `Lambda.Unknown`                   |
//! | the function ran past its own timeout       | `Lambda.Unknown` (cause: the timeout)    |
//! | no such function                            | `Lambda.ResourceNotFoundException`       |
//! | a function's result is not JSON             | `States.Runtime`                         |
//! | an SNS or SQS call failed                   | `SNS.<code>` / `SQS.<code>`              |
//! | a DynamoDB call failed                      | `DynamoDB.<exception name>`              |
//! | no heartbeat within `HeartbeatSeconds`      | `States.HeartbeatTimeout`                |
//! | a resource the local stack does not serve   | `States.Runtime`                         |
//!
//! A function's own timeout is an unhandled Lambda error, as AWS documents it: `Lambda.Unknown`,
//! which `States.TaskFailed` and `States.ALL` catch. `States.Timeout` is only the state's own
//! `TimeoutSeconds` (or the execution's), which `States.TaskFailed` does not match.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use futures::future::BoxFuture;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use local_lambda::{FunctionError, FunctionErrorKind, InvokeError, InvokeRequest, Lambda, Outcome};
use local_states::{TaskCall, TaskError, TaskRunner, names};
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;

/// How many completed or expired tokens are remembered, so that a late `SendTaskSuccess`
/// is told `TaskTimedOut` rather than `InvalidToken`.
const REMEMBERED_TOKENS: usize = 10_000;

/// The tokens that `.waitForTaskToken` tasks wait on, shared by the task runner and the
/// `SendTask*` operations of the Step Functions API.
#[derive(Debug, Default)]
pub struct TaskTokens {
    registry: Mutex<Registry>,
}

#[derive(Debug, Default)]
struct Registry {
    waiting: HashMap<String, mpsc::UnboundedSender<Signal>>,
    closed: HashSet<String>,
    closed_order: VecDeque<String>,
}

impl Registry {
    fn close(&mut self, token: &str) {
        if self.closed.insert(token.to_owned()) {
            self.closed_order.push_back(token.to_owned());
        }
        while self.closed_order.len() > REMEMBERED_TOKENS {
            if let Some(old) = self.closed_order.pop_front() {
                self.closed.remove(&old);
            }
        }
    }
}

#[derive(Debug)]
enum Signal {
    Heartbeat,
    Done(Result<Value, TaskError>),
}

/// Why a `SendTaskSuccess`, `SendTaskFailure` or `SendTaskHeartbeat` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// No task ever waited on this token.
    #[error("Invalid token")]
    InvalidToken,
    /// The task that waited on this token timed out, stopped or was already completed.
    #[error("Task Timed Out: 'Provided task does not exist anymore'")]
    TaskTimedOut,
}

impl TaskTokens {
    /// An empty registry.
    pub fn new() -> Arc<TaskTokens> {
        Arc::new(TaskTokens::default())
    }

    /// Completes the task waiting on `token`: `output` becomes its result.
    pub fn succeed(&self, token: &str, output: Value) -> Result<(), TokenError> {
        self.complete(token, Ok(output))
    }

    /// Fails the task waiting on `token` with `error` and `cause`.
    pub fn fail(&self, token: &str, error: String, cause: String) -> Result<(), TokenError> {
        let cause = (!cause.is_empty()).then_some(cause);
        self.complete(token, Err(TaskError { error, cause }))
    }

    /// Records a heartbeat of the task waiting on `token`.
    pub fn heartbeat(&self, token: &str) -> Result<(), TokenError> {
        let registry = self.lock();
        match registry.waiting.get(token) {
            Some(waiter) => waiter
                .send(Signal::Heartbeat)
                .map_err(|_| TokenError::TaskTimedOut),
            None => Err(Self::unknown(&registry, token)),
        }
    }

    fn complete(&self, token: &str, result: Result<Value, TaskError>) -> Result<(), TokenError> {
        let mut registry = self.lock();
        match registry.waiting.remove(token) {
            Some(waiter) => {
                registry.close(token);
                waiter
                    .send(Signal::Done(result))
                    .map_err(|_| TokenError::TaskTimedOut)
            }
            None => Err(Self::unknown(&registry, token)),
        }
    }

    fn unknown(registry: &Registry, token: &str) -> TokenError {
        if registry.closed.contains(token) {
            TokenError::TaskTimedOut
        } else {
            TokenError::InvalidToken
        }
    }

    /// Starts waiting on `token`; the wait ends (and the token expires) when the returned
    /// guard is dropped, whether the task finished or its future was dropped.
    fn register(&self, token: &str) -> (Registration<'_>, mpsc::UnboundedReceiver<Signal>) {
        let (sender, receiver) = mpsc::unbounded_channel();
        self.lock().waiting.insert(token.to_owned(), sender);
        let registration = Registration {
            tokens: self,
            token: token.to_owned(),
        };
        (registration, receiver)
    }

    fn expire(&self, token: &str) {
        let mut registry = self.lock();
        registry.waiting.remove(token);
        registry.close(token);
    }

    /// Number of tasks waiting on a token.
    #[cfg(test)]
    fn waiting(&self) -> usize {
        self.lock().waiting.len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

struct Registration<'a> {
    tokens: &'a TaskTokens,
    token: String,
}

impl Registration<'_> {
    /// Waits for `SendTaskSuccess` or `SendTaskFailure`; with a heartbeat interval, fails
    /// with `States.HeartbeatTimeout` when no heartbeat (or completion) comes in time.
    async fn wait(
        &self,
        signals: &mut mpsc::UnboundedReceiver<Signal>,
        heartbeat: Option<Duration>,
    ) -> Result<Value, TaskError> {
        loop {
            let signal = match heartbeat {
                Some(interval) => match tokio::time::timeout(interval, signals.recv()).await {
                    Ok(signal) => signal,
                    Err(_) => {
                        return Err(TaskError::new(
                            names::HEARTBEAT_TIMEOUT,
                            format!(
                                "No heartbeat was sent for task token {} within {:.3} seconds",
                                self.token,
                                interval.as_secs_f64()
                            ),
                        ));
                    }
                },
                None => signals.recv().await,
            };
            match signal {
                Some(Signal::Heartbeat) => continue,
                Some(Signal::Done(result)) => return result,
                None => {
                    return Err(TaskError::new(
                        names::RUNTIME,
                        format!("The task token {} is no longer valid", self.token),
                    ));
                }
            }
        }
    }
}

impl Drop for Registration<'_> {
    fn drop(&mut self) {
        self.tokens.expire(&self.token);
    }
}

/// Runs the Task states of the template's state machines against the local stack.
pub struct StackTasks {
    lambda: Arc<Lambda>,
    /// Function name by ARN (without qualifier), from the template.
    function_arns: HashMap<String, String>,
    region: String,
    sns: aws_sdk_sns::Client,
    sqs: aws_sdk_sqs::Client,
    dynamodb: DynamoDb,
    tokens: Arc<TaskTokens>,
}

impl StackTasks {
    /// The runner for a stack: `lambda` runs the template's functions, the service
    /// integrations go to the emulator at `emulator_endpoint`, and callback tasks wait on
    /// `tokens`.
    pub fn new(
        lambda: Arc<Lambda>,
        model: &local_template::Model,
        sdk_config: &aws_config::SdkConfig,
        emulator_endpoint: &str,
        tokens: Arc<TaskTokens>,
    ) -> Arc<StackTasks> {
        let sns = aws_sdk_sns::Client::from_conf(
            aws_sdk_sns::config::Builder::from(sdk_config)
                .endpoint_url(emulator_endpoint)
                .build(),
        );
        let sqs = aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::config::Builder::from(sdk_config)
                .endpoint_url(emulator_endpoint)
                .build(),
        );
        Arc::new(StackTasks {
            lambda,
            function_arns: model
                .functions
                .iter()
                .map(|f| (f.arn.clone(), f.name.clone()))
                .collect(),
            region: model.region.clone(),
            sns,
            sqs,
            dynamodb: DynamoDb::new(emulator_endpoint, &model.region),
            tokens,
        })
    }

    async fn run_task(&self, task: TaskCall) -> Result<Value, TaskError> {
        let resource = Resource::parse(&task.resource)?;
        tracing::debug!(
            target: "local::sfn",
            state = %task.state_name,
            resource = %task.resource,
            "task"
        );
        match resource.pattern {
            Pattern::RequestResponse => self.call(&resource, &task).await,
            Pattern::WaitForTaskToken => {
                if !resource.supports_callback() {
                    return Err(unsupported(&task.resource));
                }
                let token = task.task_token.clone().ok_or_else(|| {
                    TaskError::new(
                        names::RUNTIME,
                        format!("{} was called without a task token", task.resource),
                    )
                })?;
                // Registered before the call: the worker may answer before the call returns.
                let (registration, mut signals) = self.tokens.register(&token);
                self.call(&resource, &task).await?;
                // As in the service, the heartbeat clock starts once the call has returned.
                registration.wait(&mut signals, task.heartbeat).await
            }
        }
    }

    async fn call(&self, resource: &Resource, task: &TaskCall) -> Result<Value, TaskError> {
        match &resource.service {
            Service::Function(reference) => self.invoke_function(reference, &task.input).await,
            Service::Integration { service, action } => match (service.as_str(), action.as_str()) {
                ("lambda", "invoke") => self.lambda_invoke(&task.input).await,
                ("sns", "publish") => self.sns_publish(&task.input).await,
                ("sqs", "sendMessage") => self.sqs_send_message(&task.input).await,
                ("dynamodb", "getItem" | "putItem" | "updateItem" | "deleteItem") => {
                    self.dynamodb.call(action, &task.input).await
                }
                _ => Err(unsupported(&task.resource)),
            },
        }
    }

    /// The function a `Resource` or `FunctionName` names: a name, a full or partial ARN,
    /// each with an optional version or alias (the local stack runs `$LATEST` for all).
    fn function_name(&self, reference: &str) -> String {
        let (unqualified, _qualifier) = split_function_reference(reference);
        if let Some(name) = self.function_arns.get(&unqualified) {
            return name.clone();
        }
        match unqualified.rsplit_once(":function:") {
            Some((_, name)) => name.to_owned(),
            None => unqualified,
        }
    }

    async fn invoke(
        &self,
        reference: &str,
        payload: &Value,
        client_context: Option<String>,
    ) -> Result<(String, Bytes), TaskError> {
        let name = self.function_name(reference);
        let request = InvokeRequest {
            payload: Bytes::from(payload.to_string()),
            trace_id: None,
            client_context,
        };
        let invocation = self
            .lambda
            .invoke(&name, request)
            .await
            .map_err(|e| invoke_error(reference, &e))?;
        match invocation.outcome {
            Outcome::Success(body) => Ok((invocation.request_id, body)),
            Outcome::Error(error) => Err(function_error(&error)),
        }
    }

    async fn invoke_function(&self, reference: &str, input: &Value) -> Result<Value, TaskError> {
        let (_, body) = self.invoke(reference, input, None).await?;
        parse_function_result(&body)
    }

    /// `arn:aws:states:::lambda:invoke`: the Invoke API's answer, with the payload parsed.
    async fn lambda_invoke(&self, parameters: &Value) -> Result<Value, TaskError> {
        let function = required_string(parameters, "FunctionName")?;
        let payload = parameters.get("Payload").cloned().unwrap_or(json!({}));
        let client_context = optional_string(parameters, "ClientContext")?
            .map(|encoded| {
                base64::engine::general_purpose::STANDARD
                    .decode(encoded.as_bytes())
                    .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
                    .map_err(|_| {
                        TaskError::new(
                            "Lambda.InvalidRequestContentException",
                            "ClientContext must be base64-encoded JSON",
                        )
                    })
            })
            .transpose()?;
        match optional_string(parameters, "InvocationType")?.as_deref() {
            None | Some("RequestResponse") => {
                let (request_id, body) = self.invoke(&function, &payload, client_context).await?;
                let payload = parse_function_result(&body)?;
                Ok(invoke_result(200, payload, &request_id, body.len()))
            }
            Some("Event") => {
                let name = self.function_name(&function);
                if self.lambda.function(&name).is_none() {
                    return Err(not_found(&function));
                }
                let lambda = Arc::clone(&self.lambda);
                let request = InvokeRequest {
                    payload: Bytes::from(payload.to_string()),
                    trace_id: None,
                    client_context,
                };
                tokio::spawn(async move {
                    if let Err(error) = lambda.invoke(&name, request).await {
                        tracing::warn!(target: "local::sfn", function = %name, error = %error, "asynchronous invocation failed");
                    }
                });
                Ok(invoke_result(
                    202,
                    Value::String(String::new()),
                    &uuid::Uuid::new_v4().to_string(),
                    0,
                ))
            }
            Some("DryRun") => {
                if self
                    .lambda
                    .function(&self.function_name(&function))
                    .is_none()
                {
                    return Err(not_found(&function));
                }
                Ok(invoke_result(
                    204,
                    Value::String(String::new()),
                    &uuid::Uuid::new_v4().to_string(),
                    0,
                ))
            }
            Some(other) => Err(TaskError::new(
                "Lambda.InvalidParameterValueException",
                format!("InvocationType must be RequestResponse, Event or DryRun, got {other}"),
            )),
        }
    }

    async fn sns_publish(&self, parameters: &Value) -> Result<Value, TaskError> {
        use aws_sdk_sns::operation::RequestId as _;
        use aws_sdk_sns::types::MessageAttributeValue;

        let message = parameters
            .get("Message")
            .map(message_text)
            .ok_or_else(|| missing("Message"))?;
        let mut request = self
            .sns
            .publish()
            .message(message)
            .set_topic_arn(optional_string(parameters, "TopicArn")?)
            .set_target_arn(optional_string(parameters, "TargetArn")?)
            .set_phone_number(optional_string(parameters, "PhoneNumber")?)
            .set_subject(optional_string(parameters, "Subject")?)
            .set_message_structure(optional_string(parameters, "MessageStructure")?)
            .set_message_group_id(optional_string(parameters, "MessageGroupId")?)
            .set_message_deduplication_id(optional_string(parameters, "MessageDeduplicationId")?);
        for (name, attribute) in message_attributes(parameters)? {
            let mut value = MessageAttributeValue::builder()
                .data_type(attribute.data_type)
                .set_string_value(attribute.string_value);
            if let Some(binary) = attribute.binary_value {
                value = value.binary_value(aws_sdk_sns::primitives::Blob::new(binary));
            }
            let value = value
                .build()
                .map_err(|e| TaskError::new("SNS.InvalidParameterException", e.to_string()))?;
            request = request.message_attributes(name, value);
        }
        let output = request.send().await.map_err(|e| sdk_error("SNS", &e))?;
        let mut result = Map::new();
        if let Some(id) = output.message_id() {
            result.insert("MessageId".into(), Value::String(id.to_owned()));
        }
        if let Some(sequence) = output.sequence_number() {
            result.insert("SequenceNumber".into(), Value::String(sequence.to_owned()));
        }
        add_sdk_metadata(&mut result, output.request_id(), "text/xml");
        Ok(Value::Object(result))
    }

    async fn sqs_send_message(&self, parameters: &Value) -> Result<Value, TaskError> {
        use aws_sdk_sqs::operation::RequestId as _;
        use aws_sdk_sqs::types::MessageAttributeValue;

        let queue_url = required_string(parameters, "QueueUrl")?;
        let body = parameters
            .get("MessageBody")
            .map(message_text)
            .ok_or_else(|| missing("MessageBody"))?;
        let delay =
            match parameters.get("DelaySeconds") {
                None | Some(Value::Null) => None,
                Some(v) => Some(v.as_i64().and_then(|n| i32::try_from(n).ok()).ok_or_else(
                    || {
                        TaskError::new(
                            names::RUNTIME,
                            format!("DelaySeconds must be an integer, got {v}"),
                        )
                    },
                )?),
            };
        let mut request = self
            .sqs
            .send_message()
            .queue_url(queue_url)
            .message_body(body)
            .set_delay_seconds(delay)
            .set_message_group_id(optional_string(parameters, "MessageGroupId")?)
            .set_message_deduplication_id(optional_string(parameters, "MessageDeduplicationId")?);
        for (name, attribute) in message_attributes(parameters)? {
            let mut value = MessageAttributeValue::builder()
                .data_type(attribute.data_type)
                .set_string_value(attribute.string_value);
            if let Some(binary) = attribute.binary_value {
                value = value.binary_value(aws_sdk_sqs::primitives::Blob::new(binary));
            }
            let value = value
                .build()
                .map_err(|e| TaskError::new("SQS.InvalidParameterValueException", e.to_string()))?;
            request = request.message_attributes(name, value);
        }
        let output = request.send().await.map_err(|e| sdk_error("SQS", &e))?;
        let mut result = Map::new();
        let fields = [
            ("MD5OfMessageBody", output.md5_of_message_body()),
            ("MD5OfMessageAttributes", output.md5_of_message_attributes()),
            ("MessageId", output.message_id()),
            ("SequenceNumber", output.sequence_number()),
        ];
        for (key, value) in fields {
            if let Some(value) = value {
                result.insert(key.into(), Value::String(value.to_owned()));
            }
        }
        add_sdk_metadata(&mut result, output.request_id(), "text/xml");
        Ok(Value::Object(result))
    }
}

impl TaskRunner for StackTasks {
    fn run<'a>(&'a self, task: TaskCall) -> BoxFuture<'a, Result<Value, TaskError>> {
        Box::pin(self.run_task(task))
    }
}

impl std::fmt::Debug for StackTasks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StackTasks")
            .field(
                "functions",
                &self.function_arns.values().collect::<Vec<_>>(),
            )
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

/// A Task state's `Resource`, taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Resource {
    service: Service,
    pattern: Pattern,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Service {
    /// `arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>]`.
    Function(String),
    /// `arn:aws:states:::<service>:<action>[.<pattern>]`.
    Integration { service: String, action: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pattern {
    RequestResponse,
    WaitForTaskToken,
}

impl Resource {
    fn parse(resource: &str) -> Result<Resource, TaskError> {
        let parts: Vec<&str> = resource.split(':').collect();
        match parts.as_slice() {
            ["arn", _, "lambda", _, _, "function", _, ..] if parts.len() <= 8 => Ok(Resource {
                service: Service::Function(resource.to_owned()),
                pattern: Pattern::RequestResponse,
            }),
            ["arn", _, "states", "", "", service, action] => {
                let (action, pattern) = match action.split_once('.') {
                    None => (*action, Pattern::RequestResponse),
                    Some((action, "waitForTaskToken")) => (action, Pattern::WaitForTaskToken),
                    Some(_) => return Err(unsupported(resource)),
                };
                Ok(Resource {
                    service: Service::Integration {
                        service: (*service).to_owned(),
                        action: action.to_owned(),
                    },
                    pattern,
                })
            }
            _ => Err(unsupported(resource)),
        }
    }

    /// Whether the integration offers the callback pattern (DynamoDB does not).
    fn supports_callback(&self) -> bool {
        matches!(&self.service, Service::Integration { service, action }
            if matches!((service.as_str(), action.as_str()),
                ("lambda", "invoke") | ("sns", "publish") | ("sqs", "sendMessage")))
    }
}

fn unsupported(resource: &str) -> TaskError {
    TaskError::new(
        names::RUNTIME,
        format!("The resource '{resource}' is not supported by the local Step Functions service"),
    )
}

fn missing(field: &str) -> TaskError {
    TaskError::new(
        names::RUNTIME,
        format!("The field '{field}' is required in Parameters"),
    )
}

fn required_string(parameters: &Value, field: &str) -> Result<String, TaskError> {
    optional_string(parameters, field)?.ok_or_else(|| missing(field))
}

fn optional_string(parameters: &Value, field: &str) -> Result<Option<String>, TaskError> {
    match parameters.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(TaskError::new(
            names::RUNTIME,
            format!("The field '{field}' must be a string, got {other}"),
        )),
    }
}

/// A message body as the integrations send it: a string as is, anything else as JSON text.
fn message_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

struct Attribute {
    data_type: String,
    string_value: Option<String>,
    binary_value: Option<Vec<u8>>,
}

/// `MessageAttributes: {Name: {DataType, StringValue | BinaryValue (base64)}}`.
fn message_attributes(parameters: &Value) -> Result<Vec<(String, Attribute)>, TaskError> {
    let invalid = |name: &str, why: &str| {
        TaskError::new(
            names::RUNTIME,
            format!("The message attribute '{name}' {why}"),
        )
    };
    let Some(attributes) = parameters.get("MessageAttributes") else {
        return Ok(Vec::new());
    };
    let attributes = attributes
        .as_object()
        .ok_or_else(|| invalid("MessageAttributes", "must be an object"))?;
    attributes
        .iter()
        .map(|(name, value)| {
            let data_type = value
                .get("DataType")
                .and_then(Value::as_str)
                .ok_or_else(|| invalid(name, "needs a string DataType"))?;
            let string_value = match value.get("StringValue") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.clone()),
                // Numbers are given as strings in the API; accept a JSON number as well.
                Some(Value::Number(n)) => Some(n.to_string()),
                Some(_) => return Err(invalid(name, "has a StringValue that is not a string")),
            };
            let binary_value = value
                .get("BinaryValue")
                .and_then(Value::as_str)
                .map(|b| base64::engine::general_purpose::STANDARD.decode(b))
                .transpose()
                .map_err(|_| invalid(name, "has a BinaryValue that is not base64"))?;
            Ok((
                name.clone(),
                Attribute {
                    data_type: data_type.to_owned(),
                    string_value,
                    binary_value,
                },
            ))
        })
        .collect()
}

/// Splits `name[:qualifier]`, `arn:...:function:name[:qualifier]` or
/// `account:function:name[:qualifier]` into the unqualified reference and the qualifier.
fn split_function_reference(reference: &str) -> (String, Option<String>) {
    let function_part = match reference.find(":function:") {
        Some(at) => at + ":function:".len(),
        None => 0,
    };
    let (head, tail) = reference.split_at(function_part);
    match tail.split_once(':') {
        Some((name, qualifier)) => (format!("{head}{name}"), Some(qualifier.to_owned())),
        None => (reference.to_owned(), None),
    }
}

fn not_found(function: &str) -> TaskError {
    TaskError::new(
        "Lambda.ResourceNotFoundException",
        format!(
            "Function not found: {function} (Service: AWSLambda; Status Code: 404; Error Code: ResourceNotFoundException)"
        ),
    )
}

fn invoke_error(function: &str, error: &InvokeError) -> TaskError {
    match error {
        InvokeError::UnknownFunction(_) => not_found(function),
        InvokeError::Spawn { .. } | InvokeError::ShuttingDown => TaskError::new(
            "Lambda.ServiceException",
            format!("{error} (Service: AWSLambda; Status Code: 500; Error Code: ServiceException)"),
        ),
    }
}

/// The error a failed invocation raises in the state machine.
fn function_error(error: &FunctionError) -> TaskError {
    let payload = String::from_utf8_lossy(&error.payload).into_owned();
    match error.kind {
        FunctionErrorKind::Handled | FunctionErrorKind::Unhandled => {
            TaskError::new(error.error_type.clone(), payload)
        }
        FunctionErrorKind::Timeout | FunctionErrorKind::Crash | FunctionErrorKind::Init => {
            TaskError::new(
                "Lambda.Unknown",
                format!(
                    "The cause could not be determined because Lambda did not return an error type. Returned payload: {payload}"
                ),
            )
        }
    }
}

/// A function's result: its JSON payload (`null` when it returned nothing).
fn parse_function_result(body: &[u8]) -> Result<Value, TaskError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(body).map_err(|e| {
        TaskError::new(
            names::RUNTIME,
            format!(
                "The Lambda function returned a result that is not valid JSON ({e}): {}",
                String::from_utf8_lossy(body)
            ),
        )
    })
}

/// The result of `arn:aws:states:::lambda:invoke`, shaped as the service returns it.
fn invoke_result(status: u16, payload: Value, request_id: &str, length: usize) -> Value {
    let date = http_date();
    let headers = json!({
        "Connection": "keep-alive",
        "Content-Length": length.to_string(),
        "Content-Type": "application/json",
        "Date": date,
        "X-Amz-Executed-Version": "$LATEST",
        "x-amzn-Remapped-Content-Length": "0",
        "x-amzn-RequestId": request_id,
    });
    let all_headers: Map<String, Value> = headers
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), json!([v])))
        .collect();
    json!({
        "ExecutedVersion": "$LATEST",
        "Payload": payload,
        "SdkHttpMetadata": {
            "AllHttpHeaders": all_headers,
            "HttpHeaders": headers,
            "HttpStatusCode": status,
        },
        "SdkResponseMetadata": {"RequestId": request_id},
        "StatusCode": status,
    })
}

/// Adds `SdkHttpMetadata` and `SdkResponseMetadata`, as every optimized integration's
/// result carries them.
fn add_sdk_metadata(result: &mut Map<String, Value>, request_id: Option<&str>, content_type: &str) {
    let request_id = request_id
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let headers = json!({
        "Content-Type": content_type,
        "Date": http_date(),
        "x-amzn-RequestId": request_id,
    });
    let all_headers: Map<String, Value> = headers
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), json!([v])))
        .collect();
    result.insert(
        "SdkHttpMetadata".into(),
        json!({"AllHttpHeaders": all_headers, "HttpHeaders": headers, "HttpStatusCode": 200}),
    );
    result.insert(
        "SdkResponseMetadata".into(),
        json!({"RequestId": request_id}),
    );
}

fn http_date() -> String {
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    time::OffsetDateTime::now_utc()
        .format(format)
        .unwrap_or_default()
}

/// An SDK call's failure as `<Service>.<ExceptionName>`.
fn sdk_error<E>(service: &str, error: &aws_sdk_sns::error::SdkError<E>) -> TaskError
where
    E: aws_sdk_sns::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    use aws_sdk_sns::error::ProvideErrorMetadata as _;
    let detail = aws_sdk_sns::error::DisplayErrorContext(error).to_string();
    match error.code() {
        Some(code) => {
            let code = code.rsplit('.').next().unwrap_or(code);
            let name = if code.ends_with("Exception") {
                code.to_owned()
            } else {
                format!("{code}Exception")
            };
            let message = error.message().unwrap_or(&detail);
            TaskError::new(
                format!("{service}.{name}"),
                format!("{message} (Service: {service}; Error Code: {code})"),
            )
        }
        None => TaskError::new(format!("{service}.SdkClientException"), detail),
    }
}

/// The optimized DynamoDB integration: the parameters are the API's own JSON request,
/// forwarded to the emulator as the DynamoDB JSON 1.0 protocol.
struct DynamoDb {
    client: Client<HttpConnector, Full<Bytes>>,
    endpoint: String,
    region: String,
}

impl DynamoDb {
    fn new(endpoint: &str, region: &str) -> Self {
        Self {
            client: Client::builder(TokioExecutor::new()).build_http(),
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            region: region.to_owned(),
        }
    }

    async fn call(&self, action: &str, parameters: &Value) -> Result<Value, TaskError> {
        let operation = dynamodb_operation(action);
        let date = time::OffsetDateTime::now_utc();
        let authorization = format!(
            "AWS4-HMAC-SHA256 Credential=local/{:04}{:02}{:02}/{}/dynamodb/aws4_request, SignedHeaders=host, Signature=0",
            date.year(),
            u8::from(date.month()),
            date.day(),
            self.region
        );
        let request = Request::builder()
            .method(Method::POST)
            .uri(format!("{}/", self.endpoint))
            .header("content-type", "application/x-amz-json-1.0")
            .header("x-amz-target", format!("DynamoDB_20120810.{operation}"))
            .header("authorization", authorization)
            .body(Full::new(Bytes::from(parameters.to_string())))
            .map_err(|e| client_error(&e))?;
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| client_error(&e))?;
        let status = response.status();
        let request_id = response
            .headers()
            .get("x-amzn-requestid")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| client_error(&e))?
            .to_bytes();
        dynamodb_result(status, request_id.as_deref(), &body)
    }
}

fn client_error(error: &dyn std::fmt::Display) -> TaskError {
    TaskError::new(
        "DynamoDB.SdkClientException",
        format!("Unable to reach DynamoDB: {error}"),
    )
}

/// `getItem` → `GetItem`.
fn dynamodb_operation(action: &str) -> String {
    let mut chars = action.chars();
    match chars.next() {
        Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
        None => String::new(),
    }
}

/// DynamoDB's answer as a task result, or its error as `DynamoDB.<ExceptionName>`.
fn dynamodb_result(
    status: StatusCode,
    request_id: Option<&str>,
    body: &[u8],
) -> Result<Value, TaskError> {
    let parsed: Value = if body.iter().all(u8::is_ascii_whitespace) {
        json!({})
    } else {
        serde_json::from_slice(body).map_err(|e| {
            TaskError::new(
                "DynamoDB.AmazonDynamoDBException",
                format!(
                    "DynamoDB answered {status} with a body that is not JSON ({e}): {}",
                    String::from_utf8_lossy(body)
                ),
            )
        })?
    };
    if status.is_success() {
        let mut result = match parsed {
            Value::Object(map) => map,
            other => {
                let mut map = Map::new();
                map.insert("Result".into(), other);
                map
            }
        };
        add_sdk_metadata(&mut result, request_id, "application/x-amz-json-1.0");
        return Ok(Value::Object(result));
    }
    let error_type = parsed
        .get("__type")
        .and_then(Value::as_str)
        .map(|t| t.rsplit('#').next().unwrap_or(t))
        .filter(|t| !t.is_empty())
        .unwrap_or("AmazonDynamoDBException");
    let message = parsed
        .get("message")
        .or_else(|| parsed.get("Message"))
        .and_then(Value::as_str)
        .unwrap_or("");
    Err(TaskError::new(
        format!("DynamoDB.{error_type}"),
        format!(
            "{message} (Service: AmazonDynamoDBv2; Status Code: {}; Error Code: {error_type}; Request ID: {})",
            status.as_u16(),
            request_id.unwrap_or("")
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn function_error_of(
        kind: FunctionErrorKind,
        error_type: &str,
        payload: &str,
    ) -> FunctionError {
        FunctionError {
            kind,
            error_type: error_type.to_owned(),
            error_message: "m".to_owned(),
            payload: Bytes::from(payload.to_owned()),
        }
    }

    #[test]
    fn a_function_error_surfaces_as_its_error_type_with_the_payload_as_cause() {
        let payload = r#"{"errorType":"OutOfStock","errorMessage":"sku-1"}"#;
        for kind in [FunctionErrorKind::Handled, FunctionErrorKind::Unhandled] {
            let error = function_error(&function_error_of(kind, "OutOfStock", payload));
            assert_eq!(error.error, "OutOfStock");
            assert_eq!(error.cause.as_deref(), Some(payload));
        }
    }

    #[test]
    fn a_crash_or_failed_init_is_lambda_unknown() {
        for kind in [FunctionErrorKind::Crash, FunctionErrorKind::Init] {
            let error = function_error(&function_error_of(kind, "Runtime.ExitError", "{}"));
            assert_eq!(error.error, "Lambda.Unknown");
            assert!(
                error
                    .cause
                    .unwrap_or_default()
                    .contains("Returned payload: {}")
            );
        }
    }

    #[test]
    fn a_function_timeout_is_lambda_unknown_with_the_timeout_as_cause() {
        let error = function_error(&function_error_of(
            FunctionErrorKind::Timeout,
            "Sandbox.Timedout",
            r#"{"errorMessage":"Task timed out after 1.00 seconds"}"#,
        ));
        assert_eq!(error.error, "Lambda.Unknown");
        assert!(
            error
                .cause
                .unwrap_or_default()
                .contains("Task timed out after 1.00 seconds")
        );
    }

    #[test]
    fn an_unknown_function_is_resource_not_found() {
        let error = invoke_error("missing", &InvokeError::UnknownFunction("missing".into()));
        assert_eq!(error.error, "Lambda.ResourceNotFoundException");
    }

    #[test]
    fn function_results_must_be_json() {
        assert_eq!(parse_function_result(br#"{"a":1}"#), Ok(json!({"a": 1})));
        assert_eq!(parse_function_result(b""), Ok(Value::Null));
        let error = parse_function_result(b"not json").err();
        assert_eq!(error.map(|e| e.error).as_deref(), Some("States.Runtime"));
    }

    #[test]
    fn resources_are_recognised() {
        let function = "arn:aws:lambda:us-east-1:123456789012:function:echo:live";
        assert_eq!(
            Resource::parse(function),
            Ok(Resource {
                service: Service::Function(function.into()),
                pattern: Pattern::RequestResponse
            })
        );
        let callback = Resource::parse("arn:aws:states:::sqs:sendMessage.waitForTaskToken");
        assert_eq!(
            callback,
            Ok(Resource {
                service: Service::Integration {
                    service: "sqs".into(),
                    action: "sendMessage".into()
                },
                pattern: Pattern::WaitForTaskToken
            })
        );
        assert!(callback.is_ok_and(|r| r.supports_callback()));
        let dynamodb = Resource::parse("arn:aws:states:::dynamodb:putItem.waitForTaskToken");
        assert!(dynamodb.is_ok_and(|r| !r.supports_callback()));
        for unsupported in [
            "arn:aws:states:::lambda:invoke.sync",
            "arn:aws:states:us-east-1:123456789012:activity:review",
            "not an arn",
        ] {
            let error = Resource::parse(unsupported).err();
            assert_eq!(error.map(|e| e.error).as_deref(), Some("States.Runtime"));
        }
    }

    #[test]
    fn function_references_drop_their_qualifier() {
        assert_eq!(split_function_reference("echo"), ("echo".into(), None));
        assert_eq!(
            split_function_reference("echo:live"),
            ("echo".into(), Some("live".into()))
        );
        assert_eq!(
            split_function_reference("arn:aws:lambda:us-east-1:1:function:echo:$LATEST"),
            (
                "arn:aws:lambda:us-east-1:1:function:echo".into(),
                Some("$LATEST".into())
            )
        );
        assert_eq!(
            split_function_reference("1:function:echo"),
            ("1:function:echo".into(), None)
        );
    }

    #[test]
    fn the_invoke_result_nests_the_payload_in_metadata() {
        let result = invoke_result(200, json!({"ok": true}), "req-1", 11);
        assert_eq!(result["Payload"], json!({"ok": true}));
        assert_eq!(result["StatusCode"], 200);
        assert_eq!(result["ExecutedVersion"], "$LATEST");
        assert_eq!(result["SdkResponseMetadata"]["RequestId"], "req-1");
        assert_eq!(result["SdkHttpMetadata"]["HttpStatusCode"], 200);
    }

    #[test]
    fn dynamodb_errors_are_named_after_their_exception() {
        let body = br#"{"__type":"com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException","message":"The conditional request failed"}"#;
        let error = dynamodb_result(StatusCode::BAD_REQUEST, Some("r"), body).err();
        let error = error.unwrap_or_else(|| TaskError::new("none", ""));
        assert_eq!(error.error, "DynamoDB.ConditionalCheckFailedException");
        assert!(
            error
                .cause
                .unwrap_or_default()
                .starts_with("The conditional request failed")
        );
        let ok = dynamodb_result(StatusCode::OK, Some("r"), br#"{"Item":{"pk":{"S":"a"}}}"#);
        assert_eq!(ok.map(|v| v["Item"]["pk"]["S"].clone()), Ok(json!("a")));
        assert_eq!(dynamodb_operation("updateItem"), "UpdateItem");
    }

    #[test]
    fn message_bodies_that_are_not_strings_are_sent_as_json() {
        assert_eq!(message_text(&json!("plain")), "plain");
        assert_eq!(message_text(&json!({"a": 1})), r#"{"a":1}"#);
    }

    #[tokio::test]
    async fn a_token_completes_its_task_once() {
        let tokens = TaskTokens::new();
        let (registration, mut signals) = tokens.register("t1");
        assert_eq!(tokens.heartbeat("t1"), Ok(()));
        assert_eq!(tokens.succeed("t1", json!({"done": true})), Ok(()));
        assert_eq!(
            tokens.succeed("t1", json!({})),
            Err(TokenError::TaskTimedOut)
        );
        assert_eq!(
            registration.wait(&mut signals, None).await,
            Ok(json!({"done": true}))
        );
        assert_eq!(
            tokens.succeed("never", json!({})),
            Err(TokenError::InvalidToken)
        );
        assert_eq!(tokens.heartbeat("never"), Err(TokenError::InvalidToken));
    }

    #[tokio::test]
    async fn a_failure_reaches_the_task_with_its_error_and_cause() {
        let tokens = TaskTokens::new();
        let (registration, mut signals) = tokens.register("t2");
        assert_eq!(
            tokens.fail("t2", "Declined".into(), "card declined".into()),
            Ok(())
        );
        assert_eq!(
            registration.wait(&mut signals, None).await,
            Err(TaskError::new("Declined", "card declined"))
        );
    }

    #[tokio::test]
    async fn a_missing_heartbeat_times_the_task_out_and_expires_the_token() {
        let tokens = TaskTokens::new();
        {
            let (registration, mut signals) = tokens.register("t3");
            let waited = registration
                .wait(&mut signals, Some(Duration::from_millis(20)))
                .await;
            assert_eq!(
                waited.map_err(|e| e.error),
                Err("States.HeartbeatTimeout".to_owned())
            );
        }
        assert_eq!(tokens.heartbeat("t3"), Err(TokenError::TaskTimedOut));
        assert_eq!(tokens.waiting(), 0);
    }

    #[tokio::test]
    async fn heartbeats_keep_the_task_alive() {
        let tokens = TaskTokens::new();
        let (registration, mut signals) = tokens.register("t4");
        let beats = {
            let tokens = Arc::clone(&tokens);
            tokio::spawn(async move {
                // Four beats 100 ms apart outlast the 250 ms interval only because of them.
                for _ in 0..4 {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    tokens.heartbeat("t4")?;
                }
                tokens.succeed("t4", json!("late but alive"))
            })
        };
        let waited = registration
            .wait(&mut signals, Some(Duration::from_millis(250)))
            .await;
        assert_eq!(waited, Ok(json!("late but alive")));
        assert!(matches!(beats.await, Ok(Ok(()))));
    }

    #[tokio::test]
    async fn dropping_a_waiting_task_expires_its_token() {
        let tokens = TaskTokens::new();
        let (registration, mut signals) = tokens.register("t5");
        let wait = registration.wait(&mut signals, None);
        let timed_out = tokio::time::timeout(Duration::from_millis(10), wait).await;
        assert!(timed_out.is_err());
        drop(registration);
        assert_eq!(tokens.waiting(), 0);
        assert_eq!(
            tokens.succeed("t5", json!({})),
            Err(TokenError::TaskTimedOut)
        );
    }
}
