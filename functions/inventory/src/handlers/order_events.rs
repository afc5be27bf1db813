//! The `inventory-order-events` consumer: the orders' and payments' events that move an order's
//! units (its queue subscribes to `OrderConfirmed`, `OrderCancelled` and `PaymentRefunded`).
//!
//! - `OrderConfirmed`: the reservation's units count as sold ([`Store::commit_for_event`]).
//! - `OrderCancelled`: they go back to `available` ([`Store::release_for_event`]); the cancelling
//!   checkout's compensation usually did it already, and then only the event is recorded.
//! - `PaymentRefunded` with `full` and `restock`: as `OrderCancelled`. A partial refund, or one
//!   without restock, changes no stock.
//!
//! Each change is one transaction with the event's processed marker, so a redelivered event
//! changes nothing.
//!
//! [`Store::commit_for_event`]: crate::store::Store::commit_for_event
//! [`Store::release_for_event`]: crate::store::Store::release_for_event

use shared::{
    consumer::{self, Applied, Failure},
    events::{
        RawEnvelope,
        orders::{OrderCancelled, OrderConfirmed},
        payments::PaymentRefunded,
    },
};
use uuid::Uuid;

use crate::Inventory;

/// What an event asks of an order's reservation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Count its units as sold.
    Sell(Uuid),
    /// Give its units back to `available`.
    GiveBack(Uuid),
    /// Nothing (a partial refund, or a refund without restock).
    Nothing,
}

/// Decides what `event` does.
///
/// # Errors
/// [`Failure::Poison`] for a type or version it does not know, or data it cannot read.
pub fn action(event: &RawEnvelope) -> Result<Action, Failure> {
    if let Some(confirmed) = consumer::typed::<OrderConfirmed>(event)? {
        return Ok(Action::Sell(confirmed.order_id));
    }
    if let Some(cancelled) = consumer::typed::<OrderCancelled>(event)? {
        return Ok(Action::GiveBack(cancelled.order_id));
    }
    if let Some(refunded) = consumer::typed::<PaymentRefunded>(event)? {
        return Ok(if refunded.full && refunded.restock {
            Action::GiveBack(refunded.order_id)
        } else {
            Action::Nothing
        });
    }
    Err(consumer::unexpected(event))
}

/// Applies one event.
///
/// # Errors
/// [`Failure::Poison`] for an event it cannot read; [`Failure::Retry`] on storage failure.
pub async fn apply(inventory: &Inventory, event: RawEnvelope) -> Result<Applied, Failure> {
    match action(&event)? {
        Action::Sell(order) => inventory.store.commit_for_event(event.id, order).await,
        Action::GiveBack(order) => inventory.store.release_for_event(event.id, order).await,
        Action::Nothing => Ok(Applied::Ignored),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use shared::{consumer::SqsEvent, events::Envelope};

    fn event(event_type: &str, data: serde_json::Value) -> RawEnvelope {
        Envelope::new(event_type, data, "corr-1")
    }

    fn refund(full: bool, restock: bool, order: Uuid) -> RawEnvelope {
        event(
            "PaymentRefunded",
            json!({"paymentId": Uuid::now_v7(), "orderId": order, "userId": Uuid::now_v7(),
                   "amount": {"amount": 100, "currency": "USD"}, "full": full,
                   "restock": restock, "refundId": "re_1"}),
        )
    }

    #[test]
    fn the_sample_event_is_an_order_confirmed_that_sells_its_order() {
        let sqs: SqsEvent = serde_json::from_str(include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../events/inventory-order-events.json"
        )))
        .unwrap();
        let envelope: RawEnvelope = serde_json::from_str(&sqs.records[0].body).unwrap();
        let order: OrderConfirmed = consumer::data(&envelope).unwrap();
        assert_eq!(action(&envelope).unwrap(), Action::Sell(order.order_id));
    }

    #[test]
    fn a_cancellation_and_a_full_refund_with_restock_give_the_units_back() {
        let order = Uuid::now_v7();
        let cancelled = event(
            "OrderCancelled",
            json!({"orderId": order, "userId": Uuid::now_v7(), "lines": []}),
        );
        assert_eq!(action(&cancelled).unwrap(), Action::GiveBack(order));
        assert_eq!(
            action(&refund(true, true, order)).unwrap(),
            Action::GiveBack(order)
        );
    }

    #[test]
    fn a_partial_refund_or_one_without_restock_changes_no_stock() {
        let order = Uuid::now_v7();
        assert_eq!(
            action(&refund(false, true, order)).unwrap(),
            Action::Nothing
        );
        assert_eq!(
            action(&refund(true, false, order)).unwrap(),
            Action::Nothing
        );
        assert_eq!(
            action(&refund(false, false, order)).unwrap(),
            Action::Nothing
        );
    }

    #[test]
    fn unknown_types_versions_and_malformed_data_are_poison() {
        let order = Uuid::now_v7();
        let cases = [
            event("OrderShipped", json!({"orderId": order, "userId": order})),
            event(
                "OrderCancelled",
                json!({"orderId": order, "userId": order, "lines": []}),
            )
            .with_version(2),
            event("OrderConfirmed", json!({"orderId": "not an id"})),
            event("PaymentRefunded", json!({"orderId": order})),
        ];
        for case in cases {
            assert!(
                matches!(action(&case), Err(Failure::Poison(_))),
                "{} v{}",
                case.event_type,
                case.version
            );
        }
    }
}
