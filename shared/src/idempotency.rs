//! `Idempotency-Key`: a client that retries a request after a lost answer gets the first answer,
//! not a second effect.
//!
//! A service stores, with the effect and in the same transaction, a record of the key and a
//! [`fingerprint`] of the request. A retry with the same key and the same request finds the record
//! and answers as the first time; the same key with another request is a 422
//! `IDEMPOTENCY_KEY_REUSED` ([`reused`]).

use lambda_http::Request;

use crate::ApiError;

/// The request header carrying the key.
pub const HEADER: &str = "idempotency-key";
/// Longest key accepted.
pub const MAX_LEN: usize = 255;

/// A client's idempotency key: 1 to 255 visible ASCII characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// The key of `req`, if it has one.
    ///
    /// # Errors
    /// 400 `INVALID_IDEMPOTENCY_KEY` when the header is empty, too long or not visible ASCII.
    pub fn from_request(req: &Request) -> Result<Option<Self>, ApiError> {
        let Some(value) = req.headers().get(HEADER) else {
            return Ok(None);
        };
        value
            .to_str()
            .ok()
            .and_then(Self::parse)
            .map(Some)
            .ok_or_else(|| {
                ApiError::bad_request(
                    "INVALID_IDEMPOTENCY_KEY",
                    format!("Idempotency-Key must be 1 to {MAX_LEN} visible ASCII characters."),
                )
            })
    }

    /// Validates a key.
    #[must_use]
    pub fn parse(raw: &str) -> Option<Self> {
        let raw = raw.trim();
        (!raw.is_empty() && raw.len() <= MAX_LEN && raw.bytes().all(|b| b.is_ascii_graphic()))
            .then(|| Self(raw.to_owned()))
    }

    /// The key.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A fingerprint of a request body: SHA-256 (hex) of its JSON in canonical form (object keys
/// sorted, no whitespace), so the same request spelled differently has the same fingerprint.
/// A body that is not JSON is hashed as it is.
#[must_use]
pub fn fingerprint(body: &[u8]) -> String {
    use sha2::{Digest as _, Sha256};
    let canonical = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|value| serde_json::to_vec(&value).ok());
    let digest = Sha256::digest(canonical.as_deref().unwrap_or(body));
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// 422 `IDEMPOTENCY_KEY_REUSED`: the key was used with another request.
#[must_use]
pub fn reused() -> ApiError {
    ApiError::unprocessable(
        "IDEMPOTENCY_KEY_REUSED",
        "This Idempotency-Key was already used with a different request.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_visible_ascii_of_bounded_length() {
        assert!(IdempotencyKey::parse("order-2026-11-30-0001").is_some());
        assert!(IdempotencyKey::parse(&"k".repeat(255)).is_some());
        for bad in ["", "   ", "has space", "naïve", &"k".repeat(256)] {
            assert!(IdempotencyKey::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn fingerprints_ignore_spelling_but_not_content() {
        let a = fingerprint(br#"{"b": 1, "a": [1, 2]}"#);
        let b = fingerprint(br#"{"a":[1,2],"b":1}"#);
        let c = fingerprint(br#"{"a":[2,1],"b":1}"#);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.len(), 64);
        assert_eq!(fingerprint(b"not json"), fingerprint(b"not json"));
    }
}
