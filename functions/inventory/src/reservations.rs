//! Reservations: the units a checkout holds, and their way back to stock.
//!
//! An order's reservation is one item, `RESERVATION#<orderId>` / `RESERVATION`, written in the
//! same transaction as the levels it moves:
//!
//! - **reserve** (ReserveStock): for every product `available -= q, reserved += q` under the
//!   condition `available >= q`, and the reservation `RESERVED` under `attribute_not_exists`,
//!   all in one `TransactWriteItems`. A retried call finds its reservation and answers the same;
//!   a line without the stock cancels the whole transaction (`OutOfStock`).
//! - **release** (ReleaseStock, the compensation): a `RESERVED` reservation becomes `RELEASED`
//!   and its units go back from `reserved` to `available`; a `SOLD` one (its order was
//!   confirmed) becomes `RETURNED` and its units go back from `sold`. With no reservation, a
//!   `RELEASED` marker is written, so a reserve that arrives late cannot hold stock for an order
//!   that already failed. Every step is conditional on the status it read, so two releases
//!   return the units once.
//!
//! `available + reserved + sold` never changes here. `holdUntil` says when an unfinished
//! checkout's units may be taken back by a sweeper.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::{TransactWriteItem, Update};
use serde::{Deserialize, Serialize};
use shared::{
    ApiError,
    checkout::OrderLine,
    dynamo::{self, Item, key, n, names, s, values},
    error::Context as _,
};
use uuid::Uuid;

use crate::store::Store;

/// How many times a reservation transaction that lost a race is tried.
const ATTEMPTS: u32 = 8;

/// Where a reservation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ReservationStatus {
    /// Units held in `reserved`.
    Reserved,
    /// Units given back to `available` before the order completed.
    Released,
    /// Units counted as `sold` (the order was confirmed).
    Sold,
    /// Sold units given back to `available` (the order was cancelled or refunded).
    Returned,
}

impl ReservationStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::Reserved => "RESERVED",
            Self::Released => "RELEASED",
            Self::Sold => "SOLD",
            Self::Returned => "RETURNED",
        }
    }
}

/// An order's reservation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Reservation {
    /// The order.
    pub order_id: Uuid,
    /// Units per product (one line per product).
    pub lines: Vec<OrderLine>,
    /// Where it stands.
    pub status: ReservationStatus,
    /// When an unfinished checkout's units may be released (RFC 3339).
    pub hold_until: String,
    /// RFC 3339 creation time.
    pub created_at: String,
    /// RFC 3339 time of the last change.
    pub updated_at: String,
}

/// What reserving led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reserved {
    /// The units are held (now, or by an earlier call for the same order).
    Held(Reservation),
    /// Not enough stock of this product (or inventory does not know it).
    OutOfStock(Uuid),
    /// The order's reservation was already released: the checkout gave up.
    Closed(Reservation),
}

/// What releasing did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Released {
    /// Reserved units went back to `available`.
    Reserved,
    /// Sold units went back to `available`.
    Sold,
    /// Nothing was held; the order is marked released.
    Nothing,
    /// An earlier call already gave the units back.
    Already,
}

/// Sums the quantities of lines naming the same product, in product order: one stock update per
/// product, as a transaction may touch an item once.
#[must_use]
pub fn merge_lines(lines: &[OrderLine]) -> Vec<OrderLine> {
    let mut merged: BTreeMap<Uuid, u32> = BTreeMap::new();
    for line in lines {
        let quantity = merged.entry(line.product_id).or_default();
        *quantity = quantity.saturating_add(line.quantity);
    }
    merged
        .into_iter()
        .map(|(product_id, quantity)| OrderLine {
            product_id,
            quantity,
        })
        .collect()
}

fn reservation_key(order: Uuid) -> Item {
    key(format!("RESERVATION#{order}"), "RESERVATION")
}

fn stock_key(product: Uuid) -> Item {
    key(format!("STOCK#{product}"), "STOCK")
}

/// Moves `quantity` units of `product` from bucket `from` to bucket `to`, under the condition that
/// `from` holds them.
fn move_units(
    table: &str,
    product: Uuid,
    quantity: u32,
    from: &str,
    to: &str,
    now: &str,
) -> Result<TransactWriteItem, ApiError> {
    let update = Update::builder()
        .table_name(table)
        .set_key(Some(stock_key(product)))
        .update_expression(
            "SET #from = #from - :q, #to = #to + :q, version = version + :one, updatedAt = :now",
        )
        .condition_expression("attribute_exists(pk) AND #from >= :q")
        .set_expression_attribute_names(names(&[("#from", from), ("#to", to)]))
        .set_expression_attribute_values(values(vec![
            (":q", n(quantity)),
            (":one", n(1)),
            (":now", s(now)),
        ]))
        .build()
        .context("build a stock move")?;
    Ok(TransactWriteItem::builder().update(update).build())
}

/// Sets the reservation's status to `to`, under the condition that it is still `from`.
fn set_status(
    table: &str,
    order: Uuid,
    from: ReservationStatus,
    to: ReservationStatus,
    now: &str,
) -> Result<TransactWriteItem, ApiError> {
    let update = Update::builder()
        .table_name(table)
        .set_key(Some(reservation_key(order)))
        .update_expression("SET #status = :to, updatedAt = :now")
        .condition_expression("#status = :from")
        .set_expression_attribute_names(names(&[("#status", "status")]))
        .set_expression_attribute_values(values(vec![
            (":to", s(to.as_str())),
            (":from", s(from.as_str())),
            (":now", s(now)),
        ]))
        .build()
        .context("build a reservation update")?;
    Ok(TransactWriteItem::builder().update(update).build())
}

impl Store {
    /// The reservation of `order` (strongly consistent).
    ///
    /// # Errors
    /// 500 on storage failure or a malformed item.
    pub async fn reservation(&self, order: Uuid) -> Result<Option<Reservation>, ApiError> {
        dynamo::get(
            self.client(),
            self.table(),
            reservation_key(order),
            true,
            "a reservation",
        )
        .await
    }

    /// Holds `lines` for `order` until `hold_until`, all or nothing (see the [module docs](self)).
    ///
    /// # Errors
    /// 500 on storage failure, or when the transaction keeps losing races.
    #[tracing::instrument(skip(self, lines), fields(lines = lines.len()))]
    pub async fn reserve(
        &self,
        order: Uuid,
        lines: &[OrderLine],
        hold_until: &str,
    ) -> Result<Reserved, ApiError> {
        let lines = merge_lines(lines);
        let now = shared::time::now_rfc3339();
        let reservation = Reservation {
            order_id: order,
            lines: lines.clone(),
            status: ReservationStatus::Reserved,
            hold_until: hold_until.to_owned(),
            created_at: now.clone(),
            updated_at: now.clone(),
        };
        let mut item = dynamo::to_item(&reservation).context("serialize a reservation")?;
        item.extend(reservation_key(order));
        let mut items = vec![dynamo::put(
            self.table(),
            item,
            Some("attribute_not_exists(pk)"),
        )?];
        for line in &lines {
            items.push(move_units(
                self.table(),
                line.product_id,
                line.quantity,
                "available",
                "reserved",
                &now,
            )?);
        }
        for attempt in 0..ATTEMPTS {
            let failure = match dynamo::transact(self.client(), items.clone()).await {
                Ok(()) => return Ok(Reserved::Held(reservation)),
                Err(failure) => failure,
            };
            let failed = failure.failed_conditions();
            if failed.contains(&0) {
                let existing = self.reservation(order).await?.ok_or_else(|| {
                    ApiError::internal("reserve stock", "the reservation vanished")
                })?;
                return Ok(match existing.status {
                    ReservationStatus::Reserved | ReservationStatus::Sold => {
                        Reserved::Held(existing)
                    }
                    ReservationStatus::Released | ReservationStatus::Returned => {
                        Reserved::Closed(existing)
                    }
                });
            }
            if let Some(index) = failed.first() {
                let product = lines
                    .get(index.saturating_sub(1))
                    .map_or(Uuid::nil(), |line| line.product_id);
                return Ok(Reserved::OutOfStock(product));
            }
            if failure.is_transient() && attempt + 1 < ATTEMPTS {
                dynamo::backoff(attempt).await;
                continue;
            }
            return Err(ApiError::internal("reserve stock", failure.into_error()));
        }
        Err(ApiError::internal(
            "reserve stock",
            "the transaction kept conflicting",
        ))
    }

    /// Gives `order`'s units back to `available`, once (see the [module docs](self)).
    ///
    /// # Errors
    /// 500 on storage failure, or when the transaction keeps losing races.
    #[tracing::instrument(skip(self))]
    pub async fn release(&self, order: Uuid) -> Result<Released, ApiError> {
        for attempt in 0..ATTEMPTS {
            let now = shared::time::now_rfc3339();
            let Some(reservation) = self.reservation(order).await? else {
                let marker = Reservation {
                    order_id: order,
                    lines: Vec::new(),
                    status: ReservationStatus::Released,
                    hold_until: now.clone(),
                    created_at: now.clone(),
                    updated_at: now,
                };
                let mut item = dynamo::to_item(&marker).context("serialize a reservation")?;
                item.extend(reservation_key(order));
                let put = dynamo::put(self.table(), item, Some("attribute_not_exists(pk)"))?;
                match dynamo::transact(self.client(), vec![put]).await {
                    Ok(()) => return Ok(Released::Nothing),
                    // A reserve got there first: release what it holds.
                    Err(failure) if failure.is_condition_failed() => continue,
                    Err(failure) if failure.is_transient() => {
                        dynamo::backoff(attempt).await;
                        continue;
                    }
                    Err(failure) => {
                        return Err(ApiError::internal("mark released", failure.into_error()));
                    }
                }
            };
            let (from_bucket, to_status, released) = match reservation.status {
                ReservationStatus::Reserved => {
                    ("reserved", ReservationStatus::Released, Released::Reserved)
                }
                ReservationStatus::Sold => ("sold", ReservationStatus::Returned, Released::Sold),
                ReservationStatus::Released | ReservationStatus::Returned => {
                    return Ok(Released::Already);
                }
            };
            let mut items = vec![set_status(
                self.table(),
                order,
                reservation.status,
                to_status,
                &now,
            )?];
            for line in &reservation.lines {
                items.push(move_units(
                    self.table(),
                    line.product_id,
                    line.quantity,
                    from_bucket,
                    "available",
                    &now,
                )?);
            }
            match dynamo::transact(self.client(), items).await {
                Ok(()) => return Ok(released),
                // The status moved on under us (another release, or the sale): read again.
                Err(failure) if failure.failed_conditions().contains(&0) => continue,
                Err(failure) if failure.is_transient() => {
                    dynamo::backoff(attempt).await;
                    continue;
                }
                Err(failure) => {
                    return Err(ApiError::internal(
                        "release a reservation",
                        failure.into_error(),
                    ));
                }
            }
        }
        Err(ApiError::internal(
            "release a reservation",
            "the reservation kept changing",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_of_one_product_are_merged() {
        let a = shared::ids::new_id();
        let b = shared::ids::new_id();
        let merged = merge_lines(&[
            OrderLine {
                product_id: b,
                quantity: 2,
            },
            OrderLine {
                product_id: a,
                quantity: 1,
            },
            OrderLine {
                product_id: b,
                quantity: 3,
            },
        ]);
        assert_eq!(merged.len(), 2);
        let b_line = merged.iter().find(|l| l.product_id == b).unwrap();
        assert_eq!(b_line.quantity, 5);
    }
}
