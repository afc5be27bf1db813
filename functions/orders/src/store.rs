//! The orders table: orders, their status history, idempotent placements, processed events and
//! the outbox.
//!
//! One DynamoDB table with string keys `pk` and `sk`, a stream (`NEW_IMAGE`, read by the
//! publisher for the outbox) and a TTL attribute `expiresAt`:
//!
//! | item | pk | sk |
//! |---|---|---|
//! | order | `ORDER#<orderId>` | `ORDER` |
//! | a change of its status | `ORDER#<orderId>` | `HISTORY#<time>#<version>` |
//! | idempotent placement (kept 48 h) | `PLACE#<userId>#<key>` | `PLACE` |
//! | processed event ([`shared::consumer`]) | `EVENT#<eventId>` | `EVENT` |
//! | outbox event ([`shared::outbox`]) | `OUTBOX#<eventId>` | `OUTBOX` |
//!
//! Lists are Queries on sparse global secondary indexes of the order items, sorted by `orderId`
//! (a UUIDv7: newest first when read backwards), projection `ALL`:
//!
//! | index | partition | serves |
//! |---|---|---|
//! | `ByUser` | `userPk` = user id | a customer's orders (a status is a filter) |
//! | `ByStatus` | `statusPk` = status | an admin's list of one status |
//! | `All` | `allPk` = `ORDER` | an admin's list of every order |
//!
//! Every change of an order is one transaction: the order under the condition that its version
//! is still the one read (so its status is too), its history entry, and its event in the outbox.
//! A placement adds its idempotency record under `attribute_not_exists`, so the same key places
//! one order however many requests carry it at once.

use aws_sdk_dynamodb::{Client, types::TransactWriteItem};
use serde::{Deserialize, Serialize};
use shared::{
    ApiError,
    dynamo::{self, Item, key, names, s, values},
    error::Context as _,
    events::{DomainEvent, Envelope},
    outbox,
};
use uuid::Uuid;

use crate::domain::{HistoryEntry, Order, OrderStatus};

/// How long a placement's idempotency record is kept.
const PLACEMENT_RETENTION_SECS: i64 = 48 * 3600;
/// How many times a change that lost a race is re-read and re-applied.
const ATTEMPTS: u32 = 8;

fn order_key(order: Uuid) -> Item {
    key(format!("ORDER#{order}"), "ORDER")
}

fn placement_key(user: Uuid, key_text: &str) -> Item {
    key(format!("PLACE#{user}#{key_text}"), "PLACE")
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Placement {
    order_id: Uuid,
    fingerprint: String,
    #[serde(rename = "expiresAt")]
    expires_at: i64,
}

/// What placing an order led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placed {
    /// A new order.
    New,
    /// The same key and body placed this order before.
    Replayed(Box<Order>),
}

/// A change an order is to undergo, as [`Store::change`]'s decision returns it.
#[derive(Debug, Clone)]
pub struct Change {
    /// The order after the change (its version is bumped by the store).
    pub order: Order,
    /// The status change to record, if the status changes.
    pub history: Option<HistoryEntry>,
    /// The event to publish, as an outbox item.
    pub event: Option<Item>,
    /// Another item for the same transaction (a processed-event marker).
    pub extra: Option<TransactWriteItem>,
}

/// What a [`Store::change`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Changed {
    /// Written; the order as it now is.
    Done(Box<Order>),
    /// The decision found nothing to do (the change was made before); the order as it is.
    Unchanged(Box<Order>),
}

impl Changed {
    /// The order, either way.
    #[must_use]
    pub fn order(&self) -> &Order {
        match self {
            Self::Done(order) | Self::Unchanged(order) => order,
        }
    }
}

/// An event ready for the outbox.
///
/// # Errors
/// 500 when it cannot be serialized.
pub fn outbox_item<T: DomainEvent>(event: T, correlation_id: &str) -> Result<Item, ApiError> {
    outbox::item(&Envelope::wrap(event, correlation_id))
}

/// One page of orders and where the next starts.
#[derive(Debug, Clone, Default)]
pub struct OrderPage {
    /// The orders.
    pub items: Vec<Order>,
    /// The key of the last one read, when more may follow.
    pub next: Option<Item>,
}

/// Which list to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listing {
    /// One user's orders, optionally of one status.
    User(Uuid, Option<OrderStatus>),
    /// Everyone's orders of one status.
    Status(OrderStatus),
    /// Everyone's orders.
    All,
}

/// Access to the orders table.
#[derive(Debug, Clone)]
pub struct Store {
    client: Client,
    table: String,
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

    fn order_item(&self, order: &Order) -> Result<Item, ApiError> {
        let mut item = dynamo::to_item(order).context("serialize an order")?;
        item.extend(order_key(order.order_id));
        let id = order.order_id.to_string();
        item.insert("userPk".into(), s(order.user_id.to_string()));
        item.insert("statusPk".into(), s(order.status.as_str()));
        item.insert("allPk".into(), s("ORDER"));
        item.insert("sortKey".into(), s(id));
        Ok(item)
    }

    fn history_item(
        &self,
        order: &Order,
        entry: &HistoryEntry,
    ) -> Result<TransactWriteItem, ApiError> {
        let mut item = dynamo::to_item(entry).context("serialize a history entry")?;
        item.extend(key(
            format!("ORDER#{}", order.order_id),
            format!("HISTORY#{}#{:010}", entry.at, order.version),
        ));
        dynamo::put(&self.table, item, Some("attribute_not_exists(pk)"))
    }

    /// Places `order` (PENDING) with its first history entry and `event`, once per
    /// idempotency key of its user.
    ///
    /// # Errors
    /// 422 `IDEMPOTENCY_KEY_REUSED` for the key with another body; 500 on storage failure.
    #[tracing::instrument(skip_all, fields(order_id = %order.order_id))]
    pub async fn place(
        &self,
        order: &Order,
        entry: &HistoryEntry,
        event: Item,
        key_text: &str,
        fingerprint: &str,
    ) -> Result<Placed, ApiError> {
        let placement = Placement {
            order_id: order.order_id,
            fingerprint: fingerprint.to_owned(),
            expires_at: shared::time::now().unix_timestamp() + PLACEMENT_RETENTION_SECS,
        };
        let mut placement_item = dynamo::to_item(&placement).context("serialize a placement")?;
        placement_item.extend(placement_key(order.user_id, key_text));
        let items = vec![
            dynamo::put(
                &self.table,
                placement_item,
                Some("attribute_not_exists(pk)"),
            )?,
            dynamo::put(
                &self.table,
                self.order_item(order)?,
                Some("attribute_not_exists(pk)"),
            )?,
            self.history_item(order, entry)?,
            dynamo::put(&self.table, event, None)?,
        ];
        for attempt in 0..ATTEMPTS {
            match dynamo::transact(&self.client, items.clone()).await {
                Ok(()) => return Ok(Placed::New),
                Err(failure) if failure.failed_conditions().contains(&0) => {
                    return self.replay(order.user_id, key_text, fingerprint).await;
                }
                Err(failure) if failure.is_transient() && attempt + 1 < ATTEMPTS => {
                    dynamo::backoff(attempt).await;
                }
                Err(failure) => {
                    return Err(ApiError::internal("place an order", failure.into_error()));
                }
            }
        }
        Err(ApiError::internal(
            "place an order",
            "the transaction kept conflicting",
        ))
    }

    async fn replay(
        &self,
        user: Uuid,
        key_text: &str,
        fingerprint: &str,
    ) -> Result<Placed, ApiError> {
        let placement: Placement = dynamo::get(
            &self.client,
            &self.table,
            placement_key(user, key_text),
            true,
            "a placement",
        )
        .await?
        .ok_or_else(|| ApiError::internal("replay a placement", "the record vanished"))?;
        if placement.fingerprint != fingerprint {
            return Err(shared::idempotency::reused());
        }
        let order = self
            .order(placement.order_id)
            .await?
            .ok_or_else(|| ApiError::internal("replay a placement", "its order vanished"))?;
        Ok(Placed::Replayed(Box::new(order)))
    }

    /// The order `id` (strongly consistent).
    ///
    /// # Errors
    /// 500 on storage failure or a malformed item.
    pub async fn order(&self, id: Uuid) -> Result<Option<Order>, ApiError> {
        dynamo::get(&self.client, &self.table, order_key(id), true, "an order").await
    }

    /// Changes order `id` as `decide` says, given the order as read: `Ok(None)` when there is
    /// nothing to do. A concurrent change makes it read and decide again.
    ///
    /// # Errors
    /// 404 when there is no such order; whatever `decide` fails with; 500 on storage failure.
    pub async fn change<F>(&self, id: Uuid, mut decide: F) -> Result<Changed, ApiError>
    where
        F: FnMut(&Order) -> Result<Option<Change>, ApiError>,
    {
        for attempt in 0..ATTEMPTS {
            let current = self
                .order(id)
                .await?
                .ok_or_else(|| ApiError::not_found("No such order."))?;
            let Some(mut change) = decide(&current)? else {
                return Ok(Changed::Unchanged(Box::new(current)));
            };
            change.order.version = current.version + 1;
            change.order.updated_at = shared::time::now_rfc3339();
            let put = aws_sdk_dynamodb::types::Put::builder()
                .table_name(&self.table)
                .set_item(Some(self.order_item(&change.order)?))
                .condition_expression("version = :version")
                .set_expression_attribute_values(values(vec![(
                    ":version",
                    dynamo::n(current.version),
                )]))
                .build()
                .context("build an order write")?;
            let mut items = vec![TransactWriteItem::builder().put(put).build()];
            if let Some(entry) = &change.history {
                items.push(self.history_item(&change.order, entry)?);
            }
            if let Some(event) = change.event.take() {
                items.push(dynamo::put(&self.table, event, None)?);
            }
            let extra_index = items.len();
            if let Some(extra) = change.extra.take() {
                items.push(extra);
            }
            match dynamo::transact(&self.client, items).await {
                Ok(()) => return Ok(Changed::Done(Box::new(change.order))),
                Err(failure) if failure.failed_conditions().contains(&extra_index) => {
                    // The extra item is a processed-event marker: the event was applied before.
                    return Ok(Changed::Unchanged(Box::new(current)));
                }
                Err(failure) if failure.is_condition_failed() || failure.is_transient() => {
                    dynamo::backoff(attempt).await;
                }
                Err(failure) => {
                    return Err(ApiError::internal("change an order", failure.into_error()));
                }
            }
        }
        Err(ApiError::internal(
            "change an order",
            "the order kept changing",
        ))
    }

    /// Every status change of order `id`, oldest first.
    ///
    /// # Errors
    /// 500 on storage failure.
    pub async fn history(&self, id: Uuid) -> Result<Vec<HistoryEntry>, ApiError> {
        let mut entries = Vec::new();
        let mut start = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :p AND begins_with(sk, :h)")
                .set_expression_attribute_values(values(vec![
                    (":p", s(format!("ORDER#{id}"))),
                    (":h", s("HISTORY#")),
                ]))
                .set_exclusive_start_key(start)
                .consistent_read(true)
                .send()
                .await
                .context("query an order's history")?;
            entries.extend(
                dynamo::from_items::<HistoryEntry>(output.items.unwrap_or_default())
                    .context("read history entries")?,
            );
            match output.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(entries),
            }
        }
    }

    /// One page of `listing`, newest first.
    ///
    /// # Errors
    /// 500 on storage failure.
    pub async fn list(
        &self,
        listing: Listing,
        limit: usize,
        start: Option<Item>,
    ) -> Result<OrderPage, ApiError> {
        let (index, partition_attr, partition, filter) = match listing {
            Listing::User(user, status) => ("ByUser", "userPk", user.to_string(), status),
            Listing::Status(status) => ("ByStatus", "statusPk", status.as_str().to_owned(), None),
            Listing::All => ("All", "allPk", "ORDER".to_owned(), None),
        };
        let mut attribute_names = vec![("#p", partition_attr)];
        let mut attribute_values = vec![(":p", s(partition))];
        if let Some(status) = filter {
            attribute_names.push(("#status", "status"));
            attribute_values.push((":status", s(status.as_str())));
        }
        let mut page = OrderPage::default();
        let mut start = start;
        // A status filter may discard what a query reads: read on, a few queries at most.
        for _ in 0..5 {
            let want = limit - page.items.len();
            let read = if filter.is_some() {
                (want * 2).max(25)
            } else {
                want
            };
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(index)
                .key_condition_expression("#p = :p")
                .set_filter_expression(filter.map(|_| "#status = :status".to_owned()))
                .set_expression_attribute_names(names(&attribute_names))
                .set_expression_attribute_values(values(attribute_values.clone()))
                .scan_index_forward(false)
                .limit(i32::try_from(read).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .with_context(|| format!("query index {index}"))?;
            let last_evaluated = output.last_evaluated_key;
            let mut items = output.items.unwrap_or_default().into_iter();
            for item in items.by_ref() {
                let position: Item = ["pk", "sk", partition_attr, "sortKey"]
                    .iter()
                    .filter_map(|name| item.get(*name).map(|v| ((*name).to_owned(), v.clone())))
                    .collect();
                page.items
                    .push(dynamo::from_item(item).context("read an order item")?);
                if page.items.len() == limit {
                    let more = items.len() > 0 || last_evaluated.is_some();
                    page.next = more.then_some(position);
                    return Ok(page);
                }
            }
            match last_evaluated {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(page),
            }
        }
        page.next = start;
        Ok(page)
    }
}
