//! The token signing keys, made at deployment: a CloudFormation custom resource handler.
//!
//! The template declares `Custom::JwtKeys` with the two secrets' ARNs (`SigningKeysSecretArn`,
//! `PublicKeysSecretArn`) and a `Rotation` value (the `JwtKeyRotation` parameter). On Create and
//! Update this function reads the signing keys; when there are none yet it makes the first key,
//! and when `Rotation` changed it adds a new signing key in front, keeping the previous ones
//! ([`crate::tokens::KEPT_KEYS`] in all) so that tokens they signed stay valid until they expire.
//! It writes the public keys first, so verifiers can know a key before anything signs with it,
//! then the signing keys. A run with nothing to change writes nothing (and repairs the public set
//! if it does not match). The physical id is `jwt-keys`; `SigningKid` is an attribute.

use serde::Deserialize;
use serde_json::Value;

use crate::{
    handlers::custom_resource::{
        self, CustomResourceError, CustomResourceRequest, HttpsClient, Made,
    },
    tokens::{KEPT_KEYS, SigningKeys},
};

/// What the function needs.
#[derive(Debug, Clone)]
pub struct KeyMaker {
    /// Reads and writes the two secrets.
    pub secrets: aws_sdk_secretsmanager::Client,
    /// Answers CloudFormation.
    pub http: HttpsClient,
}

/// The resource's properties.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Properties {
    /// The private signing keys' secret.
    #[serde(default)]
    pub signing_keys_secret_arn: Option<String>,
    /// The public keys' secret (a JWKS).
    #[serde(default)]
    pub public_keys_secret_arn: Option<String>,
    /// Changing it rotates the signing key.
    #[serde(default)]
    pub rotation: Option<Value>,
}

/// Handles one request and answers CloudFormation. Returns the answer's status.
///
/// # Errors
/// Only when the event is not a request or the answer cannot be delivered; every other failure is
/// reported to CloudFormation as `FAILED` with its reason.
pub async fn handle(state: &KeyMaker, event: Value) -> Result<&'static str, CustomResourceError> {
    custom_resource::run(&state.http, event, "jwt-keys", async |request| {
        // Boxed: the SDK's futures nest deep enough to exceed the compiler's layout depth.
        let kid = Box::pin(ensure_keys(state, request)).await?;
        Ok(Made {
            physical_id: "jwt-keys".to_owned(),
            data: serde_json::json!({ "SigningKid": kid }),
        })
    })
    .await
}

/// Whether this request asks for a new signing key: an Update whose `Rotation` changed.
fn rotation_asked(request: &CustomResourceRequest) -> bool {
    let old = request
        .old_resource_properties
        .as_ref()
        .map(|old| old.get("Rotation").cloned());
    request.request_type == "Update"
        && old.is_some_and(|old| old != request.resource_properties.get("Rotation").cloned())
}

/// Makes or rotates the keys as the request asks; returns the signing `kid`.
async fn ensure_keys(state: &KeyMaker, request: &CustomResourceRequest) -> Result<String, String> {
    let properties = Properties::deserialize(&request.resource_properties)
        .map_err(|e| format!("the properties are not valid: {e}"))?;
    let signing_arn = properties
        .signing_keys_secret_arn
        .ok_or("the SigningKeysSecretArn property is required")?;
    let public_arn = properties
        .public_keys_secret_arn
        .ok_or("the PublicKeysSecretArn property is required")?;
    let current = read(state, &signing_arn).await?;
    let current =
        SigningKeys::from_secret(&current).map_err(|e| format!("the signing keys secret: {e}"))?;
    let (keys, changed) = match current {
        None => (
            SigningKeys::generate(&new_kid(&[])).map_err(|e| e.to_string())?,
            true,
        ),
        Some(keys) if rotation_asked(request) => (
            keys.rotated(&new_kid(&keys.kids()), KEPT_KEYS)
                .map_err(|e| e.to_string())?,
            true,
        ),
        Some(keys) => (keys, false),
    };
    let jwks = keys.jwks().map_err(|e| e.to_string())?;
    let published: Option<Value> = serde_json::from_str(&read(state, &public_arn).await?).ok();
    if published.as_ref() != Some(&jwks) {
        write(state, &public_arn, &jwks.to_string()).await?;
    }
    if changed {
        write(state, &signing_arn, &keys.to_secret()).await?;
        tracing::info!(signing_kid = keys.signing_kid(), kids = ?keys.kids(), "signing keys written");
    }
    Ok(keys.signing_kid().to_owned())
}

/// A key id that sorts by creation: `k` and the UTC time to the second, with a suffix in the
/// unlikely case that one of `taken` has it already.
fn new_kid(taken: &[&str]) -> String {
    let now = shared::time::now();
    let base = format!(
        "k{:04}{:02}{:02}{:02}{:02}{:02}",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    );
    let mut kid = base.clone();
    let mut n = 1;
    while taken.contains(&kid.as_str()) {
        n += 1;
        kid = format!("{base}-{n}");
    }
    kid
}

async fn read(state: &KeyMaker, arn: &str) -> Result<String, String> {
    shared::secrets::read_string(&state.secrets, arn)
        .await
        .map_err(|e| e.to_string())
}

async fn write(state: &KeyMaker, arn: &str, value: &str) -> Result<(), String> {
    state
        .secrets
        .put_secret_value()
        .secret_id(arn)
        .secret_string(value)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| format!("write {arn}: {}", shared::error::cause_chain(&e)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(kind: &str, rotation: &str, old: Option<&str>) -> CustomResourceRequest {
        let mut event: Value =
            serde_json::from_str(include_str!("../../../../events/jwt-keys.json")).unwrap();
        event["RequestType"] = kind.into();
        event["ResourceProperties"]["Rotation"] = rotation.into();
        if let Some(old) = old {
            event["OldResourceProperties"] = serde_json::json!({ "Rotation": old });
        }
        serde_json::from_value(event).unwrap()
    }

    #[test]
    fn only_an_update_with_another_rotation_value_rotates() {
        assert!(!rotation_asked(&request("Create", "1", None)));
        assert!(!rotation_asked(&request("Update", "1", Some("1"))));
        assert!(rotation_asked(&request("Update", "2", Some("1"))));
        let sample = request("Create", "1", None);
        let properties = Properties::deserialize(&sample.resource_properties).unwrap();
        assert!(properties.signing_keys_secret_arn.is_some());
        assert!(properties.public_keys_secret_arn.is_some());
    }

    #[test]
    fn key_ids_sort_by_creation_and_never_repeat() {
        let kid = new_kid(&[]);
        assert_eq!(kid.len(), 15);
        assert!(kid.starts_with('k'));
        let again = new_kid(&[kid.as_str()]);
        assert_ne!(again, kid);
        assert!(again.starts_with(&kid[..9]));
    }
}
