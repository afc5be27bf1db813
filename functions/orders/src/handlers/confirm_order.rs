//! The checkout saga's ConfirmOrder task: paid and reserved, the order becomes CONFIRMED with
//! the lines and prices charged, and `OrderConfirmed` leaves through the outbox in the same
//! transaction. A retry finds it confirmed and does nothing more.

use serde::Deserialize;
use shared::{
    checkout::Priced,
    events::orders::OrderConfirmed,
    metrics::{self, Business},
    task::TaskFailure,
};
use uuid::Uuid;

use crate::{
    Orders,
    domain::{Actor, HistoryEntry, OrderStatus},
    store::{Change, Changed, outbox_item},
};

/// The payment as AuthorizePayment answered.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Payment {
    /// The payment.
    pub payment_id: Uuid,
}

/// The task's input.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Input {
    /// The order.
    pub order_id: Uuid,
    /// The correlation id of the request that placed it.
    pub correlation_id: String,
    /// PriceOrder's answer.
    pub priced: Priced,
    /// AuthorizePayment's answer.
    pub payment: Payment,
}

/// Runs the task.
///
/// # Errors
/// `INVALID_TRANSITION` when the order is not in its checkout; `Transient` on storage failure.
#[tracing::instrument(skip_all, fields(order_id = %input.order_id))]
pub async fn handle(orders: &Orders, input: Input) -> Result<serde_json::Value, TaskFailure> {
    let changed = orders
        .store
        .change(input.order_id, |order| {
            if order.status == OrderStatus::Confirmed {
                return Ok(None);
            }
            super::check_transition(order.status, OrderStatus::Confirmed)?;
            let mut next = order.clone();
            next.status = OrderStatus::Confirmed;
            next.lines = input.priced.lines.clone();
            next.total = Some(input.priced.total);
            next.payment.payment_id = Some(input.payment.payment_id);
            next.payment.status = "succeeded".into();
            next.payment.client_secret = None;
            let event = outbox_item(
                OrderConfirmed {
                    order_id: order.order_id,
                    user_id: order.user_id,
                    lines: next.lines.clone(),
                    total: input.priced.total,
                    payment_id: Some(input.payment.payment_id),
                    from_cart: order.from_cart,
                },
                &input.correlation_id,
            )?;
            Ok(Some(Change {
                history: Some(HistoryEntry {
                    from: Some(order.status),
                    to: OrderStatus::Confirmed,
                    at: shared::time::now_rfc3339(),
                    actor: Actor::checkout(),
                    reason: Some("paid and reserved".into()),
                }),
                order: next,
                event: Some(event),
                extra: None,
            }))
        })
        .await?;
    if matches!(changed, Changed::Done(_)) {
        metrics::count(Business::OrdersConfirmed);
    }
    Ok(serde_json::json!({}))
}
