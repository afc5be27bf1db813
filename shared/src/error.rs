//! The one error type at the HTTP edge, rendered as RFC 9457 problem details.
//!
//! Every failure a handler can report is an [`ApiError`]; [`ApiError::into_response`] turns it into an
//! `application/problem+json` response:
//!
//! ```json
//! {"type": "https://errors.example.com/problems/not-found", "title": "Not Found", "status": 404,
//!  "detail": "Order 0190... does not exist", "code": "NOT_FOUND", "requestId": "Ab1Cd2Ef3Gh="}
//! ```
//!
//! - `code` is a stable UPPER_SNAKE string clients may branch on (`NOT_FOUND`, `VALIDATION_FAILED`, ...).
//! - `type` is [`PROBLEM_TYPE_BASE`] followed by the code in lower kebab case (`VALIDATION_FAILED` →
//!   `.../problems/validation-failed`). It identifies the problem type; it is stable but need not be
//!   dereferenceable.
//! - `title` is the HTTP reason phrase of `status`; `detail` is a sentence for humans.
//! - `requestId` is the API Gateway request id, also found in every log line of the request.
//! - `errors` (validation only) lists `{field, message}` pairs.
//!
//! Internal errors are logged with their full cause chain; the client only sees a generic detail and the
//! request id.

use std::{borrow::Cow, error::Error as StdError, fmt::Write as _};

use lambda_http::{
    Body, Response,
    http::{HeaderValue, Method, StatusCode, header},
};
use serde::{Deserialize, Serialize};

use crate::http::{CORRELATION_ID_HEADER, RequestContext};

/// A boxed error that can cross threads, the source type of [`ApiError::Internal`].
pub type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Prefix of every problem `type` URI; the code in lower kebab case follows it.
pub const PROBLEM_TYPE_BASE: &str = "https://errors.example.com/problems/";

/// Media type of problem details responses.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Detail shown to clients for every internal error.
pub const INTERNAL_DETAIL: &str =
    "An unexpected error occurred. Quote the requestId when reporting it.";

/// One invalid field of a request, as listed in a validation problem's `errors`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FieldError {
    /// The field's name as the client sent it, e.g. `email` or `items[2].quantity`.
    pub field: String,
    /// What is wrong with it, for humans.
    pub message: String,
}

impl FieldError {
    /// A field error.
    #[must_use]
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Every failure an HTTP handler reports. Each variant's doc comment gives its status.
///
/// Variants with a `code` carry the stable UPPER_SNAKE code sent to clients; the constructors
/// ([`ApiError::not_found`], ...) fill in the generic one and [`ApiError::with_code`] refines it.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400 Bad Request: the request cannot be understood (malformed JSON, a bad query parameter,
    /// a forged cursor). Default code `BAD_REQUEST`.
    #[error("bad request ({code}): {detail}")]
    BadRequest {
        /// Stable code, e.g. `MALFORMED_JSON`, `INVALID_CURSOR`.
        code: Cow<'static, str>,
        /// Explanation for humans.
        detail: String,
    },
    /// 400 Bad Request, code `VALIDATION_FAILED`: the request parsed but some fields are invalid;
    /// the problem lists them in `errors`.
    #[error("validation failed on {} field(s)", errors.len())]
    Validation {
        /// The invalid fields.
        errors: Vec<FieldError>,
    },
    /// 401 Unauthorized (with `WWW-Authenticate: Bearer`): missing, invalid or expired credentials.
    /// Default code `UNAUTHORIZED`.
    #[error("unauthorized ({code}): {detail}")]
    Unauthorized {
        /// Stable code, e.g. `TOKEN_EXPIRED`.
        code: Cow<'static, str>,
        /// Explanation for humans.
        detail: String,
    },
    /// 403 Forbidden: authenticated, but the role does not allow this. Default code `FORBIDDEN`.
    #[error("forbidden ({code}): {detail}")]
    Forbidden {
        /// Stable code.
        code: Cow<'static, str>,
        /// Explanation for humans.
        detail: String,
    },
    /// 404 Not Found: no such resource, or one the caller may not know exists. Default code `NOT_FOUND`.
    #[error("not found ({code}): {detail}")]
    NotFound {
        /// Stable code, e.g. `ROUTE_NOT_FOUND`.
        code: Cow<'static, str>,
        /// Explanation for humans.
        detail: String,
    },
    /// 405 Method Not Allowed (with an `Allow` header), code `METHOD_NOT_ALLOWED`.
    #[error("method not allowed")]
    MethodNotAllowed {
        /// The methods the resource does support.
        allowed: Vec<Method>,
    },
    /// 409 Conflict: the request clashes with the current state (duplicate, lost race, spent token).
    /// Default code `CONFLICT`.
    #[error("conflict ({code}): {detail}")]
    Conflict {
        /// Stable code, e.g. `EMAIL_TAKEN`.
        code: Cow<'static, str>,
        /// Explanation for humans.
        detail: String,
    },
    /// 412 Precondition Failed: an `If-Match` names a version that is no longer current.
    /// Default code `PRECONDITION_FAILED`.
    #[error("precondition failed ({code}): {detail}")]
    PreconditionFailed {
        /// Stable code, e.g. `VERSION_MISMATCH`.
        code: Cow<'static, str>,
        /// Explanation for humans.
        detail: String,
    },
    /// 413 Content Too Large, code `PAYLOAD_TOO_LARGE`: the body exceeds `limit` bytes.
    #[error("request body larger than {limit} bytes")]
    PayloadTooLarge {
        /// The largest accepted body, in bytes.
        limit: usize,
    },
    /// 415 Unsupported Media Type, code `UNSUPPORTED_MEDIA_TYPE`: the body is not of the `expected` type.
    #[error("unsupported media type, expected {expected}")]
    UnsupportedMediaType {
        /// The media type the endpoint accepts, e.g. `application/json`.
        expected: Cow<'static, str>,
    },
    /// 422 Unprocessable Content: well-formed and valid, but a precondition of the operation does not
    /// hold (e.g. an `Idempotency-Key` reused with a different body). Default code `UNPROCESSABLE`.
    #[error("unprocessable ({code}): {detail}")]
    Unprocessable {
        /// Stable code, e.g. `IDEMPOTENCY_KEY_REUSED`.
        code: Cow<'static, str>,
        /// Explanation for humans.
        detail: String,
    },
    /// 429 Too Many Requests (with `Retry-After`), code `TOO_MANY_REQUESTS`.
    #[error("too many requests, retry after {retry_after_secs}s")]
    TooManyRequests {
        /// Seconds the client should wait, sent as `Retry-After`.
        retry_after_secs: u64,
    },
    /// 500 Internal Server Error, code `INTERNAL`: anything the client cannot fix. The source and its
    /// cause chain are logged; the client sees only [`INTERNAL_DETAIL`] and the request id.
    #[error("{context}")]
    Internal {
        /// What was being done, e.g. `reserve stock for order 0190...`.
        context: String,
        /// The underlying error.
        source: BoxError,
    },
}

impl ApiError {
    /// 400 with the given code and detail.
    #[must_use]
    pub fn bad_request(code: impl Into<Cow<'static, str>>, detail: impl Into<String>) -> Self {
        Self::BadRequest {
            code: code.into(),
            detail: detail.into(),
        }
    }

    /// 400 `VALIDATION_FAILED` listing the invalid fields.
    #[must_use]
    pub fn validation(errors: Vec<FieldError>) -> Self {
        Self::Validation { errors }
    }

    /// 400 `VALIDATION_FAILED` for a single field.
    #[must_use]
    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation {
            errors: vec![FieldError::new(field, message)],
        }
    }

    /// 401 `UNAUTHORIZED`.
    #[must_use]
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::Unauthorized {
            code: Cow::Borrowed("UNAUTHORIZED"),
            detail: detail.into(),
        }
    }

    /// 403 `FORBIDDEN`.
    #[must_use]
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::Forbidden {
            code: Cow::Borrowed("FORBIDDEN"),
            detail: detail.into(),
        }
    }

    /// 404 `NOT_FOUND`.
    #[must_use]
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::NotFound {
            code: Cow::Borrowed("NOT_FOUND"),
            detail: detail.into(),
        }
    }

    /// 409 with the given code and detail.
    #[must_use]
    pub fn conflict(code: impl Into<Cow<'static, str>>, detail: impl Into<String>) -> Self {
        Self::Conflict {
            code: code.into(),
            detail: detail.into(),
        }
    }

    /// 412 with the given code and detail.
    #[must_use]
    pub fn precondition_failed(
        code: impl Into<Cow<'static, str>>,
        detail: impl Into<String>,
    ) -> Self {
        Self::PreconditionFailed {
            code: code.into(),
            detail: detail.into(),
        }
    }

    /// 422 with the given code and detail.
    #[must_use]
    pub fn unprocessable(code: impl Into<Cow<'static, str>>, detail: impl Into<String>) -> Self {
        Self::Unprocessable {
            code: code.into(),
            detail: detail.into(),
        }
    }

    /// 500 wrapping `source`, with `context` saying what was being done.
    ///
    /// An [`ApiError`] passed as `source` is returned unchanged, so wrapping never turns a 404 into a 500.
    #[must_use]
    pub fn internal(context: impl Into<String>, source: impl Into<BoxError>) -> Self {
        match source.into().downcast::<Self>() {
            Ok(api) => *api,
            Err(source) => Self::Internal {
                context: context.into(),
                source,
            },
        }
    }

    /// Replaces the code of a variant that carries one; other variants are returned unchanged.
    #[must_use]
    pub fn with_code(self, new: impl Into<Cow<'static, str>>) -> Self {
        let new = new.into();
        match self {
            Self::BadRequest { detail, .. } => Self::BadRequest { code: new, detail },
            Self::Unauthorized { detail, .. } => Self::Unauthorized { code: new, detail },
            Self::Forbidden { detail, .. } => Self::Forbidden { code: new, detail },
            Self::NotFound { detail, .. } => Self::NotFound { code: new, detail },
            Self::Conflict { detail, .. } => Self::Conflict { code: new, detail },
            Self::PreconditionFailed { detail, .. } => {
                Self::PreconditionFailed { code: new, detail }
            }
            Self::Unprocessable { detail, .. } => Self::Unprocessable { code: new, detail },
            other => other,
        }
    }

    /// The HTTP status.
    #[must_use]
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } | Self::Validation { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::PreconditionFailed { .. } => StatusCode::PRECONDITION_FAILED,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable UPPER_SNAKE code sent to clients.
    #[must_use]
    pub fn code(&self) -> &str {
        match self {
            Self::BadRequest { code, .. }
            | Self::Unauthorized { code, .. }
            | Self::Forbidden { code, .. }
            | Self::NotFound { code, .. }
            | Self::Conflict { code, .. }
            | Self::PreconditionFailed { code, .. }
            | Self::Unprocessable { code, .. } => code,
            Self::Validation { .. } => "VALIDATION_FAILED",
            Self::MethodNotAllowed { .. } => "METHOD_NOT_ALLOWED",
            Self::PayloadTooLarge { .. } => "PAYLOAD_TOO_LARGE",
            Self::UnsupportedMediaType { .. } => "UNSUPPORTED_MEDIA_TYPE",
            Self::TooManyRequests { .. } => "TOO_MANY_REQUESTS",
            Self::Internal { .. } => "INTERNAL",
        }
    }

    /// The `detail` sent to clients (generic for internal errors).
    #[must_use]
    pub fn detail(&self) -> String {
        match self {
            Self::BadRequest { detail, .. }
            | Self::Unauthorized { detail, .. }
            | Self::Forbidden { detail, .. }
            | Self::NotFound { detail, .. }
            | Self::Conflict { detail, .. }
            | Self::PreconditionFailed { detail, .. }
            | Self::Unprocessable { detail, .. } => detail.clone(),
            Self::Validation { errors } => match errors.len() {
                1 => "1 field is invalid.".to_owned(),
                n => format!("{n} fields are invalid."),
            },
            Self::MethodNotAllowed { allowed } => {
                format!(
                    "This resource supports only {}.",
                    join_methods(allowed, ", ")
                )
            }
            Self::PayloadTooLarge { limit } => {
                format!("The request body must not exceed {limit} bytes.")
            }
            Self::UnsupportedMediaType { expected } => {
                format!("The request body must be {expected}.")
            }
            Self::TooManyRequests { retry_after_secs } => {
                format!("Too many requests; retry after {retry_after_secs} seconds.")
            }
            Self::Internal { .. } => INTERNAL_DETAIL.to_owned(),
        }
    }

    /// The problem details document for this error in the context of one request.
    #[must_use]
    pub fn problem(&self, ctx: &RequestContext) -> Problem {
        let status = self.status();
        let code = self.code().to_owned();
        Problem {
            problem_type: problem_type(&code),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail: self.detail(),
            code,
            request_id: ctx.request_id.clone(),
            errors: match self {
                Self::Validation { errors } => errors.clone(),
                _ => Vec::new(),
            },
        }
    }

    /// Renders the error as an `application/problem+json` response carrying the request id and the
    /// correlation id (`x-correlation-id` header). Internal errors are logged here, with their cause chain.
    #[must_use]
    pub fn into_response(self, ctx: &RequestContext) -> Response<Body> {
        if let Self::Internal { context, source } = &self {
            tracing::error!(code = self.code(), error = %cause_chain(source.as_ref()), "{context}");
        }
        let problem = self.problem(ctx);
        let body = serde_json::to_string(&problem).unwrap_or_else(|_| {
            // Serializing a struct of strings cannot fail; keep a valid body regardless.
            format!(
                r#"{{"status":{},"code":"{}"}}"#,
                problem.status, problem.code
            )
        });
        let mut response = Response::new(Body::Text(body));
        *response.status_mut() = self.status();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Ok(value) = HeaderValue::from_str(&ctx.correlation_id) {
            headers.insert(CORRELATION_ID_HEADER, value);
        }
        match &self {
            Self::Unauthorized { .. } => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Self::MethodNotAllowed { allowed } => {
                if let Ok(value) = HeaderValue::from_str(&join_methods(allowed, ", ")) {
                    headers.insert(header::ALLOW, value);
                }
            }
            Self::TooManyRequests { retry_after_secs } => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            }
            _ => {}
        }
        response
    }
}

/// An RFC 9457 problem details document as this API sends it (see the [module docs](self)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Problem {
    /// The problem type URI: [`PROBLEM_TYPE_BASE`] + code in lower kebab case.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// The HTTP reason phrase of `status`.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// Explanation for humans.
    pub detail: String,
    /// Stable UPPER_SNAKE code.
    pub code: String,
    /// The request id (API Gateway's), to quote when reporting a problem.
    pub request_id: String,
    /// The invalid fields of a validation problem; omitted when empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

/// The problem `type` URI for a code: `INVALID_CURSOR` → `{PROBLEM_TYPE_BASE}invalid-cursor`.
#[must_use]
pub fn problem_type(code: &str) -> String {
    let mut uri = String::with_capacity(PROBLEM_TYPE_BASE.len() + code.len());
    uri.push_str(PROBLEM_TYPE_BASE);
    uri.extend(code.chars().map(|c| {
        if c == '_' {
            '-'
        } else {
            c.to_ascii_lowercase()
        }
    }));
    uri
}

/// An error and all its sources, joined by `": "`, for logs.
#[must_use]
pub fn cause_chain(error: &(dyn StdError + 'static)) -> String {
    let mut chain = error.to_string();
    let mut next = error.source();
    while let Some(cause) = next {
        let _ = write!(chain, ": {cause}");
        next = cause.source();
    }
    chain
}

/// Turns any error into [`ApiError::Internal`] with a note of what was being done, keeping the cause.
///
/// ```
/// use shared::error::{ApiError, Context};
///
/// fn load() -> Result<u32, ApiError> {
///     "x".parse::<u32>().context("read the stock level")
/// }
/// assert_eq!(load().unwrap_err().status(), 500);
/// ```
pub trait Context<T> {
    /// Wraps the error with a fixed context.
    ///
    /// # Errors
    /// The wrapped error, if any.
    fn context(self, context: impl Into<String>) -> Result<T, ApiError>;

    /// Wraps the error with a context built only on failure.
    ///
    /// # Errors
    /// The wrapped error, if any.
    fn with_context<C: Into<String>>(self, context: impl FnOnce() -> C) -> Result<T, ApiError>;
}

impl<T, E: Into<BoxError>> Context<T> for Result<T, E> {
    fn context(self, context: impl Into<String>) -> Result<T, ApiError> {
        self.map_err(|e| ApiError::internal(context, e))
    }

    fn with_context<C: Into<String>>(self, context: impl FnOnce() -> C) -> Result<T, ApiError> {
        self.map_err(|e| ApiError::internal(context(), e))
    }
}

fn join_methods(methods: &[Method], separator: &str) -> String {
    methods
        .iter()
        .map(Method::as_str)
        .collect::<Vec<_>>()
        .join(separator)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn ctx() -> RequestContext {
        RequestContext::new("req-123", "corr-456")
    }

    fn body_json(response: &Response<Body>) -> Value {
        serde_json::from_slice(response.body().as_ref()).unwrap()
    }

    #[test]
    fn not_found_renders_as_problem_json_with_code_and_request_id() {
        let response = ApiError::not_found("Order 42 does not exist").into_response(&ctx());
        assert_eq!(response.status(), 404);
        assert_eq!(response.headers()["content-type"], PROBLEM_JSON);
        assert_eq!(response.headers()[CORRELATION_ID_HEADER], "corr-456");
        assert_eq!(
            body_json(&response),
            json!({
                "type": "https://errors.example.com/problems/not-found",
                "title": "Not Found",
                "status": 404,
                "detail": "Order 42 does not exist",
                "code": "NOT_FOUND",
                "requestId": "req-123",
            })
        );
    }

    #[test]
    fn validation_lists_field_errors() {
        let error = ApiError::validation(vec![
            FieldError::new("email", "must be an email address"),
            FieldError::new("quantity", "must be at least 1"),
        ]);
        let response = error.into_response(&ctx());
        assert_eq!(response.status(), 400);
        let body = body_json(&response);
        assert_eq!(body["code"], "VALIDATION_FAILED");
        assert_eq!(
            body["type"],
            "https://errors.example.com/problems/validation-failed"
        );
        assert_eq!(
            body["errors"],
            json!([
                {"field": "email", "message": "must be an email address"},
                {"field": "quantity", "message": "must be at least 1"},
            ])
        );
    }

    #[test]
    fn every_variant_maps_to_its_documented_status_and_code() {
        let cases: Vec<(ApiError, u16, &str)> = vec![
            (
                ApiError::bad_request("MALFORMED_JSON", "x"),
                400,
                "MALFORMED_JSON",
            ),
            (ApiError::invalid_field("a", "b"), 400, "VALIDATION_FAILED"),
            (ApiError::unauthorized("x"), 401, "UNAUTHORIZED"),
            (ApiError::forbidden("x"), 403, "FORBIDDEN"),
            (ApiError::not_found("x"), 404, "NOT_FOUND"),
            (
                ApiError::MethodNotAllowed {
                    allowed: vec![Method::GET],
                },
                405,
                "METHOD_NOT_ALLOWED",
            ),
            (ApiError::conflict("EMAIL_TAKEN", "x"), 409, "EMAIL_TAKEN"),
            (
                ApiError::PayloadTooLarge { limit: 10 },
                413,
                "PAYLOAD_TOO_LARGE",
            ),
            (
                ApiError::UnsupportedMediaType {
                    expected: "application/json".into(),
                },
                415,
                "UNSUPPORTED_MEDIA_TYPE",
            ),
            (
                ApiError::unprocessable("IDEMPOTENCY_KEY_REUSED", "x"),
                422,
                "IDEMPOTENCY_KEY_REUSED",
            ),
            (
                ApiError::TooManyRequests {
                    retry_after_secs: 3,
                },
                429,
                "TOO_MANY_REQUESTS",
            ),
            (
                ApiError::internal("x", std::io::Error::other("disk")),
                500,
                "INTERNAL",
            ),
        ];
        for (error, status, code) in cases {
            assert_eq!(error.status(), status, "{error}");
            assert_eq!(error.code(), code);
            let body = body_json(&error.into_response(&ctx()));
            assert_eq!(body["status"], status);
            assert_eq!(body["code"], code);
            assert_eq!(body["requestId"], "req-123");
        }
    }

    #[test]
    fn internal_errors_hide_their_cause_from_the_client() {
        let source = std::io::Error::other("connection refused to 10.0.0.7:5432");
        let response = ApiError::internal("load order", source).into_response(&ctx());
        let text = std::str::from_utf8(response.body().as_ref())
            .unwrap()
            .to_owned();
        assert!(!text.contains("10.0.0.7"));
        assert!(!text.contains("load order"));
        assert_eq!(body_json(&response)["detail"], INTERNAL_DETAIL);
    }

    #[test]
    fn wrapping_an_api_error_keeps_its_status() {
        let inner: Result<(), ApiError> = Err(ApiError::not_found("gone"));
        let wrapped = inner.context("load order").unwrap_err();
        assert_eq!(wrapped.status(), 404);
    }

    #[test]
    fn cause_chain_includes_every_source() {
        #[derive(Debug, thiserror::Error)]
        #[error("outer")]
        struct Outer(#[source] std::io::Error);
        let error = ApiError::internal("reserve stock", Outer(std::io::Error::other("inner")));
        let ApiError::Internal { source, .. } = &error else {
            panic!("not internal")
        };
        assert_eq!(cause_chain(source.as_ref()), "outer: inner");
    }

    #[test]
    fn headers_carry_retry_after_allow_and_www_authenticate() {
        let r = ApiError::TooManyRequests {
            retry_after_secs: 7,
        }
        .into_response(&ctx());
        assert_eq!(r.headers()["retry-after"], "7");
        let r = ApiError::MethodNotAllowed {
            allowed: vec![Method::GET, Method::POST],
        }
        .into_response(&ctx());
        assert_eq!(r.headers()["allow"], "GET, POST");
        let r = ApiError::unauthorized("no token").into_response(&ctx());
        assert_eq!(r.headers()["www-authenticate"], "Bearer");
    }

    #[test]
    fn with_code_refines_the_generic_code() {
        let error = ApiError::not_found("no route").with_code("ROUTE_NOT_FOUND");
        assert_eq!(error.code(), "ROUTE_NOT_FOUND");
        assert_eq!(
            problem_type(error.code()),
            "https://errors.example.com/problems/route-not-found"
        );
    }

    #[test]
    fn problem_round_trips_through_json() {
        let problem = ApiError::invalid_field("limit", "too big").problem(&ctx());
        let text = serde_json::to_string(&problem).unwrap();
        assert_eq!(serde_json::from_str::<Problem>(&text).unwrap(), problem);
    }
}
