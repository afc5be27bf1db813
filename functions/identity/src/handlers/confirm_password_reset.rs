//! `POST /v1/auth/password-reset/confirm`: sets a new password with the token of a reset email.
//!
//! The token works once, for 30 minutes, and only while the password is the one it was issued
//! under. Setting the password ends every session of the account and marks its email verified
//! (the link proved the address); the owner is told by email (`PasswordChanged`). The answer
//! carries no tokens: the user signs in again with the new password. A forged, expired, spent or
//! superseded token gets one answer, 400 `INVALID_TOKEN`, so nothing tells them apart.

use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use shared::{
    ApiError, RequestContext,
    config::Env,
    error::{Context as _, FieldError},
    http,
};

use crate::{
    Accounts, StartError,
    domain::Password,
    initial_password::InitialPassword,
    tokens::{looks_like_refresh_token, refresh_token_hash},
};

/// The confirm-password-reset function's state.
#[derive(Debug, Clone)]
pub struct Resetter {
    /// The accounts.
    pub accounts: Accounts,
    /// The first admin's initial password, retired when that admin resets theirs.
    pub initial_password: Option<InitialPassword>,
}

impl Resetter {
    /// [`Accounts::from_env`] and the secret named by `ADMIN_PASSWORD_SECRET_ARN`, if set.
    ///
    /// # Errors
    /// As [`Accounts::from_env`].
    pub async fn from_env(env: &Env) -> Result<Self, StartError> {
        let config = crate::aws_config().await;
        Ok(Self {
            accounts: Accounts::from_env_with(env, &config)?,
            initial_password: InitialPassword::from_env(env, &config),
        })
    }
}

/// The request body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ConfirmPasswordResetRequest {
    /// The token from the reset link.
    pub token: String,
    /// The new password (the policy of registration).
    #[schema(min_length = 10, max_length = 128)]
    pub new_password: String,
}

/// The one answer to every token that does not work.
pub(crate) fn invalid_token() -> ApiError {
    ApiError::bad_request(
        "INVALID_TOKEN",
        "This link is not valid or has expired. Ask for a new one.",
    )
}

/// Answers 204: the password is set and every session has ended.
///
/// # Errors
/// 400 `INVALID_TOKEN` for a token that is forged, expired, already used or superseded by a
/// later password change; 400 with the field for a new password that breaks the policy; 500 on
/// storage failure.
#[utoipa::path(
    post,
    path = "/v1/auth/password-reset/confirm",
    operation_id = "confirmPasswordReset",
    summary = "Set a new password with a reset link's token",
    tag = "accounts",
    request_body = ConfirmPasswordResetRequest,
    responses(
        (status = 204, description = "The password is set; every session has ended: sign in again"),
        (status = 400, response = shared::openapi::BadRequest),
        (status = 413, response = shared::openapi::PayloadTooLarge),
        (status = 415, response = shared::openapi::UnsupportedMediaType),
        (status = 429, description = "API Gateway's throttle on the auth routes", body = shared::openapi::GatewayMessage),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn handle(
    resetter: &Resetter,
    req: Request,
    ctx: &RequestContext,
) -> Result<Response<Body>, ApiError> {
    let accounts = &resetter.accounts;
    let body: ConfirmPasswordResetRequest = http::parse_json_limited(&req, http::SMALL_BODY_LIMIT)?;
    let password = Password::parse(&body.new_password)
        .map_err(|e| ApiError::validation(vec![FieldError::new("newPassword", e.message)]))?;
    if !looks_like_refresh_token(&body.token) {
        return Err(invalid_token());
    }
    let now = shared::time::now();
    let hash = refresh_token_hash(&body.token);
    let Some(pending) = accounts.store.pending_reset(&hash, now).await? else {
        return Err(invalid_token());
    };
    let hasher = accounts.hasher.clone();
    let new_hash = tokio::task::spawn_blocking(move || hasher.hash(password.expose()))
        .await
        .context("join the password hashing task")?
        .context("hash a password")?;
    let Some(user) = accounts
        .store
        .complete_reset(&pending, &new_hash, now, &ctx.correlation_id)
        .await?
    else {
        return Err(invalid_token());
    };
    if user.provisioned
        && let Some(initial) = &resetter.initial_password
    {
        initial.retire().await;
    }
    Ok(http::no_content(ctx))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::samples;

    #[test]
    fn the_sample_event_carries_a_well_formed_token_and_a_valid_password() {
        let body: ConfirmPasswordResetRequest =
            http::parse_json(&samples::confirm_password_reset()).unwrap();
        assert!(looks_like_refresh_token(&body.token));
        assert!(Password::parse(&body.new_password).is_ok());
    }

    #[test]
    fn every_unusable_token_has_one_answer() {
        let problem = invalid_token();
        assert_eq!(problem.status(), 400);
        assert_eq!(problem.code(), "INVALID_TOKEN");
    }
}
