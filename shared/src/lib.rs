//! What every service shares, and nothing service-specific.
//!
//! - [`auth`]: the caller a request's authorizer vouched for, and role checks.
//! - [`config`]: typed configuration read from the environment, failing fast with the variable's name.
//! - [`error`]: the one [`ApiError`] enum, rendered as RFC 9457 `application/problem+json`.
//! - [`http`]: the request edge of every HTTP function: request and correlation ids, JSON bodies and
//!   responses, and [`http::run_http`], the adapter every handler runs through.
//! - [`telemetry`]: structured JSON logging through `tracing`.
//! - [`dynamo`]: DynamoDB item conversion and recognition of conditional-write failures.
//! - [`events`]: the envelope every domain event travels in.
//! - [`pagination`]: opaque, tamper-proof list cursors and the `limit` parameter.
//! - [`ids`] and [`time`]: sortable ids and RFC 3339 UTC timestamps.

#![warn(missing_docs)]

pub mod auth;
pub mod config;
pub mod dynamo;
pub mod error;
pub mod events;
pub mod http;
pub mod ids;
pub mod pagination;
pub mod telemetry;
pub mod time;

pub use error::ApiError;
pub use http::RequestContext;
