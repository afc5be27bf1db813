//! `POST /v1/auth/verify-email`: confirms an email with the token of the registration email.
//!
//! The token works once, for 24 hours ([`crate::store::accounts`]). The profile shows the email
//! as verified at once; access tokens say so from the next login or refresh. A forged, expired or
//! spent token gets one answer, 400 `INVALID_TOKEN`.

use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use shared::{ApiError, RequestContext, http};

use crate::{
    handlers::confirm_password_reset::invalid_token,
    store::Store,
    tokens::{looks_like_refresh_token, refresh_token_hash},
};

/// The request body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VerifyEmailRequest {
    /// The token from the verification link.
    pub token: String,
}

/// Answers 204: the email is verified.
///
/// # Errors
/// 400 `INVALID_TOKEN` for a token that is forged, expired or already used; 500 on storage
/// failure.
#[utoipa::path(
    post,
    path = "/v1/auth/verify-email",
    operation_id = "verifyEmail",
    summary = "Verify the email with the link's token",
    tag = "accounts",
    request_body = VerifyEmailRequest,
    responses(
        (status = 204, description = "The email is verified; tokens say so from the next login or refresh"),
        (status = 400, response = shared::openapi::BadRequest),
        (status = 413, response = shared::openapi::PayloadTooLarge),
        (status = 415, response = shared::openapi::UnsupportedMediaType),
        (status = 429, description = "API Gateway's throttle on the auth routes", body = shared::openapi::GatewayMessage),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn handle(
    store: &Store,
    req: Request,
    ctx: &RequestContext,
) -> Result<Response<Body>, ApiError> {
    let body: VerifyEmailRequest = http::parse_json_limited(&req, http::SMALL_BODY_LIMIT)?;
    if !looks_like_refresh_token(&body.token) {
        return Err(invalid_token());
    }
    let now = shared::time::now();
    if !store
        .verify_email(&refresh_token_hash(&body.token), now)
        .await?
    {
        return Err(invalid_token());
    }
    Ok(http::no_content(ctx))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::samples;

    #[test]
    fn the_sample_event_carries_a_well_formed_token() {
        let body: VerifyEmailRequest = http::parse_json(&samples::verify_email()).unwrap();
        assert!(looks_like_refresh_token(&body.token));
    }
}
