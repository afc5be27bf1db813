//! Access tokens (JWT, HS256, signed by a key chosen by `kid`) and opaque refresh tokens.
//!
//! The signing keys live in Secrets Manager as JSON, read once per cold start. Two shapes are accepted:
//!
//! - one key, as the template generates it: `{"kid": "k1", "alg": "HS256", "secret": "…"}`;
//! - a key set, for rotation: `{"signingKid": "k2", "keys": [{"kid": "k2", …}, {"kid": "k1", …}]}`.
//!   Tokens are signed with `signingKid` (default: the first key) and verified with whichever key their
//!   header's `kid` names. To rotate, add the new key in front, wait for every function to pick it up
//!   (a cold start), then drop the old key once the longest-lived token signed with it has expired.
//!
//! Verification accepts exactly one algorithm, HS256: a token whose header says `none`, `RS256` or
//! anything else is rejected before any key is used, which shuts the `alg: none` and HS/RS confusion
//! attacks. `exp` and `nbf` are checked with [`LEEWAY`], and `iss` and `aud` must match the configuration.

use std::{collections::HashMap, time::Duration};

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac as _};
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use shared::auth::Role;
use time::OffsetDateTime;
use uuid::Uuid;

type HmacSha256 = Hmac<Sha256>;

/// The one signature algorithm tokens use and verification accepts.
pub const ALGORITHM: &str = "HS256";
/// Clock skew tolerated on `exp` and `nbf`.
pub const LEEWAY: Duration = Duration::from_secs(30);
/// Shortest accepted HMAC key, in bytes (the hash's output size).
pub const MIN_KEY_LEN: usize = 32;
/// Longest token the verifier looks at; anything longer is not one of ours.
pub const MAX_TOKEN_LEN: usize = 4096;

/// Why the key set could not be read from the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeySetError {
    /// The secret is not one of the two documented JSON shapes.
    #[error("the signing key secret is not a key or key set: {0}")]
    Shape(String),
    /// A key is for an algorithm other than HS256.
    #[error("key {kid} has algorithm {alg}; only HS256 is supported")]
    Algorithm {
        /// The key's id.
        kid: String,
        /// The algorithm it names.
        alg: String,
    },
    /// A key is shorter than [`MIN_KEY_LEN`] bytes.
    #[error("key {0} is shorter than {MIN_KEY_LEN} bytes")]
    TooShort(String),
    /// `signingKid` names no key of the set, or the set is empty.
    #[error("no signing key {0:?} in the key set")]
    NoSigningKey(String),
    /// Two keys share a `kid`.
    #[error("key id {0} appears twice")]
    DuplicateKid(String),
}

#[derive(Deserialize)]
struct KeySpec {
    kid: String,
    alg: String,
    secret: String,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum SecretShape {
    Set {
        keys: Vec<KeySpec>,
        #[serde(rename = "signingKid", default)]
        signing_kid: Option<String>,
    },
    One(KeySpec),
}

/// The HMAC keys by `kid`, and which one signs new tokens.
#[derive(Clone)]
pub struct KeySet {
    keys: HashMap<String, Vec<u8>>,
    signing_kid: String,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut kids: Vec<_> = self.keys.keys().collect();
        kids.sort();
        f.debug_struct("KeySet")
            .field("kids", &kids)
            .field("signing_kid", &self.signing_kid)
            .finish_non_exhaustive()
    }
}

impl KeySet {
    /// Reads the secret's JSON (see the [module docs](self)).
    ///
    /// # Errors
    /// [`KeySetError`] naming what is wrong; never the key material.
    pub fn from_secret(secret: &str) -> Result<Self, KeySetError> {
        let shape: SecretShape =
            serde_json::from_str(secret).map_err(|e| KeySetError::Shape(e.to_string()))?;
        let (specs, signing_kid) = match shape {
            SecretShape::Set { keys, signing_kid } => (keys, signing_kid),
            SecretShape::One(key) => (vec![key], None),
        };
        let signing_kid = signing_kid
            .or_else(|| specs.first().map(|k| k.kid.clone()))
            .unwrap_or_default();
        let mut keys = HashMap::new();
        for spec in specs {
            if spec.alg != ALGORITHM {
                return Err(KeySetError::Algorithm {
                    kid: spec.kid,
                    alg: spec.alg,
                });
            }
            if spec.secret.len() < MIN_KEY_LEN {
                return Err(KeySetError::TooShort(spec.kid));
            }
            if keys
                .insert(spec.kid.clone(), spec.secret.into_bytes())
                .is_some()
            {
                return Err(KeySetError::DuplicateKid(spec.kid));
            }
        }
        if !keys.contains_key(&signing_kid) {
            return Err(KeySetError::NoSigningKey(signing_kid));
        }
        Ok(Self { keys, signing_kid })
    }

    /// The `kid` new tokens are signed with.
    #[must_use]
    pub fn signing_kid(&self) -> &str {
        &self.signing_kid
    }

    fn mac(&self, kid: &str) -> Option<HmacSha256> {
        self.keys
            .get(kid)
            .and_then(|key| HmacSha256::new_from_slice(key).ok())
    }
}

/// Who issues tokens and for whom, and for how long they live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenSettings {
    /// The `iss` claim.
    pub issuer: String,
    /// The `aud` claim.
    pub audience: String,
    /// Lifetime of an access token.
    pub access_ttl: Duration,
}

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: Audience,
    /// The user id.
    pub sub: String,
    /// The user's role at issue time.
    pub role: String,
    /// Unique token id.
    pub jti: String,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Not before (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    /// Expires at (Unix seconds).
    pub exp: i64,
}

/// The `aud` claim: one audience or several (RFC 7519 allows both).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// A single audience.
    One(String),
    /// Several audiences.
    Many(Vec<String>),
}

impl Audience {
    fn contains(&self, audience: &str) -> bool {
        match self {
            Self::One(a) => a == audience,
            Self::Many(all) => all.iter().any(|a| a == audience),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Header {
    alg: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    typ: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kid: Option<String>,
}

/// A verified access token's subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    /// The user id.
    pub user_id: Uuid,
    /// The role the token carries.
    pub role: Role,
}

/// Why a token was rejected. Never shown to clients in detail; logged for operators.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not three base64url parts of JSON, or too long.
    #[error("malformed token")]
    Malformed,
    /// The header's `alg` is not HS256.
    #[error("algorithm {0:?} is not accepted")]
    Algorithm(String),
    /// The header's `kid` is missing or names no known key.
    #[error("unknown key id")]
    UnknownKey,
    /// The signature does not match.
    #[error("bad signature")]
    Signature,
    /// `exp` has passed (beyond the leeway).
    #[error("token expired")]
    Expired,
    /// `nbf` is in the future (beyond the leeway).
    #[error("token not yet valid")]
    NotYetValid,
    /// `iss` is not ours.
    #[error("wrong issuer")]
    Issuer,
    /// `aud` does not include ours.
    #[error("wrong audience")]
    Audience,
    /// `sub` or `role` is not a user id or role.
    #[error("bad subject or role")]
    Subject,
}

/// Signs and verifies access tokens.
#[derive(Debug, Clone)]
pub struct TokenService {
    keys: KeySet,
    settings: TokenSettings,
}

/// A freshly issued access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessToken {
    /// The compact JWT.
    pub token: String,
    /// Its `jti`.
    pub jti: Uuid,
    /// When it expires.
    pub expires_at: OffsetDateTime,
}

impl TokenService {
    /// A service over `keys` with `settings`.
    #[must_use]
    pub fn new(keys: KeySet, settings: TokenSettings) -> Self {
        Self { keys, settings }
    }

    /// The settings.
    #[must_use]
    pub fn settings(&self) -> &TokenSettings {
        &self.settings
    }

    /// Issues an access token for `user_id` with `role`, valid from `now` for the configured lifetime.
    ///
    /// # Errors
    /// Only if the claims cannot be serialized, which does not happen for these types.
    pub fn issue(
        &self,
        user_id: Uuid,
        role: Role,
        now: OffsetDateTime,
    ) -> Result<AccessToken, serde_json::Error> {
        let jti = Uuid::new_v4();
        let expires_at = now + self.settings.access_ttl;
        let claims = Claims {
            iss: self.settings.issuer.clone(),
            aud: Audience::One(self.settings.audience.clone()),
            sub: user_id.to_string(),
            role: role.as_str().to_owned(),
            jti: jti.to_string(),
            iat: now.unix_timestamp(),
            nbf: Some(now.unix_timestamp()),
            exp: expires_at.unix_timestamp(),
        };
        let token = self.sign(&claims)?;
        Ok(AccessToken {
            token,
            jti,
            expires_at,
        })
    }

    /// Signs arbitrary claims with the signing key (tests build hostile tokens with it too).
    ///
    /// # Errors
    /// Only if the claims cannot be serialized.
    pub fn sign<C: Serialize>(&self, claims: &C) -> Result<String, serde_json::Error> {
        let header = Header {
            alg: ALGORITHM.to_owned(),
            typ: Some("JWT".to_owned()),
            kid: Some(self.keys.signing_kid.clone()),
        };
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header)?),
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(claims)?)
        );
        let signature = self
            .keys
            .mac(&self.keys.signing_kid)
            .map(|mut mac| {
                mac.update(signing_input.as_bytes());
                mac.finalize().into_bytes().to_vec()
            })
            .unwrap_or_default();
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        ))
    }

    /// Verifies a compact JWT at time `now` (see the [module docs](self) for what is checked).
    ///
    /// # Errors
    /// The first [`TokenError`] found.
    pub fn verify(&self, token: &str, now: OffsetDateTime) -> Result<Verified, TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::Malformed);
        }
        let mut parts = token.split('.');
        let (Some(header_b64), Some(claims_b64), Some(signature_b64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let header: Header = decode_json(header_b64)?;
        if header.alg != ALGORITHM {
            return Err(TokenError::Algorithm(header.alg));
        }
        let mut mac = header
            .kid
            .as_deref()
            .and_then(|kid| self.keys.mac(kid))
            .ok_or(TokenError::UnknownKey)?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature_b64)
            .map_err(|_| TokenError::Malformed)?;
        mac.update(header_b64.as_bytes());
        mac.update(b".");
        mac.update(claims_b64.as_bytes());
        mac.verify_slice(&signature)
            .map_err(|_| TokenError::Signature)?;

        let claims: Claims = decode_json(claims_b64)?;
        let now = now.unix_timestamp();
        let leeway = i64::try_from(LEEWAY.as_secs()).unwrap_or(0);
        if claims.exp.saturating_add(leeway) <= now {
            return Err(TokenError::Expired);
        }
        if claims
            .nbf
            .is_some_and(|nbf| nbf.saturating_sub(leeway) > now)
        {
            return Err(TokenError::NotYetValid);
        }
        if claims.iss != self.settings.issuer {
            return Err(TokenError::Issuer);
        }
        if !claims.aud.contains(&self.settings.audience) {
            return Err(TokenError::Audience);
        }
        let user_id = Uuid::parse_str(&claims.sub).map_err(|_| TokenError::Subject)?;
        let role = claims.role.parse().map_err(|_| TokenError::Subject)?;
        Ok(Verified { user_id, role })
    }
}

fn decode_json<T: serde::de::DeserializeOwned>(part: &str) -> Result<T, TokenError> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| TokenError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| TokenError::Malformed)
}

/// Length of a refresh token in characters (256 random bits, base64url without padding).
pub const REFRESH_TOKEN_LEN: usize = 43;

/// A new opaque refresh token: 256 bits from the operating system's generator, base64url.
#[must_use]
pub fn new_refresh_token() -> String {
    let mut bytes = [0_u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The key successors of refresh tokens are derived with (see [`successor_token`]).
#[derive(Clone)]
pub struct SuccessorKey(Vec<u8>);

impl std::fmt::Debug for SuccessorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SuccessorKey(..)")
    }
}

impl SuccessorKey {
    /// A key of at least [`MIN_KEY_LEN`] bytes.
    ///
    /// # Errors
    /// [`KeySetError::TooShort`] for a shorter one.
    pub fn new(key: Vec<u8>) -> Result<Self, KeySetError> {
        if key.len() < MIN_KEY_LEN {
            return Err(KeySetError::TooShort("refresh rotation key".into()));
        }
        Ok(Self(key))
    }
}

/// The refresh token that replaces `token`: HMAC-SHA256 of it under `key`, base64url (as long as
/// a random one). Deriving it, rather than drawing it, lets a client that retries a refresh whose
/// answer it lost get the same successor; without the key, nobody holding a token can compute
/// what replaces it.
#[must_use]
pub fn successor_token(key: &SuccessorKey, token: &str) -> String {
    let Ok(mut mac) = HmacSha256::new_from_slice(&key.0) else {
        // HMAC takes keys of any length; this branch is never taken.
        return new_refresh_token();
    };
    mac.update(token.as_bytes());
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// The hash a refresh token is stored under (SHA-256, hex). The token itself is never stored; being
/// 256 random bits, it needs no salt or slow hash.
#[must_use]
pub fn refresh_token_hash(token: &str) -> String {
    let digest = Sha256::digest(token.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `token` could be a refresh token this service issued (right length and alphabet).
#[must_use]
pub fn looks_like_refresh_token(token: &str) -> bool {
    token.len() == REFRESH_TOKEN_LEN
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn a_successor_is_a_well_formed_token_fixed_by_the_token_and_the_key() {
        let key = SuccessorKey::new(vec![7; 32]).unwrap();
        let other = SuccessorKey::new(vec![8; 32]).unwrap();
        let token = new_refresh_token();
        let next = successor_token(&key, &token);
        assert!(looks_like_refresh_token(&next));
        assert_eq!(next, successor_token(&key, &token));
        assert_ne!(next, successor_token(&other, &token));
        assert_ne!(next, successor_token(&key, &new_refresh_token()));
        assert!(SuccessorKey::new(vec![1; 8]).is_err());
    }

    const SECRET: &str =
        r#"{"kid":"k1","alg":"HS256","secret":"0123456789abcdef0123456789abcdef0123456789abcdef"}"#;

    fn service() -> TokenService {
        TokenService::new(
            KeySet::from_secret(SECRET).unwrap(),
            TokenSettings {
                issuer: "https://storefront.test".into(),
                audience: "storefront-api".into(),
                access_ttl: Duration::from_secs(900),
            },
        )
    }

    fn forge(header: &serde_json::Value, claims: &serde_json::Value, key: &[u8]) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut mac = HmacSha256::new_from_slice(key).unwrap();
        mac.update(input.as_bytes());
        format!(
            "{input}.{}",
            URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
        )
    }

    const NOW: OffsetDateTime = datetime!(2026-11-22 10:00 UTC);

    fn claims(now: OffsetDateTime) -> serde_json::Value {
        serde_json::json!({
            "iss": "https://storefront.test", "aud": "storefront-api",
            "sub": Uuid::now_v7().to_string(), "role": "customer", "jti": "j",
            "iat": now.unix_timestamp(), "nbf": now.unix_timestamp(),
            "exp": now.unix_timestamp() + 900,
        })
    }

    #[test]
    fn an_issued_token_verifies_and_carries_subject_and_role() {
        let service = service();
        let id = Uuid::now_v7();
        let token = service.issue(id, Role::Seller, NOW).unwrap();
        assert_eq!(token.expires_at, NOW + Duration::from_secs(900));
        let verified = service.verify(&token.token, NOW).unwrap();
        assert_eq!(
            verified,
            Verified {
                user_id: id,
                role: Role::Seller
            }
        );
        let header: serde_json::Value =
            decode_json(token.token.split('.').next().unwrap()).unwrap();
        assert_eq!(
            header,
            serde_json::json!({"alg": "HS256", "typ": "JWT", "kid": "k1"})
        );
    }

    #[test]
    fn expiry_and_not_before_allow_only_the_leeway() {
        let service = service();
        let token = service.issue(Uuid::now_v7(), Role::Customer, NOW).unwrap();
        let at = |secs: i64| NOW + time::Duration::seconds(secs);
        assert!(service.verify(&token.token, at(900 + 29)).is_ok());
        assert_eq!(
            service.verify(&token.token, at(900 + 30)),
            Err(TokenError::Expired)
        );
        assert!(service.verify(&token.token, at(-29)).is_ok());
        assert_eq!(
            service.verify(&token.token, at(-31)),
            Err(TokenError::NotYetValid)
        );
    }

    #[test]
    fn alg_none_and_other_algorithms_are_rejected_before_any_key_is_used() {
        let service = service();
        let body = URL_SAFE_NO_PAD.encode(claims(NOW).to_string());
        let none = format!(
            "{}.{body}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none","kid":"k1"}"#)
        );
        assert_eq!(
            service.verify(&none, NOW),
            Err(TokenError::Algorithm("none".into()))
        );
        // HS/RS confusion: an RS256 header over an HMAC made with the (public) key material.
        let key = b"0123456789abcdef0123456789abcdef0123456789abcdef";
        let rs = forge(
            &serde_json::json!({"alg": "RS256", "kid": "k1"}),
            &claims(NOW),
            key,
        );
        assert_eq!(
            service.verify(&rs, NOW),
            Err(TokenError::Algorithm("RS256".into()))
        );
        let hs = forge(
            &serde_json::json!({"alg": "HS256", "kid": "k1"}),
            &claims(NOW),
            key,
        );
        assert!(service.verify(&hs, NOW).is_ok());
    }

    #[test]
    fn wrong_key_tampering_and_wrong_claims_are_rejected() {
        let service = service();
        let header = serde_json::json!({"alg": "HS256", "kid": "k1"});
        let wrong_key = forge(&header, &claims(NOW), &[7_u8; 48]);
        assert_eq!(service.verify(&wrong_key, NOW), Err(TokenError::Signature));
        let unknown_kid = forge(
            &serde_json::json!({"alg": "HS256", "kid": "k9"}),
            &claims(NOW),
            &[7_u8; 48],
        );
        assert_eq!(
            service.verify(&unknown_kid, NOW),
            Err(TokenError::UnknownKey)
        );

        let token = service.issue(Uuid::now_v7(), Role::Customer, NOW).unwrap();
        let mut parts: Vec<&str> = token.token.split('.').collect();
        let mut tampered = claims(NOW);
        tampered["role"] = "admin".into();
        let tampered_b64 = URL_SAFE_NO_PAD.encode(tampered.to_string());
        parts[1] = &tampered_b64;
        assert_eq!(
            service.verify(&parts.join("."), NOW),
            Err(TokenError::Signature)
        );

        let key = b"0123456789abcdef0123456789abcdef0123456789abcdef";
        let mut wrong_aud = claims(NOW);
        wrong_aud["aud"] = "another-api".into();
        assert_eq!(
            service.verify(&forge(&header, &wrong_aud, key), NOW),
            Err(TokenError::Audience)
        );
        let mut many_aud = claims(NOW);
        many_aud["aud"] = serde_json::json!(["other", "storefront-api"]);
        assert!(service.verify(&forge(&header, &many_aud, key), NOW).is_ok());
        let mut wrong_iss = claims(NOW);
        wrong_iss["iss"] = "https://evil.test".into();
        assert_eq!(
            service.verify(&forge(&header, &wrong_iss, key), NOW),
            Err(TokenError::Issuer)
        );
        let mut bad_role = claims(NOW);
        bad_role["role"] = "root".into();
        assert_eq!(
            service.verify(&forge(&header, &bad_role, key), NOW),
            Err(TokenError::Subject)
        );
        for junk in ["", "a.b", "a.b.c.d", "!!.??.**", &"a".repeat(5000)] {
            assert_eq!(service.verify(junk, NOW), Err(TokenError::Malformed));
        }
    }

    #[test]
    fn a_key_set_signs_with_the_signing_kid_and_verifies_older_keys() {
        let old = service()
            .issue(Uuid::now_v7(), Role::Customer, NOW)
            .unwrap();
        let set = r#"{"signingKid":"k2","keys":[
            {"kid":"k2","alg":"HS256","secret":"ffffffffffffffffffffffffffffffffffffffffffffffff"},
            {"kid":"k1","alg":"HS256","secret":"0123456789abcdef0123456789abcdef0123456789abcdef"}]}"#;
        let rotated = TokenService::new(
            KeySet::from_secret(set).unwrap(),
            service().settings().clone(),
        );
        assert!(rotated.verify(&old.token, NOW).is_ok());
        let new = rotated.issue(Uuid::now_v7(), Role::Customer, NOW).unwrap();
        assert!(rotated.verify(&new.token, NOW).is_ok());
        assert_eq!(
            service().verify(&new.token, NOW),
            Err(TokenError::UnknownKey)
        );
    }

    #[test]
    fn bad_key_sets_are_refused_without_echoing_the_key() {
        let short = r#"{"kid":"k1","alg":"HS256","secret":"short"}"#;
        assert_eq!(
            KeySet::from_secret(short).unwrap_err(),
            KeySetError::TooShort("k1".into())
        );
        let rs = r#"{"kid":"k1","alg":"RS256","secret":"0123456789abcdef0123456789abcdef0"}"#;
        assert!(matches!(
            KeySet::from_secret(rs),
            Err(KeySetError::Algorithm { .. })
        ));
        let missing = r#"{"signingKid":"k3","keys":[{"kid":"k1","alg":"HS256","secret":"0123456789abcdef0123456789abcdef0"}]}"#;
        assert_eq!(
            KeySet::from_secret(missing).unwrap_err(),
            KeySetError::NoSigningKey("k3".into())
        );
        assert!(matches!(
            KeySet::from_secret("not json"),
            Err(KeySetError::Shape(_))
        ));
        let debug = format!("{:?}", KeySet::from_secret(SECRET).unwrap());
        assert!(!debug.contains("0123456789abcdef"), "{debug}");
    }

    #[test]
    fn refresh_tokens_are_256_bit_base64url_and_stored_as_sha256() {
        let a = new_refresh_token();
        let b = new_refresh_token();
        assert_ne!(a, b);
        assert!(looks_like_refresh_token(&a), "{a}");
        assert_eq!(refresh_token_hash(&a).len(), 64);
        assert_ne!(refresh_token_hash(&a), refresh_token_hash(&b));
        assert!(!looks_like_refresh_token("short"));
        assert!(!looks_like_refresh_token(&"+".repeat(REFRESH_TOKEN_LEN)));
    }
}
