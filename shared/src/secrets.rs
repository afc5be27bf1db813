//! Secrets read once per cold start.

use crate::pagination::CursorCodec;

/// Why a secret could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// Secrets Manager did not give the value.
    #[error("read secret {id}: {cause}")]
    Read {
        /// The secret's id or ARN.
        id: String,
        /// The cause chain.
        cause: String,
    },
    /// The value is not what it should be.
    #[error("secret {id}: {reason}")]
    Invalid {
        /// The secret's id or ARN.
        id: String,
        /// What is wrong.
        reason: String,
    },
}

/// The string value of secret `id`.
///
/// # Errors
/// [`SecretError::Read`] when Secrets Manager fails or the secret has no string value.
pub async fn read_string(
    client: &aws_sdk_secretsmanager::Client,
    id: &str,
) -> Result<String, SecretError> {
    let output = client
        .get_secret_value()
        .secret_id(id)
        .send()
        .await
        .map_err(|e| SecretError::Read {
            id: id.to_owned(),
            cause: crate::error::cause_chain(&e),
        })?;
    output
        .secret_string()
        .map(str::to_owned)
        .ok_or_else(|| SecretError::Read {
            id: id.to_owned(),
            cause: "the secret has no string value".into(),
        })
}

/// The cursor signing key stored in secret `id` (a generated string of at least 32 bytes).
///
/// # Errors
/// As [`read_string`], or [`SecretError::Invalid`] when the key is too short.
pub async fn cursor_codec(
    client: &aws_sdk_secretsmanager::Client,
    id: &str,
) -> Result<CursorCodec, SecretError> {
    let key = read_string(client, id).await?;
    CursorCodec::new(key.into_bytes()).map_err(|e| SecretError::Invalid {
        id: id.to_owned(),
        reason: e.to_string(),
    })
}
