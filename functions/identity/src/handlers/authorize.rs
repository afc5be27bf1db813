//! The HTTP API's Lambda authorizer (REQUEST type, payload 2.0, simple responses).
//!
//! It reads `Authorization: Bearer <jwt>`, verifies the token ([`crate::tokens`]) and answers
//! `{"isAuthorized": true, "context": {"userId": …, "role": …, "emailVerified": …}}` (the last a
//! JSON boolean from the token's `email_verified` claim, false when it has none), which API Gateway caches per
//! `Authorization` value for the TTL in the template and hands to the route's function
//! ([`shared::auth::Caller`] reads it there). Anything else answers `{"isAuthorized": false}`, which
//! API Gateway turns into its own 403; a request without the header never reaches the authorizer
//! (API Gateway answers 401).
//!
//! It holds public keys only (the JWKS secret), read at cold start and again when a token names a
//! `kid` they lack (a rotation since), at most once per [`RELOAD_INTERVAL`].

use std::{
    sync::{Mutex, RwLock},
    time::{Duration, Instant},
};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use shared::{
    auth::{CONTEXT_EMAIL_VERIFIED, CONTEXT_ROLE, CONTEXT_USER_ID},
    config::Env,
};
use time::OffsetDateTime;

use crate::{StartError, tokens::TokenVerifier};

/// The shortest time between two reloads of the public keys.
pub const RELOAD_INTERVAL: Duration = Duration::from_secs(60);

/// Where the public keys are reloaded from.
#[derive(Debug)]
struct Source {
    config: aws_config::SdkConfig,
    env: Env,
    last: Mutex<Option<Instant>>,
}

/// The authorizer function's state.
#[derive(Debug)]
pub struct Authorizer {
    verifier: RwLock<TokenVerifier>,
    source: Option<Source>,
}

impl Authorizer {
    /// An authorizer over fixed keys (tests).
    #[must_use]
    pub fn new(verifier: TokenVerifier) -> Self {
        Self {
            verifier: RwLock::new(verifier),
            source: None,
        }
    }

    /// Reads the settings and the public keys (`JWKS_SECRET_ARN`), see
    /// [`crate::token_verifier_from_env`].
    ///
    /// # Errors
    /// As that.
    pub async fn from_env(env: Env) -> Result<Self, StartError> {
        let config = crate::aws_config().await;
        let verifier = crate::token_verifier_from_env(&env, &config).await?;
        Ok(Self {
            verifier: RwLock::new(verifier),
            source: Some(Source {
                config,
                env,
                last: Mutex::new(None),
            }),
        })
    }

    /// Decides on one event at time `now`, reloading the public keys first when the token names a
    /// key they lack. Never fails.
    pub async fn decide(&self, event: &Value, now: OffsetDateTime) -> AuthorizerResponse {
        let kid = token_of(event).and_then(|token| TokenVerifier::kid_of(&token));
        if let Some(kid) = kid
            && !self.knows(&kid)
        {
            self.reload().await;
        }
        match self.verifier.read() {
            Ok(verifier) => authorize(&verifier, event, now),
            Err(_) => AuthorizerResponse::deny(),
        }
    }

    fn knows(&self, kid: &str) -> bool {
        self.verifier
            .read()
            .map(|verifier| verifier.keys().knows(kid))
            .unwrap_or(false)
    }

    async fn reload(&self) {
        let Some(source) = &self.source else {
            return;
        };
        {
            let Ok(mut last) = source.last.lock() else {
                return;
            };
            if last.is_some_and(|at| at.elapsed() < RELOAD_INTERVAL) {
                return;
            }
            *last = Some(Instant::now());
        }
        match crate::public_keys_from_env(&source.env, &source.config).await {
            Ok(keys) => {
                tracing::info!(keys = keys.len(), "public keys reloaded");
                if let Ok(mut verifier) = self.verifier.write() {
                    *verifier = verifier.with_keys(keys);
                }
            }
            Err(error) => tracing::warn!(%error, "public keys not reloaded"),
        }
    }
}

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

/// The bearer token of an authorizer event, if it carries one.
fn token_of(event: &Value) -> Option<String> {
    let request = AuthorizerRequest::deserialize(event).unwrap_or_default();
    let header = request
        .identity_source
        .and_then(|values| values.into_iter().next())
        .or_else(|| {
            request
                .headers
                .and_then(|h| h.get("authorization").cloned())
        });
    header.as_deref().and_then(bearer_token).map(str::to_owned)
}

/// Decides on one event at time `now` with the keys `tokens` holds. Never fails.
#[must_use]
pub fn authorize(tokens: &TokenVerifier, event: &Value, now: OffsetDateTime) -> AuthorizerResponse {
    let Some(token) = token_of(event) else {
        tracing::info!("denied: no bearer token");
        return AuthorizerResponse::deny();
    };
    match tokens.verify(&token, now) {
        Ok(verified) => AuthorizerResponse {
            is_authorized: true,
            context: Some(serde_json::json!({
                CONTEXT_USER_ID: verified.user_id.to_string(),
                CONTEXT_ROLE: verified.role.as_str(),
                CONTEXT_EMAIL_VERIFIED: verified.email_verified,
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
    use crate::tokens::{PublicKeys, SigningKeys, TokenIssuer, TokenSettings};
    use shared::auth::Role;
    use std::time::Duration;
    use uuid::Uuid;

    fn settings() -> TokenSettings {
        TokenSettings {
            issuer: "iss".into(),
            audience: "aud".into(),
            access_ttl: Duration::from_secs(900),
        }
    }

    fn keys() -> (TokenIssuer, TokenVerifier) {
        let keys = SigningKeys::generate("k1").unwrap();
        let public = PublicKeys::from_jwks(&keys.jwks().unwrap().to_string()).unwrap();
        (
            TokenIssuer::new(&keys, settings()).unwrap(),
            TokenVerifier::new(public, settings()),
        )
    }

    #[test]
    fn a_valid_bearer_token_is_authorized_with_user_and_role() {
        let (issuer, tokens) = keys();
        let now = shared::time::now();
        let id = Uuid::now_v7();
        let token = issuer.issue(id, Role::Admin, true, now).unwrap().token;
        let mut event: Value =
            serde_json::from_str(include_str!("../../../../events/authorizer.json")).unwrap();
        event["identitySource"] = serde_json::json!([format!("Bearer {token}")]);
        let answer = authorize(&tokens, &event, now);
        assert!(answer.is_authorized);
        assert_eq!(
            answer.context,
            Some(
                serde_json::json!({"userId": id.to_string(), "role": "admin", "emailVerified": true})
            )
        );
    }

    #[test]
    fn anything_else_is_denied_without_error() {
        let (_, tokens) = keys();
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

    #[tokio::test]
    async fn without_a_source_an_unknown_kid_is_simply_denied() {
        let (_, tokens) = keys();
        let authorizer = Authorizer::new(tokens);
        let (stranger, _) = keys();
        let token = stranger
            .issue(Uuid::now_v7(), Role::Admin, false, shared::time::now())
            .unwrap()
            .token;
        let event = serde_json::json!({"identitySource": [format!("Bearer {token}")]});
        let answer = authorizer.decide(&event, shared::time::now()).await;
        assert_eq!(answer, AuthorizerResponse::deny());
    }

    #[test]
    fn the_scheme_is_case_insensitive() {
        assert_eq!(bearer_token("bearer abc"), Some("abc"));
        assert_eq!(bearer_token("Bearer  abc "), Some("abc"));
        assert_eq!(bearer_token("Bearer"), None);
        assert_eq!(bearer_token("Token abc"), None);
    }
}
