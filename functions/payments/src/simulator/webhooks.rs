//! The simulator's delayed webhooks (function `simulator-webhooks`, an SQS consumer with partial
//! batch failures): each message settles an intent waiting for the customer (`requires_action`,
//! or `processing`) as the customer's action would, and posts the signed event to `WEBHOOK_URL`.
//! A redelivered message sends the same event (same id) again; an intent canceled meanwhile
//! sends nothing.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header;
use serde::{Deserialize, Serialize};
use serde_json::json;
use shared::{
    config::{ConfigError, Env, StartError},
    consumer::SqsEvent,
    outbox::{BatchResponse, ItemFailure},
};

use super::{intents::Settlement, store::SimulatorStore};
use crate::{
    ProviderKeys,
    provider::{self, HttpClient},
    signature,
};

/// How long the receiver may take to answer.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);
/// How often settling an intent is tried again after losing a race.
const ATTEMPTS: u32 = 5;

/// A webhook waiting in the queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Scheduled {
    /// The intent.
    pub intent_id: String,
    /// How it settles.
    pub settlement: Settlement,
}

/// The `simulator-webhooks` function's state.
#[derive(Debug, Clone)]
pub struct WebhookSender {
    /// The simulator's table.
    pub store: SimulatorStore,
    /// The secret events are signed with.
    pub keys: ProviderKeys,
    /// Posts the events.
    pub http: HttpClient,
    /// `WEBHOOK_URL`.
    pub url: String,
}

impl WebhookSender {
    /// Builds the state from `TABLE_NAME`, `PROVIDER_SECRET_ARN` and `WEBHOOK_URL`.
    ///
    /// # Errors
    /// A missing variable or an unreadable secret.
    pub async fn load(env: &Env) -> Result<Self, StartError> {
        let config = shared::config::aws().await;
        let secrets = aws_sdk_secretsmanager::Client::new(&config);
        let keys = ProviderKeys::load(&secrets, &env.required("PROVIDER_SECRET_ARN")?).await?;
        Ok(Self {
            store: SimulatorStore::new(
                aws_sdk_dynamodb::Client::new(&config),
                env.required("TABLE_NAME")?,
            ),
            keys,
            http: provider::http_client().map_err(|e| {
                ConfigError::invalid("WEBHOOK_URL", format!("no HTTPS client: {e}"))
            })?,
            url: env.required("WEBHOOK_URL")?,
        })
    }
}

/// What delivering a scheduled webhook did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivered {
    /// Posted and acknowledged.
    Sent,
    /// Nothing to send (no such intent, or it was canceled).
    Dropped,
}

/// Why a webhook must be tried again.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DeliveryFailed(String);

/// The event of `intent` settling, with an id that is the same for every delivery.
#[must_use]
pub fn event(intent: &serde_json::Value, settlement: Settlement, now: i64) -> serde_json::Value {
    use sha2::{Digest as _, Sha256};
    let intent_id = intent["id"].as_str().unwrap_or_default();
    let digest = Sha256::digest(format!("{intent_id}/{}", settlement.event_type()).as_bytes());
    json!({
        "id": format!("evt_{}", signature::hex(&digest[..12])),
        "object": "event",
        "api_version": provider::API_VERSION,
        "created": now,
        "type": settlement.event_type(),
        "livemode": false,
        "pending_webhooks": 1,
        "data": {"object": intent},
    })
}

/// Settles the message's intent and posts its signed event.
///
/// # Errors
/// [`DeliveryFailed`] on storage trouble or when the receiver does not answer 2xx.
pub async fn deliver(
    sender: &WebhookSender,
    scheduled: &Scheduled,
) -> Result<Delivered, DeliveryFailed> {
    let mut settled = None;
    for attempt in 0..ATTEMPTS {
        let Some(mut intent) = sender
            .store
            .intent(&scheduled.intent_id)
            .await
            .map_err(|e| DeliveryFailed(e.detail()))?
        else {
            tracing::warn!(intent_id = %scheduled.intent_id, "no such intent; nothing to send");
            return Ok(Delivered::Dropped);
        };
        let before = intent.clone();
        if !intent.settle(scheduled.settlement) {
            tracing::info!(intent_id = %intent.id, status = intent.status.as_str(), "the intent moved on; no webhook");
            return Ok(Delivered::Dropped);
        }
        if intent == before
            || sender
                .store
                .save_intent(&mut intent)
                .await
                .map_err(|e| DeliveryFailed(e.detail()))?
        {
            settled = Some(intent);
            break;
        }
        shared::dynamo::backoff(attempt).await;
    }
    let intent = settled.ok_or_else(|| DeliveryFailed("the intent kept changing".into()))?;
    let now = shared::time::now().unix_timestamp();
    let body = event(&intent.to_json(), scheduled.settlement, now).to_string();
    let header_value =
        signature::header(&[sender.keys.webhook_secret.as_str()], now, body.as_bytes());
    let request = hyper::Request::post(&sender.url)
        .header(header::CONTENT_TYPE, "application/json")
        .header(signature::HEADER, header_value)
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| DeliveryFailed(e.to_string()))?;
    let response = tokio::time::timeout(DELIVERY_TIMEOUT, sender.http.request(request))
        .await
        .map_err(|_| DeliveryFailed("the receiver did not answer in time".into()))?
        .map_err(|e| DeliveryFailed(shared::error::cause_chain(&e)))?;
    let status = response.status();
    if status.is_success() {
        tracing::info!(intent_id = %intent.id, event = scheduled.settlement.event_type(), "webhook delivered");
        Ok(Delivered::Sent)
    } else {
        Err(DeliveryFailed(format!("the receiver answered {status}")))
    }
}

/// Delivers every message of `event`; names the ones to try again.
pub async fn consume(sender: &WebhookSender, event: SqsEvent) -> BatchResponse {
    let mut failures = Vec::new();
    for message in event.records {
        let outcome = match serde_json::from_str::<Scheduled>(&message.body) {
            Ok(scheduled) => deliver(sender, &scheduled).await,
            Err(error) => Err(DeliveryFailed(format!("not a scheduled webhook: {error}"))),
        };
        if let Err(error) = outcome {
            tracing::error!(message_id = %message.message_id, %error, "webhook not delivered; it will be retried");
            failures.push(ItemFailure {
                item_identifier: message.message_id,
            });
        }
    }
    BatchResponse {
        batch_item_failures: failures,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_delivery_of_a_settlement_has_the_same_event_id() {
        let intent = json!({"id": "pi_1", "object": "payment_intent", "status": "succeeded"});
        let first = event(&intent, Settlement::Succeeded, 1);
        let again = event(&intent, Settlement::Succeeded, 2);
        assert_eq!(first["id"], again["id"]);
        assert_eq!(first["type"], "payment_intent.succeeded");
        assert_ne!(first["id"], event(&intent, Settlement::Failed, 1)["id"]);
        assert_eq!(first["data"]["object"]["id"], "pi_1");
    }

    #[test]
    fn the_sample_event_is_a_scheduled_webhook() {
        let event: SqsEvent = serde_json::from_str(include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../events/simulator-webhooks.json"
        )))
        .unwrap();
        let scheduled: Scheduled = serde_json::from_str(&event.records[0].body).unwrap();
        assert_eq!(scheduled.settlement, Settlement::Succeeded);
    }
}
