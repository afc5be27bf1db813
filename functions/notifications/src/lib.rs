//! The notification service: tells customers what happened to their orders, by email and, when
//! they opted in, by SMS.
//!
//! - [`handlers::order_events`] turns `OrderConfirmed`, `OrderFailed`, `OrderCancelled`,
//!   `OrderShipped`, `OrderDelivered` and `PaymentRefunded` into messages rendered from the
//!   template files under `templates/` ([`render`]), sent through SES v2 and SNS ([`send`]), and
//!   records every delivery, at most one per event and channel ([`store`]).
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

use crate::{render::Templates, send::Providers, store::Store};

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
}

impl Notifier {
    /// Builds the state from `TABLE_NAME`, `SENDER_EMAIL` and `SHOP_NAME`.
    ///
    /// # Errors
    /// A missing variable, or a template that does not compile.
    pub async fn load(env: &Env) -> Result<Self, StartError> {
        let config = shared::config::aws().await;
        let templates = Templates::load().map_err(|e| ConfigError::invalid("templates", e))?;
        Ok(Self {
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
