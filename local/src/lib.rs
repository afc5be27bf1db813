//! The local stack: runs the whole system described by `template.yaml` on one machine,
//! with no AWS account and no Docker.
//!
//! - [`emulator`]: the AWS API emulator (DynamoDB, SNS, SQS, Secrets Manager, SES).
//! - [`provision`]: creates the template's tables, topics, queues, subscriptions, secrets and
//!   email identities in it.
//! - [`mailbox`]: the emails and SMS the functions sent, as the emulator kept them.
//! - [`apigw`]: the template's HTTP APIs, served as API Gateway serves them.
//! - [`sources`]: the template's SQS and DynamoDB Streams event sources, polled as Lambda polls them,
//!   and its schedules (`Schedule`, `ScheduleV2`), run on time.
//! - [`sfn`]: the template's state machines behind a local Step Functions API.
//! - [`events`]: the event tap: every message published to a topic, logged and checked against
//!   its JSON Schema.
//! - [`custom_resources`]: creates the template's custom resources with their functions.
//! - [`dead_letters`]: the template's dead-letter queues, listed and moved back to their sources.
//! - [`build`]: builds the function binaries the template names.
//! - [`seed`]: loads a demo catalog through the public API.
//! - [`stack`]: all of it together; [`testing`] starts one for a test.

pub mod apigw;
pub mod bench;
pub mod build;
pub mod console;
pub mod custom_resources;
pub mod dead_letters;
pub mod emulator;
pub mod events;
pub mod logging;
pub mod mailbox;
pub mod metrics;
pub mod paths;
pub mod provision;
pub mod seed;
pub mod server;
pub mod sfn;
pub mod sources;
pub mod stack;
mod sync;
pub mod testing;
