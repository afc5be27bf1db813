//! The request edge shared by every HTTP function.
//!
//! A handler is an `async fn(&State, Request, &RequestContext) -> Result<Response<Body>, ApiError>`;
//! the binary runs it through [`run_http`]:
//!
//! ```no_run
//! use lambda_http::{Body, Error, Request, Response, service_fn};
//! use shared::{ApiError, RequestContext, http};
//!
//! struct State;
//!
//! async fn handler(_state: &State, _req: Request, ctx: &RequestContext) -> Result<Response<Body>, ApiError> {
//!     http::ok(ctx, &serde_json::json!({"hello": "world"}))
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Error> {
//!     shared::telemetry::init();
//!     let state = State;
//!     lambda_http::run(service_fn(|req| http::run_http(&state, req, handler))).await
//! }
//! ```
//!
//! [`run_http`] derives the [`RequestContext`], runs the handler inside a `request` tracing span that
//! carries `request_id` and `correlation_id` (so every log line of the request has them), turns any
//! [`ApiError`] into problem+json, makes sure every response echoes `x-correlation-id`, and logs one
//! summary line per request.

use std::{convert::Infallible, time::Instant};

use lambda_http::{
    Body, Request, RequestExt, Response,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    request::RequestContext as LambdaRequestContext,
};
use serde::{Serialize, de::DeserializeOwned};
use tracing::Instrument as _;

use crate::{
    error::{ApiError, Context as _},
    ids,
};

/// Header carrying the correlation id, accepted from clients and echoed on every response.
pub const CORRELATION_ID_HEADER: &str = "x-correlation-id";

/// Longest correlation id accepted from a client.
pub const MAX_CORRELATION_ID_LEN: usize = 128;

/// Default largest JSON request body accepted by [`parse_json`], in bytes (64 KiB).
pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;
/// Body limit of the routes whose bodies are a few short fields (credentials, tokens, a role, a
/// quantity, a stock level).
pub const SMALL_BODY_LIMIT: usize = 4 * 1024;

/// Media type of JSON responses.
pub const JSON: &str = "application/json";

/// The address the request came from as API Gateway saw it (`requestContext.http.sourceIp`: the
/// TCP peer of API Gateway, which a client cannot set with a header); `None` outside API Gateway.
#[must_use]
pub fn source_ip(req: &Request) -> Option<std::net::IpAddr> {
    match req.request_context_ref() {
        Some(LambdaRequestContext::ApiGatewayV2(ctx)) => {
            ctx.http.source_ip.as_deref()?.parse().ok()
        }
        _ => None,
    }
}

/// Who a request is, for logs and error bodies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestContext {
    /// API Gateway's id for the request (`requestContext.requestId`).
    pub request_id: String,
    /// The id that follows the request through logs, the saga and events: the client's
    /// `X-Correlation-Id` when it is a sane token, otherwise the request id.
    pub correlation_id: String,
}

impl RequestContext {
    /// A context with the given ids (tests, non-HTTP entry points). A correlation id that is not a
    /// sane token is replaced by the request id.
    #[must_use]
    pub fn new(request_id: impl Into<String>, correlation_id: impl Into<String>) -> Self {
        let request_id = request_id.into();
        let correlation_id = correlation_id.into();
        let correlation_id = if is_valid_correlation_id(&correlation_id) {
            correlation_id
        } else {
            request_id.clone()
        };
        Self {
            request_id,
            correlation_id,
        }
    }

    /// Derives the context of an API Gateway request.
    ///
    /// The request id is `requestContext.requestId`; failing that the Lambda invocation id; failing
    /// that a fresh UUIDv7. The correlation id is the `X-Correlation-Id` header when
    /// [`is_valid_correlation_id`] accepts it, otherwise the request id.
    #[must_use]
    pub fn from_request(req: &Request) -> Self {
        let from_gateway = match req.request_context_ref() {
            Some(LambdaRequestContext::ApiGatewayV2(ctx)) => ctx.request_id.clone(),
            _ => None,
        };
        let request_id = from_gateway
            .filter(|id| !id.is_empty())
            .or_else(|| {
                req.lambda_context_ref()
                    .map(|c| c.request_id.clone())
                    .filter(|id| !id.is_empty())
            })
            .unwrap_or_else(|| ids::new_id().to_string());
        let correlation_id = req
            .headers()
            .get(CORRELATION_ID_HEADER)
            .and_then(|value| value.to_str().ok())
            .map(str::trim)
            .filter(|id| is_valid_correlation_id(id))
            .map_or_else(|| request_id.clone(), str::to_owned);
        Self {
            request_id,
            correlation_id,
        }
    }

    /// Sets `x-correlation-id` on `headers` unless the handler already did.
    pub fn stamp(&self, headers: &mut HeaderMap) {
        if !headers.contains_key(CORRELATION_ID_HEADER)
            && let Ok(value) = HeaderValue::from_str(&self.correlation_id)
        {
            headers.insert(CORRELATION_ID_HEADER, value);
        }
    }
}

/// Whether a client-supplied correlation id is a sane token: 1 to 128 characters from
/// `[A-Za-z0-9._:+/=-]`, which covers UUIDs, ULIDs and API Gateway's base64 request ids
/// (so a client can send back the id it was given).
#[must_use]
pub fn is_valid_correlation_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_CORRELATION_ID_LEN
        && id.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-' | b'+' | b'/' | b'=')
        })
}

/// Runs `handler` for one request: the adapter between `lambda_http` and the project's handlers.
///
/// Never fails: errors become problem+json responses (see the [module docs](self)).
///
/// # Errors
/// None; the `Result` is what `lambda_http::run` expects.
pub async fn run_http<S, H>(
    state: &S,
    req: Request,
    handler: H,
) -> Result<Response<Body>, Infallible>
where
    S: ?Sized,
    H: AsyncFnOnce(&S, Request, &RequestContext) -> Result<Response<Body>, ApiError>,
{
    let ctx = RequestContext::from_request(&req);
    let route = route_key(&req);
    let span = tracing::info_span!(
        "request",
        request_id = %ctx.request_id,
        correlation_id = %ctx.correlation_id,
        method = %req.method(),
        path = %req.uri().path(),
    );
    async {
        let started = Instant::now();
        let mut response = match handler(state, req, &ctx).await {
            Ok(response) => response,
            Err(error) => error.into_response(&ctx),
        };
        ctx.stamp(response.headers_mut());
        protect(response.headers_mut());
        let status = response.status().as_u16();
        let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        if status >= 500 {
            tracing::error!(status, elapsed_ms, "request failed");
        } else {
            tracing::info!(status, elapsed_ms, "request completed");
        }
        crate::metrics::request(&route, status, elapsed_ms);
        crate::metrics::flush();
        Ok(response)
    }
    .instrument(span)
    .await
}

/// API Gateway's route key of `req` (`POST /v1/auth/login`), or its method and path when the event
/// has none.
fn route_key(req: &Request) -> String {
    use lambda_http::{RequestExt as _, request::RequestContext as Context};
    match req.request_context_ref() {
        Some(Context::ApiGatewayV2(context)) => context.route_key.clone(),
        _ => None,
    }
    .unwrap_or_else(|| format!("{} {}", req.method(), req.uri().path()))
}

/// A JSON document fixed for the life of a function instance (the API description, a public key
/// set): serialized once, answered with a strong `ETag` and `Cache-Control: public`, and a 304 to
/// an `If-None-Match` that names it.
#[derive(Debug, Clone)]
pub struct FixedJson {
    text: String,
    etag: String,
}

impl FixedJson {
    /// The document `text` (JSON).
    #[must_use]
    pub fn new(text: String) -> Self {
        let etag = entity_tag(text.as_bytes());
        Self { text, etag }
    }

    /// The document's text.
    #[must_use]
    pub fn text(&self) -> &str {
        &self.text
    }

    /// 200 with the document (or 304), cacheable for `max_age` seconds.
    ///
    /// # Errors
    /// As [`cacheable_text`].
    pub fn answer(
        &self,
        ctx: &RequestContext,
        req: &Request,
        max_age: u32,
    ) -> Result<Response<Body>, ApiError> {
        cacheable_text(
            ctx,
            req,
            self.text.clone(),
            &self.etag,
            Caching::Public { max_age },
        )
    }
}

/// The headers every answer carries: `x-content-type-options: nosniff`, so a browser never
/// guesses another type than the one sent, and `cache-control: no-store` unless the handler chose
/// its caching ([`cacheable`]), so profiles, tokens, carts and errors are never kept by a cache.
fn protect(headers: &mut HeaderMap) {
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers
        .entry(header::CACHE_CONTROL)
        .or_insert_with(|| HeaderValue::from_static("no-store"));
}

/// A JSON response with the given status, `content-type: application/json` and `x-correlation-id`.
///
/// # Errors
/// [`ApiError::Internal`] if `body` cannot be serialized (e.g. a map with non-string keys).
pub fn json<T: Serialize + ?Sized>(
    ctx: &RequestContext,
    status: StatusCode,
    body: &T,
) -> Result<Response<Body>, ApiError> {
    let text = serde_json::to_string(body).context("serialize the response body")?;
    let mut response = Response::new(Body::Text(text));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON));
    ctx.stamp(response.headers_mut());
    Ok(response)
}

/// 200 OK with a JSON body.
///
/// # Errors
/// As [`json`].
pub fn ok<T: Serialize + ?Sized>(
    ctx: &RequestContext,
    body: &T,
) -> Result<Response<Body>, ApiError> {
    json(ctx, StatusCode::OK, body)
}

/// 201 Created with a JSON body and a `Location` header.
///
/// # Errors
/// As [`json`], or [`ApiError::Internal`] if `location` is not a valid header value.
pub fn created<T: Serialize + ?Sized>(
    ctx: &RequestContext,
    location: &str,
    body: &T,
) -> Result<Response<Body>, ApiError> {
    let mut response = json(ctx, StatusCode::CREATED, body)?;
    let location = HeaderValue::from_str(location).context("build the Location header")?;
    response.headers_mut().insert(header::LOCATION, location);
    Ok(response)
}

/// 202 Accepted with a JSON body.
///
/// # Errors
/// As [`json`].
pub fn accepted<T: Serialize + ?Sized>(
    ctx: &RequestContext,
    body: &T,
) -> Result<Response<Body>, ApiError> {
    json(ctx, StatusCode::ACCEPTED, body)
}

/// 204 No Content, echoing `x-correlation-id`.
#[must_use]
pub fn no_content(ctx: &RequestContext) -> Response<Body> {
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = StatusCode::NO_CONTENT;
    ctx.stamp(response.headers_mut());
    response
}

/// Parses a JSON request body of at most [`DEFAULT_BODY_LIMIT`] bytes. See [`parse_json_limited`].
///
/// # Errors
/// As [`parse_json_limited`].
pub fn parse_json<T: DeserializeOwned>(req: &Request) -> Result<T, ApiError> {
    parse_json_limited(req, DEFAULT_BODY_LIMIT)
}

/// Parses a JSON request body of at most `limit` bytes into `T`.
///
/// # Errors
/// - 413 `PAYLOAD_TOO_LARGE` when the body is over `limit` bytes;
/// - 400 `MISSING_BODY` when there is no body;
/// - 415 `UNSUPPORTED_MEDIA_TYPE` unless `content-type` is `application/json` or `application/*+json`;
/// - 400 `MALFORMED_JSON` when the body is not JSON;
/// - 400 `INVALID_BODY` when it is JSON of the wrong shape (not an object, a missing field, a wrong
///   type).
pub fn parse_json_limited<T: DeserializeOwned>(req: &Request, limit: usize) -> Result<T, ApiError> {
    let bytes: &[u8] = req.body().as_ref();
    if bytes.len() > limit {
        return Err(ApiError::PayloadTooLarge { limit });
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "MISSING_BODY",
            "A JSON request body is required.",
        ));
    }
    if !is_json_content_type(req.headers()) {
        return Err(ApiError::UnsupportedMediaType {
            expected: JSON.into(),
        });
    }
    // Request bodies are JSON objects. Serde would also read a struct from an array (`[]` as a
    // struct of defaults), which no client means.
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        return Err(
            match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
                Ok(_) => {
                    ApiError::bad_request("INVALID_BODY", "The request body must be a JSON object.")
                }
                Err(e) => body_error(&e),
            },
        );
    }
    serde_json::from_slice(bytes).map_err(|e| body_error(&e))
}

/// The 400 for a body serde could not read: wrong shape, or not JSON at all.
fn body_error(e: &serde_json::Error) -> ApiError {
    if e.is_data() {
        ApiError::bad_request(
            "INVALID_BODY",
            format!("The request body has the wrong shape: {e}."),
        )
    } else {
        ApiError::bad_request(
            "MALFORMED_JSON",
            format!("The request body is not valid JSON: {e}."),
        )
    }
}

/// Whether `content-type` names JSON: `application/json` or `application/<anything>+json`, any
/// parameters (such as `charset`) allowed.
#[must_use]
pub fn is_json_content_type(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == JSON || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// The first value of query parameter `name`, if present.
#[must_use]
pub fn query_param<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.query_string_parameters_ref()
        .and_then(|params| params.first(name))
}

/// The path parameter `name` (from the route's `{name}`), if present.
#[must_use]
pub fn path_param<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.path_parameters_ref()
        .and_then(|params| params.first(name))
}

/// The id in path parameter `name`. Anything that is not an id cannot name an existing resource,
/// so it is a 404 ("No such `what`.") rather than a 400: callers learn nothing about which ids
/// exist.
///
/// # Errors
/// 404 `NOT_FOUND`.
pub fn id_in_path(req: &Request, name: &str, what: &str) -> Result<uuid::Uuid, ApiError> {
    path_param(req, name)
        .and_then(ids::parse_id)
        .ok_or_else(|| ApiError::not_found(format!("No such {what}.")))
}

/// How a cacheable response may be kept by browsers and shared caches (a CDN in front).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Caching {
    /// `public, max-age=<seconds>`: anyone may keep it.
    Public {
        /// Seconds it stays fresh.
        max_age: u32,
    },
    /// `private, no-store`: the answer depends on who asked.
    Private,
}

impl Caching {
    fn header(self) -> HeaderValue {
        match self {
            Self::Public { max_age } => {
                HeaderValue::from_str(&format!("public, max-age={max_age}"))
                    .unwrap_or_else(|_| HeaderValue::from_static("no-store"))
            }
            Self::Private => HeaderValue::from_static("private, no-store"),
        }
    }
}

/// A strong entity tag for `bytes`: a quoted, truncated SHA-256.
#[must_use]
pub fn entity_tag(bytes: &[u8]) -> String {
    use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
    use sha2::{Digest as _, Sha256};
    let digest = Sha256::digest(bytes);
    format!("\"{}\"", URL_SAFE_NO_PAD.encode(&digest[..16]))
}

/// Whether `If-None-Match` names `etag` (or is `*`). Comparison is weak, as RFC 9110 asks for this
/// header: `W/"x"` matches `"x"`.
#[must_use]
pub fn none_match(req: &Request, etag: &str) -> bool {
    let strip = |tag: &str| tag.trim().trim_start_matches("W/").to_owned();
    let ours = strip(etag);
    req.headers()
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|tag| tag.trim() == "*" || strip(tag) == ours)
}

/// A cacheable 200 with a JSON body: a strong `ETag` over the body and `Cache-Control`; or, when
/// the request's `If-None-Match` already names that tag, a 304 with no body.
///
/// # Errors
/// As [`json`].
pub fn cacheable<T: Serialize + ?Sized>(
    ctx: &RequestContext,
    req: &Request,
    body: &T,
    caching: Caching,
) -> Result<Response<Body>, ApiError> {
    let text = serde_json::to_string(body).context("serialize the response body")?;
    let etag = entity_tag(text.as_bytes());
    cacheable_text(ctx, req, text, &etag, caching)
}

/// Like [`cacheable`], with the body already serialized and its entity tag chosen by the caller
/// (for example from a stored version).
///
/// # Errors
/// [`ApiError::Internal`] if `etag` is not a valid header value.
pub fn cacheable_text(
    ctx: &RequestContext,
    req: &Request,
    text: String,
    etag: &str,
    caching: Caching,
) -> Result<Response<Body>, ApiError> {
    let etag_value = HeaderValue::from_str(etag).context("build the ETag header")?;
    let mut response = if none_match(req, etag) {
        let mut response = Response::new(Body::Empty);
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        response
    } else {
        let mut response = Response::new(Body::Text(text));
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON));
        response
    };
    let headers = response.headers_mut();
    headers.insert(header::ETAG, etag_value);
    headers.insert(header::CACHE_CONTROL, caching.header());
    ctx.stamp(headers);
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::http::Method;
    use serde::Deserialize;
    use serde_json::{Value, json};

    fn request(body: &str, content_type: Option<&str>, correlation: Option<&str>) -> Request {
        let mut builder = lambda_http::http::Request::builder()
            .method(Method::POST)
            .uri("/v1/things");
        if let Some(ct) = content_type {
            builder = builder.header("content-type", ct);
        }
        if let Some(id) = correlation {
            builder = builder.header(CORRELATION_ID_HEADER, id);
        }
        let body = if body.is_empty() {
            Body::Empty
        } else {
            Body::Text(body.to_owned())
        };
        builder.body(body).unwrap()
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Thing {
        name: String,
        quantity: u32,
    }

    #[test]
    fn sane_correlation_ids_are_accepted() {
        assert!(is_valid_correlation_id("abc-123_x.y:z"));
        assert!(is_valid_correlation_id("x1Yt6wM1Q3B1uxc="));
        assert!(is_valid_correlation_id("/eCvTsC/00wPhUQ="));
        assert!(is_valid_correlation_id(&"a".repeat(128)));
        assert!(!is_valid_correlation_id(""));
        assert!(!is_valid_correlation_id(&"a".repeat(129)));
        assert!(!is_valid_correlation_id("a b"));
        assert!(!is_valid_correlation_id("<script>"));
        assert!(!is_valid_correlation_id("abc\u{e9}"));
    }

    #[test]
    fn context_takes_the_client_correlation_id_only_when_sane() {
        let ctx = RequestContext::from_request(&request("", None, Some("order-flow-42")));
        assert_eq!(ctx.correlation_id, "order-flow-42");
        let ctx =
            RequestContext::from_request(&request("", None, Some("'; DROP TABLE orders; --")));
        assert_eq!(ctx.correlation_id, ctx.request_id);
        assert!(!ctx.request_id.is_empty());
        assert_eq!(RequestContext::new("r", "bad id").correlation_id, "r");
    }

    #[test]
    fn parse_json_reads_a_valid_body() {
        let req = request(
            r#"{"name":"mug","quantity":2}"#,
            Some("application/json; charset=utf-8"),
            None,
        );
        assert_eq!(
            parse_json::<Thing>(&req).unwrap(),
            Thing {
                name: "mug".into(),
                quantity: 2
            }
        );
        let req = request(
            r#"{"name":"mug","quantity":2}"#,
            Some("application/merge-patch+json"),
            None,
        );
        assert!(parse_json::<Thing>(&req).is_ok());
    }

    #[test]
    fn malformed_json_is_a_400_not_a_500() {
        let req = request(r#"{"name":"#, Some("application/json"), None);
        let error = parse_json::<Thing>(&req).unwrap_err();
        assert_eq!(error.status(), 400);
        assert_eq!(error.code(), "MALFORMED_JSON");
    }

    #[test]
    fn a_body_that_is_not_an_object_is_a_400() {
        for (body, code) in [
            ("[]", "INVALID_BODY"),
            ("[\"mug\", 2]", "INVALID_BODY"),
            ("null", "INVALID_BODY"),
            ("\"mug\"", "INVALID_BODY"),
            ("[1,", "MALFORMED_JSON"),
        ] {
            let req = request(body, Some("application/json"), None);
            let error = parse_json::<Thing>(&req).unwrap_err();
            assert_eq!(
                (error.status().as_u16(), error.code()),
                (400, code),
                "{body}"
            );
        }
    }

    #[test]
    fn json_of_the_wrong_shape_is_a_400() {
        let req = request(
            r#"{"name":"mug","quantity":-1}"#,
            Some("application/json"),
            None,
        );
        let error = parse_json::<Thing>(&req).unwrap_err();
        assert_eq!(
            (error.status().as_u16(), error.code()),
            (400, "INVALID_BODY")
        );
    }

    #[test]
    fn a_wrong_or_missing_content_type_is_a_415() {
        for content_type in [
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
            None,
        ] {
            let req = request(r#"{"name":"mug","quantity":2}"#, content_type, None);
            assert_eq!(parse_json::<Thing>(&req).unwrap_err().status(), 415);
        }
    }

    #[test]
    fn an_oversized_body_is_a_413() {
        let body = format!(r#"{{"name":"{}","quantity":1}}"#, "x".repeat(200));
        let req = request(&body, Some("application/json"), None);
        let error = parse_json_limited::<Thing>(&req, 100).unwrap_err();
        assert_eq!(error.status(), 413);
        assert_eq!(error.code(), "PAYLOAD_TOO_LARGE");
    }

    #[test]
    fn a_missing_body_is_a_400() {
        let req = request("", Some("application/json"), None);
        assert_eq!(
            parse_json::<Thing>(&req).unwrap_err().code(),
            "MISSING_BODY"
        );
    }

    #[test]
    fn json_helpers_set_content_type_and_echo_the_correlation_id() {
        let ctx = RequestContext::new("req-1", "corr-1");
        let response = created(&ctx, "/v1/things/1", &json!({"id": 1})).unwrap();
        assert_eq!(response.status(), 201);
        assert_eq!(response.headers()["content-type"], JSON);
        assert_eq!(response.headers()[CORRELATION_ID_HEADER], "corr-1");
        assert_eq!(response.headers()["location"], "/v1/things/1");
        assert_eq!(no_content(&ctx).headers()[CORRELATION_ID_HEADER], "corr-1");
    }

    async fn failing(
        _state: &(),
        _req: Request,
        _ctx: &RequestContext,
    ) -> Result<Response<Body>, ApiError> {
        Err(ApiError::not_found("nothing here"))
    }

    async fn echoing(
        state: &str,
        _req: Request,
        ctx: &RequestContext,
    ) -> Result<Response<Body>, ApiError> {
        ok(ctx, &json!({"state": state, "requestId": ctx.request_id}))
    }

    #[tokio::test]
    async fn run_http_turns_errors_into_problem_json() {
        let response = run_http(&(), request("", None, Some("c-1")), failing)
            .await
            .unwrap();
        assert_eq!(response.status(), 404);
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        assert_eq!(response.headers()[CORRELATION_ID_HEADER], "c-1");
        let body: Value = serde_json::from_slice(response.body().as_ref()).unwrap();
        assert_eq!(body["code"], "NOT_FOUND");
        assert!(body["requestId"].as_str().is_some_and(|id| !id.is_empty()));
    }

    #[derive(Clone, Default)]
    struct Buffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    async fn logging(
        _state: &(),
        _req: Request,
        _ctx: &RequestContext,
    ) -> Result<Response<Body>, ApiError> {
        tracing::info!("inside the handler");
        Err(ApiError::internal(
            "load the order",
            std::io::Error::other("socket closed"),
        ))
    }

    #[tokio::test]
    async fn every_log_line_of_a_request_carries_its_ids() {
        use tracing_subscriber::layer::SubscriberExt as _;
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::registry()
            .with(crate::telemetry::json_layer(move || writer.clone()));
        let _guard = tracing::subscriber::set_default(subscriber);
        run_http(&(), request("", None, Some("corr-7")), logging)
            .await
            .unwrap();
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let messages: Vec<_> = lines
            .iter()
            .map(|l| l["message"].as_str().unwrap())
            .collect();
        assert_eq!(
            messages,
            ["inside the handler", "load the order", "request failed"]
        );
        for line in &lines {
            assert_eq!(line["correlation_id"], "corr-7");
            assert!(line["request_id"].as_str().is_some_and(|id| !id.is_empty()));
        }
        assert_eq!(lines[1]["error"], "socket closed");
        assert_eq!(lines[2]["status"], 500);
    }

    #[tokio::test]
    async fn run_http_lends_the_state_to_the_handler() {
        let response = run_http("platform", request("", None, None), echoing)
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = serde_json::from_slice(response.body().as_ref()).unwrap();
        assert_eq!(body["state"], "platform");
        assert_eq!(
            response.headers()[CORRELATION_ID_HEADER],
            body["requestId"].as_str().unwrap()
        );
    }

    // Through `run_http` in `functions/platform/tests/contract.rs`; here without it, since more
    // requests through `run_http` beside the log-capturing test above would race its subscriber.
    #[test]
    fn every_answer_is_nosniff_and_not_stored_unless_the_handler_chose_caching() {
        let ctx = RequestContext::new("req-1", "corr-1");
        let mut plain = ok(&ctx, &json!({"a": 1})).unwrap();
        protect(plain.headers_mut());
        assert_eq!(plain.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
        assert_eq!(plain.headers()[header::CACHE_CONTROL], "no-store");
        let mut cached = cacheable(
            &ctx,
            &request("", None, None),
            &json!([1]),
            Caching::Public { max_age: 30 },
        )
        .unwrap();
        protect(cached.headers_mut());
        assert_eq!(
            cached.headers()[header::CACHE_CONTROL],
            "public, max-age=30"
        );
        assert_eq!(cached.headers()[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    }

    #[test]
    fn cacheable_answers_carry_a_strong_etag_and_a_304_has_no_body() {
        let ctx = RequestContext::new("req-1", "corr-1");
        let body = json!({"items": [1, 2]});
        let first = cacheable(
            &ctx,
            &request("", None, None),
            &body,
            Caching::Public { max_age: 30 },
        )
        .unwrap();
        assert_eq!(first.status(), 200);
        assert_eq!(first.headers()["cache-control"], "public, max-age=30");
        let etag = first.headers()["etag"].to_str().unwrap().to_owned();
        assert!(etag.starts_with('"') && etag.ends_with('"') && !etag.starts_with("W/"));

        for header in [
            etag.clone(),
            format!("W/{etag}"),
            format!("\"other\", {etag}"),
            "*".into(),
        ] {
            let mut req = request("", None, None);
            req.headers_mut()
                .insert("if-none-match", header.parse().unwrap());
            let again = cacheable(&ctx, &req, &body, Caching::Public { max_age: 30 }).unwrap();
            assert_eq!(again.status(), 304, "{header}");
            assert!(again.body().is_empty());
            assert_eq!(again.headers()["etag"], etag.as_str());
        }
        let mut req = request("", None, None);
        req.headers_mut()
            .insert("if-none-match", "\"stale\"".parse().unwrap());
        assert_eq!(
            cacheable(&ctx, &req, &body, Caching::Private)
                .unwrap()
                .status(),
            200
        );
        let changed = cacheable(
            &ctx,
            &request("", None, None),
            &json!({"items": [1]}),
            Caching::Private,
        )
        .unwrap();
        assert_ne!(changed.headers()["etag"], etag.as_str());
        assert_eq!(changed.headers()["cache-control"], "private, no-store");
    }
}
