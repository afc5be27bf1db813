//! `POST /v1/auth/password-reset`: asks for a password reset link by email.
//!
//! The answer is always the same 202, so it never tells whether the email has an account: the
//! link goes to the address, and only its owner learns anything. An existing account gets a
//! single-use reset token (30 minutes, [`crate::store::accounts`]) through
//! `PasswordResetRequested`; at most one such email goes to an address per minute, and the
//! requests in between are answered alike. The route shares login's throttle in API Gateway.

use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use shared::{
    ApiError, RequestContext,
    config::{ConfigError, Env},
    http,
};

use crate::{
    StartError,
    domain::Email,
    handlers::views::Accepted,
    store::{
        Store,
        accounts::{LinkToken, RESET_TTL, ResetRequest},
    },
};

/// The one answer.
pub const ACCEPTED: Accepted = Accepted::new(
    "If an account uses this email, a link to choose a new password is on its way to it.",
);

/// The request-password-reset function's state.
#[derive(Debug, Clone)]
pub struct ResetRequests {
    /// The identity table.
    pub store: Store,
    /// How long a reset link works.
    pub ttl: std::time::Duration,
}

impl ResetRequests {
    /// [`crate::store_from_env`] and `PASSWORD_RESET_TTL_SECONDS` (default and most: 1800).
    ///
    /// # Errors
    /// A missing or malformed variable.
    pub async fn from_env(env: &Env) -> Result<Self, StartError> {
        let store = crate::store_from_env(env, &crate::aws_config().await)?;
        let most = RESET_TTL.as_secs();
        let secs: u64 = env.parse_or("PASSWORD_RESET_TTL_SECONDS", most)?;
        if !(1..=most).contains(&secs) {
            return Err(
                ConfigError::invalid("PASSWORD_RESET_TTL_SECONDS", "expected 1 to 1800").into(),
            );
        }
        Ok(Self {
            store,
            ttl: std::time::Duration::from_secs(secs),
        })
    }
}

/// The request body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordResetRequest {
    /// The account's email (normalized like at registration).
    #[schema(format = Email, max_length = 254)]
    pub email: String,
}

/// Answers 202 with one fixed body whatever the email: an account's owner gets the reset link
/// (`{ShopUrl}/account/reset-password?token=…`) by email.
///
/// # Errors
/// 400 for a body that is not `{"email": …}` or an email that is not one (the rules are
/// public: that says nothing of accounts); 500 on storage failure.
#[utoipa::path(
    post,
    path = "/v1/auth/password-reset",
    operation_id = "requestPasswordReset",
    summary = "Email a password reset link",
    tag = "accounts",
    request_body = PasswordResetRequest,
    responses(
        (status = 202, description = "Always this answer, account or not", body = Accepted),
        (status = 400, response = shared::openapi::BadRequest),
        (status = 413, response = shared::openapi::PayloadTooLarge),
        (status = 415, response = shared::openapi::UnsupportedMediaType),
        (status = 429, description = "API Gateway's throttle on the auth routes", body = shared::openapi::GatewayMessage),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn handle(
    requests: &ResetRequests,
    req: Request,
    ctx: &RequestContext,
) -> Result<Response<Body>, ApiError> {
    let body: PasswordResetRequest = http::parse_json_limited(&req, http::SMALL_BODY_LIMIT)?;
    let email = Email::parse(&body.email).map_err(|e| ApiError::validation(vec![e]))?;
    let now = shared::time::now();
    let reset = LinkToken::new(now, requests.ttl);
    let outcome = requests
        .store
        .request_password_reset(email.as_str(), &reset, now, &ctx.correlation_id)
        .await?;
    match outcome {
        ResetRequest::Sent => tracing::info!("password reset link sent"),
        ResetRequest::Suppressed => tracing::info!("password reset link already sent recently"),
        ResetRequest::NoAccount => tracing::info!("password reset for an unknown email"),
    }
    http::accepted(ctx, &ACCEPTED)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::samples;

    #[test]
    fn the_sample_event_asks_for_a_valid_email() {
        let body: PasswordResetRequest =
            http::parse_json(&samples::request_password_reset()).unwrap();
        assert!(Email::parse(&body.email).is_ok());
    }
}
