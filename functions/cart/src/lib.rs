//! The cart service: one cart per user, priced from the cart's own copy of the catalog.
//!
//! - `GET /v1/cart` ([`handlers::get_cart`]), `POST /v1/cart/items` ([`handlers::add_cart_item`]),
//!   `PATCH`/`DELETE /v1/cart/items/{productId}` ([`handlers::update_cart_item`],
//!   [`handlers::remove_cart_item`]) and `DELETE /v1/cart` ([`handlers::clear_cart`]), all for the
//!   signed-in user.
//! - [`handlers::product_events`] keeps the cart's copy of every product from the catalog's
//!   `ProductChanged` events (the cart never reads the catalog's table): prices, names and whether
//!   a product is still for sale.
//! - The checkout saga's SnapshotCart task ([`handlers::snapshot_cart`]) reads a cart's lines for
//!   an order placed from it, and [`handlers::order_events`] takes what a confirmed order bought
//!   out of the cart (`OrderConfirmed`): the orders service never touches the cart.
//!
//! The service owns one DynamoDB table (layout in [`store`]).

pub mod api;
pub mod domain;
pub mod handlers;
pub mod store;

use shared::{
    config::{ConfigError, Env},
    money::Currency,
};

use crate::store::Store;

/// What the cart functions share.
#[derive(Debug, Clone)]
pub struct Carts {
    /// The cart table.
    pub store: Store,
    /// The shop's currency (`CURRENCY`, default USD), for an empty cart's subtotal.
    pub currency: Currency,
}

impl Carts {
    /// Builds the state from `TABLE_NAME` and `CURRENCY`.
    ///
    /// # Errors
    /// A missing or malformed variable.
    pub fn from_env(env: &Env, config: &aws_config::SdkConfig) -> Result<Self, ConfigError> {
        let currency = env.currency()?;
        Ok(Self {
            store: Store::new(
                aws_sdk_dynamodb::Client::new(config),
                env.required("TABLE_NAME")?,
            ),
            currency,
        })
    }

    /// [`Carts::from_env`] with a fresh SDK configuration.
    ///
    /// # Errors
    /// As [`Carts::from_env`].
    pub async fn load(env: &Env) -> Result<Self, ConfigError> {
        Self::from_env(env, &shared::config::aws().await)
    }
}
