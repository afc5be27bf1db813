//! The notification service: tells customers what happened to their orders, by email and, when
//! they opted in, by SMS, and sends the emails of their accounts (address verification, password
//! reset and change).
//!
//! - [`handlers::order_events`] turns `OrderConfirmed`, `OrderFailed`, `OrderCancelled`,
//!   `OrderShipped`, `OrderDelivered` and `PaymentRefunded` into messages rendered from the
//!   template files under `templates/` ([`render`]), sent through SES v2 and SNS ([`send`]), and
//!   records every delivery, at most one per event and channel ([`store`]). It also sends the
//!   account emails of the identity service's `EmailVerificationRequested`,
//!   `RegistrationAttempted`, `PasswordResetRequested` and `PasswordChanged`
//!   ([`domain::account`]): by email only, to the address in the event, with links to the
//!   shop's pages (`SHOP_URL`).
//! - [`handlers::user_events`] keeps the service's own copy of each user's contact details from
//!   the identity service's `UserRegistered` and `UserChanged` events: it never reads the identity
//!   table.
//! - `GET /v1/notifications` ([`handlers::list_notifications`]) lists the caller's deliveries.
//!
//! The service owns one DynamoDB table (layout in [`store`]).

pub mod api;
pub mod domain;
pub mod handlers;
pub mod render;
pub mod send;
pub mod store;

use shared::{
    config::{ConfigError, Env, StartError},
    pagination::CursorCodec,
};

use crate::{domain::account::ShopUrl, render::Templates, send::Providers, store::Store};

/// The shop's name in messages when `SHOP_NAME` is not set.
pub const DEFAULT_SHOP_NAME: &str = "Storefront";

/// The state of the consumer that sends notifications.
#[derive(Debug)]
pub struct Notifier {
    /// The notification table.
    pub store: Store,
    /// SES and SNS.
    pub providers: Providers,
    /// The compiled templates.
    pub templates: Templates,
    /// The shop's name (`SHOP_NAME`).
    pub shop: String,
    /// The shop's web address (`SHOP_URL`), which account emails link to.
    pub shop_url: ShopUrl,
}

impl Notifier {
    /// Builds the state from `TABLE_NAME`, `SENDER_EMAIL`, `SHOP_NAME` and `SHOP_URL`.
    ///
    /// # Errors
    /// A missing variable, a `SHOP_URL` that is not an absolute `http(s)` URL without a trailing
    /// slash, or a template that does not compile.
    pub async fn load(env: &Env) -> Result<Self, StartError> {
        let shop_url = shop_url(env)?;
        let config = shared::config::aws().await;
        let templates = Templates::load().map_err(|e| ConfigError::invalid("templates", e))?;
        Ok(Self {
            shop_url,
            store: Store::new(
                aws_sdk_dynamodb::Client::new(&config),
                env.required("TABLE_NAME")?,
            ),
            providers: Providers::new(&config, env.required("SENDER_EMAIL")?),
            templates,
            shop: env
                .optional("SHOP_NAME")
                .filter(|name| !name.trim().is_empty())
                .unwrap_or_else(|| DEFAULT_SHOP_NAME.to_owned()),
        })
    }
}

/// The shop's web address from `SHOP_URL`.
///
/// # Errors
/// When it is missing, or not an absolute `http(s)` URL without a trailing slash.
pub fn shop_url(env: &Env) -> Result<ShopUrl, ConfigError> {
    ShopUrl::parse(&env.required("SHOP_URL")?).map_err(|e| ConfigError::invalid("SHOP_URL", e))
}

/// The state of the functions that only read and write the table: the contact projection.
#[derive(Debug, Clone)]
pub struct Contacts {
    /// The notification table.
    pub store: Store,
}

impl Contacts {
    /// Builds the state from `TABLE_NAME`.
    ///
    /// # Errors
    /// A missing variable.
    pub async fn load(env: &Env) -> Result<Self, ConfigError> {
        let config = shared::config::aws().await;
        Ok(Self {
            store: Store::new(
                aws_sdk_dynamodb::Client::new(&config),
                env.required("TABLE_NAME")?,
            ),
        })
    }
}

/// The state of `GET /v1/notifications`: the table and the cursor key.
#[derive(Debug, Clone)]
pub struct Lists {
    /// The notification table.
    pub store: Store,
    /// Signs and checks `nextCursor`s.
    pub cursors: CursorCodec,
}

impl Lists {
    /// `TABLE_NAME` plus the cursor key from the secret named by `CURSOR_KEY_ARN`.
    ///
    /// # Errors
    /// A missing variable or an unreadable secret.
    pub async fn load(env: &Env) -> Result<Self, StartError> {
        let config = shared::config::aws().await;
        let secrets = aws_sdk_secretsmanager::Client::new(&config);
        Ok(Self {
            store: Store::new(
                aws_sdk_dynamodb::Client::new(&config),
                env.required("TABLE_NAME")?,
            ),
            cursors: shared::secrets::cursor_codec(&secrets, &env.required("CURSOR_KEY_ARN")?)
                .await?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shop_url_is_required_and_checked_at_start() {
        let url = shop_url(&Env::from_pairs([("SHOP_URL", "https://shop.example")])).unwrap();
        assert_eq!(url.as_str(), "https://shop.example");
        assert_eq!(
            shop_url(&Env::from_pairs([("OTHER", "x")])),
            Err(ConfigError::Missing {
                name: "SHOP_URL".to_owned()
            })
        );
        for bad in [
            "https://shop.example/",
            "shop.example",
            "https://shop.example?x",
        ] {
            let error = shop_url(&Env::from_pairs([("SHOP_URL", bad)])).unwrap_err();
            assert!(
                matches!(&error, ConfigError::Invalid { name, .. } if name == "SHOP_URL"),
                "{bad}: {error}"
            );
        }
    }
}
