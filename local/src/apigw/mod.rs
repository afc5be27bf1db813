//! A local API Gateway HTTP API: serves one `HttpApi` of the template on
//! 127.0.0.1 and behaves as API Gateway does in front of Lambda.
//!
//! One request goes through what API Gateway does, in its order: the size of
//! the request line and header values (10,240 bytes, "Total combined size of
//! request line and header values" in the HTTP API quotas, which do not say
//! what the client gets; here HTTP's 431
//! `{"message":"Request Header Fields Too Large"}`), the body size limit
//! (10 MB, 413), route selection (404, or the CORS preflight answer), route
//! throttling (429), the Lambda authorizer (401, 403, 500, and 500 when it
//! does not answer within 10 s), then the integration: the payload format 2.0
//! (or 1.0) event, which Lambda takes only up to 6 MB for a synchronous
//! invocation (a base64 body grows by a third on the way; 413
//! `{"message":"Request Entity Too Large"}`), the route's integration timeout
//! (503), and the mapping of the function's result (500 when the function
//! fails or its result does not fit the format). Every answer carries
//! `apigw-requestid`, gets the API's CORS headers, and is logged as one line
//! under the `local::http` target.
//!
//! A template that API Gateway would refuse at deployment is refused when the
//! gateway is built: `AllowCredentials` with a `*` origin, or an authorizer
//! identity source naming a context variable the local API does not know.
//!
//! The sources of each behaviour are cited in the submodules: [`routes`],
//! [`event`], [`response`], [`authorizer`], [`cors`], [`throttle`].

pub mod authorizer;
pub mod cors;
pub mod event;
mod lambda;
pub mod response;
pub mod routes;
pub mod throttle;

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use anyhow::Context as _;
use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use local_template::model::{Authorizer, HttpApi, Route};
use rand::RngCore as _;
use serde_json::{Map, Value};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use self::authorizer::{Verdict, VerdictCache};
use self::cors::CorsPolicy;
use self::event::{ApiContext, RequestInfo};
use self::response::HttpResponse;
use self::routes::RouteTable;
use self::throttle::Throttler;

/// The largest request body API Gateway accepts (10 MB).
pub const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;

/// The largest request line plus header values API Gateway accepts (bytes).
pub const MAX_REQUEST_HEAD_BYTES: usize = 10_240;

/// The largest event Lambda takes for a synchronous invocation: 6 MB
/// (`Invoke` answers larger ones "Request must be smaller than 6291456 bytes").
pub const MAX_INVOKE_PAYLOAD_BYTES: usize = 6 * 1024 * 1024;

/// A boxed, sendable future.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One invocation the gateway asks for.
#[derive(Debug, Clone)]
pub struct InvokeInput {
    /// The event, as JSON.
    pub payload: Bytes,
    /// The `X-Amzn-Trace-Id` of the request.
    pub trace_id: Option<String>,
}

/// What came back from a function.
#[derive(Debug, Clone)]
pub struct InvokeOutput {
    pub outcome: InvokeOutcome,
    /// Whether a new instance had to start for this invocation.
    pub cold_start: bool,
}

/// A function's result.
#[derive(Debug, Clone)]
pub enum InvokeOutcome {
    /// The function returned this payload.
    Success(Bytes),
    /// The function failed: it returned an error, crashed, or timed out.
    Error {
        error_type: String,
        error_message: String,
    },
}

/// Why an invocation could not happen at all.
#[derive(Debug, thiserror::Error)]
pub enum GatewayInvokeError {
    #[error("no function named {0}")]
    UnknownFunction(String),
    #[error("could not run function {function}: {reason}")]
    Failed { function: String, reason: String },
    #[error("the function runner is shutting down")]
    ShuttingDown,
}

/// Runs functions for the gateway (the local Lambda runner, or a stand-in in tests).
pub trait Invoke: Send + Sync {
    /// Invokes the function with this physical name.
    fn invoke<'a>(
        &'a self,
        function: &'a str,
        input: InvokeInput,
    ) -> BoxFuture<'a, Result<InvokeOutput, GatewayInvokeError>>;
}

/// Settings of a gateway that do not come from the template.
#[derive(Debug, Clone)]
pub struct GatewayOptions {
    pub region: String,
    pub account_id: String,
    /// The port the API is served on (for `domainName` when a request has no `Host`).
    pub port: u16,
}

/// A local HTTP API.
pub struct Gateway {
    api: ApiContext,
    routes: RouteTable,
    /// Function logical id → physical name.
    functions: BTreeMap<String, String>,
    authorizers: BTreeMap<String, Authorizer>,
    cors: Option<CorsPolicy>,
    throttle: Throttler,
    verdicts: VerdictCache,
    invoker: Arc<dyn Invoke>,
    /// How long the gateway waits for an authorizer ([`authorizer::AUTHORIZER_TIMEOUT`]).
    authorizer_timeout: std::time::Duration,
    port: u16,
    bound_port: OnceLock<u16>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("api", &self.api)
            .field("routes", &self.routes)
            .field("functions", &self.functions)
            .finish_non_exhaustive()
    }
}

/// What came of a request, for the response and the log line.
struct Handled {
    response: HttpResponse,
    /// The physical name of the route's function, once one was chosen.
    function: Option<String>,
    cold_start: Option<bool>,
    /// API Gateway's own preflight answer already carries its CORS headers.
    preflight: bool,
}

impl Handled {
    fn gateway(response: HttpResponse, function: Option<String>) -> Self {
        Self {
            response,
            function,
            cold_start: None,
            preflight: false,
        }
    }
}

impl Gateway {
    /// A gateway for `api`, whose routes and authorizers name functions by
    /// logical id; `functions` maps each to its physical name.
    pub fn new(
        api: &HttpApi,
        functions: BTreeMap<String, String>,
        invoker: Arc<dyn Invoke>,
        options: GatewayOptions,
    ) -> anyhow::Result<Self> {
        if let Some(cors) = &api.cors {
            anyhow::ensure!(
                !(cors.allow_credentials && cors.allow_origins.iter().any(|o| o == "*")),
                "API {}: CORS AllowCredentials cannot be combined with the origin '*' \
                 (API Gateway refuses it at deployment)",
                api.logical_id
            );
        }
        for (name, config) in &api.authorizers {
            if let Some(unknown) = config
                .identity_context
                .iter()
                .find(|v| !authorizer::CONTEXT_VARIABLES.contains(&v.as_str()))
            {
                anyhow::bail!(
                    "authorizer {name} of API {} uses the identity source $context.{unknown}, \
                     which the local API does not provide (it provides {})",
                    api.logical_id,
                    authorizer::CONTEXT_VARIABLES.join(", ")
                );
            }
        }
        for route in &api.routes {
            anyhow::ensure!(
                functions.contains_key(&route.function),
                "route {} of API {} invokes function {}, which is not known",
                route.route_key,
                api.logical_id,
                route.function
            );
            if let Some(name) = &route.authorizer {
                let authorizer = api.authorizers.get(name).with_context(|| {
                    format!(
                        "route {} of API {} uses authorizer {name}, which the API does not define",
                        route.route_key, api.logical_id
                    )
                })?;
                anyhow::ensure!(
                    functions.contains_key(&authorizer.function),
                    "authorizer {name} of API {} invokes function {}, which is not known",
                    api.logical_id,
                    authorizer.function
                );
            }
        }
        Ok(Self {
            api: ApiContext {
                account_id: options.account_id,
                api_id: api.api_id.clone(),
                stage: api.stage.clone(),
                region: options.region,
            },
            routes: RouteTable::new(&api.routes),
            functions,
            authorizers: api.authorizers.clone(),
            cors: api.cors.clone().map(CorsPolicy::new),
            throttle: Throttler::new(api.default_throttle, api.route_throttles.clone()),
            verdicts: VerdictCache::default(),
            invoker,
            authorizer_timeout: authorizer::AUTHORIZER_TIMEOUT,
            port: options.port,
            bound_port: OnceLock::new(),
        })
    }

    /// Serves HTTP/1.1 (with keep-alive) on `listener` until `shutdown` is
    /// cancelled, then lets open requests finish for a few seconds.
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        shutdown: CancellationToken,
    ) -> anyhow::Result<()> {
        let local = listener
            .local_addr()
            .context("read the address the API listens on")?;
        // Only the first `serve` records its port; a second one keeps the first.
        let _already_set = self.bound_port.set(local.port());
        tracing::info!(
            target: "local::http",
            "HTTP API {} listening on http://{local}",
            self.api.api_id
        );
        let gateway = self;
        crate::server::serve(listener, shutdown, move |request, peer| {
            let gateway = Arc::clone(&gateway);
            async move { gateway.respond(request, peer).await }
        })
        .await;
        Ok(())
    }

    /// Reads the body (up to the limit) and handles the request.
    async fn respond(
        &self,
        request: http::Request<Incoming>,
        peer: SocketAddr,
    ) -> http::Response<Full<Bytes>> {
        let (parts, body) = request.into_parts();
        let declared_too_large = parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|n| n > MAX_BODY_BYTES as u64);
        let body = if declared_too_large {
            None
        } else {
            match Limited::new(body, MAX_BODY_BYTES).collect().await {
                Ok(collected) => Some(collected.to_bytes()),
                Err(error) => {
                    if error
                        .downcast_ref::<http_body_util::LengthLimitError>()
                        .is_none()
                    {
                        tracing::debug!(target: "local::http", %error, "reading a request body failed");
                    }
                    None
                }
            }
        };
        self.handle_parts(parts, body, peer).await.map(Full::new)
    }

    /// Handles one request whose body has been read.
    pub async fn handle(
        &self,
        request: http::Request<Bytes>,
        peer: SocketAddr,
    ) -> http::Response<Bytes> {
        let (parts, body) = request.into_parts();
        let body = (body.len() <= MAX_BODY_BYTES).then_some(body);
        self.handle_parts(parts, body, peer).await
    }

    /// `body` is `None` when it was over the size limit.
    async fn handle_parts(
        &self,
        parts: http::request::Parts,
        body: Option<Bytes>,
        peer: SocketAddr,
    ) -> http::Response<Bytes> {
        let started = Instant::now();
        let request_id = new_request_id();
        let handled = if request_head_bytes(&parts) > MAX_REQUEST_HEAD_BYTES {
            Handled::gateway(
                response::gateway(
                    StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                    "Request Header Fields Too Large",
                ),
                None,
            )
        } else {
            match body {
                Some(body) => self.dispatch(&parts, body, peer, &request_id).await,
                None => Handled::gateway(too_large(), None),
            }
        };
        let Handled {
            mut response,
            function,
            cold_start,
            preflight,
        } = handled;
        if let Some(cors) = &self.cors
            && !preflight
        {
            cors.apply(&parts.method, &parts.headers, &mut response.headers);
        }
        if let Ok(v) = HeaderValue::from_str(&request_id) {
            response.headers.insert("apigw-requestid", v);
        }

        let correlation_id = correlation_id(&response.headers, &parts.headers, &request_id);
        let elapsed_ms = started.elapsed().as_millis();
        let function = function.as_deref().unwrap_or("-");
        let start = match cold_start {
            Some(true) => "cold",
            Some(false) => "warm",
            None => "-",
        };
        tracing::info!(
            target: "local::http",
            correlation_id = %correlation_id,
            request_id = %request_id,
            "{} {} {} {elapsed_ms}ms {function} {start}",
            parts.method,
            parts.uri.path(),
            response.status.as_u16(),
        );

        let mut out = http::Response::new(response.body);
        *out.status_mut() = response.status;
        *out.headers_mut() = response.headers;
        out
    }

    async fn dispatch(
        &self,
        parts: &http::request::Parts,
        body: Bytes,
        peer: SocketAddr,
        request_id: &str,
    ) -> Handled {
        let method = parts.method.as_str();
        let raw_path = parts.uri.path();
        let selected = self.routes.select(method, raw_path);

        if let Some(cors) = &self.cors
            && selected.is_none()
            && CorsPolicy::is_preflight(&parts.method, &parts.headers)
        {
            // No route catches this OPTIONS: API Gateway answers it itself.
            let mut response = HttpResponse {
                status: StatusCode::NO_CONTENT,
                headers: http::HeaderMap::new(),
                body: Bytes::new(),
            };
            for (name, value) in cors.preflight_headers(&parts.headers) {
                if let Ok(v) = HeaderValue::from_str(&value) {
                    response.headers.insert(name, v);
                }
            }
            return Handled {
                response,
                function: None,
                cold_start: None,
                preflight: true,
            };
        }
        let Some(selected) = selected else {
            return Handled::gateway(response::not_found(), None);
        };
        let route = selected.route;
        let function = self.functions.get(&route.function).cloned();
        if !self.throttle.allow(&route.route_key, Instant::now()) {
            return Handled::gateway(
                response::gateway(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests"),
                function,
            );
        }
        let Some(function) = function else {
            tracing::error!(target: "local::http", route = %route.route_key, "the route's function has no physical name");
            return Handled::gateway(response::internal_error(), None);
        };

        let info = self.request_info(parts, body, peer, request_id);
        let resource = route.path.as_deref().unwrap_or("$default");

        let authorizer_context = match &route.authorizer {
            None => None,
            Some(name) => match self
                .authorize(name, &info, route, resource, &selected.path_parameters)
                .await
            {
                Ok(context) => Some(context),
                Err(response) => return Handled::gateway(response, Some(function)),
            },
        };

        let event = if route.payload_format_version == "1.0" {
            let authorizer = authorizer_context.map(Value::Object);
            event::event_v1(
                &info,
                &self.api,
                resource,
                &selected.path_parameters,
                authorizer.as_ref(),
            )
        } else {
            let authorizer = authorizer_context.map(Value::Object);
            event::event_v2(
                &info,
                &self.api,
                &route.route_key,
                &selected.path_parameters,
                authorizer.as_ref(),
            )
        };
        let payload = event.to_string();
        if payload.len() > MAX_INVOKE_PAYLOAD_BYTES {
            tracing::warn!(
                target: "local::http",
                %function,
                event_bytes = payload.len(),
                "the event is over Lambda's 6 MB synchronous payload limit"
            );
            return Handled::gateway(too_large(), Some(function));
        }
        let input = InvokeInput {
            payload: Bytes::from(payload),
            trace_id: info.header("x-amzn-trace-id").map(str::to_string),
        };
        let invocation =
            tokio::time::timeout(route.timeout, self.invoker.invoke(&function, input)).await;
        let output = match invocation {
            Err(_elapsed) => {
                tracing::warn!(target: "local::http", %function, timeout_ms = route.timeout.as_millis(), "integration timed out");
                return Handled::gateway(
                    response::gateway(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable"),
                    Some(function),
                );
            }
            Ok(Err(error)) => {
                tracing::error!(target: "local::http", %function, %error, "integration could not be invoked");
                return Handled::gateway(response::internal_error(), Some(function));
            }
            Ok(Ok(output)) => output,
        };
        let mapped = match &output.outcome {
            InvokeOutcome::Success(payload) => {
                let mapped = if route.payload_format_version == "1.0" {
                    response::map_v1(payload)
                } else {
                    response::map_v2(payload)
                };
                mapped.unwrap_or_else(|error| {
                    tracing::warn!(target: "local::http", %function, %error, "integration response does not fit the payload format");
                    response::internal_error()
                })
            }
            InvokeOutcome::Error {
                error_type,
                error_message,
            } => {
                tracing::warn!(target: "local::http", %function, %error_type, %error_message, "function failed");
                response::internal_error()
            }
        };
        Handled {
            response: mapped,
            function: Some(function),
            cold_start: Some(output.cold_start),
            preflight: false,
        }
    }

    /// Runs the route's authorizer; `Ok` carries the context for the integration.
    async fn authorize(
        &self,
        name: &str,
        info: &RequestInfo,
        route: &Route,
        resource: &str,
        path_parameters: &BTreeMap<String, String>,
    ) -> Result<Map<String, Value>, HttpResponse> {
        let Some(config) = self.authorizers.get(name) else {
            return Err(response::internal_error());
        };
        let Some(identity) = authorizer::identity_values(config, info, &self.api, &route.route_key)
        else {
            return Err(response::gateway(StatusCode::UNAUTHORIZED, "Unauthorized"));
        };
        let route_arn = authorizer::route_arn(&self.api, &info.method, &info.path);
        let caches = authorizer::caches(config);
        let cached = if caches {
            self.verdicts.get(name, &identity, Instant::now())
        } else {
            None
        };
        let verdict = match cached {
            Some(verdict) => verdict,
            None => {
                let verdict = self
                    .run_authorizer(config, info, route, resource, path_parameters, &identity)
                    .await?;
                if caches {
                    self.verdicts.put(
                        name,
                        &identity,
                        Instant::now() + config.ttl,
                        verdict.clone(),
                    );
                }
                verdict
            }
        };
        verdict
            .decide(&route_arn)
            .ok_or_else(|| response::gateway(StatusCode::FORBIDDEN, "Forbidden"))
    }

    async fn run_authorizer(
        &self,
        config: &Authorizer,
        info: &RequestInfo,
        route: &Route,
        resource: &str,
        path_parameters: &BTreeMap<String, String>,
        identity: &[String],
    ) -> Result<Verdict, HttpResponse> {
        let Some(function) = self.functions.get(&config.function) else {
            return Err(response::internal_error());
        };
        let event = authorizer::authorizer_event(
            config,
            info,
            &self.api,
            &route.route_key,
            resource,
            path_parameters,
            identity,
        );
        let input = InvokeInput {
            payload: Bytes::from(event.to_string()),
            trace_id: info.header("x-amzn-trace-id").map(str::to_string),
        };
        let invocation =
            tokio::time::timeout(self.authorizer_timeout, self.invoker.invoke(function, input))
                .await
                .map_err(|_elapsed| {
                    tracing::warn!(target: "local::http", authorizer = %config.name, %function, timeout_ms = self.authorizer_timeout.as_millis(), "authorizer timed out");
                    response::internal_error()
                })?;
        let output = invocation.map_err(|error| {
            tracing::error!(target: "local::http", authorizer = %config.name, %function, %error, "authorizer could not be invoked");
            response::internal_error()
        })?;
        let payload = match output.outcome {
            InvokeOutcome::Success(payload) => payload,
            InvokeOutcome::Error {
                error_type,
                error_message,
            } => {
                tracing::warn!(target: "local::http", authorizer = %config.name, %function, %error_type, %error_message, "authorizer failed");
                return Err(response::internal_error());
            }
        };
        let simple = config.simple_responses && config.payload_format_version != "1.0";
        authorizer::parse_response(&payload, simple).map_err(|error| {
            tracing::warn!(target: "local::http", authorizer = %config.name, %function, %error, "authorizer response has an invalid format");
            response::internal_error()
        })
    }

    /// The request as API Gateway passes it on, with the headers it adds.
    fn request_info(
        &self,
        parts: &http::request::Parts,
        body: Bytes,
        peer: SocketAddr,
        request_id: &str,
    ) -> RequestInfo {
        let mut headers: Vec<(String, String)> = parts
            .headers
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_ascii_lowercase(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect();
        let source_ip = peer.ip().to_string();
        let port = self.port();
        let forwarded_for = match parts.headers.get("x-forwarded-for").map(|v| v.to_str()) {
            Some(Ok(existing)) => format!("{existing}, {source_ip}"),
            _ => source_ip.clone(),
        };
        headers.retain(|(n, _)| {
            !matches!(
                n.as_str(),
                "x-forwarded-for" | "x-forwarded-port" | "x-forwarded-proto"
            )
        });
        headers.push(("x-forwarded-for".into(), forwarded_for));
        headers.push(("x-forwarded-port".into(), port.to_string()));
        headers.push(("x-forwarded-proto".into(), "http".into()));
        if !headers.iter().any(|(n, _)| n == "x-amzn-trace-id") {
            headers.push(("x-amzn-trace-id".into(), new_trace_id()));
        }
        let domain_name = parts
            .headers
            .get(header::HOST)
            .and_then(|v| v.to_str().ok())
            .filter(|h| !h.is_empty())
            .map_or_else(|| format!("127.0.0.1:{port}"), str::to_string);
        RequestInfo {
            request_id: request_id.to_string(),
            method: parts.method.as_str().to_string(),
            path: routes::decode(parts.uri.path()),
            raw_query: parts.uri.query().unwrap_or("").to_string(),
            headers,
            source_ip,
            body,
            time: time::OffsetDateTime::now_utc(),
            domain_name,
        }
    }

    fn port(&self) -> u16 {
        self.bound_port.get().copied().unwrap_or(self.port)
    }
}

/// 413 `{"message":"Request Entity Too Large"}`.
fn too_large() -> HttpResponse {
    response::gateway(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large")
}

/// The bytes API Gateway counts against [`MAX_REQUEST_HEAD_BYTES`]: the
/// request line (`GET /path?query HTTP/1.1`) and every header value.
fn request_head_bytes(parts: &http::request::Parts) -> usize {
    let target = parts
        .uri
        .path_and_query()
        .map_or_else(|| parts.uri.path().len(), |p| p.as_str().len());
    let request_line = parts.method.as_str().len() + 1 + target + 1 + "HTTP/1.1".len();
    let values: usize = parts.headers.values().map(HeaderValue::len).sum();
    request_line + values
}

/// The id that ties this request to what it causes: the `x-correlation-id`
/// the function answered with, else the one the client sent, else the API
/// request id.
fn correlation_id(
    response: &http::HeaderMap,
    request: &http::HeaderMap,
    request_id: &str,
) -> String {
    header_text(response, "x-correlation-id")
        .or_else(|| header_text(request, "x-correlation-id"))
        .unwrap_or_else(|| request_id.to_string())
}

fn header_text(headers: &http::HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

/// An API-Gateway-shaped request id, e.g. `JKJaXmPLvHcESHA=`.
fn new_request_id() -> String {
    let mut bytes = [0u8; 11];
    rand::thread_rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// An X-Ray trace header: `Root=1-<epoch seconds, hex>-<96 random bits, hex>`.
fn new_trace_id() -> String {
    let seconds = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut bytes = [0u8; 12];
    rand::thread_rng().fill_bytes(&mut bytes);
    let random: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("Root=1-{seconds:08x}-{random}")
}

#[cfg(test)]
mod tests;
