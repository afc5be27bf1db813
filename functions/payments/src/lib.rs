//! The payments service: the checkout saga's payment steps, the provider's signed webhooks,
//! payments as their owners see them, admins' refunds, and the provider simulator.
//!
//! - Tasks of the checkout saga (`infra/statemachines/checkout.asl.json`):
//!   [`handlers::authorize_payment`], [`handlers::wait_for_payment`] (parks the execution on a
//!   task token until the payment settles) and [`handlers::cancel_or_refund_payment`] (the
//!   compensation).
//! - `POST /v1/payments/webhook` ([`handlers::payment_webhook`]): the provider's signed events.
//! - `GET /v1/payments/order/{orderId}` ([`handlers::get_order_payment`]) for the order's owner or
//!   an admin, and `POST /v1/payments/{paymentId}/refund` ([`handlers::refund_payment`], admins),
//!   which emits `PaymentRefunded` through the table's outbox.
//! - [`provider`]: the provider's REST API (Stripe's); [`signature`]: its webhook signatures;
//!   [`simulator`]: a provider that speaks the same subset, for every stage but production.
//!
//! The service owns one DynamoDB table (layout in [`store`]).

pub mod api;
pub mod domain;
pub mod form;
pub mod handlers;
pub mod provider;
pub mod signature;
pub mod simulator;
pub mod store;

use serde::Deserialize;
use shared::{
    config::{ConfigError, Env, StartError},
    secrets::SecretError,
};

use crate::{provider::Provider, store::Store};

/// The provider's keys, as stored in the secret named by `PROVIDER_SECRET_ARN`.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderKeys {
    /// The secret API key (`sk_…`).
    pub api_key: String,
    /// The secret webhooks are signed with.
    pub webhook_secret: String,
    /// Secrets still accepted while a rotation completes.
    #[serde(default)]
    pub previous_webhook_secrets: Vec<String>,
}

impl std::fmt::Debug for ProviderKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderKeys").finish_non_exhaustive()
    }
}

impl ProviderKeys {
    /// Reads the keys from secret `id`.
    ///
    /// # Errors
    /// An unreadable secret, or one without `apiKey` and `webhookSecret`.
    pub async fn load(
        client: &aws_sdk_secretsmanager::Client,
        id: &str,
    ) -> Result<Self, SecretError> {
        let text = shared::secrets::read_string(client, id).await?;
        Self::parse(&text).map_err(|reason| SecretError::Invalid {
            id: id.to_owned(),
            reason,
        })
    }

    /// Parses the secret's JSON.
    ///
    /// # Errors
    /// What is wrong with it (never the values).
    pub fn parse(text: &str) -> Result<Self, String> {
        let keys: Self = serde_json::from_str(text).map_err(|e| {
            format!(
                "expected {{\"apiKey\", \"webhookSecret\", \"previousWebhookSecrets\"?}}: {}",
                e.classify_name()
            )
        })?;
        if keys.api_key.is_empty() || keys.webhook_secret.is_empty() {
            return Err("apiKey and webhookSecret must not be empty".into());
        }
        Ok(keys)
    }

    /// The webhook secrets accepted now: the current one first.
    #[must_use]
    pub fn webhook_secrets(&self) -> Vec<&str> {
        std::iter::once(self.webhook_secret.as_str())
            .chain(self.previous_webhook_secrets.iter().map(String::as_str))
            .filter(|s| !s.is_empty())
            .collect()
    }
}

trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}

impl ClassifyName for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "unreadable",
            serde_json::error::Category::Syntax | serde_json::error::Category::Eof => "not JSON",
            serde_json::error::Category::Data => "missing or mistyped fields",
        }
    }
}

/// The state of the functions that only read payments.
#[derive(Debug, Clone)]
pub struct Records {
    /// The payments table.
    pub store: Store,
}

impl Records {
    /// Builds the state from `TABLE_NAME`.
    ///
    /// # Errors
    /// A missing variable.
    pub fn from_env(env: &Env, config: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        Ok(Self {
            store: Store::new(
                aws_sdk_dynamodb::Client::new(config),
                env.required("TABLE_NAME")?,
            ),
        })
    }

    /// [`Records::from_env`] with a fresh SDK configuration.
    ///
    /// # Errors
    /// As [`Records::from_env`].
    pub async fn load(env: &Env) -> Result<Self, StartError> {
        Ok(Self::from_env(env, &shared::config::aws().await)?)
    }
}

/// What the functions that talk to the provider share.
#[derive(Debug, Clone)]
pub struct Payments {
    /// The payments table.
    pub store: Store,
    /// The provider's API.
    pub provider: Provider,
    /// The provider's keys.
    pub keys: ProviderKeys,
    /// Completes the saga's waiting task.
    pub sfn: aws_sdk_sfn::Client,
}

impl Payments {
    /// Builds the state from `TABLE_NAME`, `PROVIDER_API_BASE` and the keys in the secret named
    /// by `PROVIDER_SECRET_ARN`.
    ///
    /// # Errors
    /// A missing variable, an unreadable secret, or no TLS roots.
    pub async fn load(env: &Env) -> Result<Self, StartError> {
        let config = shared::config::aws().await;
        let secrets = aws_sdk_secretsmanager::Client::new(&config);
        let keys = ProviderKeys::load(&secrets, &env.required("PROVIDER_SECRET_ARN")?).await?;
        let base = env.required("PROVIDER_API_BASE")?;
        let http = provider::http_client().map_err(|e| {
            ConfigError::invalid("PROVIDER_API_BASE", format!("no HTTPS client: {e}"))
        })?;
        Ok(Self {
            store: Records::from_env(env, &config)?.store,
            provider: Provider::new(http, base, keys.api_key.clone()),
            keys,
            sfn: aws_sdk_sfn::Client::new(&config),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_keys_secret_is_read_with_its_previous_webhook_secrets() {
        let keys = ProviderKeys::parse(
            r#"{"apiKey":"sk_test_simulator","webhookSecret":"new","previousWebhookSecrets":["old"]}"#,
        )
        .unwrap();
        assert_eq!(keys.webhook_secrets(), vec!["new", "old"]);
        let keys =
            ProviderKeys::parse(r#"{"apiKey":"sk_test_simulator","webhookSecret":"w"}"#).unwrap();
        assert_eq!(keys.webhook_secrets(), vec!["w"]);
        assert!(ProviderKeys::parse(r#"{"apiKey":"sk"}"#).is_err());
        assert!(ProviderKeys::parse(r#"{"apiKey":"","webhookSecret":"w"}"#).is_err());
        assert!(!format!("{keys:?}").contains("sk_test"));
    }
}
