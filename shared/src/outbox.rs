//! The transactional outbox: events that cannot be lost.
//!
//! A service never publishes to SNS right after writing its table: a function that dies between
//! the two would lose the event. Instead it writes each event as an item of its own table, in the
//! same transaction as the change ([`put`]). The table's stream (`NEW_IMAGE`) feeds the service's
//! publisher function, which sends the events to the domain-events topic ([`Publisher`]). The
//! event source mapping retries a failed batch from the first record that failed, bisects, and
//! finally hands what it gives up on to its on-failure queue, so an event is published at least
//! once; consumers deduplicate on the event id.
//!
//! An outbox item, in any table with string keys `pk` and `sk`:
//!
//! | pk | sk | attributes |
//! |---|---|---|
//! | `OUTBOX#<eventId>` | `OUTBOX` | `eventType`, `event` (the envelope as JSON text), `expiresAt` (TTL) |
//!
//! The item expires after [`RETENTION`]: by then its stream record was published (a stream keeps
//! records 24 hours). The publisher ignores every other record of the stream, and the mapping's
//! filter criteria keep them from invoking it at all.

use std::{collections::HashMap, time::Duration};

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use aws_sdk_sns::types::{MessageAttributeValue, PublishBatchRequestEntry};
use serde::{Deserialize, Serialize};

use crate::{
    ApiError,
    dynamo::Item,
    error::Context as _,
    events::{Envelope, RawEnvelope, TYPE_ATTRIBUTE},
};

/// Prefix of the partition key of every outbox item.
pub const KEY_PREFIX: &str = "OUTBOX#";
/// Sort key of every outbox item.
pub const SORT_KEY: &str = "OUTBOX";
/// Attribute holding the envelope as JSON text.
pub const EVENT_ATTRIBUTE: &str = "event";
/// How long an outbox item stays in the table.
pub const RETENTION: Duration = Duration::from_secs(2 * 24 * 3600);
/// One SNS `PublishBatch` call carries at most this many messages.
const PUBLISH_BATCH: usize = 10;

/// The outbox item carrying `envelope`.
///
/// # Errors
/// When the event cannot be serialized.
pub fn item<T: Serialize>(envelope: &Envelope<T>) -> Result<Item, ApiError> {
    let text = envelope.to_json().context("serialize an event")?;
    let expires = envelope.occurred_at + RETENTION;
    Ok(HashMap::from([
        (
            "pk".to_owned(),
            AttributeValue::S(format!("{KEY_PREFIX}{}", envelope.id)),
        ),
        ("sk".to_owned(), AttributeValue::S(SORT_KEY.to_owned())),
        (
            "eventType".to_owned(),
            AttributeValue::S(envelope.event_type.clone()),
        ),
        (EVENT_ATTRIBUTE.to_owned(), AttributeValue::S(text)),
        (
            "expiresAt".to_owned(),
            AttributeValue::N(expires.unix_timestamp().to_string()),
        ),
    ]))
}

/// A transaction item that puts `envelope` into `table`'s outbox. Its condition makes a replayed
/// transaction (same event id) fail instead of publishing twice.
///
/// # Errors
/// When the event cannot be serialized.
pub fn put<T: Serialize>(
    table: &str,
    envelope: &Envelope<T>,
) -> Result<TransactWriteItem, ApiError> {
    let put = Put::builder()
        .table_name(table)
        .set_item(Some(item(envelope)?))
        .condition_expression("attribute_not_exists(pk)")
        .build()
        .context("build the outbox put")?;
    Ok(TransactWriteItem::builder().put(put).build())
}

/// A DynamoDB stream event, as far as the publisher reads it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct StreamEvent {
    /// The records, in stream order.
    #[serde(rename = "Records", default)]
    pub records: Vec<StreamRecord>,
}

/// One stream record.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamRecord {
    /// `INSERT`, `MODIFY` or `REMOVE`.
    pub event_name: String,
    /// The change.
    pub dynamodb: StreamChange,
}

/// The change a stream record describes.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StreamChange {
    /// The record's position in its shard; the item identifier of a partial batch response.
    pub sequence_number: String,
    /// The item after the change, in DynamoDB's JSON form.
    #[serde(default)]
    pub new_image: Option<HashMap<String, serde_json::Value>>,
}

impl StreamRecord {
    /// The event text when this record is an outbox item being written.
    #[must_use]
    pub fn outbox_event(&self) -> Option<&str> {
        if self.event_name != "INSERT" {
            return None;
        }
        let image = self.dynamodb.new_image.as_ref()?;
        let text = |name: &str| image.get(name)?.get("S")?.as_str();
        text("pk")?.starts_with(KEY_PREFIX).then_some(())?;
        text(EVENT_ATTRIBUTE)
    }
}

/// A partial batch response: the items that failed (`ReportBatchItemFailures`). The same shape
/// serves SQS (message ids) and streams (sequence numbers).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchResponse {
    /// The failed items.
    pub batch_item_failures: Vec<ItemFailure>,
}

/// One failed item of a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemFailure {
    /// The message id (SQS) or sequence number (streams).
    pub item_identifier: String,
}

impl BatchResponse {
    /// A response naming `id` as failed.
    #[must_use]
    pub fn failed(id: impl Into<String>) -> Self {
        Self {
            batch_item_failures: vec![ItemFailure {
                item_identifier: id.into(),
            }],
        }
    }
}

/// Publishes outbox records to the domain-events topic.
#[derive(Debug, Clone)]
pub struct Publisher {
    sns: aws_sdk_sns::Client,
    topic_arn: String,
}

/// One outbox record ready to publish.
struct Outgoing<'a> {
    sequence_number: &'a str,
    envelope: RawEnvelope,
    text: &'a str,
}

impl Publisher {
    /// A publisher to `topic_arn`.
    #[must_use]
    pub fn new(sns: aws_sdk_sns::Client, topic_arn: impl Into<String>) -> Self {
        Self {
            sns,
            topic_arn: topic_arn.into(),
        }
    }

    /// Publishes every outbox record of `event`, in order, in batches of ten.
    ///
    /// On the first record that cannot be published, it stops and names that record: the event
    /// source mapping then retries from it (the records after it are retried too, and consumers
    /// deduplicate what was already published). A record that is not an outbox item is skipped.
    pub async fn publish(&self, event: &StreamEvent) -> BatchResponse {
        let mut outgoing = Vec::new();
        let mut malformed = None;
        for record in &event.records {
            let Some(text) = record.outbox_event() else {
                continue;
            };
            let sequence_number = record.dynamodb.sequence_number.as_str();
            match serde_json::from_str::<RawEnvelope>(text) {
                Ok(envelope) => outgoing.push(Outgoing {
                    sequence_number,
                    envelope,
                    text,
                }),
                Err(error) => {
                    // Written by this service, so a bug: it fails, so that it ends in the
                    // mapping's on-failure destination and its alarm, not silently skipped.
                    tracing::error!(%error, sequence_number, "an outbox item holds no valid event");
                    malformed = Some(sequence_number);
                    break;
                }
            }
        }
        for chunk in outgoing.chunks(PUBLISH_BATCH) {
            if let Some(failed) = self.publish_chunk(chunk).await {
                return BatchResponse::failed(failed);
            }
        }
        malformed.map_or_else(BatchResponse::default, BatchResponse::failed)
    }

    /// Publishes up to ten events; returns the sequence number of the first that failed.
    async fn publish_chunk<'a>(&self, chunk: &[Outgoing<'a>]) -> Option<&'a str> {
        let mut entries = Vec::with_capacity(chunk.len());
        for (i, outgoing) in chunk.iter().enumerate() {
            let attribute = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(&outgoing.envelope.event_type)
                .build();
            let entry = attribute.and_then(|attribute| {
                PublishBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message(outgoing.text)
                    .message_attributes(TYPE_ATTRIBUTE, attribute)
                    .build()
            });
            match entry {
                Ok(entry) => entries.push(entry),
                Err(error) => {
                    tracing::error!(%error, "cannot build a publish request");
                    return Some(outgoing.sequence_number);
                }
            }
        }
        let result = self
            .sns
            .publish_batch()
            .topic_arn(&self.topic_arn)
            .set_publish_batch_request_entries(Some(entries))
            .send()
            .await;
        let output = match result {
            Ok(output) => output,
            Err(error) => {
                tracing::error!(error = %crate::error::cause_chain(&error), "publishing to the topic failed; the batch will be retried");
                return chunk.first().map(|o| o.sequence_number);
            }
        };
        let failed: Vec<usize> = output
            .failed()
            .iter()
            .filter_map(|f| f.id().parse().ok())
            .collect();
        for (i, outgoing) in chunk.iter().enumerate() {
            let envelope = &outgoing.envelope;
            if failed.contains(&i) {
                tracing::error!(event_id = %envelope.id, event_type = %envelope.event_type, correlation_id = %envelope.correlation_id, "the topic refused an event; the batch will be retried from it");
                return Some(outgoing.sequence_number);
            }
            tracing::info!(event_id = %envelope.id, event_type = %envelope.event_type, correlation_id = %envelope.correlation_id, "event published");
        }
        None
    }
}

/// Runs a service's publisher function: reads `TOPIC_ARN`, then publishes the outbox records of
/// every stream batch it is given ([`Publisher::publish`]).
///
/// # Errors
/// When `TOPIC_ARN` is missing, or the Lambda runtime cannot start.
pub async fn run_publisher() -> Result<(), lambda_http::Error> {
    use lambda_http::lambda_runtime::{self, LambdaEvent, service_fn};
    let topic = crate::config::Env::from_process()
        .required("TOPIC_ARN")
        .inspect_err(|error| tracing::error!(%error, "cannot start"))?;
    let config = crate::config::aws().await;
    let publisher = Publisher::new(aws_sdk_sns::Client::new(&config), topic);
    let publisher = &publisher;
    lambda_runtime::run(service_fn(|event: LambdaEvent<StreamEvent>| async move {
        Ok::<_, std::convert::Infallible>(publisher.publish(&event.payload).await)
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[derive(Serialize)]
    struct Thing {
        name: &'static str,
    }

    #[test]
    fn an_outbox_item_carries_the_envelope_and_expires() {
        let envelope = Envelope::new("ThingMade", Thing { name: "mug" }, "corr-1");
        let item = item(&envelope).unwrap();
        assert_eq!(
            item["pk"],
            AttributeValue::S(format!("OUTBOX#{}", envelope.id))
        );
        assert_eq!(item["eventType"], AttributeValue::S("ThingMade".into()));
        let AttributeValue::S(text) = &item["event"] else {
            panic!("event is text")
        };
        let back: RawEnvelope = serde_json::from_str(text).unwrap();
        assert_eq!(back.id, envelope.id);
        assert_eq!(back.data, json!({"name": "mug"}));
        let AttributeValue::N(expires) = &item["expiresAt"] else {
            panic!("expiresAt is a number")
        };
        let expires: i64 = expires.parse().unwrap();
        assert_eq!(
            expires - envelope.occurred_at.unix_timestamp(),
            RETENTION.as_secs() as i64
        );
    }

    fn record(event_name: &str, pk: &str, event: Option<&str>) -> StreamRecord {
        let mut image = json!({"pk": {"S": pk}, "sk": {"S": "OUTBOX"}});
        if let Some(event) = event {
            image["event"] = json!({"S": event});
        }
        serde_json::from_value(json!({
            "eventName": event_name,
            "dynamodb": {"SequenceNumber": "7", "NewImage": image},
        }))
        .unwrap()
    }

    #[test]
    fn only_outbox_inserts_are_published() {
        assert_eq!(
            record("INSERT", "OUTBOX#1", Some("{}")).outbox_event(),
            Some("{}")
        );
        assert_eq!(
            record("MODIFY", "OUTBOX#1", Some("{}")).outbox_event(),
            None
        );
        assert_eq!(
            record("INSERT", "PRODUCT#1", Some("{}")).outbox_event(),
            None
        );
        assert_eq!(record("INSERT", "OUTBOX#1", None).outbox_event(), None);
        let removal: StreamRecord = serde_json::from_value(json!({
            "eventName": "REMOVE", "dynamodb": {"SequenceNumber": "8"}
        }))
        .unwrap();
        assert_eq!(removal.outbox_event(), None);
    }

    #[test]
    fn batch_responses_have_lambdas_shape() {
        assert_eq!(
            serde_json::to_value(BatchResponse::failed("42")).unwrap(),
            json!({"batchItemFailures": [{"itemIdentifier": "42"}]})
        );
        assert_eq!(
            serde_json::to_value(BatchResponse::default()).unwrap(),
            json!({"batchItemFailures": []})
        );
    }
}
