//! The Step Functions API on a loopback port, in the AWS JSON 1.0 protocol that
//! `aws-sdk-sfn` speaks: `POST /` with `X-Amz-Target: AWSStepFunctions.<Operation>`, JSON in
//! and out, errors as HTTP 400 with `{"__type": "<Code>", "message": "..."}`, dates as epoch
//! seconds.
//!
//! The same port answers `GET /executions` (every execution, newest first) and
//! `GET /executions/<url-encoded execution ARN>/history` for `local executions`.

use std::sync::Arc;

use anyhow::Context as _;
use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode, header};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::tasks::TokenError;
use super::{Execution, ExecutionStatus, LOG_TARGET, Machine, Sfn, SfnError, epoch_seconds};

/// The largest request body read (the service's payload limit is 256 KiB).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// The most items a page holds, and the page size when `maxResults` is 0 or absent.
pub const MAX_PAGE: usize = 1000;

/// The `X-Amz-Target` prefix of every operation.
const TARGET_PREFIX: &str = "AWSStepFunctions.";

const CONTENT_TYPE: &str = "application/x-amz-json-1.0";

type Response = http::Response<Full<Bytes>>;

impl Sfn {
    /// Serves the API on `listener` until `shutdown` is cancelled.
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let local = listener
            .local_addr()
            .context("read the address Step Functions listens on")?;
        tracing::info!(target: LOG_TARGET, "Step Functions listening on http://{local}");
        let sfn = self;
        crate::server::serve(listener, shutdown, move |request, _peer| {
            let sfn = Arc::clone(&sfn);
            async move { sfn.respond(request).await }
        })
        .await;
        Ok(())
    }

    async fn respond(&self, request: http::Request<Incoming>) -> Response {
        let (parts, body) = request.into_parts();
        let path = parts.uri.path().to_owned();
        if parts.method == Method::GET {
            return self.respond_get(&path);
        }
        if parts.method != Method::POST || path != "/" {
            return not_found(&path);
        }
        let target = parts
            .headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = match Limited::new(body, MAX_BODY_BYTES).collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(error) => {
                return error_response(&SfnError::Validation(format!(
                    "the request body could not be read: {error}"
                )));
            }
        };
        let Some(operation) = target.strip_prefix(TARGET_PREFIX) else {
            return error_response(&SfnError::UnknownOperation(format!(
                "unknown operation target {target:?}"
            )));
        };
        match self.operation(operation, &body).await {
            Ok(value) => json_response(StatusCode::OK, &value),
            Err(error) => {
                tracing::debug!(target: LOG_TARGET, operation, code = error.code(), %error, "request refused");
                error_response(&error)
            }
        }
    }

    /// Runs one API operation on a JSON request body.
    pub async fn operation(&self, operation: &str, body: &[u8]) -> Result<Value, SfnError> {
        let body: Value = if body.is_empty() {
            json!({})
        } else {
            serde_json::from_slice(body)
                .map_err(|e| SfnError::Serialization(format!("the body is not JSON: {e}")))?
        };
        match operation {
            "StartExecution" => {
                let r: StartRequest = parse(body)?;
                let execution = self.start_execution(
                    &r.state_machine_arn,
                    r.name.as_deref(),
                    r.input.as_deref(),
                )?;
                Ok(json!({
                    "executionArn": execution.arn,
                    "startDate": epoch_seconds(execution.start_date),
                }))
            }
            "StartSyncExecution" => {
                let r: StartRequest = parse(body)?;
                let execution = self
                    .start_sync_execution(
                        &r.state_machine_arn,
                        r.name.as_deref(),
                        r.input.as_deref(),
                    )
                    .await?;
                Ok(sync_result(&execution))
            }
            "DescribeExecution" => {
                let r: ExecutionRequest = parse(body)?;
                let execution = self.execution(&r.execution_arn)?;
                Ok(describe(&execution))
            }
            "GetExecutionHistory" => {
                let r: HistoryRequest = parse(body)?;
                let execution = self.execution(&r.execution_arn)?;
                let mut events: Vec<Value> =
                    execution.history().iter().map(|e| e.to_json()).collect();
                if r.reverse_order {
                    events.reverse();
                }
                let (events, next) = page(events, r.max_results, r.next_token.as_deref())?;
                Ok(with_next(json!({ "events": events }), next))
            }
            "ListExecutions" => {
                let r: ListExecutionsRequest = parse(body)?;
                let Some(machine_arn) = r.state_machine_arn else {
                    return Err(SfnError::Validation(
                        "stateMachineArn is required".to_owned(),
                    ));
                };
                let machine = self.machine(&machine_arn)?;
                let filter = match r.status_filter.as_deref() {
                    None => None,
                    Some(name) => Some(ExecutionStatus::parse(name).ok_or_else(|| {
                        SfnError::Validation(format!("statusFilter {name:?} is not a status"))
                    })?),
                };
                let items: Vec<Value> = self
                    .executions()
                    .iter()
                    .rev()
                    .filter(|e| Arc::ptr_eq(&e.machine, machine))
                    .filter(|e| filter.is_none_or(|s| e.progress().status == s))
                    .map(|e| list_item(e))
                    .collect();
                let (items, next) = page(items, r.max_results, r.next_token.as_deref())?;
                Ok(with_next(json!({ "executions": items }), next))
            }
            "StopExecution" => {
                let r: StopRequest = parse(body)?;
                let stop_date = self
                    .stop_execution(&r.execution_arn, r.error, r.cause)
                    .await?;
                Ok(json!({ "stopDate": epoch_seconds(stop_date) }))
            }
            "SendTaskSuccess" => {
                let r: TaskSuccessRequest = parse(body)?;
                let output: Value = serde_json::from_str(&r.output)
                    .map_err(|e| SfnError::InvalidOutput(format!("Invalid Output: {e}")))?;
                self.tokens()
                    .succeed(&r.task_token, output)
                    .map_err(token_error)?;
                Ok(json!({}))
            }
            "SendTaskFailure" => {
                let r: TaskFailureRequest = parse(body)?;
                self.tokens()
                    .fail(
                        &r.task_token,
                        r.error.unwrap_or_default(),
                        r.cause.unwrap_or_default(),
                    )
                    .map_err(token_error)?;
                Ok(json!({}))
            }
            "SendTaskHeartbeat" => {
                let r: TokenRequest = parse(body)?;
                self.tokens()
                    .heartbeat(&r.task_token)
                    .map_err(token_error)?;
                Ok(json!({}))
            }
            "DescribeStateMachine" => {
                let r: MachineRequest = parse(body)?;
                Ok(describe_machine(self.machine(&r.state_machine_arn)?))
            }
            "ListStateMachines" => {
                let r: PageRequest = parse(body)?;
                let items: Vec<Value> = self
                    .machines()
                    .iter()
                    .map(|m| {
                        json!({
                            "stateMachineArn": m.arn,
                            "name": m.name,
                            "type": m.kind.as_str(),
                            "creationDate": epoch_seconds(m.created),
                        })
                    })
                    .collect();
                let (items, next) = page(items, r.max_results, r.next_token.as_deref())?;
                Ok(with_next(json!({ "stateMachines": items }), next))
            }
            other => Err(SfnError::UnknownOperation(format!(
                "the local Step Functions does not implement {other}"
            ))),
        }
    }

    fn respond_get(&self, path: &str) -> Response {
        if path == "/executions" || path == "/executions/" {
            let items: Vec<Value> = self.executions().iter().rev().map(|e| summary(e)).collect();
            return json_response(StatusCode::OK, &Value::Array(items));
        }
        if let Some(arn) = path
            .strip_prefix("/executions/")
            .and_then(|rest| rest.strip_suffix("/history"))
        {
            let arn = percent_encoding::percent_decode_str(arn).decode_utf8_lossy();
            return match self.execution(&arn) {
                Ok(execution) => {
                    let events: Vec<Value> =
                        execution.history().iter().map(|e| e.to_json()).collect();
                    let mut body = summary(&execution);
                    body["events"] = Value::Array(events);
                    json_response(StatusCode::OK, &body)
                }
                Err(error) => json_response(
                    StatusCode::NOT_FOUND,
                    &json!({"__type": error.code(), "message": error.to_string()}),
                ),
            };
        }
        not_found(path)
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StartRequest {
    state_machine_arn: String,
    name: Option<String>,
    input: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExecutionRequest {
    execution_arn: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HistoryRequest {
    execution_arn: String,
    max_results: Option<usize>,
    next_token: Option<String>,
    #[serde(default)]
    reverse_order: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListExecutionsRequest {
    state_machine_arn: Option<String>,
    status_filter: Option<String>,
    max_results: Option<usize>,
    next_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StopRequest {
    execution_arn: String,
    error: Option<String>,
    cause: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TaskSuccessRequest {
    task_token: String,
    output: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TaskFailureRequest {
    task_token: String,
    error: Option<String>,
    cause: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TokenRequest {
    task_token: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MachineRequest {
    state_machine_arn: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PageRequest {
    max_results: Option<usize>,
    next_token: Option<String>,
}

fn parse<T: DeserializeOwned>(body: Value) -> Result<T, SfnError> {
    serde_json::from_value(body).map_err(|e| SfnError::Validation(e.to_string()))
}

fn token_error(error: TokenError) -> SfnError {
    match error {
        TokenError::InvalidToken => SfnError::InvalidToken("Invalid Token".to_owned()),
        TokenError::TaskTimedOut => SfnError::TaskTimedOut("Task Timed Out".to_owned()),
    }
}

/// One page of `items`: `next_token` is the offset where the page starts.
fn page(
    items: Vec<Value>,
    max_results: Option<usize>,
    next_token: Option<&str>,
) -> Result<(Vec<Value>, Option<String>), SfnError> {
    let size = match max_results {
        None | Some(0) => MAX_PAGE,
        Some(n) if n > MAX_PAGE => {
            return Err(SfnError::Validation(format!(
                "maxResults must be at most {MAX_PAGE}"
            )));
        }
        Some(n) => n,
    };
    let start = match next_token {
        None => 0,
        Some(token) => token
            .parse::<usize>()
            .ok()
            .filter(|&offset| offset <= items.len())
            .ok_or_else(|| SfnError::InvalidToken(format!("Invalid Token: '{token}'")))?,
    };
    let end = (start + size).min(items.len());
    let next = (end < items.len()).then(|| end.to_string());
    Ok((items[start..end].to_vec(), next))
}

fn with_next(mut body: Value, next: Option<String>) -> Value {
    if let Some(next) = next {
        body["nextToken"] = Value::String(next);
    }
    body
}

fn insert_result(map: &mut Map<String, Value>, execution: &Execution) {
    let progress = execution.progress();
    map.insert(
        "status".into(),
        Value::String(progress.status.as_str().into()),
    );
    if let Some(stop) = progress.stop_date {
        map.insert("stopDate".into(), epoch_seconds(stop));
    }
    if let Some(output) = &progress.output {
        map.insert("output".into(), Value::String(output.to_string()));
        map.insert("outputDetails".into(), json!({"included": true}));
    }
    if let Some(error) = progress.error {
        map.insert("error".into(), Value::String(error));
    }
    if let Some(cause) = progress.cause {
        map.insert("cause".into(), Value::String(cause));
    }
}

/// The DescribeExecution response.
fn describe(execution: &Execution) -> Value {
    let mut map = Map::new();
    map.insert("executionArn".into(), json!(execution.arn));
    map.insert("stateMachineArn".into(), json!(execution.machine.arn));
    map.insert("name".into(), json!(execution.name));
    map.insert("startDate".into(), epoch_seconds(execution.start_date));
    map.insert("input".into(), json!(execution.input.to_string()));
    map.insert("inputDetails".into(), json!({"included": true}));
    map.insert("redriveCount".into(), json!(0));
    insert_result(&mut map, execution);
    Value::Object(map)
}

/// The StartSyncExecution response.
fn sync_result(execution: &Execution) -> Value {
    let mut body = describe(execution);
    let progress = execution.progress();
    let elapsed = progress
        .stop_date
        .map_or(0, |stop| (stop - execution.start_date).whole_milliseconds())
        .max(0);
    // Express executions are billed in 100 ms increments (and 64 MB steps of memory).
    let billed = ((elapsed + 99) / 100).max(1) * 100;
    if let Value::Object(map) = &mut body {
        map.remove("redriveCount");
        map.insert(
            "billingDetails".into(),
            json!({"billedMemoryUsedInMB": 64, "billedDurationInMilliseconds": billed}),
        );
    }
    body
}

/// An item of ListExecutions.
fn list_item(execution: &Execution) -> Value {
    let progress = execution.progress();
    let mut item = json!({
        "executionArn": execution.arn,
        "stateMachineArn": execution.machine.arn,
        "name": execution.name,
        "status": progress.status.as_str(),
        "startDate": epoch_seconds(execution.start_date),
    });
    if let Some(stop) = progress.stop_date {
        item["stopDate"] = epoch_seconds(stop);
    }
    item
}

/// An item of `GET /executions`: a list item with the machine's name.
fn summary(execution: &Execution) -> Value {
    let mut item = list_item(execution);
    item["machine"] = Value::String(execution.machine.name.clone());
    item
}

fn describe_machine(machine: &Machine) -> Value {
    json!({
        "stateMachineArn": machine.arn,
        "name": machine.name,
        "status": "ACTIVE",
        "definition": machine.definition.to_string(),
        "roleArn": machine.role_arn(),
        "type": machine.kind.as_str(),
        "creationDate": epoch_seconds(machine.created),
        "loggingConfiguration": {"level": "OFF", "includeExecutionData": false},
        "tracingConfiguration": {"enabled": false},
    })
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut response = http::Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    response
}

fn error_response(error: &SfnError) -> Response {
    let mut response = json_response(
        StatusCode::BAD_REQUEST,
        &json!({"__type": error.code(), "message": error.to_string()}),
    );
    response
        .headers_mut()
        .insert("x-amzn-errortype", HeaderValue::from_static(error.code()));
    response
}

fn not_found(path: &str) -> Response {
    json_response(
        StatusCode::NOT_FOUND,
        &json!({"__type": "NotFound", "message": format!("no route for {path}")}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_follow_next_tokens_to_the_end() {
        let items: Vec<Value> = (0..5).map(Value::from).collect();
        let (first, next) = page(items.clone(), Some(2), None).unwrap_or_default();
        assert_eq!(first, vec![json!(0), json!(1)]);
        assert_eq!(next.as_deref(), Some("2"));
        let (last, next) = page(items.clone(), Some(3), Some("2")).unwrap_or_default();
        assert_eq!(last, vec![json!(2), json!(3), json!(4)]);
        assert_eq!(next, None);
        assert!(matches!(
            page(items, Some(2), Some("nope")),
            Err(SfnError::InvalidToken(_))
        ));
    }
}
