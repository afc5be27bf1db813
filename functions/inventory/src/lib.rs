//! The inventory service: stock levels per product, changed only by audited operations.
//!
//! - `GET /v1/inventory/{productId}` ([`handlers::get_stock`]): available, reserved and sold.
//! - The product's seller or an admin: `PUT /v1/inventory/{productId}` ([`handlers::set_stock`]),
//!   `POST /v1/inventory/{productId}/adjust` ([`handlers::adjust_stock`], a signed delta with a
//!   reason, idempotent with `Idempotency-Key`) and `GET /v1/inventory/{productId}/audit`
//!   ([`handlers::list_stock_audit`]).
//! - [`handlers::product_events`] learns products and their sellers from the catalog's
//!   `ProductChanged` events (inventory never reads the catalog's table).
//! - The checkout saga's ReserveStock ([`handlers::reserve_stock`]) and its compensation
//!   ReleaseStock ([`handlers::release_stock`]) hold and return units ([`reservations`]).
//! - [`handlers::order_events`] sells a confirmed order's units and returns those of a cancelled
//!   order or of a full refund with restock, from the orders' and payments' events.
//! - [`handlers::release_expired_reservations`], run by a schedule, releases the holds of
//!   checkouts that never finished.
//! - A `StockLow` event leaves through the table's outbox when `available` crosses under
//!   `STOCK_LOW_THRESHOLD`; the publisher sends it to the domain-events topic.
//!
//! The service owns one DynamoDB table (layout in [`store`]).

pub mod api;
pub mod domain;
pub mod handlers;
pub mod reservations;
pub mod store;

use shared::{
    config::{ConfigError, Env, StartError},
    pagination::CursorCodec,
};

use crate::store::Store;

/// What the inventory functions share.
#[derive(Debug, Clone)]
pub struct Inventory {
    /// The inventory table.
    pub store: Store,
    /// `StockLow` fires when `available` falls below this (`STOCK_LOW_THRESHOLD`, default 5).
    pub low_threshold: u32,
    /// How long a checkout's reservation holds its units before a sweeper may release them
    /// (`RESERVATION_HOLD_SECONDS`, default an hour).
    pub reservation_hold_secs: i64,
}

impl Inventory {
    /// Builds the state from `TABLE_NAME` and `STOCK_LOW_THRESHOLD`.
    ///
    /// # Errors
    /// A missing or malformed variable.
    pub fn from_env(env: &Env, config: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        Ok(Self {
            store: Store::new(
                aws_sdk_dynamodb::Client::new(config),
                env.required("TABLE_NAME")?,
            ),
            low_threshold: env.parse_or("STOCK_LOW_THRESHOLD", 5)?,
            reservation_hold_secs: env.parse_or("RESERVATION_HOLD_SECONDS", 3600)?,
        })
    }

    /// [`Inventory::from_env`] with a fresh SDK configuration.
    ///
    /// # Errors
    /// As [`Inventory::from_env`].
    pub async fn load(env: &Env) -> Result<Self, StartError> {
        Ok(Self::from_env(env, &shared::config::aws().await)?)
    }
}

/// The state of the functions that return lists: the inventory and the cursor key.
#[derive(Debug, Clone)]
pub struct Lists {
    /// The inventory.
    pub inventory: Inventory,
    /// Signs and checks `nextCursor`s.
    pub cursors: CursorCodec,
}

impl Lists {
    /// [`Inventory::from_env`] plus the cursor key from the secret named by `CURSOR_KEY_ARN`.
    ///
    /// # Errors
    /// A missing variable or an unreadable secret.
    pub async fn load(env: &Env) -> Result<Self, StartError> {
        let config = shared::config::aws().await;
        let secrets = aws_sdk_secretsmanager::Client::new(&config);
        Ok(Self {
            inventory: Inventory::from_env(env, &config)?,
            cursors: shared::secrets::cursor_codec(&secrets, &env.required("CURSOR_KEY_ARN")?)
                .await?,
        })
    }
}
