//! The Runtime API one instance talks to (`AWS_LAMBDA_RUNTIME_API`).
//!
//! Each instance has its own listener, so every request is known to come from that instance.
//! Endpoints, as in <https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html>:
//! `GET /2018-06-01/runtime/invocation/next`, `POST .../invocation/{id}/response`,
//! `POST .../invocation/{id}/error` and `POST .../init/error`.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;

use crate::instance::{Dispatch, InitSignal};
use crate::outcome::FunctionError;
use crate::process::lock;

/// Largest buffered response Lambda accepts (6 MB).
const MAX_RESPONSE_BYTES: usize = 6_291_556;

const ERROR_TYPE_HEADER: &str = "lambda-runtime-function-error-type";
const ERROR_BODY_HEADER: &str = "lambda-runtime-function-error-body";
const RESPONSE_MODE_HEADER: &str = "lambda-runtime-function-response-mode";
const HTTP_INTEGRATION_CONTENT_TYPE: &str = "application/vnd.awslambda.http-integration-response";

/// How the runtime finished an invocation.
#[derive(Debug)]
pub(crate) enum Completion {
    Response(Bytes),
    Error(FunctionError),
}

/// The invocation in progress: its id and where its answer goes.
struct Pending {
    request_id: String,
    reply: oneshot::Sender<Completion>,
}

/// What the listener shares with its [`crate::instance::Instance`].
pub(crate) struct ApiState {
    next: tokio::sync::Mutex<mpsc::Receiver<Dispatch>>,
    current: Mutex<Option<Pending>>,
    init: Mutex<Option<oneshot::Sender<InitSignal>>>,
}

impl ApiState {
    pub(crate) fn new(next: mpsc::Receiver<Dispatch>, init: oneshot::Sender<InitSignal>) -> Self {
        Self {
            next: tokio::sync::Mutex::new(next),
            current: Mutex::new(None),
            init: Mutex::new(Some(init)),
        }
    }

    /// Makes `request_id` the invocation whose answer is awaited.
    pub(crate) fn begin(&self, request_id: String, reply: oneshot::Sender<Completion>) {
        *lock(&self.current) = Some(Pending { request_id, reply });
    }

    /// Forgets the invocation in progress; later answers for it are refused.
    pub(crate) fn end(&self) {
        lock(&self.current).take();
    }

    fn is_current(&self, request_id: &str) -> bool {
        lock(&self.current)
            .as_ref()
            .is_some_and(|p| p.request_id == request_id)
    }

    fn complete(&self, request_id: &str, completion: Completion) -> bool {
        let pending = lock(&self.current).take_if(|p| p.request_id == request_id);
        match pending {
            Some(pending) => {
                // The invoker may have given up at this very moment; the answer is then moot.
                let _ = pending.reply.send(completion);
                true
            }
            None => false,
        }
    }
}

/// Serves the Runtime API until the task is aborted, which also ends every open connection.
pub(crate) async fn serve(listener: TcpListener, state: Arc<ApiState>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    let _ = stream.set_nodelay(true);
                    let state = Arc::clone(&state);
                    connections.spawn(async move {
                        let service = service_fn(move |request| handle(Arc::clone(&state), request));
                        if let Err(error) = http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .await
                        {
                            tracing::debug!(%error, "runtime API connection ended");
                        }
                    });
                }
                Err(error) => {
                    tracing::warn!(%error, "runtime API listener could not accept");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

type ApiResponse = Response<Full<Bytes>>;

async fn handle(
    state: Arc<ApiState>,
    request: Request<Incoming>,
) -> Result<ApiResponse, Infallible> {
    let path = request.uri().path().to_string();
    let Some(route) = path.strip_prefix("/2018-06-01/runtime/") else {
        return Ok(not_found());
    };
    let segments: Vec<&str> = route.split('/').collect();
    let response = match (request.method(), segments.as_slice()) {
        (&Method::GET, ["invocation", "next"]) => next(&state).await,
        (&Method::POST, ["invocation", id, "response"]) if !id.is_empty() => {
            response(&state, id, request).await
        }
        (&Method::POST, ["invocation", id, "error"]) if !id.is_empty() => {
            error(&state, id, request).await
        }
        (&Method::POST, ["init", "error"]) => init_error(&state, request).await,
        (_, ["invocation", "next"])
        | (_, ["invocation", _, "response" | "error"])
        | (_, ["init", "error"]) => api_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            "Method not allowed",
        ),
        _ => not_found(),
    };
    Ok(response)
}

/// Long-polls for the next invocation; the first poll marks the instance ready.
async fn next(state: &ApiState) -> ApiResponse {
    if let Some(ready) = lock(&state.init).take() {
        let _ = ready.send(InitSignal::Ready);
    }
    let dispatch = state.next.lock().await.recv().await;
    let Some(dispatch) = dispatch else {
        return api_error(
            StatusCode::GONE,
            "InstanceStopped",
            "The instance is stopping",
        );
    };
    let mut response = Response::new(Full::new(dispatch.payload));
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    insert(
        headers,
        "lambda-runtime-aws-request-id",
        &dispatch.request_id,
    );
    insert(
        headers,
        "lambda-runtime-deadline-ms",
        &dispatch.deadline_ms.to_string(),
    );
    insert(
        headers,
        "lambda-runtime-invoked-function-arn",
        &dispatch.function_arn,
    );
    insert(headers, "lambda-runtime-trace-id", &dispatch.trace_id);
    if let Some(context) = &dispatch.client_context {
        insert(headers, "lambda-runtime-client-context", context);
    }
    response
}

fn insert(headers: &mut HeaderMap, name: &'static str, value: &str) {
    match HeaderValue::from_str(value) {
        Ok(value) => {
            headers.insert(name, value);
        }
        Err(_) => tracing::warn!(header = name, "value cannot be sent as a header; dropped"),
    }
}

async fn response(state: &ApiState, request_id: &str, request: Request<Incoming>) -> ApiResponse {
    if !state.is_current(request_id) {
        return invalid_request_id();
    }
    let streaming = header_value(request.headers(), RESPONSE_MODE_HEADER)
        .is_some_and(|mode| mode.eq_ignore_ascii_case("streaming"));
    let content_type = header_value(request.headers(), header::CONTENT_TYPE.as_str());
    let Ok(collected) = request.into_body().collect().await else {
        return api_error(
            StatusCode::BAD_REQUEST,
            "InvalidRequest",
            "Could not read the request body",
        );
    };
    let trailers = collected.trailers().cloned();
    let body = collected.to_bytes();

    if !streaming && body.len() > MAX_RESPONSE_BYTES {
        state.complete(
            request_id,
            Completion::Error(FunctionError::response_too_large(MAX_RESPONSE_BYTES)),
        );
        return api_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLarge",
            &format!("Exceeded maximum allowed payload size ({MAX_RESPONSE_BYTES} bytes)."),
        );
    }
    let completion = if streaming {
        streamed(content_type.as_deref(), body, trailers.as_ref())
    } else {
        Completion::Response(body)
    };
    if state.complete(request_id, completion) {
        accepted()
    } else {
        invalid_request_id()
    }
}

async fn error(state: &ApiState, request_id: &str, request: Request<Incoming>) -> ApiResponse {
    if !state.is_current(request_id) {
        return invalid_request_id();
    }
    let error_type = header_value(request.headers(), ERROR_TYPE_HEADER);
    let body = request
        .into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let error = FunctionError::reported(error_type.as_deref(), body);
    if state.complete(request_id, Completion::Error(error)) {
        accepted()
    } else {
        invalid_request_id()
    }
}

async fn init_error(state: &ApiState, request: Request<Incoming>) -> ApiResponse {
    let error_type = header_value(request.headers(), ERROR_TYPE_HEADER);
    let payload = request
        .into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    match lock(&state.init).take() {
        Some(init) => {
            let _ = init.send(InitSignal::Error {
                error_type,
                payload,
            });
            accepted()
        }
        None => api_error(
            StatusCode::FORBIDDEN,
            "InvalidStateTransition",
            "State transition from Ready to InitError failed for runtime. Error: State transition is not allowed",
        ),
    }
}

/// The answer of a function in response-streaming mode, buffered: an error sent as trailer
/// (real trailers or, as `lambda_runtime` does, trailer lines at the end of the body), or for
/// HTTP integrations the metadata prelude and body turned into a payload format 2.0 response.
fn streamed(content_type: Option<&str>, body: Bytes, trailers: Option<&HeaderMap>) -> Completion {
    if let Some(error_type) = trailers.and_then(|t| header_value(t, ERROR_TYPE_HEADER)) {
        let message = trailers
            .and_then(|t| header_value(t, ERROR_BODY_HEADER))
            .map(|b| decode_error_body(&b))
            .unwrap_or_default();
        return stream_error(&error_type, &message);
    }
    let (body, error) = split_trailer_lines(body);
    if let Some((error_type, message)) = error {
        return stream_error(&error_type, &message);
    }
    if content_type != Some(HTTP_INTEGRATION_CONTENT_TYPE) {
        return Completion::Response(body);
    }
    let Some(split) = body.windows(8).position(|w| w == [0u8; 8]) else {
        return Completion::Response(body);
    };
    let prelude: Value = serde_json::from_slice(&body[..split]).unwrap_or_else(|_| json!({}));
    let content = &body[split + 8..];
    let (text, is_base64) = match std::str::from_utf8(content) {
        Ok(text) => (text.to_string(), false),
        Err(_) => (BASE64.encode(content), true),
    };
    let response = json!({
        "statusCode": prelude.get("statusCode").cloned().unwrap_or(json!(200)),
        "headers": prelude.get("headers").cloned().unwrap_or(json!({})),
        "cookies": prelude.get("cookies").cloned().unwrap_or(json!([])),
        "body": text,
        "isBase64Encoded": is_base64,
    });
    Completion::Response(Bytes::from(response.to_string()))
}

fn stream_error(error_type: &str, message: &str) -> Completion {
    let body = json!({ "errorType": error_type, "errorMessage": message }).to_string();
    Completion::Error(FunctionError::reported(Some(error_type), Bytes::from(body)))
}

/// Splits `Lambda-Runtime-Function-Error-Type: ...\r\nLambda-Runtime-Function-Error-Body: ...`
/// off the end of a streamed body.
fn split_trailer_lines(body: Bytes) -> (Bytes, Option<(String, String)>) {
    const MARKER: &[u8] = b"Lambda-Runtime-Function-Error-Type: ";
    let Some(start) = body.windows(MARKER.len()).rposition(|w| w == MARKER) else {
        return (body, None);
    };
    let tail = String::from_utf8_lossy(&body[start..]).into_owned();
    let mut error_type = String::new();
    let mut message = String::new();
    for line in tail.split("\r\n") {
        if let Some(value) = line.strip_prefix("Lambda-Runtime-Function-Error-Type: ") {
            error_type = value.trim().to_string();
        } else if let Some(value) = line.strip_prefix("Lambda-Runtime-Function-Error-Body: ") {
            message = decode_error_body(value.trim());
        }
    }
    (body.slice(..start), Some((error_type, message)))
}

fn decode_error_body(encoded: &str) -> String {
    BASE64
        .decode(encoded)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_else(|_| encoded.to_string())
}

fn header_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn accepted() -> ApiResponse {
    json_response(StatusCode::ACCEPTED, &json!({ "status": "OK" }))
}

fn invalid_request_id() -> ApiResponse {
    api_error(
        StatusCode::BAD_REQUEST,
        "InvalidRequestID",
        "Invalid request ID",
    )
}

fn not_found() -> ApiResponse {
    api_error(StatusCode::NOT_FOUND, "NotFound", "Not found")
}

fn api_error(status: StatusCode, error_type: &str, message: &str) -> ApiResponse {
    json_response(
        status,
        &json!({ "errorMessage": message, "errorType": error_type }),
    )
}

fn json_response(status: StatusCode, body: &Value) -> ApiResponse {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streamed_http_responses_become_gateway_responses() {
        let mut body =
            br#"{"statusCode":201,"headers":{"content-type":"text/plain"},"cookies":[]}"#.to_vec();
        body.extend_from_slice(&[0; 8]);
        body.extend_from_slice(b"hello");
        let Completion::Response(out) =
            streamed(Some(HTTP_INTEGRATION_CONTENT_TYPE), Bytes::from(body), None)
        else {
            panic!("expected a response");
        };
        let out: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(out["statusCode"], 201);
        assert_eq!(out["body"], "hello");
        assert_eq!(out["headers"]["content-type"], "text/plain");
        assert_eq!(out["isBase64Encoded"], false);
    }

    #[test]
    fn stream_errors_sent_in_the_body_are_errors() {
        let body = format!(
            "partial Lambda-Runtime-Function-Error-Type: Runtime.StreamError\r\nLambda-Runtime-Function-Error-Body: {}\r\n",
            BASE64.encode("it broke")
        );
        let Completion::Error(error) = streamed(None, Bytes::from(body), None) else {
            panic!("expected an error");
        };
        assert_eq!(error.error_type, "Runtime.StreamError");
        assert_eq!(error.error_message, "it broke");
    }
}
