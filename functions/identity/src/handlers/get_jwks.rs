//! `GET /.well-known/jwks.json`: the public keys that verify access tokens (a JSON Web Key Set).
//! Public and cacheable; anyone may check a token, nobody can make one with these.

use lambda_http::{Body, Request, Response};
use shared::{ApiError, RequestContext, http::FixedJson};

/// The key set, read once per cold start.
#[derive(Debug, Clone)]
pub struct KeySet(FixedJson);

impl KeySet {
    /// The key set `jwks` (a JWKS document, as the public keys secret holds it).
    ///
    /// # Errors
    /// When it is not a set of Ed25519 public keys.
    pub fn new(jwks: &str) -> Result<Self, crate::tokens::KeySetError> {
        crate::tokens::PublicKeys::from_jwks(jwks)?;
        let value: serde_json::Value = serde_json::from_str(jwks)
            .map_err(|e| crate::tokens::KeySetError::Shape(e.to_string()))?;
        Ok(Self(FixedJson::new(value.to_string())))
    }
}

/// Seconds caches may keep the key set: a new key is published before anything signs with it.
const MAX_AGE_SECS: u32 = 300;

/// Answers 200 with the key set, its `ETag` and `Cache-Control: public`; 304 when `If-None-Match`
/// names it.
///
/// # Errors
/// None in practice; the signature is the one every handler has.
#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    operation_id = "getJwks",
    summary = "The public keys that verify access tokens",
    tag = "accounts",
    params(("If-None-Match" = Option<String>, Header, description = "An `ETag` from an earlier answer")),
    responses(
        (status = 200, description = "A JSON Web Key Set of Ed25519 keys (`kty` OKP, `alg` EdDSA), by `kid`", content_type = "application/json", body = Object, headers(
            ("ETag" = String, description = "Strong entity tag of the answer"),
            ("Cache-Control" = String, description = "`public, max-age=300`"),
        )),
        (status = 304, description = "The key set is as `If-None-Match` names it"),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn handle(
    keys: &KeySet,
    req: Request,
    ctx: &RequestContext,
) -> Result<Response<Body>, ApiError> {
    keys.0.answer(ctx, &req, MAX_AGE_SECS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{handlers::samples, tokens::SigningKeys};
    use lambda_http::http::StatusCode;
    use shared::http::run_http;

    #[tokio::test]
    async fn serves_the_public_keys_only() {
        let keys = SigningKeys::generate("k1").unwrap();
        let set = KeySet::new(&keys.jwks().unwrap().to_string()).unwrap();
        let response = run_http(&set, samples::get_jwks(), handle).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let Body::Text(text) = response.body() else {
            panic!("a text body")
        };
        let jwks: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(jwks["keys"][0]["kid"], "k1");
        assert_eq!(jwks["keys"][0]["crv"], "Ed25519");
        assert!(jwks["keys"][0].get("d").is_none(), "no private part");
        assert!(!text.contains("privateKey"));
        assert!(KeySet::new(&keys.to_secret()).is_err());
    }
}
