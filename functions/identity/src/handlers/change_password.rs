//! `POST /v1/users/me/password`: the signed-in user changes their password, giving the current
//! one. Every other session ends; the caller gets a new pair at once.
//!
//! The current password is checked through the login throttle of the user's email
//! ([`crate::lockout`]): a stolen access token gives no more guesses at the password than the login
//! form does. A wrong one is 403 `INVALID_PASSWORD`, not 401: the caller's token is fine, and
//! clients take a 401 as a reason to refresh it.

use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use shared::{
    ApiError, RequestContext,
    auth::Caller,
    config::Env,
    error::{Context as _, FieldError},
    http,
};

use crate::{
    Issuing, StartError,
    domain::{Checks, PASSWORD_MAX_CHARS, Password},
    handlers::login::{session_end, token_answer, token_pair},
    initial_password::InitialPassword,
    lockout,
    store::Attempt,
    tokens,
};

/// The change-password function's state.
#[derive(Debug, Clone)]
pub struct PasswordChanger {
    /// The accounts and the signer.
    pub issuing: Issuing,
    /// The first admin's initial password, retired when that admin changes theirs.
    pub initial_password: Option<InitialPassword>,
}

impl PasswordChanger {
    /// [`Issuing::from_env`] and the secret named by `ADMIN_PASSWORD_SECRET_ARN`, if set.
    ///
    /// # Errors
    /// As [`Issuing::from_env`].
    pub async fn from_env(env: &Env) -> Result<Self, StartError> {
        let config = crate::aws_config().await;
        Ok(Self {
            issuing: Issuing::from_env_with(env, &config).await?,
            initial_password: InitialPassword::from_env(env, &config),
        })
    }
}

/// The request body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ChangePasswordRequest {
    /// The password now.
    pub current_password: String,
    /// The new password: the policy of registration, and not the current one.
    #[schema(min_length = 10, max_length = 128)]
    pub new_password: String,
}

fn wrong_password() -> ApiError {
    ApiError::forbidden("The current password is incorrect.").with_code("INVALID_PASSWORD")
}

/// Answers 200 with a new token pair (as login does, with `Cache-Control: no-store`): the password
/// is changed, every session of the account (this one too) has ended, and the pair starts a new
/// one. Access tokens issued before stay valid until they expire (minutes). The account's owner is
/// told by email (`PasswordChanged`).
///
/// # Errors
/// 400 for a new password that breaks the policy or equals the current one; 403
/// `INVALID_PASSWORD` for a wrong current password; 429 with `Retry-After` while the email is
/// locked after repeated failures (shared with login); 409 `CONFLICT` when the password changed
/// meanwhile; 500 on storage failure.
#[utoipa::path(
    post,
    path = "/v1/users/me/password",
    operation_id = "changePassword",
    summary = "Change the password; other sessions end",
    tag = "accounts",
    security(("bearer" = [])),
    request_body = ChangePasswordRequest,
    responses(
        (status = 200, description = "The password is changed; a new pair for this client", body = crate::handlers::views::TokenPair),
        (status = 400, response = shared::openapi::BadRequest),
        (status = 401, response = shared::openapi::Unauthorized),
        (status = 403, response = shared::openapi::Forbidden),
        (status = 409, response = shared::openapi::Conflict),
        (status = 413, response = shared::openapi::PayloadTooLarge),
        (status = 415, response = shared::openapi::UnsupportedMediaType),
        (status = 429, response = shared::openapi::TooManyRequests),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn handle(
    changer: &PasswordChanger,
    req: Request,
    ctx: &RequestContext,
) -> Result<Response<Body>, ApiError> {
    let accounts = &changer.issuing.accounts;
    let caller = Caller::from_request(&req)?;
    let body: ChangePasswordRequest = http::parse_json_limited(&req, http::SMALL_BODY_LIMIT)?;
    let mut checks = Checks::default();
    let new_password = checks.check(
        Password::parse(&body.new_password).map_err(|e| FieldError::new("newPassword", e.message)),
    );
    if body.new_password == body.current_password {
        checks.fail("newPassword", "must differ from the current password");
    }
    checks.finish()?;
    let Some(new_password) = new_password else {
        return Err(ApiError::invalid_field("newPassword", "is required"));
    };
    let Some(user) = accounts.store.user(caller.user_id).await? else {
        return Err(ApiError::unauthorized(
            "This route requires a valid access token.",
        ));
    };
    let now = shared::time::now();
    let source = lockout::source_key(http::source_ip(&req));
    match accounts
        .store
        .begin_login_attempt(&user.email, &source, &accounts.lockout, now)
        .await?
    {
        Attempt::Locked { retry_after_secs } => {
            tracing::warn!(
                retry_after_secs,
                "password change refused: too many failures"
            );
            return Err(ApiError::TooManyRequests { retry_after_secs });
        }
        Attempt::Allowed { delay } if !delay.is_zero() => tokio::time::sleep(delay).await,
        Attempt::Allowed { .. } => {}
    }
    let hasher = accounts.hasher.clone();
    let stored_hash = user.password_hash.clone();
    let current = body.current_password;
    // The new hash is made only once the current password is known to be right.
    let hashed = tokio::task::spawn_blocking(move || {
        if current.chars().count() > PASSWORD_MAX_CHARS || !hasher.verify(&current, &stored_hash) {
            return Ok(None);
        }
        hasher.hash(new_password.expose()).map(Some)
    })
    .await
    .context("join the password hashing task")?
    .context("hash a password")?;
    let Some(new_hash) = hashed else {
        tracing::info!(user_id = %user.id, "password change refused: wrong current password");
        accounts
            .store
            .login_failed(&user.email, &source, &accounts.lockout, now)
            .await?;
        return Err(wrong_password());
    };
    let refresh_token = tokens::new_refresh_token();
    let session_ends = session_end(accounts, now);
    let Some(changed) = accounts
        .store
        .change_password(
            &user,
            &new_hash,
            &tokens::refresh_token_hash(&refresh_token),
            session_ends,
            &source,
            now,
            &ctx.correlation_id,
        )
        .await?
    else {
        return Err(ApiError::conflict(
            "CONFLICT",
            "The password was changed meanwhile; sign in again.",
        ));
    };
    if changed.provisioned
        && let Some(initial) = &changer.initial_password
    {
        initial.retire().await;
    }
    let pair = token_pair(
        &changer.issuing.tokens,
        &changed,
        refresh_token,
        session_ends,
        now,
    )?;
    token_answer(ctx, &pair)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::samples;

    #[test]
    fn the_sample_event_changes_to_a_valid_new_password() {
        let body: ChangePasswordRequest = http::parse_json(&samples::change_password()).unwrap();
        assert!(Password::parse(&body.new_password).is_ok());
        assert_ne!(body.new_password, body.current_password);
        let caller = Caller::from_request(&samples::change_password()).unwrap();
        assert!(!caller.email_verified);
    }

    #[test]
    fn a_wrong_current_password_is_forbidden_not_unauthorized() {
        let problem = wrong_password();
        assert_eq!(problem.status(), 403);
        assert_eq!(problem.code(), "INVALID_PASSWORD");
    }
}
