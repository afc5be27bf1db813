//! The first admin's initial password, in the `AdminInitialPassword` secret.
//!
//! The stack generates it (or takes the `AdminPassword` parameter) and the `bootstrap-admin`
//! custom resource creates the admin with it ([`crate::handlers::bootstrap_admin`]). Once the
//! admin changes or resets that password, the secret would only tell a stale one to whoever may
//! read it, so the function that changed it overwrites the secret (`PutSecretValue`) with
//! [`RETIRED_NOTE`]. The secret is not deleted: CloudFormation owns it and would recreate or miss
//! it, and a secret cannot be empty. Later deployments still succeed: the admin exists, and
//! bootstrapping needs no password for an existing admin.
//!
//! Overwriting is best effort: the password change has happened when it is attempted, so a
//! failure is logged (and can be fixed by hand), never turned into a failed change.

use shared::config::Env;

/// What the secret holds once the first admin chose their own password.
pub const RETIRED_NOTE: &str = "RETIRED: the first admin has changed this initial password and it \
     no longer works. Sign in with the current password, or reset it (POST /v1/auth/password-reset).";

/// Whether a secret's text is [`RETIRED_NOTE`] (or a later wording of it).
#[must_use]
pub fn is_retired(text: &str) -> bool {
    text.starts_with("RETIRED:")
}

/// The `AdminInitialPassword` secret, for the functions that may retire it.
#[derive(Debug, Clone)]
pub struct InitialPassword {
    secrets: aws_sdk_secretsmanager::Client,
    secret_id: String,
}

impl InitialPassword {
    /// The secret named by `secret_id`.
    #[must_use]
    pub fn new(secrets: aws_sdk_secretsmanager::Client, secret_id: impl Into<String>) -> Self {
        Self {
            secrets,
            secret_id: secret_id.into(),
        }
    }

    /// The secret named by `ADMIN_PASSWORD_SECRET_ARN`, if set.
    #[must_use]
    pub fn from_env(env: &Env, config: &aws_config::SdkConfig) -> Option<Self> {
        env.optional("ADMIN_PASSWORD_SECRET_ARN")
            .map(|arn| Self::new(aws_sdk_secretsmanager::Client::new(config), arn))
    }

    /// Overwrites the secret with [`RETIRED_NOTE`]; a failure is logged (see the
    /// [module docs](self)).
    #[tracing::instrument(skip_all)]
    pub async fn retire(&self) {
        let written = self
            .secrets
            .put_secret_value()
            .secret_id(&self.secret_id)
            .secret_string(RETIRED_NOTE)
            .send()
            .await;
        match written {
            Ok(_) => tracing::info!("the first admin's initial password secret is retired"),
            Err(error) => tracing::error!(
                error = %shared::error::cause_chain(&error),
                "the first admin's initial password secret could not be retired; overwrite it by hand"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_note_is_recognised_and_is_no_password_anyone_would_take_for_one() {
        assert!(is_retired(RETIRED_NOTE));
        assert!(!is_retired("correct-horse-battery-staple"));
        assert!(RETIRED_NOTE.contains("password-reset"));
    }
}
