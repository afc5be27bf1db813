//! The inventory table: stock levels, their audit trail, idempotent adjustments, processed events
//! and the outbox.
//!
//! One DynamoDB table with string keys `pk` and `sk`, a stream (`NEW_IMAGE`, read by the publisher
//! for the outbox), a TTL attribute `expiresAt` and one sparse global secondary index,
//! `ExpiringReservations` (partition `holdPk`, sort `holdUntil`, keys only):
//!
//! | item | pk | sk | holdPk / holdUntil |
//! |---|---|---|---|
//! | stock of a product (levels, seller, catalog version seen) | `STOCK#<productId>` | `STOCK` | |
//! | audit record of a change | `STOCK#<productId>` | `AUDIT#<time>#<id>` | |
//! | idempotent adjustment | `ADJUST#<productId>#<key>` | `ADJUST` | |
//! | an order's reservation ([`crate::reservations`]): `RESERVED`, `SOLD`, `RELEASED` or `RETURNED` | `RESERVATION#<orderId>` | `RESERVATION` | `RESERVED` / its hold's end, while `RESERVED` only |
//! | processed event ([`shared::consumer`]) | `EVENT#<eventId>` | `EVENT` | |
//! | outbox event ([`shared::outbox`]) | `OUTBOX#<eventId>` | `OUTBOX` | |
//!
//! Only a reservation still `RESERVED` has `holdPk`, so the index holds exactly the holds a
//! sweeper may have to end, sorted by when they end.
//!
//! A stock item is created by the first `ProductChanged` event of its product (levels at zero) and
//! learns its seller from it. Every change of the levels is one transaction: the levels, under the
//! condition that the version read is still current; the audit record; the idempotency record of
//! an adjustment; and a `StockLow` event when `available` crosses under the threshold.

use aws_sdk_dynamodb::{
    Client,
    types::{TransactWriteItem, Update},
};
use serde::{Deserialize, Serialize};
use shared::{
    ApiError,
    consumer::{self, Applied, Failure},
    dynamo::{self, Item, key, n, s, values},
    error::Context as _,
    events::{Envelope, catalog::ProductChanged, inventory::StockLow},
    outbox,
};
use uuid::Uuid;

use crate::domain::{AuditRecord, Stock};

/// How long the record of an idempotent adjustment is kept.
const IDEMPOTENCY_RETENTION_SECS: i64 = 24 * 3600;
/// How many times a transaction that lost a race to a concurrent one is retried.
const CONFLICT_RETRIES: u32 = 3;

/// An idempotency key given with an adjustment, and the fingerprint of its request.
#[derive(Debug, Clone)]
pub struct Idempotency<'a> {
    /// The client's key.
    pub key: &'a str,
    /// [`shared::idempotency::fingerprint`] of the body.
    pub fingerprint: String,
}

/// A change of the levels, ready to write.
#[derive(Debug, Clone)]
pub struct Change<'a> {
    /// The stock as read.
    pub current: &'a Stock,
    /// The stock after the change.
    pub next: &'a Stock,
    /// Its audit record.
    pub audit: &'a AuditRecord,
    /// The `StockLow` event, when the change crosses under the threshold.
    pub low: Option<&'a Envelope<StockLow>>,
    /// The adjustment's idempotency key.
    pub idempotency: Option<&'a Idempotency<'a>>,
}

/// What writing a change led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Written {
    /// Written.
    Done,
    /// The version moved on since it was read: read again and retry.
    Stale,
    /// The same adjustment was made before with this key: these were the levels after it.
    Replayed(Stock),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AdjustRecord {
    fingerprint: String,
    result: Stock,
    #[serde(rename = "expiresAt")]
    expires_at: i64,
}

/// Access to the inventory table.
#[derive(Debug, Clone)]
pub struct Store {
    client: Client,
    table: String,
}

fn stock_key(product: Uuid) -> Item {
    key(format!("STOCK#{product}"), "STOCK")
}

fn adjust_key(product: Uuid, key_text: &str) -> Item {
    key(format!("ADJUST#{product}#{key_text}"), "ADJUST")
}

impl Store {
    /// A store over `table`.
    #[must_use]
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// The table's name.
    #[must_use]
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The DynamoDB client.
    #[must_use]
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The stock of `product` (strongly consistent).
    ///
    /// # Errors
    /// 500 on storage failure or a malformed item.
    pub async fn stock(&self, product: Uuid) -> Result<Option<Stock>, ApiError> {
        dynamo::get(
            &self.client,
            &self.table,
            stock_key(product),
            true,
            "a stock item",
        )
        .await
    }

    /// Writes `change` in one transaction (see the [module docs](self)).
    ///
    /// # Errors
    /// 422 `IDEMPOTENCY_KEY_REUSED`; 500 on storage failure.
    #[tracing::instrument(skip_all, fields(product_id = %change.next.product_id))]
    pub async fn write(&self, change: &Change<'_>) -> Result<Written, ApiError> {
        let next = change.next;
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(stock_key(next.product_id)))
            .update_expression(
                "SET available = :a, reserved = :r, sold = :s, version = :next, updatedAt = :at",
            )
            .condition_expression("version = :version")
            .set_expression_attribute_values(values(vec![
                (":a", n(next.available)),
                (":r", n(next.reserved)),
                (":s", n(next.sold)),
                (":next", n(next.version)),
                (":at", s(next.updated_at.clone())),
                (":version", n(change.current.version)),
            ]))
            .build()
            .context("build the stock update")?;
        let mut audit = dynamo::to_item(change.audit).context("serialize an audit record")?;
        audit.extend(key(
            format!("STOCK#{}", next.product_id),
            format!("AUDIT#{}#{}", change.audit.at, change.audit.id),
        ));
        let mut items = vec![
            TransactWriteItem::builder().update(update).build(),
            dynamo::put(&self.table, audit, Some("attribute_not_exists(pk)"))?,
        ];
        if let Some(idempotency) = change.idempotency {
            let record = AdjustRecord {
                fingerprint: idempotency.fingerprint.clone(),
                result: next.clone(),
                expires_at: shared::time::now().unix_timestamp() + IDEMPOTENCY_RETENTION_SECS,
            };
            let mut item = dynamo::to_item(&record).context("serialize an adjustment record")?;
            item.extend(adjust_key(next.product_id, idempotency.key));
            items.push(dynamo::put(
                &self.table,
                item,
                Some("attribute_not_exists(pk)"),
            )?);
        }
        if let Some(low) = change.low {
            items.push(outbox::put(&self.table, low)?);
        }
        for attempt in 0..=CONFLICT_RETRIES {
            let sent = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .send()
                .await
                .map_err(dynamo::classify);
            let failure = match sent {
                Ok(_) => return Ok(Written::Done),
                Err(failure) => failure,
            };
            let failed = failure.failed_conditions();
            if change.idempotency.is_some() && failed.contains(&2) {
                return self.replay(next.product_id, change.idempotency).await;
            }
            if failed.contains(&0) {
                return Ok(Written::Stale);
            }
            if failure.is_transient() && attempt < CONFLICT_RETRIES {
                dynamo::backoff(attempt).await;
                continue;
            }
            return Err(ApiError::internal("change stock", failure.into_error()));
        }
        Err(ApiError::internal(
            "change stock",
            "the transaction kept conflicting",
        ))
    }

    async fn replay(
        &self,
        product: Uuid,
        idempotency: Option<&Idempotency<'_>>,
    ) -> Result<Written, ApiError> {
        let Some(idempotency) = idempotency else {
            return Err(ApiError::internal("replay an adjustment", "no key"));
        };
        let record: AdjustRecord = dynamo::get(
            &self.client,
            &self.table,
            adjust_key(product, idempotency.key),
            true,
            "an adjustment record",
        )
        .await?
        .ok_or_else(|| ApiError::internal("replay an adjustment", "the record vanished"))?;
        if record.fingerprint == idempotency.fingerprint {
            Ok(Written::Replayed(record.result))
        } else {
            Err(shared::idempotency::reused())
        }
    }

    /// One page of `product`'s audit trail, newest first.
    ///
    /// # Errors
    /// 500 on storage failure.
    pub async fn audit(
        &self,
        product: Uuid,
        limit: i32,
        start: Option<Item>,
    ) -> Result<(Vec<AuditRecord>, Option<Item>), ApiError> {
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :p AND begins_with(sk, :audit)")
            .set_expression_attribute_values(values(vec![
                (":p", s(format!("STOCK#{product}"))),
                (":audit", s("AUDIT#")),
            ]))
            .scan_index_forward(false)
            .limit(limit)
            .set_exclusive_start_key(start)
            .send()
            .await
            .context("query the audit trail")?;
        let records =
            dynamo::from_items(output.items.unwrap_or_default()).context("read audit records")?;
        Ok((records, output.last_evaluated_key.filter(|k| !k.is_empty())))
    }

    /// Applies a `ProductChanged` event once: creates the product's stock at zero if it has none,
    /// and records its seller, unless a newer version of the product was already seen.
    ///
    /// # Errors
    /// [`Failure::Retry`] on storage failure.
    pub async fn learn_product(
        &self,
        event_id: Uuid,
        product: &ProductChanged,
    ) -> Result<Applied, Failure> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(stock_key(product.product_id)))
            .update_expression(
                "SET productId = :id, sellerId = :seller, productVersion = :v, productStatus = :status, \
                 available = if_not_exists(available, :zero), reserved = if_not_exists(reserved, :zero), \
                 sold = if_not_exists(sold, :zero), version = if_not_exists(version, :zero), \
                 updatedAt = if_not_exists(updatedAt, :now)",
            )
            .condition_expression("attribute_not_exists(productVersion) OR productVersion < :v")
            .set_expression_attribute_values(values(vec![
                (":id", s(product.product_id.to_string())),
                (":seller", s(product.seller_id.to_string())),
                (":v", n(product.version)),
                (":status", s(product.status.as_str())),
                (":zero", n(0)),
                (":now", s(shared::time::now_rfc3339())),
            ]))
            .build()
            .map_err(|e| Failure::retry("build the stock update", e))?;
        consumer::apply_once(
            &self.client,
            &self.table,
            event_id,
            TransactWriteItem::builder().update(update).build(),
        )
        .await
    }
}
