//! The `orders-payment-events` consumer: an admin's refund (`PaymentRefunded`) is recorded on
//! its order, and a full one makes it REFUNDED (its queue subscribes to that type only). Applied
//! once per event: the processed marker is in the order's transaction.

use shared::{
    consumer::{self, Applied, Failure},
    events::{DomainEvent as _, RawEnvelope, payments::PaymentRefunded},
};

use crate::{
    Orders,
    domain::{Actor, HistoryEntry, OrderStatus},
    store::{Change, Changed},
};

/// Applies one event; any other type or version is poison.
///
/// # Errors
/// [`Failure::Poison`] for an event it cannot read; [`Failure::Retry`] on storage failure.
pub async fn apply(orders: &Orders, event: RawEnvelope) -> Result<Applied, Failure> {
    if event.event_type != PaymentRefunded::TYPE || event.version != PaymentRefunded::VERSION {
        return Err(Failure::Poison(format!(
            "unexpected event {} v{}",
            event.event_type, event.version
        )));
    }
    let refund: PaymentRefunded = consumer::data(&event)?;
    let marker = consumer::processed_marker(orders.store.table(), event.id)
        .map_err(|e| Failure::retry("build a processed marker", e))?;
    let changed = orders
        .store
        .change(refund.order_id, |order| {
            let mut next = order.clone();
            let refunded = next
                .payment
                .refunded
                .and_then(|so_far| so_far.plus(&refund.amount))
                .unwrap_or(refund.amount);
            next.payment.refunded = Some(refunded);
            let history = if refund.full && order.status.can_become(OrderStatus::Refunded) {
                next.status = OrderStatus::Refunded;
                next.payment.status = "refunded".into();
                Some(HistoryEntry {
                    from: Some(order.status),
                    to: OrderStatus::Refunded,
                    at: shared::time::now_rfc3339(),
                    actor: Actor {
                        kind: "payments".into(),
                        user_id: None,
                    },
                    reason: Some(format!("refund {}", refund.refund_id)),
                })
            } else {
                None
            };
            Ok(Some(Change {
                order: next,
                history,
                event: None,
                extra: Some(marker.clone()),
            }))
        })
        .await;
    match changed {
        Ok(Changed::Done(_)) => Ok(Applied::Done),
        Ok(Changed::Unchanged(_)) => Ok(Applied::Duplicate),
        Err(error) if error.status() == 404 => Err(Failure::Poison(format!(
            "no order {} for refund {}",
            refund.order_id, refund.refund_id
        ))),
        Err(error) => Err(Failure::retry("record a refund", error)),
    }
}
