//! Webhook signatures, by the provider's scheme:
//!
//! ```text
//! Stripe-Signature: t=1796029200,v1=5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd
//! ```
//!
//! `v1` is the hex HMAC-SHA256, keyed with the webhook secret, of `"<t>.<raw body>"`. A header may
//! carry several `v1` values (the provider signs with every secret it holds during a rotation),
//! and the receiver may hold several secrets (the current one and the previous ones): one match of
//! any pair is enough. A timestamp more than [`TOLERANCE_SECS`] away from now is refused, so a
//! captured request cannot be replayed later. Comparisons are constant-time.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header carrying the signature.
pub const HEADER: &str = "stripe-signature";

/// How far the signed timestamp may be from now, in seconds.
pub const TOLERANCE_SECS: i64 = 300;

/// Why a signature is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No header, or one without a timestamp or a `v1` value.
    #[error("the signature header is missing or malformed")]
    Malformed,
    /// The timestamp is outside the tolerance.
    #[error("the signature's timestamp is outside the tolerance")]
    Stale,
    /// No `v1` value matches any secret.
    #[error("no signature matches")]
    Mismatch,
}

fn mac(secret: &str, timestamp: i64, body: &[u8]) -> Option<Hmac<Sha256>> {
    // HMAC takes keys of any length: this never fails.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).ok()?;
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Some(mac)
}

/// The hex signature of `body` at `timestamp` with `secret`.
#[must_use]
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    mac(secret, timestamp, body)
        .map(|mac| hex(&mac.finalize().into_bytes()))
        .unwrap_or_default()
}

/// The header value signing `body` at `timestamp` with every one of `secrets`.
#[must_use]
pub fn header(secrets: &[&str], timestamp: i64, body: &[u8]) -> String {
    let mut value = format!("t={timestamp}");
    for secret in secrets {
        value.push_str(",v1=");
        value.push_str(&signature(secret, timestamp, body));
    }
    value
}

/// Checks `header` (the `Stripe-Signature` value) over `body` against any of `secrets`, at `now`
/// (Unix seconds).
///
/// # Errors
/// [`SignatureError`] saying why it is refused.
pub fn verify(
    header: Option<&str>,
    body: &[u8],
    secrets: &[&str],
    now: i64,
) -> Result<i64, SignatureError> {
    let header = header.ok_or(SignatureError::Malformed)?;
    let mut timestamp = None;
    let mut candidates = Vec::new();
    for part in header.split(',') {
        let Some((name, value)) = part.trim().split_once('=') else {
            continue;
        };
        match name {
            "t" => timestamp = value.parse::<i64>().ok(),
            "v1" => {
                if let Some(bytes) = unhex(value) {
                    candidates.push(bytes);
                }
            }
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if candidates.is_empty() {
        return Err(SignatureError::Malformed);
    }
    // `abs_diff`: any two `i64` apart, without overflowing (a `t` of `i64::MIN` is just stale).
    if now.abs_diff(timestamp) > TOLERANCE_SECS.unsigned_abs() {
        return Err(SignatureError::Stale);
    }
    let matched = secrets.iter().any(|secret| {
        candidates.iter().any(|candidate| {
            mac(secret, timestamp, body).is_some_and(|mac| mac.verify_slice(candidate).is_ok())
        })
    });
    if matched {
        Ok(timestamp)
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// Lower-case hex.
#[must_use]
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) || text.len() > 128 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_796_029_200;
    const BODY: &[u8] = br#"{"id":"evt_1","type":"payment_intent.succeeded"}"#;

    #[test]
    fn a_signature_made_with_the_secret_is_accepted() {
        let value = header(&["whsec_a"], NOW, BODY);
        assert_eq!(verify(Some(&value), BODY, &["whsec_a"], NOW), Ok(NOW));
        assert_eq!(
            verify(Some(&value), BODY, &["whsec_a"], NOW + TOLERANCE_SECS),
            Ok(NOW)
        );
    }

    #[test]
    fn a_forged_signature_or_an_altered_body_is_refused() {
        let value = header(&["whsec_other"], NOW, BODY);
        assert_eq!(
            verify(Some(&value), BODY, &["whsec_a"], NOW),
            Err(SignatureError::Mismatch)
        );
        let value = header(&["whsec_a"], NOW, BODY);
        assert_eq!(
            verify(Some(&value), b"{}", &["whsec_a"], NOW),
            Err(SignatureError::Mismatch)
        );
        let moved = value.replace(&format!("t={NOW}"), &format!("t={}", NOW + 1));
        assert_eq!(
            verify(Some(&moved), BODY, &["whsec_a"], NOW),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn a_stale_or_future_timestamp_is_refused() {
        let old = header(&["whsec_a"], NOW - TOLERANCE_SECS - 1, BODY);
        assert_eq!(
            verify(Some(&old), BODY, &["whsec_a"], NOW),
            Err(SignatureError::Stale)
        );
        let future = header(&["whsec_a"], NOW + TOLERANCE_SECS + 1, BODY);
        assert_eq!(
            verify(Some(&future), BODY, &["whsec_a"], NOW),
            Err(SignatureError::Stale)
        );
    }

    #[test]
    fn an_extreme_timestamp_is_stale_not_an_overflow() {
        for t in [i64::MIN, i64::MAX] {
            let value = format!("t={t},v1={}", signature("whsec_a", t, BODY));
            assert_eq!(
                verify(Some(&value), BODY, &["whsec_a"], NOW),
                Err(SignatureError::Stale),
                "{t}"
            );
        }
        let value = format!("t=-9223372036854775808,v1={}", "00".repeat(32));
        assert_eq!(
            verify(Some(&value), BODY, &["whsec_a"], NOW),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(Some(&value), BODY, &["whsec_a"], i64::MAX),
            Err(SignatureError::Stale)
        );
    }

    #[test]
    fn any_of_several_v1_values_may_match() {
        let value = header(&["whsec_old", "whsec_a"], NOW, BODY);
        assert_eq!(verify(Some(&value), BODY, &["whsec_a"], NOW), Ok(NOW));
        let with_junk = format!(
            "t={NOW},v0=abc,v1=zz,v1={}",
            signature("whsec_a", NOW, BODY)
        );
        assert_eq!(verify(Some(&with_junk), BODY, &["whsec_a"], NOW), Ok(NOW));
    }

    #[test]
    fn the_previous_secrets_are_accepted_during_a_rotation() {
        let signed_with_previous = header(&["whsec_previous"], NOW, BODY);
        assert_eq!(
            verify(
                Some(&signed_with_previous),
                BODY,
                &["whsec_current", "whsec_previous"],
                NOW
            ),
            Ok(NOW)
        );
        assert_eq!(
            verify(Some(&signed_with_previous), BODY, &["whsec_current"], NOW),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn malformed_headers_are_refused() {
        for bad in [
            None,
            Some(""),
            Some("v1=abcd"),
            Some("t=notanumber,v1=abcd"),
            Some("t=1796029200"),
        ] {
            assert_eq!(
                verify(bad, BODY, &["whsec_a"], NOW),
                Err(SignatureError::Malformed),
                "{bad:?}"
            );
        }
    }
}
