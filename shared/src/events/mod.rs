//! The envelope every domain event travels in.
//!
//! ```json
//! {"id": "0190...", "type": "OrderConfirmed", "version": 1, "occurredAt": "2026-01-31T09:15:02.123Z",
//!  "correlationId": "Ab1Cd2Ef3Gh=", "data": {"orderId": "0190..."}}
//! ```
//!
//! The `type` is also published as the SNS message attribute [`TYPE_ATTRIBUTE`], so queues subscribe
//! with filter policies. Consumers are idempotent on `id`.
//!
//! The payloads services exchange are here too, one module per publisher ([`catalog`],
//! [`identity`], [`inventory`], [`orders`], [`payments`]); each has a JSON Schema under `events/schemas/`. Consumers ignore fields they do
//! not know, so a publisher may add fields without a new version.

pub mod catalog;
pub mod identity;
pub mod inventory;
pub mod orders;
pub mod payments;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::ids;

/// Name of the SNS message attribute that carries the event type.
pub const TYPE_ATTRIBUTE: &str = "type";

/// A domain event's payload type: names its `type` and schema `version`.
///
/// ```
/// use serde::{Deserialize, Serialize};
/// use shared::events::{DomainEvent, Envelope};
///
/// #[derive(Serialize, Deserialize)]
/// #[serde(rename_all = "camelCase")]
/// struct StockLow { product_id: String, available: u32 }
///
/// impl DomainEvent for StockLow {
///     const TYPE: &'static str = "StockLow";
/// }
///
/// let event = Envelope::wrap(StockLow { product_id: "p1".into(), available: 2 }, "corr-1");
/// assert_eq!(event.event_type, "StockLow");
/// ```
pub trait DomainEvent: Serialize {
    /// The event's `type`, e.g. `OrderConfirmed`.
    const TYPE: &'static str;
    /// The schema version of `data`; bump it on incompatible changes.
    const VERSION: u32 = 1;
}

/// One event: metadata plus its `data`. Serialized camelCase.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Envelope<T> {
    /// Unique id (UUIDv7); consumers deduplicate on it.
    pub id: Uuid,
    /// The event type, e.g. `OrderConfirmed`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// The schema version of `data`.
    pub version: u32,
    /// When it happened, RFC 3339 UTC.
    #[serde(with = "crate::time::rfc3339")]
    pub occurred_at: OffsetDateTime,
    /// The correlation id of the request that caused it.
    pub correlation_id: String,
    /// The payload.
    pub data: T,
}

impl<T> Envelope<T> {
    /// A new version-1 event of type `event_type`, with a fresh id, occurring now.
    #[must_use]
    pub fn new(event_type: impl Into<String>, data: T, correlation_id: impl Into<String>) -> Self {
        Self {
            id: ids::new_id(),
            event_type: event_type.into(),
            version: 1,
            occurred_at: crate::time::now(),
            correlation_id: correlation_id.into(),
            data,
        }
    }

    /// The same event with another schema version.
    #[must_use]
    pub fn with_version(mut self, version: u32) -> Self {
        self.version = version;
        self
    }
}

impl<T: DomainEvent> Envelope<T> {
    /// A new event whose type and version come from `T`'s [`DomainEvent`] impl.
    #[must_use]
    pub fn wrap(data: T, correlation_id: impl Into<String>) -> Self {
        Self::new(T::TYPE, data, correlation_id).with_version(T::VERSION)
    }
}

impl<T: Serialize> Envelope<T> {
    /// The envelope as JSON text, ready to publish.
    ///
    /// # Errors
    /// When `data` cannot be serialized.
    pub fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }
}

/// The metadata of an envelope whose `data` is kept as raw JSON, for consumers that route on `type`
/// before choosing the payload type.
pub type RawEnvelope = Envelope<serde_json::Value>;

impl RawEnvelope {
    /// Deserializes `data` into the payload type chosen after looking at `type`.
    ///
    /// # Errors
    /// When `data` does not match `T`.
    pub fn into_typed<T: serde::de::DeserializeOwned>(
        self,
    ) -> Result<Envelope<T>, serde_json::Error> {
        let data = serde_json::from_value(self.data)?;
        Ok(Envelope {
            id: self.id,
            event_type: self.event_type,
            version: self.version,
            occurred_at: self.occurred_at,
            correlation_id: self.correlation_id,
            data,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct OrderConfirmed {
        order_id: String,
        total_amount: i64,
    }

    impl DomainEvent for OrderConfirmed {
        const TYPE: &'static str = "OrderConfirmed";
    }

    fn sample() -> Envelope<OrderConfirmed> {
        Envelope::wrap(
            OrderConfirmed {
                order_id: "o-1".into(),
                total_amount: 1299,
            },
            "corr-9",
        )
    }

    #[test]
    fn serializes_with_camel_case_field_names() {
        let value: Value = serde_json::from_str(&sample().to_json().unwrap()).unwrap();
        let object = value.as_object().unwrap();
        let mut keys: Vec<_> = object.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "correlationId",
                "data",
                "id",
                "occurredAt",
                "type",
                "version"
            ]
        );
        assert_eq!(value["type"], "OrderConfirmed");
        assert_eq!(value["version"], 1);
        assert_eq!(value["correlationId"], "corr-9");
        assert_eq!(
            value["data"],
            json!({"orderId": "o-1", "totalAmount": 1299})
        );
        assert!(value["occurredAt"].as_str().unwrap().ends_with('Z'));
    }

    #[test]
    fn round_trips_through_json() {
        let event = sample();
        let back: Envelope<OrderConfirmed> =
            serde_json::from_str(&event.to_json().unwrap()).unwrap();
        assert_eq!(back, event);
    }

    #[test]
    fn a_raw_envelope_becomes_typed_after_routing_on_type() {
        let text = sample().to_json().unwrap();
        let raw: RawEnvelope = serde_json::from_str(&text).unwrap();
        assert_eq!(raw.event_type, OrderConfirmed::TYPE);
        let typed = raw.into_typed::<OrderConfirmed>().unwrap();
        assert_eq!(typed.data.total_amount, 1299);
    }

    #[test]
    fn new_events_get_fresh_ids_and_the_given_version() {
        let a = Envelope::new("StockLow", json!({}), "c");
        let b = Envelope::new("StockLow", json!({}), "c").with_version(2);
        assert_ne!(a.id, b.id);
        assert_eq!(a.id.get_version_num(), 7);
        assert_eq!(b.version, 2);
    }

    #[test]
    fn occurred_at_is_read_back_in_utc_from_any_offset() {
        let text = r#"{"id":"01900000-0000-7000-8000-000000000000","type":"X","version":1,
            "occurredAt":"2026-01-31T10:00:00+01:00","correlationId":"c","data":null}"#;
        let event: RawEnvelope = serde_json::from_str(text).unwrap();
        assert_eq!(
            crate::time::to_rfc3339(event.occurred_at),
            "2026-01-31T09:00:00.000Z"
        );
    }
}
