//! Reservations: the units a checkout holds, how they become sold, and their way back to stock.
//!
//! An order's reservation is one item, `RESERVATION#<orderId>` / `RESERVATION`, written in the
//! same transaction as the levels it moves:
//!
//! ```text
//!            commit (OrderConfirmed)            release (cancel, refund with restock)
//! RESERVED ─────────────────────────▶ SOLD ───────────────────────────────────────▶ RETURNED
//!    │
//!    └─ release (compensation, OrderCancelled, expired hold) ──▶ RELEASED
//! ```
//!
//! - **reserve** (ReserveStock): for every product `available -= q, reserved += q` under the
//!   condition `available >= q`, and the reservation `RESERVED` under `attribute_not_exists`,
//!   all in one `TransactWriteItems`. A retried call finds its reservation and answers the same;
//!   a line without the stock cancels the whole transaction (`OutOfStock`).
//! - **commit** (the `inventory-order-events` consumer, on `OrderConfirmed`): a `RESERVED`
//!   reservation becomes `SOLD` and its units move from `reserved` to `sold`. One already `SOLD`
//!   is left as it is; one `RELEASED` (its order was cancelled or failed first, or its hold
//!   expired) sells nothing.
//! - **release** (ReleaseStock, the compensation; `OrderCancelled` and a full refund with
//!   restock, through the consumer; the sweeper of expired holds): a `RESERVED` reservation
//!   becomes `RELEASED` and its units go back from `reserved` to `available`; a `SOLD` one (its
//!   order was confirmed) becomes `RETURNED` and its units go back from `sold`. With no
//!   reservation, a `RELEASED` marker is written, so a reserve that arrives late cannot hold
//!   stock for an order that already failed.
//!
//! Every step is conditional on the status it read, so two releases return the units once, and a
//! commit racing a release ends in exactly one of them. A consumer writes its processed-event
//! marker ([`shared::consumer::processed_marker`]) in the same transaction, so a redelivered event
//! changes nothing.
//!
//! `available + reserved + sold` never changes here.
//!
//! **Expired holds.** `holdUntil` (RFC 3339 UTC, fixed width, so it sorts as text) says when an
//! unfinished checkout's units may be taken back. While a reservation is `RESERVED` it also carries
//! `holdPk = RESERVED`; the update that moves it out of `RESERVED` removes `holdPk`. The sparse
//! global secondary index [`EXPIRING_INDEX`] (partition `holdPk`, sort `holdUntil`, keys only) so
//! holds exactly the reservations still held, oldest hold first, and the sweeper
//! ([`crate::handlers::release_expired_reservations`]) finds the expired ones with a `Query`, never
//! a `Scan`. The index is read eventually consistently: the sweeper reads each reservation again
//! (strongly) and releases it only if it is still `RESERVED` and past its hold, conditional on
//! that status, so a sold one is never taken back.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::{TransactWriteItem, Update};
use serde::{Deserialize, Serialize};
use shared::{
    ApiError,
    checkout::OrderLine,
    consumer::{self, Applied, Failure},
    dynamo::{self, Item, WriteFailure, key, n, names, s, values},
    error::Context as _,
    ids::parse_id,
};
use uuid::Uuid;

use crate::store::Store;

/// How many times a reservation transaction that lost a race is tried.
const ATTEMPTS: u32 = 8;

/// The sparse index of the reservations still held, by `holdUntil` (see the [module docs](self)).
pub const EXPIRING_INDEX: &str = "ExpiringReservations";

/// The attribute that puts a reservation into [`EXPIRING_INDEX`] while it is `RESERVED`.
const HOLD_PK: &str = "holdPk";

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

impl Reservation {
    /// Whether the sweeper may take its units back at `now` (RFC 3339 UTC): still `RESERVED`
    /// and its hold is over.
    #[must_use]
    pub fn expired(&self, now: &str) -> bool {
        self.status == ReservationStatus::Reserved && self.hold_until.as_str() < now
    }
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

/// What committing did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Committed {
    /// The reserved units now count as sold.
    Sold,
    /// An earlier call already sold them (or sold and returned them).
    Already,
    /// The reservation was released first (the order failed or was cancelled, or its hold
    /// expired): nothing is sold.
    Released,
    /// The order holds no reservation: nothing is sold.
    Missing,
}

/// How a release or commit that may carry a processed-event marker ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step<T> {
    /// It did this.
    Done(T),
    /// The event's marker exists: it was applied before, nothing changed.
    Duplicate,
    /// The reservation is not what the caller asked to act on (not an expired hold): untouched.
    Kept,
}

/// How one try of a status transition's transaction ended.
enum Attempt {
    /// Written.
    Written,
    /// The event's marker exists.
    Duplicate,
    /// The status moved on since it was read: read again.
    Moved,
    /// Lost a race or throttled: back off and try again.
    Busy,
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

/// The order of a reservation's `pk` (`RESERVATION#<orderId>`).
fn order_of_pk(pk: &str) -> Option<Uuid> {
    pk.strip_prefix("RESERVATION#").and_then(parse_id)
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

/// Sets the reservation's status to `to`, under the condition that it is still `from`. Every
/// status but `RESERVED` is out of [`EXPIRING_INDEX`], so the update removes `holdPk`.
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
        .update_expression("SET #status = :to, updatedAt = :now REMOVE #hold")
        .condition_expression("#status = :from")
        .set_expression_attribute_names(names(&[("#status", "status"), ("#hold", HOLD_PK)]))
        .set_expression_attribute_values(values(vec![
            (":to", s(to.as_str())),
            (":from", s(from.as_str())),
            (":now", s(now)),
        ]))
        .build()
        .context("build a reservation update")?;
    Ok(TransactWriteItem::builder().update(update).build())
}

/// The processed-event marker of `event`, if any, as the last item of a transaction.
fn with_marker(
    table: &str,
    mut items: Vec<TransactWriteItem>,
    event: Option<Uuid>,
) -> Result<(Vec<TransactWriteItem>, Option<usize>), ApiError> {
    let Some(event) = event else {
        return Ok((items, None));
    };
    items.push(consumer::processed_marker(table, event)?);
    let index = items.len() - 1;
    Ok((items, Some(index)))
}

/// Whether a cancelled transaction failed on the event's marker (index `marker`).
fn is_duplicate(failure: &WriteFailure, marker: Option<usize>) -> bool {
    marker.is_some_and(|index| failure.failed_conditions().contains(&index))
}

/// An event's outcome from a step; `Kept` cannot come from a consumer's step.
fn applied<T>(step: Step<T>, changed: impl FnOnce(&T) -> bool) -> Option<Applied> {
    match step {
        Step::Done(done) if changed(&done) => Some(Applied::Done),
        Step::Duplicate => Some(Applied::Duplicate),
        Step::Done(_) | Step::Kept => None,
    }
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
        item.insert(HOLD_PK.to_owned(), s(ReservationStatus::Reserved.as_str()));
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

    /// Moves `reservation` from the status it was read with to `to`, and its units from bucket
    /// `from` to bucket `into`, in one transaction with the marker of `event` if any.
    async fn transition(
        &self,
        reservation: &Reservation,
        to: ReservationStatus,
        (from, into): (&str, &str),
        event: Option<Uuid>,
    ) -> Result<Attempt, ApiError> {
        let now = shared::time::now_rfc3339();
        let mut items = vec![set_status(
            self.table(),
            reservation.order_id,
            reservation.status,
            to,
            &now,
        )?];
        for line in &reservation.lines {
            items.push(move_units(
                self.table(),
                line.product_id,
                line.quantity,
                from,
                into,
                &now,
            )?);
        }
        let (items, marker) = with_marker(self.table(), items, event)?;
        match dynamo::transact(self.client(), items).await {
            Ok(()) => Ok(Attempt::Written),
            Err(failure) if is_duplicate(&failure, marker) => Ok(Attempt::Duplicate),
            // The status moved on under us (another release, or the sale): read again.
            Err(failure) if failure.failed_conditions().contains(&0) => Ok(Attempt::Moved),
            Err(failure) if failure.is_transient() => Ok(Attempt::Busy),
            Err(failure) => Err(ApiError::internal(
                "change a reservation",
                failure.into_error(),
            )),
        }
    }

    /// Gives `order`'s units back to `available`, once (see the [module docs](self)).
    ///
    /// # Errors
    /// 500 on storage failure, or when the transaction keeps losing races.
    #[tracing::instrument(skip(self))]
    pub async fn release(&self, order: Uuid) -> Result<Released, ApiError> {
        Ok(match self.release_step(order, None, None).await? {
            Step::Done(released) => released,
            // Neither can happen without an event or a hold to check.
            Step::Duplicate | Step::Kept => Released::Already,
        })
    }

    /// Releases `order`'s units if its reservation is still `RESERVED` and its hold ended before
    /// `now` (RFC 3339 UTC), through the same conditional transaction as [`Store::release`].
    /// Answers whether it released them; a sold, released or still-held reservation is left as
    /// it is.
    ///
    /// # Errors
    /// 500 on storage failure, or when the transaction keeps losing races.
    #[tracing::instrument(skip(self))]
    pub async fn release_expired(&self, order: Uuid, now: &str) -> Result<bool, ApiError> {
        Ok(matches!(
            self.release_step(order, Some(now), None).await?,
            Step::Done(Released::Reserved)
        ))
    }

    /// Applies an event that gives `order`'s units back (`OrderCancelled`, a full refund with
    /// restock): [`Store::release`] with the event's processed marker in the same transaction.
    /// When the units were already given back (the checkout's compensation did it), the marker
    /// alone is written.
    ///
    /// # Errors
    /// [`Failure::Retry`] on storage failure.
    #[tracing::instrument(skip(self))]
    pub async fn release_for_event(&self, event: Uuid, order: Uuid) -> Result<Applied, Failure> {
        let step = self.release_step(order, None, Some(event)).await?;
        match applied(step, |released| *released != Released::Already) {
            Some(applied) => Ok(applied),
            None => self.mark_processed(event).await,
        }
    }

    /// The release behind [`Store::release`], [`Store::release_expired`] (with `expired_by`) and
    /// [`Store::release_for_event`] (with `event`).
    async fn release_step(
        &self,
        order: Uuid,
        expired_by: Option<&str>,
        event: Option<Uuid>,
    ) -> Result<Step<Released>, ApiError> {
        for attempt in 0..ATTEMPTS {
            let Some(reservation) = self.reservation(order).await? else {
                if expired_by.is_some() {
                    return Ok(Step::Kept);
                }
                match self.mark_released(order, event).await? {
                    Attempt::Written => return Ok(Step::Done(Released::Nothing)),
                    Attempt::Duplicate => return Ok(Step::Duplicate),
                    // A reserve got there first: release what it holds.
                    Attempt::Moved => continue,
                    Attempt::Busy => {
                        dynamo::backoff(attempt).await;
                        continue;
                    }
                }
            };
            if let Some(now) = expired_by
                && !reservation.expired(now)
            {
                return Ok(Step::Kept);
            }
            let (buckets, to, released) = match reservation.status {
                ReservationStatus::Reserved => (
                    ("reserved", "available"),
                    ReservationStatus::Released,
                    Released::Reserved,
                ),
                ReservationStatus::Sold => (
                    ("sold", "available"),
                    ReservationStatus::Returned,
                    Released::Sold,
                ),
                ReservationStatus::Released | ReservationStatus::Returned => {
                    return Ok(Step::Done(Released::Already));
                }
            };
            match self.transition(&reservation, to, buckets, event).await? {
                Attempt::Written => return Ok(Step::Done(released)),
                Attempt::Duplicate => return Ok(Step::Duplicate),
                Attempt::Moved => continue,
                Attempt::Busy => dynamo::backoff(attempt).await,
            }
        }
        Err(ApiError::internal(
            "release a reservation",
            "the reservation kept changing",
        ))
    }

    /// Writes a `RELEASED` marker for an order that holds nothing (with the marker of `event`).
    async fn mark_released(&self, order: Uuid, event: Option<Uuid>) -> Result<Attempt, ApiError> {
        let now = shared::time::now_rfc3339();
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
        let (items, processed) = with_marker(self.table(), vec![put], event)?;
        match dynamo::transact(self.client(), items).await {
            Ok(()) => Ok(Attempt::Written),
            Err(failure) if is_duplicate(&failure, processed) => Ok(Attempt::Duplicate),
            Err(failure) if failure.is_condition_failed() => Ok(Attempt::Moved),
            Err(failure) if failure.is_transient() => Ok(Attempt::Busy),
            Err(failure) => Err(ApiError::internal("mark released", failure.into_error())),
        }
    }

    /// Counts `order`'s reserved units as sold, once: a `RESERVED` reservation becomes `SOLD`
    /// and, for every line, `reserved -= q, sold += q`, conditional on the status read (see the
    /// [module docs](self)).
    ///
    /// # Errors
    /// 500 on storage failure, or when the transaction keeps losing races.
    #[tracing::instrument(skip(self))]
    pub async fn commit(&self, order: Uuid) -> Result<Committed, ApiError> {
        Ok(match self.commit_step(order, None).await? {
            Step::Done(committed) => committed,
            // Cannot happen without an event.
            Step::Duplicate | Step::Kept => Committed::Already,
        })
    }

    /// Applies `OrderConfirmed`: [`Store::commit`] with the event's processed marker in the same
    /// transaction. When there is nothing to sell (already sold, or released first), the marker
    /// alone is written ([`Applied::Ignored`]).
    ///
    /// # Errors
    /// [`Failure::Retry`] on storage failure.
    #[tracing::instrument(skip(self))]
    pub async fn commit_for_event(&self, event: Uuid, order: Uuid) -> Result<Applied, Failure> {
        let step = self.commit_step(order, Some(event)).await?;
        match applied(step, |committed| *committed == Committed::Sold) {
            Some(applied) => Ok(applied),
            None => {
                let outcome = self.mark_processed(event).await?;
                if let Step::Done(committed) = step {
                    tracing::info!(%order, ?committed, "nothing to sell");
                }
                Ok(outcome)
            }
        }
    }

    async fn commit_step(
        &self,
        order: Uuid,
        event: Option<Uuid>,
    ) -> Result<Step<Committed>, ApiError> {
        for attempt in 0..ATTEMPTS {
            let Some(reservation) = self.reservation(order).await? else {
                return Ok(Step::Done(Committed::Missing));
            };
            match reservation.status {
                ReservationStatus::Reserved => {}
                ReservationStatus::Sold | ReservationStatus::Returned => {
                    return Ok(Step::Done(Committed::Already));
                }
                ReservationStatus::Released => return Ok(Step::Done(Committed::Released)),
            }
            match self
                .transition(
                    &reservation,
                    ReservationStatus::Sold,
                    ("reserved", "sold"),
                    event,
                )
                .await?
            {
                Attempt::Written => return Ok(Step::Done(Committed::Sold)),
                Attempt::Duplicate => return Ok(Step::Duplicate),
                Attempt::Moved => continue,
                Attempt::Busy => dynamo::backoff(attempt).await,
            }
        }
        Err(ApiError::internal(
            "commit a reservation",
            "the reservation kept changing",
        ))
    }

    /// Records `event` as processed with nothing else: [`Applied::Ignored`], or
    /// [`Applied::Duplicate`] when it already was.
    ///
    /// # Errors
    /// [`Failure::Retry`] on storage failure.
    pub async fn mark_processed(&self, event: Uuid) -> Result<Applied, Failure> {
        let marker = consumer::processed_marker(self.table(), event)?;
        match dynamo::transact(self.client(), vec![marker]).await {
            Ok(()) => Ok(Applied::Ignored),
            Err(failure) if failure.is_condition_failed() => Ok(Applied::Duplicate),
            Err(failure) => Err(Failure::retry(
                "record a processed event",
                failure.into_error(),
            )),
        }
    }

    /// One page of the orders whose reservation is still `RESERVED` with a hold that ended
    /// before `now` (RFC 3339 UTC), oldest hold first, from [`EXPIRING_INDEX`] (eventually
    /// consistent: read each reservation again before acting on it). At most `limit` orders.
    ///
    /// # Errors
    /// 500 on storage failure.
    pub async fn expired_holds(
        &self,
        now: &str,
        limit: i32,
        start: Option<Item>,
    ) -> Result<(Vec<Uuid>, Option<Item>), ApiError> {
        let output = self
            .client()
            .query()
            .table_name(self.table())
            .index_name(EXPIRING_INDEX)
            .key_condition_expression("#hold = :held AND holdUntil < :now")
            .set_expression_attribute_names(names(&[("#hold", HOLD_PK)]))
            .set_expression_attribute_values(values(vec![
                (":held", s(ReservationStatus::Reserved.as_str())),
                (":now", s(now)),
            ]))
            .limit(limit)
            .set_exclusive_start_key(start)
            .send()
            .await
            .context("query the expired holds")?;
        let orders = output
            .items()
            .iter()
            .filter_map(|item| {
                let pk = item.get("pk").and_then(|pk| pk.as_s().ok());
                let order = pk.and_then(|pk| order_of_pk(pk));
                if order.is_none() {
                    tracing::warn!(?pk, "an item in the expiring index is no reservation");
                }
                order
            })
            .collect();
        Ok((orders, output.last_evaluated_key.filter(|k| !k.is_empty())))
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

    fn reservation(status: ReservationStatus, hold_until: &str) -> Reservation {
        Reservation {
            order_id: shared::ids::new_id(),
            lines: Vec::new(),
            status,
            hold_until: hold_until.into(),
            created_at: "2026-01-31T09:00:00.000Z".into(),
            updated_at: "2026-01-31T09:00:00.000Z".into(),
        }
    }

    #[test]
    fn only_a_held_reservation_past_its_hold_has_expired() {
        let now = "2026-01-31T10:00:00.000Z";
        let past = "2026-01-31T09:59:59.999Z";
        assert!(reservation(ReservationStatus::Reserved, past).expired(now));
        assert!(!reservation(ReservationStatus::Reserved, now).expired(now));
        assert!(!reservation(ReservationStatus::Reserved, "2026-01-31T10:00:00.001Z").expired(now));
        for status in [
            ReservationStatus::Sold,
            ReservationStatus::Released,
            ReservationStatus::Returned,
        ] {
            assert!(!reservation(status, past).expired(now), "{status:?}");
        }
    }

    #[test]
    fn the_order_is_read_back_from_a_reservation_key() {
        let order = shared::ids::new_id();
        assert_eq!(order_of_pk(&format!("RESERVATION#{order}")), Some(order));
        assert_eq!(order_of_pk(&format!("STOCK#{order}")), None);
        assert_eq!(order_of_pk("RESERVATION#nope"), None);
    }

    #[test]
    fn a_held_reservation_carries_the_index_key_and_a_released_one_does_not_need_it() {
        let held = reservation(ReservationStatus::Reserved, "2026-01-31T09:00:00.000Z");
        let item = dynamo::to_item(&held).unwrap();
        // The sort key of the index is the reservation's own `holdUntil`.
        assert_eq!(item["holdUntil"], s("2026-01-31T09:00:00.000Z"));
        assert!(
            !item.contains_key(HOLD_PK),
            "set by reserve, not by the type"
        );
        let update = set_status(
            "t",
            held.order_id,
            ReservationStatus::Reserved,
            ReservationStatus::Sold,
            "now",
        )
        .unwrap();
        let update = update.update().unwrap();
        assert!(update.update_expression().contains("REMOVE #hold"));
        assert_eq!(
            update.expression_attribute_names().unwrap()["#hold"],
            HOLD_PK
        );
    }
}
