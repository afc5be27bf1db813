//! `POST /v1/auth/refresh`: trades a refresh token for a new access token and a new refresh token.

use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use shared::{
    ApiError, RequestContext,
    config::{ConfigError, Env},
    http,
};

use crate::{
    Issuing, StartError,
    handlers::login::{token_answer, token_pair},
    store::Rotation,
    tokens::{SuccessorKey, looks_like_refresh_token, refresh_token_hash, successor_token},
};

/// Seconds after a rotation during which the spent token still gets its successor again
/// (`REFRESH_GRACE_SECONDS`, template parameter `RefreshGraceSeconds`).
pub const DEFAULT_GRACE_SECS: i64 = 10;

/// The refresh function's state: the accounts and the signer, the key successors are derived
/// with, and the grace.
#[derive(Debug, Clone)]
pub struct Refresher {
    /// The accounts and the signer.
    pub issuing: Issuing,
    /// From the secret named by `REFRESH_KEY_ARN`.
    pub successor_key: SuccessorKey,
    /// How long a retried refresh gets the same successor.
    pub grace_secs: i64,
}

impl Refresher {
    /// [`Issuing::from_env`], the successor key from the secret named by `REFRESH_KEY_ARN`, and
    /// `REFRESH_GRACE_SECONDS` (default [`DEFAULT_GRACE_SECS`], at most 60).
    ///
    /// # Errors
    /// A missing or malformed variable, or an unreadable or short secret.
    pub async fn load(env: &Env) -> Result<Self, StartError> {
        // One SDK configuration for the accounts, the signing keys and the rotation key.
        let config = crate::aws_config().await;
        let issuing = Issuing::from_env_with(env, &config).await?;
        let key = crate::read_secret(&config, &env.required("REFRESH_KEY_ARN")?).await?;
        let successor_key =
            SuccessorKey::new(key.into_bytes()).map_err(|e| StartError::Secret(e.to_string()))?;
        let grace_secs: i64 = env.parse_or("REFRESH_GRACE_SECONDS", DEFAULT_GRACE_SECS)?;
        if !(0..=60).contains(&grace_secs) {
            return Err(ConfigError::invalid("REFRESH_GRACE_SECONDS", "expected 0 to 60").into());
        }
        Ok(Self {
            issuing,
            successor_key,
            grace_secs,
        })
    }
}

/// The request body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RefreshRequest {
    /// The refresh token from the login or the last refresh.
    pub refresh_token: String,
}

/// Answers 200 with a new token pair (and `Cache-Control: no-store`); the access token carries the
/// user's role and email verification as they are now. Each refresh token works once: presenting a spent one revokes the
/// whole session (every token of that login) and answers 401 `REFRESH_TOKEN_REUSED`, except within a
/// few seconds of its rotation while its successor is unused, when it gets the same successor
/// again (a client retrying a refresh whose answer it lost keeps its session). Unknown or expired
/// tokens get 401 `INVALID_REFRESH_TOKEN`, revoked sessions 401 `SESSION_REVOKED` (also every
/// session opened before a password change or reset).
///
/// # Errors
/// As above; 400 for a malformed body; 500 on storage failure.
#[utoipa::path(
    post,
    path = "/v1/auth/refresh",
    operation_id = "refresh",
    summary = "Exchange a refresh token for a new pair",
    tag = "accounts",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "A new token pair; the refresh token sent is spent", body = crate::handlers::views::TokenPair),
        (status = 400, response = shared::openapi::BadRequest),
        (status = 401, response = shared::openapi::Unauthorized),
        (status = 413, response = shared::openapi::PayloadTooLarge),
        (status = 415, response = shared::openapi::UnsupportedMediaType),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn handle(
    refresher: &Refresher,
    req: Request,
    ctx: &RequestContext,
) -> Result<Response<Body>, ApiError> {
    let accounts = &refresher.issuing.accounts;
    let body: RefreshRequest = http::parse_json_limited(&req, http::SMALL_BODY_LIMIT)?;
    let invalid = || {
        ApiError::unauthorized("The refresh token is not valid.").with_code("INVALID_REFRESH_TOKEN")
    };
    if !looks_like_refresh_token(&body.refresh_token) {
        return Err(invalid());
    }
    let now = shared::time::now();
    let next = successor_token(&refresher.successor_key, &body.refresh_token);
    let rotation = accounts
        .store
        .rotate_refresh_token(
            &refresh_token_hash(&body.refresh_token),
            &refresh_token_hash(&next),
            now,
            refresher.grace_secs,
        )
        .await?;
    match rotation {
        Rotation::Rotated {
            user_id,
            family_expires_at,
        }
        | Rotation::Replayed {
            user_id,
            family_expires_at,
        } => {
            if matches!(rotation, Rotation::Replayed { .. }) {
                tracing::info!(%user_id, "refresh retried within the grace: same successor");
            }
            // The role and the email's verification may have changed since the login: tokens
            // carry the current ones.
            let Some(user) = accounts.store.user(user_id).await? else {
                return Err(invalid());
            };
            let pair = token_pair(
                &refresher.issuing.tokens,
                &user,
                next,
                family_expires_at,
                now,
            )?;
            token_answer(ctx, &pair)
        }
        Rotation::Unknown => Err(invalid()),
        Rotation::Revoked => Err(
            ApiError::unauthorized("This session has ended; log in again.")
                .with_code("SESSION_REVOKED"),
        ),
        Rotation::Reused => {
            tracing::warn!("refresh token reused: session revoked");
            Err(ApiError::unauthorized(
                "This refresh token was already used; the session has been revoked. Log in again.",
            )
            .with_code("REFRESH_TOKEN_REUSED"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::samples;

    #[test]
    fn the_sample_event_carries_a_well_formed_refresh_token() {
        let body: RefreshRequest = http::parse_json(&samples::refresh()).unwrap();
        assert!(looks_like_refresh_token(&body.refresh_token));
    }
}
