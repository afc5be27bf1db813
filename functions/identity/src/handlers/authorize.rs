//! The HTTP API's Lambda authorizer (REQUEST type, payload 2.0, simple responses).
//!
//! It reads `Authorization: Bearer <jwt>`, verifies the token ([`crate::tokens`]) and answers
//! `{"isAuthorized": true, "context": {"userId": …, "role": …}}`, which API Gateway caches per
//! `Authorization` value for the TTL in the template and hands to the route's function
//! ([`shared::auth::Caller`] reads it there). Anything else answers `{"isAuthorized": false}`, which
//! API Gateway turns into its own 403; a request without the header never reaches the authorizer
//! (API Gateway answers 401).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use shared::auth::{CONTEXT_ROLE, CONTEXT_USER_ID};
use time::OffsetDateTime;

use crate::tokens::TokenService;

/// The parts of the authorizer event this function reads. Everything is optional: a malformed event
/// is a denial, never an error.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizerRequest {
    /// The identity source values (the `Authorization` header).
    #[serde(default)]
    pub identity_source: Option<Vec<String>>,
    /// Request headers, lowercased names.
    #[serde(default)]
    pub headers: Option<std::collections::HashMap<String, String>>,
}

/// A simple authorizer response.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizerResponse {
    /// Whether the request may go on.
    pub is_authorized: bool,
    /// What the route's function receives in `requestContext.authorizer.lambda`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub context: Option<Value>,
}

impl AuthorizerResponse {
    fn deny() -> Self {
        Self {
            is_authorized: false,
            context: None,
        }
    }
}

/// Decides on one event at time `now`. Never fails.
#[must_use]
pub fn authorize(tokens: &TokenService, event: &Value, now: OffsetDateTime) -> AuthorizerResponse {
    let request = AuthorizerRequest::deserialize(event).unwrap_or_default();
    let header = request
        .identity_source
        .and_then(|values| values.into_iter().next())
        .or_else(|| {
            request
                .headers
                .and_then(|h| h.get("authorization").cloned())
        });
    let Some(token) = header.as_deref().and_then(bearer_token) else {
        tracing::info!("denied: no bearer token");
        return AuthorizerResponse::deny();
    };
    match tokens.verify(token, now) {
        Ok(verified) => AuthorizerResponse {
            is_authorized: true,
            context: Some(serde_json::json!({
                CONTEXT_USER_ID: verified.user_id.to_string(),
                CONTEXT_ROLE: verified.role.as_str(),
            })),
        },
        Err(reason) => {
            tracing::info!(%reason, "denied");
            AuthorizerResponse::deny()
        }
    }
}

/// The token of an `Authorization: Bearer <token>` value (scheme case-insensitive).
#[must_use]
pub fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokens::{KeySet, TokenSettings};
    use shared::auth::Role;
    use std::time::Duration;
    use uuid::Uuid;

    fn tokens() -> TokenService {
        TokenService::new(
            KeySet::from_secret(
                r#"{"kid":"k1","alg":"HS256","secret":"0123456789abcdef0123456789abcdef"}"#,
            )
            .unwrap(),
            TokenSettings {
                issuer: "iss".into(),
                audience: "aud".into(),
                access_ttl: Duration::from_secs(900),
            },
        )
    }

    #[test]
    fn a_valid_bearer_token_is_authorized_with_user_and_role() {
        let tokens = tokens();
        let now = shared::time::now();
        let id = Uuid::now_v7();
        let token = tokens.issue(id, Role::Admin, now).unwrap().token;
        let mut event: Value =
            serde_json::from_str(include_str!("../../../../events/authorizer.json")).unwrap();
        event["identitySource"] = serde_json::json!([format!("Bearer {token}")]);
        let answer = authorize(&tokens, &event, now);
        assert!(answer.is_authorized);
        assert_eq!(
            answer.context,
            Some(serde_json::json!({"userId": id.to_string(), "role": "admin"}))
        );
    }

    #[test]
    fn anything_else_is_denied_without_error() {
        let tokens = tokens();
        let now = shared::time::now();
        for event in [
            serde_json::json!({}),
            serde_json::json!({"identitySource": ["Basic dXNlcjpwYXNz"]}),
            serde_json::json!({"identitySource": ["Bearer not.a.token"]}),
            serde_json::json!({"identitySource": 42}),
            serde_json::json!("junk"),
        ] {
            assert_eq!(authorize(&tokens, &event, now), AuthorizerResponse::deny());
        }
        assert_eq!(
            serde_json::to_value(AuthorizerResponse::deny()).unwrap(),
            serde_json::json!({"isAuthorized": false})
        );
    }

    #[test]
    fn the_scheme_is_case_insensitive() {
        assert_eq!(bearer_token("bearer abc"), Some("abc"));
        assert_eq!(bearer_token("Bearer  abc "), Some("abc"));
        assert_eq!(bearer_token("Bearer"), None);
        assert_eq!(bearer_token("Token abc"), None);
    }
}
