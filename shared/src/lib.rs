//! What every service shares, and nothing service-specific.
//!
//! - [`auth`]: the caller a request's authorizer vouched for, and role checks.
//! - [`config`]: typed configuration read from the environment, failing fast with the variable's name.
//! - [`error`]: the one [`ApiError`] enum, rendered as RFC 9457 `application/problem+json`.
//! - [`http`]: the request edge of every HTTP function: request and correlation ids, JSON bodies and
//!   responses, and [`http::run_http`], the adapter every handler runs through.
//! - [`telemetry`]: structured JSON logging through `tracing`.
//! - [`dynamo`]: DynamoDB item conversion and recognition of conditional-write failures.
//! - [`events`]: the envelope every domain event travels in, and the payloads services exchange.
//! - [`outbox`]: events written with the change they describe, and their publisher.
//! - [`consumer`]: the edge of queue consumers: partial batch failures and deduplication.
//! - [`task`]: the edge of the functions Step Functions calls: typed failures and the fault switch.
//! - [`checkout`]: the order lines the checkout saga's steps hand each other.
//! - [`money`]: amounts in minor units with their currency.
//! - [`idempotency`]: `Idempotency-Key` parsing and request fingerprints.
//! - [`secrets`]: secrets read once per cold start (the cursor key among them).
//! - [`pagination`]: opaque, tamper-proof list cursors and the `limit` parameter.
//! - [`ids`] and [`time`]: sortable ids and RFC 3339 UTC timestamps.

#![warn(missing_docs)]

pub mod auth;
pub mod checkout;
pub mod config;
pub mod consumer;
pub mod dynamo;
pub mod error;
pub mod events;
pub mod http;
pub mod idempotency;
pub mod ids;
pub mod metrics;
pub mod money;
pub mod openapi;
pub mod outbox;
pub mod pagination;
pub mod secrets;
pub mod task;
pub mod telemetry;
pub mod time;

pub use error::ApiError;

/// Declares one function per sample event of `events/` (from the crate's `functions/<svc>`
/// directory), each returning it as a `lambda_http::Request`, for handler tests:
///
/// ```text
/// shared::sample_events! {
///     get_cart => "get-cart.json",
///     add_cart_item => "add-cart-item.json",
/// }
/// ```
#[macro_export]
macro_rules! sample_events {
    ($($name:ident => $file:literal),* $(,)?) => {
        $(
            #[doc = concat!("The sample event `events/", $file, "`.")]
            pub fn $name() -> lambda_http::Request {
                lambda_http::request::from_str(include_str!(concat!(
                    env!("CARGO_MANIFEST_DIR"),
                    "/../../events/",
                    $file
                )))
                .unwrap()
            }
        )*
    };
}
pub use http::RequestContext;
