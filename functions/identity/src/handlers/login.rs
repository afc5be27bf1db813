//! `POST /v1/auth/login`: exchanges email and password for an access token and a refresh token.

use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use shared::{
    ApiError, RequestContext,
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
    store::{Attempt, User},
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

/// Answers 200 with a [`TokenPair`] (and `Cache-Control: no-store`); 401 `INVALID_CREDENTIALS` for
/// a wrong email or password (same body, similar time: an unknown email still costs one password
/// hash); 429 with `Retry-After` while the email is locked after repeated failures.
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
    let Some(pair) = open_session(issuing, &user, email.as_str(), &source, now).await? else {
        tracing::info!("login raced a password change");
        return Err(invalid_credentials());
    };
    tracing::info!(user_id = %user.id, "user logged in");
    metrics::count(Business::Logins);
    token_answer(ctx, &pair)
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

/// Starts a session for `user` (as read before the password check), who logged in as `email`: a
/// new refresh-token family, the email's failed attempts forgotten, and a first access token.
/// `None` when the password changed meanwhile.
async fn open_session(
    issuing: &Issuing,
    user: &User,
    email: &str,
    source: &str,
    now: OffsetDateTime,
) -> Result<Option<TokenPair>, ApiError> {
    let accounts = &issuing.accounts;
    let refresh_token = tokens::new_refresh_token();
    let session_ends = session_end(accounts, now);
    let started = accounts
        .store
        .start_session(
            user,
            email,
            source,
            &tokens::refresh_token_hash(&refresh_token),
            session_ends,
        )
        .await?;
    if started.is_none() {
        return Ok(None);
    }
    token_pair(&issuing.tokens, user, refresh_token, session_ends, now).map(Some)
}

/// When a new session started at `now` ends: in whole seconds, the instant a refresh answers too.
pub(crate) fn session_end(accounts: &Accounts, now: OffsetDateTime) -> OffsetDateTime {
    let ends = now + accounts.session_ttl;
    ends.replace_nanosecond(0).unwrap_or(ends)
}

/// The answer carrying a new access token for `user` (with their current role and email
/// verification) and `refresh_token`.
pub(crate) fn token_pair(
    tokens: &TokenIssuer,
    user: &User,
    refresh_token: String,
    session_ends: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<TokenPair, ApiError> {
    let (user_id, role) = (user.id, user.role);
    let access = tokens
        .issue(user_id, role, user.email_verified, now)
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

/// 200 with `pair`, and `Cache-Control: no-store` and `Pragma: no-cache` (RFC 6749, 5.1): no
/// cache, shared or private, may keep an answer that carries tokens.
pub(crate) fn token_answer(
    ctx: &RequestContext,
    pair: &TokenPair,
) -> Result<Response<Body>, ApiError> {
    let mut response = http::ok(ctx, pair)?;
    let headers = response.headers_mut();
    headers.insert(
        lambda_http::http::header::CACHE_CONTROL,
        lambda_http::http::HeaderValue::from_static("no-store"),
    );
    headers.insert(
        lambda_http::http::header::PRAGMA,
        lambda_http::http::HeaderValue::from_static("no-cache"),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::samples;
    use shared::auth::Role;

    #[test]
    fn token_answers_are_never_cached() {
        let keys = crate::tokens::SigningKeys::generate("k1").unwrap();
        let issuer = TokenIssuer::new(
            &keys,
            crate::tokens::TokenSettings {
                issuer: "https://storefront.test".into(),
                audience: "storefront-api".into(),
                access_ttl: std::time::Duration::from_secs(900),
            },
        )
        .unwrap();
        let now = shared::time::now();
        let user = User {
            id: Uuid::now_v7(),
            email: "ada@example.com".into(),
            password_hash: String::new(),
            role: Role::Customer,
            name: None,
            phone: None,
            marketing_opt_in: false,
            sms_opt_in: false,
            address_count: 0,
            default_address_id: None,
            created_at: String::new(),
            updated_at: String::new(),
            provisioned: false,
            revision: 1,
            email_verified: true,
            session_epoch: 3,
        };
        let pair = token_pair(&issuer, &user, tokens::new_refresh_token(), now, now).unwrap();
        let response = token_answer(&RequestContext::new("r", "c"), &pair).unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["cache-control"], "no-store");
        assert_eq!(response.headers()["pragma"], "no-cache");
    }

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
