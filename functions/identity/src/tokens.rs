//! Access tokens (JWT signed with Ed25519, `EdDSA`, under a key chosen by `kid`) and opaque
//! refresh tokens.
//!
//! The keys live in two Secrets Manager secrets, read once per cold start, and written by the
//! `jwt-keys` custom resource at deployment ([`crate::handlers::jwt_keys`]):
//!
//! - the **signing keys**, private, readable only by the functions that issue tokens (login and
//!   refresh): `{"signingKid": "k2", "keys": [{"kid": "k2", "alg": "EdDSA", "privateKey": "…"}, …]}`,
//!   each private key a base64url PKCS#8 document. Tokens are signed with `signingKid`.
//! - the **public keys**, a JSON Web Key Set (`{"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": …,
//!   "x": …}]}`), read by the authorizer and served at `GET /.well-known/jwks.json`. A function that
//!   can only read them can check a token but never make one.
//!
//! Rotation adds a key in front and keeps the previous ones in both sets, so tokens signed before
//! stay valid until they expire; the authorizer reloads the public keys when a token names a `kid`
//! it does not know yet.
//!
//! Verification accepts exactly one algorithm, EdDSA: a token whose header says `none`, `HS256`
//! (with the public key as an HMAC secret) or anything else is rejected before any key is used.
//! `exp` and `nbf` are checked with [`LEEWAY`], and `iss` and `aud` must match the configuration.

use std::{collections::HashMap, time::Duration};

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac as _};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Validation};
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use shared::auth::Role;
use time::OffsetDateTime;
use uuid::Uuid;

type HmacSha256 = Hmac<Sha256>;

/// The one signature algorithm tokens use and verification accepts, as headers name it.
pub const ALGORITHM: &str = "EdDSA";
/// Clock skew tolerated on `exp` and `nbf`.
pub const LEEWAY: Duration = Duration::from_secs(30);
/// Shortest accepted secret key (the refresh rotation key), in bytes.
pub const MIN_KEY_LEN: usize = 32;
/// Longest token the verifier looks at; anything longer is not one of ours.
pub const MAX_TOKEN_LEN: usize = 4096;
/// How many keys a rotation keeps, the new one included.
pub const KEPT_KEYS: usize = 3;

/// Why a key set could not be read, made or written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeySetError {
    /// The secret is not the documented JSON.
    #[error("the key secret is not a key set: {0}")]
    Shape(String),
    /// A key is for an algorithm other than EdDSA.
    #[error("key {kid} has algorithm {alg}; only EdDSA is supported")]
    Algorithm {
        /// The key's id.
        kid: String,
        /// The algorithm it names.
        alg: String,
    },
    /// A key is not an Ed25519 key (or a secret key is too short).
    #[error("key {0} is not a usable key")]
    Key(String),
    /// `signingKid` names no key of the set.
    #[error("no signing key {0:?} in the key set")]
    NoSigningKey(String),
    /// Two keys share a `kid`.
    #[error("key id {0} appears twice")]
    DuplicateKid(String),
    /// The system could not make a key.
    #[error("could not generate a key")]
    Generate,
}

#[derive(Serialize, Deserialize)]
struct PrivateKeySpec {
    kid: String,
    alg: String,
    #[serde(rename = "privateKey")]
    private_key: String,
}

#[derive(Serialize, Deserialize)]
struct PrivateSecret {
    #[serde(
        rename = "signingKid",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    signing_kid: Option<String>,
    keys: Vec<PrivateKeySpec>,
}

/// The private signing keys (Ed25519, PKCS#8), newest first, and which one signs.
#[derive(Clone)]
pub struct SigningKeys {
    signing_kid: String,
    keys: Vec<(String, Vec<u8>)>,
}

impl std::fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kids: Vec<_> = self.keys.iter().map(|(kid, _)| kid).collect();
        f.debug_struct("SigningKeys")
            .field("kids", &kids)
            .field("signing_kid", &self.signing_kid)
            .finish_non_exhaustive()
    }
}

impl SigningKeys {
    /// Reads the signing-keys secret; `None` while it holds no key yet (before the first
    /// deployment's `jwt-keys` run).
    ///
    /// # Errors
    /// [`KeySetError`] naming what is wrong; never the key material.
    pub fn from_secret(secret: &str) -> Result<Option<Self>, KeySetError> {
        let shape: PrivateSecret =
            serde_json::from_str(secret).map_err(|e| KeySetError::Shape(e.to_string()))?;
        if shape.keys.is_empty() {
            return Ok(None);
        }
        let signing_kid = shape
            .signing_kid
            .or_else(|| shape.keys.first().map(|k| k.kid.clone()))
            .unwrap_or_default();
        let mut keys: Vec<(String, Vec<u8>)> = Vec::with_capacity(shape.keys.len());
        for spec in shape.keys {
            if spec.alg != ALGORITHM {
                return Err(KeySetError::Algorithm {
                    kid: spec.kid,
                    alg: spec.alg,
                });
            }
            let pkcs8 = URL_SAFE_NO_PAD
                .decode(spec.private_key.trim())
                .map_err(|_| KeySetError::Key(spec.kid.clone()))?;
            if Ed25519KeyPair::from_pkcs8(&pkcs8).is_err() {
                return Err(KeySetError::Key(spec.kid));
            }
            if keys.iter().any(|(kid, _)| *kid == spec.kid) {
                return Err(KeySetError::DuplicateKid(spec.kid));
            }
            keys.push((spec.kid, pkcs8));
        }
        if !keys.iter().any(|(kid, _)| *kid == signing_kid) {
            return Err(KeySetError::NoSigningKey(signing_kid));
        }
        Ok(Some(Self { signing_kid, keys }))
    }

    /// A set of one new key, `kid`.
    ///
    /// # Errors
    /// [`KeySetError::Generate`] when the system cannot make a key.
    pub fn generate(kid: &str) -> Result<Self, KeySetError> {
        Ok(Self {
            signing_kid: kid.to_owned(),
            keys: vec![(kid.to_owned(), new_key()?)],
        })
    }

    /// This set with a new key `kid` in front, signing from now on, and at most `keep` keys in all
    /// (the oldest go).
    ///
    /// # Errors
    /// [`KeySetError::Generate`], or [`KeySetError::DuplicateKid`] when `kid` is taken.
    pub fn rotated(&self, kid: &str, keep: usize) -> Result<Self, KeySetError> {
        if self.keys.iter().any(|(k, _)| k == kid) {
            return Err(KeySetError::DuplicateKid(kid.to_owned()));
        }
        let mut keys = vec![(kid.to_owned(), new_key()?)];
        keys.extend(self.keys.iter().take(keep.saturating_sub(1)).cloned());
        Ok(Self {
            signing_kid: kid.to_owned(),
            keys,
        })
    }

    /// The `kid` new tokens are signed with.
    #[must_use]
    pub fn signing_kid(&self) -> &str {
        &self.signing_kid
    }

    /// Every `kid`, newest first.
    #[must_use]
    pub fn kids(&self) -> Vec<&str> {
        self.keys.iter().map(|(kid, _)| kid.as_str()).collect()
    }

    /// The set as the signing-keys secret holds it.
    #[must_use]
    pub fn to_secret(&self) -> String {
        let secret = PrivateSecret {
            signing_kid: Some(self.signing_kid.clone()),
            keys: self
                .keys
                .iter()
                .map(|(kid, pkcs8)| PrivateKeySpec {
                    kid: kid.clone(),
                    alg: ALGORITHM.to_owned(),
                    private_key: URL_SAFE_NO_PAD.encode(pkcs8),
                })
                .collect(),
        };
        serde_json::to_string(&secret).unwrap_or_default()
    }

    /// The public half of every key, as a JSON Web Key Set.
    ///
    /// # Errors
    /// [`KeySetError::Key`] for a key that is not an Ed25519 key (checked when read).
    pub fn jwks(&self) -> Result<Value, KeySetError> {
        let mut keys = Vec::with_capacity(self.keys.len());
        for (kid, pkcs8) in &self.keys {
            let pair =
                Ed25519KeyPair::from_pkcs8(pkcs8).map_err(|_| KeySetError::Key(kid.clone()))?;
            keys.push(serde_json::json!({
                "kty": "OKP",
                "crv": "Ed25519",
                "alg": ALGORITHM,
                "use": "sig",
                "kid": kid,
                "x": URL_SAFE_NO_PAD.encode(pair.public_key().as_ref()),
            }));
        }
        Ok(serde_json::json!({ "keys": keys }))
    }

    fn signing_key(&self) -> Option<&[u8]> {
        self.keys
            .iter()
            .find(|(kid, _)| *kid == self.signing_kid)
            .map(|(_, pkcs8)| pkcs8.as_slice())
    }
}

/// A new Ed25519 private key, PKCS#8.
fn new_key() -> Result<Vec<u8>, KeySetError> {
    let rng = aws_lc_rs::rand::SystemRandom::new();
    Ed25519KeyPair::generate_pkcs8(&rng)
        .map(|document| document.as_ref().to_vec())
        .map_err(|_| KeySetError::Generate)
}

#[derive(Deserialize)]
struct PublicKeySpec {
    kid: String,
    #[serde(default)]
    kty: String,
    #[serde(default)]
    crv: String,
    #[serde(default)]
    alg: Option<String>,
    x: String,
}

#[derive(Deserialize)]
struct PublicSet {
    keys: Vec<PublicKeySpec>,
}

/// The public keys that verify tokens, by `kid`.
#[derive(Clone)]
pub struct PublicKeys {
    keys: HashMap<String, DecodingKey>,
}

impl std::fmt::Debug for PublicKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut kids: Vec<_> = self.keys.keys().collect();
        kids.sort();
        f.debug_struct("PublicKeys").field("kids", &kids).finish()
    }
}

impl PublicKeys {
    /// Reads a JSON Web Key Set of Ed25519 keys. An empty set is valid (and verifies nothing).
    ///
    /// # Errors
    /// [`KeySetError`] for a malformed set or a key that is not an Ed25519 key for EdDSA.
    pub fn from_jwks(jwks: &str) -> Result<Self, KeySetError> {
        let set: PublicSet =
            serde_json::from_str(jwks).map_err(|e| KeySetError::Shape(e.to_string()))?;
        let mut keys = HashMap::with_capacity(set.keys.len());
        for spec in set.keys {
            if let Some(alg) = spec.alg.filter(|alg| alg != ALGORITHM) {
                return Err(KeySetError::Algorithm { kid: spec.kid, alg });
            }
            let bytes = URL_SAFE_NO_PAD.decode(spec.x.trim()).unwrap_or_default();
            if spec.kty != "OKP" || spec.crv != "Ed25519" || bytes.len() != 32 {
                return Err(KeySetError::Key(spec.kid));
            }
            if keys.contains_key(&spec.kid) {
                return Err(KeySetError::DuplicateKid(spec.kid));
            }
            keys.insert(spec.kid, DecodingKey::from_ed_der(&bytes));
        }
        Ok(Self { keys })
    }

    /// Whether a key `kid` is known.
    #[must_use]
    pub fn knows(&self, kid: &str) -> bool {
        self.keys.contains_key(kid)
    }

    /// How many keys there are.
    #[must_use]
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there is none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
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
    /// Whether the user's email was verified at issue time (the OpenID Connect claim). A token
    /// without it is taken as unverified.
    #[serde(default)]
    pub email_verified: bool,
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

/// The header fields the verifier reads itself, before any key is chosen.
#[derive(Debug, Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
}

/// A verified access token's subject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    /// The user id.
    pub user_id: Uuid,
    /// The role the token carries.
    pub role: Role,
    /// Whether the token says the email is verified.
    pub email_verified: bool,
}

/// Why a token was rejected. Never shown to clients in detail; logged for operators.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not three base64url parts of JSON, or too long.
    #[error("malformed token")]
    Malformed,
    /// The header's `alg` is not EdDSA.
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

/// Signs access tokens with the signing key.
#[derive(Clone)]
pub struct TokenIssuer {
    kid: String,
    key: EncodingKey,
    settings: TokenSettings,
}

impl std::fmt::Debug for TokenIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenIssuer")
            .field("kid", &self.kid)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl TokenIssuer {
    /// An issuer signing with `keys`' signing key.
    ///
    /// # Errors
    /// [`KeySetError::NoSigningKey`] (a set read with [`SigningKeys::from_secret`] always has it).
    pub fn new(keys: &SigningKeys, settings: TokenSettings) -> Result<Self, KeySetError> {
        let pkcs8 = keys
            .signing_key()
            .ok_or_else(|| KeySetError::NoSigningKey(keys.signing_kid.clone()))?;
        Ok(Self {
            kid: keys.signing_kid.clone(),
            key: EncodingKey::from_ed_der(pkcs8),
            settings,
        })
    }

    /// The settings.
    #[must_use]
    pub fn settings(&self) -> &TokenSettings {
        &self.settings
    }

    /// Issues an access token for `user_id` with `role` and whether their email is verified,
    /// valid from `now` for the configured lifetime.
    ///
    /// # Errors
    /// Only if signing fails, which does not happen with a key read by [`SigningKeys`].
    pub fn issue(
        &self,
        user_id: Uuid,
        role: Role,
        email_verified: bool,
        now: OffsetDateTime,
    ) -> Result<AccessToken, jsonwebtoken::errors::Error> {
        let jti = Uuid::new_v4();
        let expires_at = now + self.settings.access_ttl;
        let claims = Claims {
            iss: self.settings.issuer.clone(),
            aud: Audience::One(self.settings.audience.clone()),
            sub: user_id.to_string(),
            role: role.as_str().to_owned(),
            email_verified,
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
    /// Only if the claims cannot be serialized or signing fails.
    pub fn sign<C: Serialize>(&self, claims: &C) -> Result<String, jsonwebtoken::errors::Error> {
        let mut header = jsonwebtoken::Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.key)
    }
}

/// Verifies access tokens with the public keys.
#[derive(Debug, Clone)]
pub struct TokenVerifier {
    keys: PublicKeys,
    settings: TokenSettings,
}

impl TokenVerifier {
    /// A verifier over `keys` with `settings` (the lifetime is not used).
    #[must_use]
    pub fn new(keys: PublicKeys, settings: TokenSettings) -> Self {
        Self { keys, settings }
    }

    /// The keys it verifies with.
    #[must_use]
    pub fn keys(&self) -> &PublicKeys {
        &self.keys
    }

    /// The same verifier over other keys (after a rotation).
    #[must_use]
    pub fn with_keys(&self, keys: PublicKeys) -> Self {
        Self {
            keys,
            settings: self.settings.clone(),
        }
    }

    /// The `kid` a token names, if it has a readable header: lets the caller reload the keys when
    /// a token names one they do not know yet.
    #[must_use]
    pub fn kid_of(token: &str) -> Option<String> {
        let header = token.split('.').next()?;
        decode_json::<Header>(header).ok()?.kid
    }

    /// Verifies a compact JWT at time `now` (see the [module docs](self) for what is checked).
    ///
    /// # Errors
    /// The first [`TokenError`] found.
    pub fn verify(&self, token: &str, now: OffsetDateTime) -> Result<Verified, TokenError> {
        if token.len() > MAX_TOKEN_LEN || token.split('.').count() != 3 {
            return Err(TokenError::Malformed);
        }
        let header_b64 = token.split('.').next().unwrap_or_default();
        let header: Header = decode_json(header_b64)?;
        if header.alg != ALGORITHM {
            return Err(TokenError::Algorithm(header.alg));
        }
        let key = header
            .kid
            .as_deref()
            .and_then(|kid| self.keys.keys.get(kid))
            .ok_or(TokenError::UnknownKey)?;
        // The library checks the signature; the claims are checked below, against `now`.
        let mut signature_only = Validation::new(Algorithm::EdDSA);
        signature_only.validate_exp = false;
        signature_only.validate_aud = false;
        signature_only.required_spec_claims.clear();
        let claims = jsonwebtoken::decode::<Claims>(token, key, &signature_only)
            .map_err(|error| match error.kind() {
                jsonwebtoken::errors::ErrorKind::InvalidSignature => TokenError::Signature,
                _ => TokenError::Malformed,
            })?
            .claims;
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
        Ok(Verified {
            user_id,
            role,
            email_verified: claims.email_verified,
        })
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
    /// [`KeySetError::Key`] for a shorter one.
    pub fn new(key: Vec<u8>) -> Result<Self, KeySetError> {
        if key.len() < MIN_KEY_LEN {
            return Err(KeySetError::Key("refresh rotation key".into()));
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

    fn settings() -> TokenSettings {
        TokenSettings {
            issuer: "https://storefront.test".into(),
            audience: "storefront-api".into(),
            access_ttl: Duration::from_secs(900),
        }
    }

    fn verifier(keys: &SigningKeys) -> TokenVerifier {
        let public = PublicKeys::from_jwks(&keys.jwks().unwrap().to_string()).unwrap();
        TokenVerifier::new(public, settings())
    }

    fn issuer(keys: &SigningKeys) -> TokenIssuer {
        TokenIssuer::new(keys, settings()).unwrap()
    }

    fn hmac_forge(header: &serde_json::Value, claims: &serde_json::Value, key: &[u8]) -> String {
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
        let keys = SigningKeys::generate("k1").unwrap();
        let id = Uuid::now_v7();
        let token = issuer(&keys).issue(id, Role::Seller, true, NOW).unwrap();
        assert_eq!(token.expires_at, NOW + Duration::from_secs(900));
        let verified = verifier(&keys).verify(&token.token, NOW).unwrap();
        assert_eq!(
            verified,
            Verified {
                user_id: id,
                role: Role::Seller,
                email_verified: true,
            }
        );
        let claims: serde_json::Value =
            decode_json(token.token.split('.').nth(1).unwrap()).unwrap();
        assert_eq!(claims["email_verified"], true);
        let header: serde_json::Value =
            decode_json(token.token.split('.').next().unwrap()).unwrap();
        assert_eq!(
            header,
            serde_json::json!({"alg": "EdDSA", "typ": "JWT", "kid": "k1"})
        );
        assert_eq!(TokenVerifier::kid_of(&token.token).as_deref(), Some("k1"));
    }

    #[test]
    fn a_token_without_the_email_verified_claim_is_unverified() {
        let keys = SigningKeys::generate("k1").unwrap();
        let mut claims = serde_json::to_value(Claims {
            iss: settings().issuer,
            aud: Audience::One(settings().audience),
            sub: Uuid::now_v7().to_string(),
            role: "customer".into(),
            email_verified: true,
            jti: Uuid::new_v4().to_string(),
            iat: NOW.unix_timestamp(),
            nbf: None,
            exp: NOW.unix_timestamp() + 900,
        })
        .unwrap();
        claims.as_object_mut().unwrap().remove("email_verified");
        let token = issuer(&keys).sign(&claims).unwrap();
        assert!(!verifier(&keys).verify(&token, NOW).unwrap().email_verified);
    }

    #[test]
    fn expiry_and_not_before_allow_only_the_leeway() {
        let keys = SigningKeys::generate("k1").unwrap();
        let verifier = verifier(&keys);
        let token = issuer(&keys)
            .issue(Uuid::now_v7(), Role::Customer, false, NOW)
            .unwrap();
        let at = |secs: i64| NOW + time::Duration::seconds(secs);
        assert!(verifier.verify(&token.token, at(900 + 29)).is_ok());
        assert_eq!(
            verifier.verify(&token.token, at(900 + 30)),
            Err(TokenError::Expired)
        );
        assert!(verifier.verify(&token.token, at(-29)).is_ok());
        assert_eq!(
            verifier.verify(&token.token, at(-31)),
            Err(TokenError::NotYetValid)
        );
    }

    #[test]
    fn alg_none_and_hs256_keyed_with_the_public_key_are_rejected_before_any_key_is_used() {
        let keys = SigningKeys::generate("k1").unwrap();
        let verifier = verifier(&keys);
        let body = URL_SAFE_NO_PAD.encode(claims(NOW).to_string());
        let none = format!(
            "{}.{body}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none","kid":"k1"}"#)
        );
        assert_eq!(
            verifier.verify(&none, NOW),
            Err(TokenError::Algorithm("none".into()))
        );
        // Key confusion: an HMAC made with the public key, which anyone can read from the JWKS.
        let jwks = keys.jwks().unwrap();
        let public = URL_SAFE_NO_PAD
            .decode(jwks["keys"][0]["x"].as_str().unwrap())
            .unwrap();
        for alg in ["HS256", "HS512", "RS256", "ES256"] {
            let forged = hmac_forge(
                &serde_json::json!({"alg": alg, "kid": "k1"}),
                &claims(NOW),
                &public,
            );
            assert_eq!(
                verifier.verify(&forged, NOW),
                Err(TokenError::Algorithm(alg.into()))
            );
        }
    }

    #[test]
    fn wrong_key_tampering_and_wrong_claims_are_rejected() {
        let keys = SigningKeys::generate("k1").unwrap();
        let verifier = verifier(&keys);
        let issuer = issuer(&keys);
        // Another key under the same kid, and a kid nobody knows.
        let impostor = self::issuer(&SigningKeys::generate("k1").unwrap());
        assert_eq!(
            verifier.verify(&impostor.sign(&claims(NOW)).unwrap(), NOW),
            Err(TokenError::Signature)
        );
        let stranger = self::issuer(&SigningKeys::generate("k9").unwrap());
        assert_eq!(
            verifier.verify(&stranger.sign(&claims(NOW)).unwrap(), NOW),
            Err(TokenError::UnknownKey)
        );

        let token = issuer
            .issue(Uuid::now_v7(), Role::Customer, false, NOW)
            .unwrap();
        let mut parts: Vec<&str> = token.token.split('.').collect();
        let mut tampered = claims(NOW);
        tampered["role"] = "admin".into();
        let tampered_b64 = URL_SAFE_NO_PAD.encode(tampered.to_string());
        parts[1] = &tampered_b64;
        assert_eq!(
            verifier.verify(&parts.join("."), NOW),
            Err(TokenError::Signature)
        );

        let signed = |claims: &serde_json::Value| issuer.sign(claims).unwrap();
        let mut wrong_aud = claims(NOW);
        wrong_aud["aud"] = "another-api".into();
        assert_eq!(
            verifier.verify(&signed(&wrong_aud), NOW),
            Err(TokenError::Audience)
        );
        let mut many_aud = claims(NOW);
        many_aud["aud"] = serde_json::json!(["other", "storefront-api"]);
        assert!(verifier.verify(&signed(&many_aud), NOW).is_ok());
        let mut wrong_iss = claims(NOW);
        wrong_iss["iss"] = "https://evil.test".into();
        assert_eq!(
            verifier.verify(&signed(&wrong_iss), NOW),
            Err(TokenError::Issuer)
        );
        let mut bad_role = claims(NOW);
        bad_role["role"] = "root".into();
        assert_eq!(
            verifier.verify(&signed(&bad_role), NOW),
            Err(TokenError::Subject)
        );
        for junk in ["", "a.b", "a.b.c.d", "!!.??.**", &"a".repeat(5000)] {
            assert_eq!(verifier.verify(junk, NOW), Err(TokenError::Malformed));
        }
    }

    #[test]
    fn a_rotated_set_signs_with_the_new_key_and_still_verifies_older_tokens() {
        let first = SigningKeys::generate("k1").unwrap();
        let old = issuer(&first)
            .issue(Uuid::now_v7(), Role::Customer, false, NOW)
            .unwrap();
        let rotated = first.rotated("k2", KEPT_KEYS).unwrap();
        assert_eq!(rotated.kids(), ["k2", "k1"]);
        assert_eq!(rotated.signing_kid(), "k2");
        let new = issuer(&rotated)
            .issue(Uuid::now_v7(), Role::Customer, false, NOW)
            .unwrap();
        assert!(verifier(&rotated).verify(&old.token, NOW).is_ok());
        assert!(verifier(&rotated).verify(&new.token, NOW).is_ok());
        // A verifier that has not reloaded the keys does not know the new one yet.
        assert_eq!(
            verifier(&first).verify(&new.token, NOW),
            Err(TokenError::UnknownKey)
        );
        let kept = rotated
            .rotated("k3", KEPT_KEYS)
            .unwrap()
            .rotated("k4", KEPT_KEYS)
            .unwrap();
        assert_eq!(kept.kids(), ["k4", "k3", "k2"]);
        assert!(matches!(
            kept.rotated("k3", KEPT_KEYS),
            Err(KeySetError::DuplicateKid(_))
        ));
    }

    #[test]
    fn key_sets_round_trip_and_bad_ones_are_refused_without_echoing_the_key() {
        let keys = SigningKeys::generate("k1")
            .unwrap()
            .rotated("k2", 3)
            .unwrap();
        let secret = keys.to_secret();
        let read = SigningKeys::from_secret(&secret).unwrap().unwrap();
        assert_eq!(read.kids(), ["k2", "k1"]);
        assert_eq!(read.jwks().unwrap(), keys.jwks().unwrap());
        assert!(
            SigningKeys::from_secret(r#"{"keys": []}"#)
                .unwrap()
                .is_none()
        );

        let private = keys.to_secret();
        let text: serde_json::Value = serde_json::from_str(&private).unwrap();
        let material = text["keys"][0]["privateKey"].as_str().unwrap().to_owned();
        let debug = format!("{read:?}");
        assert!(!debug.contains(&material[..16]), "{debug}");

        let hs = r#"{"keys":[{"kid":"k1","alg":"HS256","privateKey":"c2hvcnQ"}]}"#;
        assert!(matches!(
            SigningKeys::from_secret(hs),
            Err(KeySetError::Algorithm { .. })
        ));
        let junk = r#"{"keys":[{"kid":"k1","alg":"EdDSA","privateKey":"bm90IGEga2V5"}]}"#;
        assert_eq!(
            SigningKeys::from_secret(junk).unwrap_err(),
            KeySetError::Key("k1".into())
        );
        let mut missing = text.clone();
        missing["signingKid"] = "k9".into();
        assert_eq!(
            SigningKeys::from_secret(&missing.to_string()).unwrap_err(),
            KeySetError::NoSigningKey("k9".into())
        );
        assert!(matches!(
            SigningKeys::from_secret("not json"),
            Err(KeySetError::Shape(_))
        ));

        assert!(PublicKeys::from_jwks(r#"{"keys": []}"#).unwrap().is_empty());
        let rsa = r#"{"keys":[{"kid":"r","kty":"RSA","crv":"","x":"AAAA"}]}"#;
        assert_eq!(
            PublicKeys::from_jwks(rsa).unwrap_err(),
            KeySetError::Key("r".into())
        );
        let hs_public =
            r#"{"keys":[{"kid":"h","kty":"OKP","crv":"Ed25519","alg":"HS256","x":"AAAA"}]}"#;
        assert!(matches!(
            PublicKeys::from_jwks(hs_public),
            Err(KeySetError::Algorithm { .. })
        ));
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
