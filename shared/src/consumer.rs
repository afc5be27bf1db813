//! The edge of every queue consumer: SQS batches of domain events, with partial batch failures and
//! deduplication on the event id.
//!
//! Queues are subscribed to the domain-events topic with raw message delivery, so each message body
//! is an [`Envelope`](crate::events::Envelope). A consumer is an
//! `async fn(&State, RawEnvelope) -> Result<Applied, Failure>`; the binary runs it through
//! [`run_sqs`]:
//!
//! ```no_run
//! use shared::{consumer::{self, Applied, Failure}, events::RawEnvelope};
//!
//! struct State;
//!
//! async fn apply(_state: &State, event: RawEnvelope) -> Result<Applied, Failure> {
//!     tracing::info!(event_type = %event.event_type, "seen");
//!     Ok(Applied::Done)
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), lambda_http::Error> {
//!     shared::telemetry::init();
//!     consumer::run_sqs(&State, "my-consumer", apply).await
//! }
//! ```
//!
//! Each message is handled in its own `event` tracing span carrying the event id, type and
//! correlation id. A message whose body is no envelope, and every [`Failure`], is reported in
//! `batchItemFailures`: only that message comes back after the visibility timeout, and after the
//! queue's `maxReceiveCount` it moves to the dead-letter queue, without holding up the others.
//!
//! The fault switch of the tasks ([`Faults`], `FAULT_INJECTION`) reaches consumers too: a consumer
//! named in it crashes right after handling the first message of a batch that SQS delivers for
//! the first time, before answering, so tests can see that redelivery after a crash mid-batch has
//! one effect per message.
//!
//! Redelivery is normal (SQS is at-least-once, the outbox publishes at least once), so consumers
//! write [`processed_marker`] in the same transaction as their change: a second delivery of the
//! same event finds the marker and changes nothing.

use std::{collections::HashMap, time::Duration};

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use lambda_http::lambda_runtime::{self, LambdaEvent, service_fn};
use serde::Deserialize;
use tracing::Instrument as _;
use uuid::Uuid;

use crate::{
    ApiError,
    config::Env,
    error::{BoxError, Context as _},
    events::{DomainEvent, RawEnvelope},
    outbox::{BatchResponse, ItemFailure},
    task::Faults,
};

/// How long a processed-event marker is kept: far longer than any redelivery (SQS keeps a message
/// at most 14 days, but a queue's redrive window is minutes).
pub const MARKER_RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// An SQS event, as far as consumers read it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SqsEvent {
    /// The messages of the batch.
    #[serde(rename = "Records", default)]
    pub records: Vec<SqsMessage>,
}

/// One SQS message.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SqsMessage {
    /// The message id: the item identifier of a partial batch response.
    pub message_id: String,
    /// The body: an event envelope, with raw delivery.
    #[serde(default)]
    pub body: String,
    /// The message's system attributes.
    #[serde(default)]
    pub attributes: SqsAttributes,
}

/// The system attributes of an SQS message that consumers read.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SqsAttributes {
    /// How many times SQS has delivered the message, this time included.
    #[serde(rename = "ApproximateReceiveCount", default)]
    pub approximate_receive_count: Option<String>,
}

impl SqsMessage {
    /// How many times SQS has delivered this message, this time included (1 when unknown).
    #[must_use]
    pub fn receive_count(&self) -> u32 {
        self.attributes
            .approximate_receive_count
            .as_deref()
            .and_then(|count| count.parse().ok())
            .unwrap_or(1)
    }
}

/// What applying an event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The change was made.
    Done,
    /// The event was seen before (its marker exists): nothing changed.
    Duplicate,
    /// The event is older than what the consumer already has, or not for it: nothing changed.
    Ignored,
}

/// Why a message failed; either way it is reported and comes back.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The message can never succeed as it is (malformed, unknown type or version, missing
    /// fields): logged as an error, it ends in the dead-letter queue.
    #[error("poison message: {0}")]
    Poison(String),
    /// Something that may work next time (storage unavailable, a lost race).
    #[error("{context}")]
    Retry {
        /// What was being done.
        context: String,
        /// The cause.
        source: BoxError,
    },
}

impl Failure {
    /// A [`Failure::Retry`] with context.
    #[must_use]
    pub fn retry(context: impl Into<String>, source: impl Into<BoxError>) -> Self {
        Self::Retry {
            context: context.into(),
            source: source.into(),
        }
    }
}

impl From<ApiError> for Failure {
    fn from(error: ApiError) -> Self {
        Self::retry("apply the event", error)
    }
}

/// Reads `T` from an event's `data`, as a [`Failure::Poison`] when it does not fit. Unknown fields
/// are ignored, so publishers may add fields.
///
/// # Errors
/// [`Failure::Poison`] naming the event type and what is wrong.
pub fn data<T: serde::de::DeserializeOwned>(event: &RawEnvelope) -> Result<T, Failure> {
    serde_json::from_value(event.data.clone())
        .map_err(|e| Failure::Poison(format!("{} v{} data: {e}", event.event_type, event.version)))
}

/// Reads `T` from `event` when the event is of `T`'s type: `None` for another type, and
/// [`Failure::Poison`] for another version of that type or data that does not fit.
///
/// # Errors
/// [`Failure::Poison`] as above.
pub fn typed<T: DomainEvent + serde::de::DeserializeOwned>(
    event: &RawEnvelope,
) -> Result<Option<T>, Failure> {
    if event.event_type != T::TYPE {
        return Ok(None);
    }
    if event.version != T::VERSION {
        return Err(unexpected(event));
    }
    data(event).map(Some)
}

/// The [`Failure::Poison`] of an event whose type or version a consumer does not handle.
#[must_use]
pub fn unexpected(event: &RawEnvelope) -> Failure {
    Failure::Poison(format!(
        "unexpected event {} v{}",
        event.event_type, event.version
    ))
}

/// Handles every message of `event` with `apply`, one after the other, and names the ones that
/// failed.
pub async fn consume<S, F>(state: &S, event: SqsEvent, apply: F) -> BatchResponse
where
    S: ?Sized,
    F: AsyncFn(&S, RawEnvelope) -> Result<Applied, Failure>,
{
    consume_with_faults(state, "", &Faults::default(), event, apply).await
}

/// [`consume`], crashing as the fault switch says for the consumer `name`.
async fn consume_with_faults<S, F>(
    state: &S,
    name: &str,
    faults: &Faults,
    event: SqsEvent,
    apply: F,
) -> BatchResponse
where
    S: ?Sized,
    F: AsyncFn(&S, RawEnvelope) -> Result<Applied, Failure>,
{
    let mut failures = Vec::new();
    for (position, message) in event.records.into_iter().enumerate() {
        let crash_after = position == 0 && faults.crashes(name, message.receive_count() - 1);
        let envelope = match serde_json::from_str::<RawEnvelope>(&message.body) {
            Ok(envelope) => envelope,
            Err(error) => {
                tracing::error!(message_id = %message.message_id, %error, "poison message: the body is not an event envelope");
                failures.push(ItemFailure {
                    item_identifier: message.message_id,
                });
                continue;
            }
        };
        let span = tracing::info_span!(
            "event",
            event_id = %envelope.id,
            event_type = %envelope.event_type,
            version = envelope.version,
            correlation_id = %envelope.correlation_id,
            message_id = %message.message_id,
        );
        // Boxed: the consumer's future can be deep, and the batch loop need not hold its layout.
        let outcome = Box::pin(apply(state, envelope))
            .instrument(span.clone())
            .await;
        let _entered = span.enter();
        match outcome {
            Ok(applied) => {
                if applied == Applied::Duplicate {
                    crate::metrics::count(crate::metrics::Business::DuplicateEvents);
                }
                tracing::info!(?applied, "event handled");
            }
            Err(Failure::Poison(reason)) => {
                tracing::error!(%reason, "poison message; it will reach the dead-letter queue");
                failures.push(ItemFailure {
                    item_identifier: message.message_id,
                });
            }
            Err(Failure::Retry { context, source }) => {
                tracing::error!(error = %crate::error::cause_chain(source.as_ref()), "{context}; the message will be retried");
                failures.push(ItemFailure {
                    item_identifier: message.message_id,
                });
            }
        }
        if crash_after {
            tracing::warn!("fault injection: crashing after the first message of the batch");
            std::process::exit(70);
        }
    }
    BatchResponse {
        batch_item_failures: failures,
    }
}

/// Runs the SQS consumer `name` (its binary's name): every batch goes through [`consume`] with
/// `apply`.
///
/// # Errors
/// When the fault switch is refused, or the Lambda runtime cannot start or talk to its API.
pub async fn run_sqs<S, F>(state: &S, name: &str, apply: F) -> Result<(), lambda_http::Error>
where
    S: ?Sized + Sync,
    F: AsyncFn(&S, RawEnvelope) -> Result<Applied, Failure> + Copy,
{
    let faults = Faults::from_env(&Env::from_process())
        .inspect_err(|error| tracing::error!(%error, "cannot start"))?;
    let faults = &faults;
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| async move {
        let response = Box::pin(consume_with_faults(
            state,
            name,
            faults,
            event.payload,
            apply,
        ))
        .await;
        crate::metrics::flush();
        Ok::<_, std::convert::Infallible>(response)
    }))
    .await
}

/// A transaction item that records `event_id` as processed in `table`, failing if it already is.
///
/// Put it in the same transaction as the change the event makes: when the transaction is cancelled
/// because this item's condition failed, the event is a duplicate.
///
/// # Errors
/// Only if the request cannot be built.
pub fn processed_marker(table: &str, event_id: Uuid) -> Result<TransactWriteItem, ApiError> {
    let expires = crate::time::now() + MARKER_RETENTION;
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(HashMap::from([
            (
                "pk".to_owned(),
                AttributeValue::S(format!("EVENT#{event_id}")),
            ),
            ("sk".to_owned(), AttributeValue::S("EVENT".to_owned())),
            (
                "expiresAt".to_owned(),
                AttributeValue::N(expires.unix_timestamp().to_string()),
            ),
        ])))
        .condition_expression("attribute_not_exists(pk)")
        .build()
        .context("build the processed-event marker")?;
    Ok(TransactWriteItem::builder().put(put).build())
}

/// Applies `change` once per event: one transaction with the [`processed_marker`] of `event_id`.
///
/// - the marker is new and `change`'s condition holds: [`Applied::Done`];
/// - the marker exists: [`Applied::Duplicate`], nothing changes;
/// - `change`'s condition fails (the event is older than what the table holds): the marker alone
///   is written, [`Applied::Ignored`].
///
/// # Errors
/// [`Failure::Retry`] on storage failure or a transaction that kept conflicting.
pub async fn apply_once(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    event_id: Uuid,
    change: TransactWriteItem,
) -> Result<Applied, Failure> {
    use crate::dynamo::classify;
    let send = |items: Vec<TransactWriteItem>| async move {
        client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
            .map(|_| ())
            .map_err(classify)
    };
    match send(vec![processed_marker(table, event_id)?, change]).await {
        Ok(()) => Ok(Applied::Done),
        Err(failure) if failure.failed_conditions().contains(&0) => Ok(Applied::Duplicate),
        Err(failure) if failure.failed_conditions().contains(&1) => {
            match send(vec![processed_marker(table, event_id)?]).await {
                Ok(()) => Ok(Applied::Ignored),
                Err(failure) if failure.is_condition_failed() => Ok(Applied::Duplicate),
                Err(failure) => Err(Failure::retry("record a stale event", failure.into_error())),
            }
        }
        Err(failure) => Err(Failure::retry("apply an event", failure.into_error())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Envelope;
    use serde_json::json;
    use std::sync::Mutex;

    fn message(id: &str, body: String) -> SqsMessage {
        SqsMessage {
            message_id: id.into(),
            body,
            attributes: SqsAttributes::default(),
        }
    }

    fn event_body(event_type: &str) -> String {
        Envelope::new(event_type, json!({"n": 1}), "corr-1")
            .to_json()
            .unwrap()
    }

    async fn apply(seen: &Mutex<Vec<String>>, event: RawEnvelope) -> Result<Applied, Failure> {
        seen.lock().unwrap().push(event.event_type.clone());
        match event.event_type.as_str() {
            "Good" => Ok(Applied::Done),
            "Flaky" => Err(Failure::retry("store", std::io::Error::other("timeout"))),
            _ => Err(Failure::Poison("unknown type".into())),
        }
    }

    #[tokio::test]
    async fn failures_are_reported_one_by_one_and_the_rest_goes_on() {
        let seen = Mutex::new(Vec::new());
        let event = SqsEvent {
            records: vec![
                message("m1", event_body("Good")),
                message("m2", "{not json".into()),
                message("m3", event_body("Flaky")),
                message("m4", event_body("Mystery")),
                message("m5", event_body("Good")),
            ],
        };
        let response = consume(&seen, event, apply).await;
        let failed: Vec<_> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        assert_eq!(failed, ["m2", "m3", "m4"]);
        assert_eq!(*seen.lock().unwrap(), ["Good", "Flaky", "Mystery", "Good"]);
    }

    #[test]
    fn data_of_the_wrong_shape_is_poison_and_unknown_fields_are_ignored() {
        #[derive(Debug, Deserialize)]
        struct Data {
            n: u32,
        }
        let event: RawEnvelope = serde_json::from_str(
            &Envelope::new("T", json!({"n": 3, "extra": true}), "c")
                .to_json()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(data::<Data>(&event).unwrap().n, 3);
        let event: RawEnvelope =
            serde_json::from_str(&Envelope::new("T", json!({"m": 3}), "c").to_json().unwrap())
                .unwrap();
        assert!(matches!(data::<Data>(&event), Err(Failure::Poison(_))));
    }
}
