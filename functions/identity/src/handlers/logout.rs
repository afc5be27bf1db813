//! `POST /v1/auth/logout`: ends the session a refresh token belongs to.

use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use shared::{ApiError, RequestContext, http};

use crate::{
    Accounts,
    tokens::{looks_like_refresh_token, refresh_token_hash},
};

/// The request body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LogoutRequest {
    /// Any refresh token of the session, spent or not.
    pub refresh_token: String,
}

/// Revokes the whole session and answers 204. Idempotent: an unknown, spent or already revoked token
/// also gets 204, so logging out twice is harmless. Access tokens already issued stay valid until they
/// expire (at most 15 minutes).
///
/// # Errors
/// 400 for a malformed body; 500 on storage failure.
#[utoipa::path(
    post,
    path = "/v1/auth/logout",
    operation_id = "logout",
    summary = "End the session of a refresh token",
    tag = "accounts",
    request_body = LogoutRequest,
    responses(
        (status = 204, description = "The session is revoked (also when it already was, or the token is unknown)"),
        (status = 400, response = shared::openapi::BadRequest),
        (status = 413, response = shared::openapi::PayloadTooLarge),
        (status = 415, response = shared::openapi::UnsupportedMediaType),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn handle(
    accounts: &Accounts,
    req: Request,
    ctx: &RequestContext,
) -> Result<Response<Body>, ApiError> {
    let body: LogoutRequest = http::parse_json_limited(&req, http::SMALL_BODY_LIMIT)?;
    if looks_like_refresh_token(&body.refresh_token) {
        let revoked = accounts
            .store
            .revoke_by_token(&refresh_token_hash(&body.refresh_token))
            .await?;
        tracing::info!(revoked, "logout");
    }
    Ok(http::no_content(ctx))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::samples;

    #[test]
    fn the_sample_event_is_a_logout() {
        let body: LogoutRequest = http::parse_json(&samples::logout()).unwrap();
        assert!(looks_like_refresh_token(&body.refresh_token));
    }
}
