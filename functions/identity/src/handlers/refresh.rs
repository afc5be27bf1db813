//! `POST /v1/auth/refresh`: trades a refresh token for a new access token and a new refresh token.

use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use shared::{ApiError, RequestContext, http};

use crate::{
    Accounts,
    handlers::login::token_pair,
    store::Rotation,
    tokens::{looks_like_refresh_token, new_refresh_token, refresh_token_hash},
};

/// The request body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RefreshRequest {
    /// The refresh token from the login or the last refresh.
    pub refresh_token: String,
}

/// Answers 200 with a new token pair. Each refresh token works once: presenting a spent one revokes the
/// whole session (every token of that login) and answers 401 `REFRESH_TOKEN_REUSED`. Unknown or
/// expired tokens get 401 `INVALID_REFRESH_TOKEN`, revoked sessions 401 `SESSION_REVOKED`.
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
    accounts: &Accounts,
    req: Request,
    ctx: &RequestContext,
) -> Result<Response<Body>, ApiError> {
    let body: RefreshRequest = http::parse_json_limited(&req, http::SMALL_BODY_LIMIT)?;
    let invalid = || {
        ApiError::unauthorized("The refresh token is not valid.").with_code("INVALID_REFRESH_TOKEN")
    };
    if !looks_like_refresh_token(&body.refresh_token) {
        return Err(invalid());
    }
    let now = shared::time::now();
    let next = new_refresh_token();
    let rotation = accounts
        .store
        .rotate_refresh_token(
            &refresh_token_hash(&body.refresh_token),
            &refresh_token_hash(&next),
            now,
        )
        .await?;
    match rotation {
        Rotation::Rotated {
            user_id,
            family_expires_at,
        } => {
            // The role may have changed since the login: tokens carry the current one.
            let Some(user) = accounts.store.user(user_id).await? else {
                return Err(invalid());
            };
            let pair = token_pair(accounts, user.id, user.role, next, family_expires_at, now)?;
            http::ok(ctx, &pair)
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
