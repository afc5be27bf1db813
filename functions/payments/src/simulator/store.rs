//! The simulator's table: its intents, refunds and idempotency keys.
//!
//! One DynamoDB table with string keys `pk` and `sk` and a TTL attribute `expiresAt`:
//!
//! | item | pk | sk |
//! |---|---|---|
//! | payment intent ([`Intent`], with a `version`) | `INTENT#<id>` | `INTENT` |
//! | refund (the provider's JSON) | `REFUND#<id>` | `REFUND` |
//! | idempotency key: fingerprint, state, stored answer (24 h) | `IDEMPOTENCY#<key>` | `IDEMPOTENCY` |
//! | calls made with a `pm_card_unavailable_<N>` key (24 h) | `UNAVAILABLE#<key>` | `COUNT` |
//!
//! A key is claimed with a conditional put before its request runs, so two requests with one key
//! never both run: the second sees the first's claim (409, or 400 with other parameters) or its
//! stored answer. An intent changes under the condition that its `version` is the one read.

use aws_sdk_dynamodb::{Client, types::ReturnValue};
use serde::{Deserialize, Serialize};
use shared::{
    ApiError,
    dynamo::{self, Item, WriteFailure, key, n, s, values},
    error::Context as _,
};

use super::intents::{Answer, Intent};

/// How long an idempotency key is remembered.
const KEY_RETENTION_SECS: i64 = 24 * 3600;
/// A claim older than this belongs to a request that died: another may take it over.
const CLAIM_TIMEOUT_SECS: i64 = 30;

fn intent_key(id: &str) -> Item {
    key(format!("INTENT#{id}"), "INTENT")
}

fn idempotency_key(text: &str) -> Item {
    key(format!("IDEMPOTENCY#{text}"), "IDEMPOTENCY")
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct KeyRecord {
    fingerprint: String,
    claimed_at: i64,
    /// The stored answer as JSON text, once the request finished.
    #[serde(default)]
    answer: Option<String>,
}

/// What claiming an idempotency key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// The key is this request's: run it.
    Mine,
    /// The key's request finished: its fingerprint and answer.
    Done {
        /// The first request's fingerprint.
        fingerprint: String,
        /// Its answer.
        answer: Answer,
    },
    /// Another request with the key is running.
    InProgress {
        /// Its fingerprint.
        fingerprint: String,
    },
}

/// Access to the simulator's table.
#[derive(Debug, Clone)]
pub struct SimulatorStore {
    client: Client,
    table: String,
}

impl SimulatorStore {
    /// A store over `table`.
    #[must_use]
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// An intent.
    ///
    /// # Errors
    /// 500 on storage failure.
    pub async fn intent(&self, id: &str) -> Result<Option<Intent>, ApiError> {
        dynamo::get(&self.client, &self.table, intent_key(id), true, "an intent").await
    }

    /// Stores a new intent.
    ///
    /// # Errors
    /// 500 on storage failure (or an id taken, which random ids make impossible).
    pub async fn create_intent(&self, intent: &Intent) -> Result<(), ApiError> {
        let mut item = dynamo::to_item(intent).context("serialize an intent")?;
        item.extend(intent_key(&intent.id));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .context("store an intent")?;
        Ok(())
    }

    /// Stores a changed intent, if nobody changed it since it was read (at `intent.version`);
    /// the stored version is the next. `false` when somebody did.
    ///
    /// # Errors
    /// 500 on storage failure.
    pub async fn save_intent(&self, intent: &mut Intent) -> Result<bool, ApiError> {
        let read = intent.version;
        intent.version = read + 1;
        let mut item = dynamo::to_item(&*intent).context("serialize an intent")?;
        item.extend(intent_key(&intent.id));
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("version = :read")
            .set_expression_attribute_values(values(vec![(":read", n(read))]))
            .send()
            .await
            .map_err(dynamo::classify);
        match result {
            Ok(_) => Ok(true),
            Err(WriteFailure::ConditionFailed) => {
                intent.version = read;
                Ok(false)
            }
            Err(failure) => Err(ApiError::internal("save an intent", failure.into_error())),
        }
    }

    /// Stores a refund (the provider's JSON).
    ///
    /// # Errors
    /// 500 on storage failure.
    pub async fn put_refund(&self, id: &str, refund: &serde_json::Value) -> Result<(), ApiError> {
        let mut item = Item::new();
        item.extend(key(format!("REFUND#{id}"), "REFUND"));
        item.insert("refund".to_owned(), s(refund.to_string()));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .context("store a refund")?;
        Ok(())
    }

    /// Claims idempotency key `text` for a request with `fingerprint`.
    ///
    /// # Errors
    /// 500 on storage failure.
    pub async fn claim(&self, text: &str, fingerprint: &str, now: i64) -> Result<Claim, ApiError> {
        let record = KeyRecord {
            fingerprint: fingerprint.to_owned(),
            claimed_at: now,
            answer: None,
        };
        let mut item = dynamo::to_item(&record).context("serialize a key")?;
        item.extend(idempotency_key(text));
        item.insert("expiresAt".to_owned(), n(now + KEY_RETENTION_SECS));
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .send()
            .await
            .map_err(dynamo::classify);
        match result {
            Ok(_) => return Ok(Claim::Mine),
            Err(WriteFailure::ConditionFailed) => {}
            Err(failure) => return Err(ApiError::internal("claim a key", failure.into_error())),
        }
        let Some(existing): Option<KeyRecord> = dynamo::get(
            &self.client,
            &self.table,
            idempotency_key(text),
            true,
            "a key",
        )
        .await?
        else {
            // Released meanwhile: the caller may try again.
            return Ok(Claim::InProgress {
                fingerprint: fingerprint.to_owned(),
            });
        };
        if let Some(answer) = &existing.answer {
            let answer: Answer = serde_json::from_str(answer).context("read a stored answer")?;
            return Ok(Claim::Done {
                fingerprint: existing.fingerprint,
                answer,
            });
        }
        if existing.fingerprint == fingerprint && now - existing.claimed_at > CLAIM_TIMEOUT_SECS {
            let taken = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(idempotency_key(text)))
                .update_expression("SET claimedAt = :now")
                .condition_expression("claimedAt = :old AND attribute_not_exists(answer)")
                .set_expression_attribute_values(values(vec![
                    (":now", n(now)),
                    (":old", n(existing.claimed_at)),
                ]))
                .send()
                .await
                .map_err(dynamo::classify);
            match taken {
                Ok(_) => return Ok(Claim::Mine),
                Err(WriteFailure::ConditionFailed) => {}
                Err(failure) => {
                    return Err(ApiError::internal("take over a key", failure.into_error()));
                }
            }
        }
        Ok(Claim::InProgress {
            fingerprint: existing.fingerprint,
        })
    }

    /// Stores the answer of the request that claimed key `text`.
    ///
    /// # Errors
    /// 500 on storage failure.
    pub async fn complete(&self, text: &str, answer: &Answer) -> Result<(), ApiError> {
        let answer = serde_json::to_string(answer).context("serialize an answer")?;
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(idempotency_key(text)))
            .update_expression("SET answer = :answer")
            .set_expression_attribute_values(values(vec![(":answer", s(answer))]))
            .send()
            .await
            .context("store an answer")?;
        Ok(())
    }

    /// Forgets the claim of key `text` (its request failed with a 500: nothing is stored).
    ///
    /// # Errors
    /// 500 on storage failure.
    pub async fn release(&self, text: &str) -> Result<(), ApiError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(idempotency_key(text)))
            .condition_expression("attribute_not_exists(answer)")
            .send()
            .await
            .map_err(dynamo::classify)
            .map(|_| ())
            .or_else(|failure| match failure {
                WriteFailure::ConditionFailed => Ok(()),
                failure => Err(ApiError::internal("release a key", failure.into_error())),
            })
    }

    /// Counts one more creation with key `text` for an unavailable card; answers the count.
    ///
    /// # Errors
    /// 500 on storage failure.
    pub async fn count_call(&self, text: &str, now: i64) -> Result<u64, ApiError> {
        let output = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("UNAVAILABLE#{text}"), "COUNT")))
            .update_expression("ADD calls :one SET expiresAt = :expires")
            .set_expression_attribute_values(values(vec![
                (":one", n(1)),
                (":expires", n(now + KEY_RETENTION_SECS)),
            ]))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await
            .context("count a call")?;
        Ok(output
            .attributes
            .and_then(|a| {
                a.get("calls")
                    .and_then(|v| v.as_n().ok())
                    .and_then(|v| v.parse().ok())
            })
            .unwrap_or(1))
    }
}
