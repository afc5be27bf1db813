//! `POST /v1/auth/login`: exchanges email and password for an access token and a refresh token.

use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use shared::{
    ApiError, RequestContext,
    auth::Role,
    error::Context as _,
    http,
    metrics::{self, Business},
};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{
    Accounts, Issuing,
    domain::{Email, PASSWORD_MAX_CHARS},
    handlers::views::{TokenPair, TokenUser},
    lockout,
    store::Attempt,
    tokens::{self, TokenIssuer},
};

/// The request body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// Email (normalized like at registration).
    pub email: String,
    /// Password.
    pub password: String,
}

/// The one answer to every wrong email or password, so accounts cannot be enumerated.
fn invalid_credentials() -> ApiError {
    ApiError::unauthorized("The email or password is incorrect.").with_code("INVALID_CREDENTIALS")
}

/// Answers 200 with a [`TokenPair`]; 401 `INVALID_CREDENTIALS` for a wrong email or password (same
/// body, similar time: an unknown email still costs one password hash); 429 with `Retry-After` while
/// the email is locked after repeated failures.
///
/// # Errors
/// As above; 400 for a malformed body; 500 on storage failure.
#[utoipa::path(
    post,
    path = "/v1/auth/login",
    operation_id = "login",
    summary = "Log in: an access token and a refresh token",
    tag = "accounts",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "An access token and a refresh token", body = TokenPair),
        (status = 400, response = shared::openapi::BadRequest),
        (status = 401, response = shared::openapi::Unauthorized),
        (status = 413, response = shared::openapi::PayloadTooLarge),
        (status = 415, response = shared::openapi::UnsupportedMediaType),
        (status = 429, response = shared::openapi::TooManyRequests),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn handle(
    issuing: &Issuing,
    req: Request,
    ctx: &RequestContext,
) -> Result<Response<Body>, ApiError> {
    let accounts = &issuing.accounts;
    let body: LoginRequest = http::parse_json_limited(&req, http::SMALL_BODY_LIMIT)?;
    // Neither check reveals anything about accounts: the rules are public.
    let Ok(email) = Email::parse(&body.email) else {
        return Err(invalid_credentials());
    };
    if body.password.chars().count() > PASSWORD_MAX_CHARS {
        return Err(invalid_credentials());
    }
    let now = shared::time::now();
    let source = lockout::source_key(http::source_ip(&req));
    match accounts
        .store
        .begin_login_attempt(email.as_str(), &source, &accounts.lockout, now)
        .await?
    {
        Attempt::Locked { retry_after_secs } => {
            tracing::warn!(retry_after_secs, "login refused: too many failures");
            metrics::count(Business::LoginsLocked);
            return Err(ApiError::TooManyRequests { retry_after_secs });
        }
        Attempt::Allowed { delay } if !delay.is_zero() => tokio::time::sleep(delay).await,
        Attempt::Allowed { .. } => {}
    }
    let user = accounts.store.user_by_email(email.as_str()).await?;
    let hasher = accounts.hasher.clone();
    let password = body.password;
    let stored_hash = user.as_ref().map(|u| u.password_hash.clone());
    // The password comes back for a possible rehash.
    let (matches, password) = tokio::task::spawn_blocking(move || {
        let matches = match stored_hash {
            Some(hash) => hasher.verify(&password, &hash),
            None => {
                hasher.waste_a_verification(&password);
                false
            }
        };
        (matches, password)
    })
    .await
    .context("join the password check")?;
    let Some(user) = user.filter(|_| matches) else {
        tracing::info!("login failed");
        metrics::count(Business::LoginsFailed);
        accounts
            .store
            .login_failed(email.as_str(), &source, &accounts.lockout, now)
            .await?;
        return Err(invalid_credentials());
    };
    if accounts.hasher.needs_rehash(&user.password_hash) {
        rehash(accounts, &user.password_hash, user.id, password).await;
    }
    let pair = open_session(issuing, user.id, email.as_str(), &source, user.role, now).await?;
    tracing::info!(user_id = %user.id, "user logged in");
    metrics::count(Business::Logins);
    http::ok(ctx, &pair)
}

/// Stores a hash of `password` at the current cost in place of `old`. A failure only costs the next
/// login another try, so it is logged, not returned.
async fn rehash(accounts: &Accounts, old: &str, user_id: Uuid, password: String) {
    let hasher = accounts.hasher.clone();
    let fresh = match tokio::task::spawn_blocking(move || hasher.hash(&password)).await {
        Ok(Ok(hash)) => hash,
        Ok(Err(error)) => return tracing::warn!(%error, "rehash failed"),
        Err(error) => return tracing::warn!(%error, "rehash failed"),
    };
    match accounts
        .store
        .replace_password_hash(user_id, old, &fresh)
        .await
    {
        Ok(replaced) => tracing::info!(replaced, "password rehashed at the current cost"),
        Err(error) => tracing::warn!(%error, "rehash not stored"),
    }
}

/// Starts a session for `user_id`, who logged in as `email`: a new refresh-token family, the
/// email's failed attempts forgotten, and a first access token.
async fn open_session(
    issuing: &Issuing,
    user_id: Uuid,
    email: &str,
    source: &str,
    role: Role,
    now: OffsetDateTime,
) -> Result<TokenPair, ApiError> {
    let accounts = &issuing.accounts;
    let refresh_token = tokens::new_refresh_token();
    // Stored in whole seconds: answer the same instant a refresh will.
    let session_ends = now + accounts.session_ttl;
    let session_ends = session_ends.replace_nanosecond(0).unwrap_or(session_ends);
    accounts
        .store
        .start_session(
            user_id,
            email,
            source,
            &tokens::refresh_token_hash(&refresh_token),
            session_ends,
        )
        .await?;
    token_pair(
        &issuing.tokens,
        user_id,
        role,
        refresh_token,
        session_ends,
        now,
    )
}

/// The answer carrying a new access token and `refresh_token`.
pub(crate) fn token_pair(
    tokens: &TokenIssuer,
    user_id: Uuid,
    role: Role,
    refresh_token: String,
    session_ends: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<TokenPair, ApiError> {
    let access = tokens
        .issue(user_id, role, now)
        .context("sign an access token")?;
    Ok(TokenPair {
        access_token: access.token,
        token_type: "Bearer",
        expires_in: tokens.settings().access_ttl.as_secs(),
        refresh_token,
        refresh_token_expires_at: shared::time::to_rfc3339(session_ends),
        user: TokenUser { id: user_id, role },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::samples;

    #[test]
    fn the_sample_event_is_a_login() {
        let body: LoginRequest = http::parse_json(&samples::login()).unwrap();
        assert!(Email::parse(&body.email).is_ok());
    }

    #[test]
    fn wrong_credentials_have_one_answer() {
        let problem = invalid_credentials();
        assert_eq!(problem.status(), 401);
        assert_eq!(problem.code(), "INVALID_CREDENTIALS");
    }
}
