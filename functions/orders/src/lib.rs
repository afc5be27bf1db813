//! The orders service: orders, their status machine and history, and the checkout saga started
//! for each.
//!
//! - `POST /v1/orders` ([`handlers::create_order`]): writes the order PENDING, idempotent on
//!   `Idempotency-Key`, and starts the checkout (a Step Functions execution named by the order id).
//! - `GET /v1/orders` ([`handlers::list_orders`]), `GET /v1/orders/{id}` ([`handlers::get_order`])
//!   and `GET /v1/orders/{id}/history` ([`handlers::get_order_history`]).
//! - `POST /v1/orders/{id}/cancel` ([`handlers::cancel_order`]): the owner cancels a confirmed
//!   order; the saga's compensation refunds and restocks it.
//! - Sellers of its lines and admins: `PUT /v1/orders/{id}/status` ([`handlers::update_order_status`])
//!   and `PUT /v1/orders/{id}/tracking` ([`handlers::update_order_tracking`]).
//! - The saga's tasks that own the order's status: [`handlers::await_payment`],
//!   [`handlers::confirm_order`], [`handlers::fail_order`], [`handlers::close_cancelled_order`]
//!   and [`handlers::flag_order`].
//! - [`handlers::payment_events`] marks orders REFUNDED from the payments service's
//!   `PaymentRefunded` events.
//! - Order events leave through the table's outbox; the publisher sends them to the topic.
//!
//! The service owns one DynamoDB table (layout in [`store`]).

pub mod api;
pub mod domain;
pub mod handlers;
pub mod store;

use shared::{
    config::{ConfigError, Env, StartError},
    money::Currency,
    pagination::CursorCodec,
};

use crate::store::Store;

/// What the orders functions share.
#[derive(Debug, Clone)]
pub struct Orders {
    /// The orders table.
    pub store: Store,
    /// The shop's currency (`CURRENCY`, default USD).
    pub currency: Currency,
}

impl Orders {
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

    /// [`Orders::from_env`] with a fresh SDK configuration.
    ///
    /// # Errors
    /// As [`Orders::from_env`].
    pub async fn load(env: &Env) -> Result<Self, ConfigError> {
        Self::from_env(env, &shared::config::aws().await)
    }
}

/// The state of the functions that start executions of the checkout state machine.
#[derive(Debug, Clone)]
pub struct Checkout {
    /// The orders.
    pub orders: Orders,
    /// Step Functions.
    pub sfn: aws_sdk_sfn::Client,
    /// The checkout state machine (`STATE_MACHINE_ARN`).
    pub state_machine: String,
    /// How long the saga waits for an asynchronous payment (`PAYMENT_TIMEOUT_SECONDS`,
    /// default 900).
    pub payment_timeout_secs: u32,
    /// Whether placing an order needs a verified email (`REQUIRE_VERIFIED_EMAIL`, default false;
    /// the template turns it on in the prod stage).
    pub require_verified_email: bool,
}

impl Checkout {
    /// Builds the state from [`Orders::from_env`]'s variables, `STATE_MACHINE_ARN`,
    /// `PAYMENT_TIMEOUT_SECONDS` and `REQUIRE_VERIFIED_EMAIL`.
    ///
    /// # Errors
    /// A missing or malformed variable.
    pub async fn load(env: &Env) -> Result<Self, ConfigError> {
        let config = shared::config::aws().await;
        Ok(Self {
            orders: Orders::from_env(env, &config)?,
            sfn: aws_sdk_sfn::Client::new(&config),
            state_machine: env.required("STATE_MACHINE_ARN")?,
            payment_timeout_secs: match env.parse_or("PAYMENT_TIMEOUT_SECONDS", 900)? {
                0 => {
                    return Err(ConfigError::invalid(
                        "PAYMENT_TIMEOUT_SECONDS",
                        "must be at least 1",
                    ));
                }
                seconds => seconds,
            },
            require_verified_email: env.flag("REQUIRE_VERIFIED_EMAIL", false)?,
        })
    }
}

/// The state of the functions that return lists: the orders and the cursor key.
#[derive(Debug, Clone)]
pub struct Lists {
    /// The orders.
    pub orders: Orders,
    /// Signs and checks `nextCursor`s.
    pub cursors: CursorCodec,
}

impl Lists {
    /// [`Orders::from_env`] plus the cursor key from the secret named by `CURSOR_KEY_ARN`.
    ///
    /// # Errors
    /// A missing variable or an unreadable secret.
    pub async fn load(env: &Env) -> Result<Self, StartError> {
        let config = shared::config::aws().await;
        let secrets = aws_sdk_secretsmanager::Client::new(&config);
        Ok(Self {
            orders: Orders::from_env(env, &config)?,
            cursors: shared::secrets::cursor_codec(&secrets, &env.required("CURSOR_KEY_ARN")?)
                .await?,
        })
    }
}
