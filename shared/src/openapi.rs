//! What the services' parts of the OpenAPI document share: the problem responses, API Gateway's
//! own answers and the bearer security scheme.
//!
//! Each service describes its routes with `#[utoipa::path]` on the handlers and collects them in
//! an `ApiDoc`; the platform service merges those into the one document (`openapi.json`). A route
//! lists the problems it can answer by status, each a reusable response defined here, so every
//! 4xx in the document is a [`Problem`](crate::error::Problem) in `application/problem+json`, except
//! where API Gateway answers itself (an authorizer that refuses a token).

use serde::Serialize;
use utoipa::{
    IntoParams, Modify, ToResponse, ToSchema,
    openapi::{
        OpenApi,
        security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    },
};

use crate::error::Problem;

/// Name of the security scheme of routes that need a token.
pub const BEARER: &str = "bearer";

/// The query parameters of every paginated list (see [`crate::pagination`]).
#[derive(Debug, Clone, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// How many items, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// The `nextCursor` of the previous page, as it was sent.
    pub cursor: Option<String>,
}

/// The body API Gateway sends when it answers itself, e.g. `{"message": "Unauthorized"}` when the
/// authorizer refuses the token.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct GatewayMessage {
    /// API Gateway's message.
    pub message: String,
}

/// The request is malformed (`MALFORMED_JSON`, `BAD_REQUEST`, `INVALID_CURSOR`, ...) or some fields
/// are invalid (`VALIDATION_FAILED`, listed in `errors`).
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct BadRequest(pub Problem);

/// No valid token: API Gateway's authorizer refuses a missing, malformed, forged or expired one
/// (`{"message": "Unauthorized"}`), or the function refuses the credentials (problem+json).
#[derive(ToResponse)]
pub enum Unauthorized {
    /// The function's answer.
    Problem(#[content("application/problem+json")] Problem),
    /// API Gateway's answer.
    Gateway(#[content("application/json")] GatewayMessage),
}

/// The caller's role may not do this, or the resource belongs to someone else (`FORBIDDEN`).
#[derive(ToResponse)]
pub enum Forbidden {
    /// The function's answer.
    Problem(#[content("application/problem+json")] Problem),
    /// API Gateway's answer when the authorizer denies the request.
    Gateway(#[content("application/json")] GatewayMessage),
}

/// No such resource, or one the caller may not know exists (`NOT_FOUND` and refinements).
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct NotFound(pub Problem);

/// The request clashes with the current state: a duplicate, a lost race, a limit reached.
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct Conflict(pub Problem);

/// `If-Match` names a version that is no longer current (`VERSION_MISMATCH`).
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct PreconditionFailed(pub Problem);

/// The body is larger than the route accepts (`PAYLOAD_TOO_LARGE`).
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct PayloadTooLarge(pub Problem);

/// The body is not JSON (`UNSUPPORTED_MEDIA_TYPE`).
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct UnsupportedMediaType(pub Problem);

/// Well-formed and valid, but the operation's preconditions do not hold (an unknown product, an
/// `Idempotency-Key` reused with another body, ...).
#[derive(ToResponse)]
#[response(content_type = "application/problem+json")]
pub struct Unprocessable(pub Problem);

/// Too many attempts; `Retry-After` says when to try again (`TOO_MANY_REQUESTS`).
#[derive(ToResponse)]
#[response(
    content_type = "application/problem+json",
    headers(("Retry-After" = u64, description = "Seconds to wait before trying again"))
)]
pub struct TooManyRequests(pub Problem);

/// Adds the bearer security scheme (the access token from `POST /v1/auth/login`).
#[derive(Debug, Clone, Copy, Default)]
pub struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "The access token from `POST /v1/auth/login` or `POST /v1/auth/refresh`.",
                    ))
                    .build(),
            ),
        );
    }
}
