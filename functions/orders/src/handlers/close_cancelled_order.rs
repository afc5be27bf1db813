//! The last step of a cancellation: once the payment is refunded and the stock returned, the
//! order becomes CANCELLED and `OrderCancelled` leaves through the outbox. A retry finds it
//! cancelled.

use serde::Deserialize;
use shared::{
    events::orders::OrderCancelled,
    metrics::{self, Business},
    task::TaskFailure,
};
use uuid::Uuid;

use crate::{
    Orders,
    domain::{Actor, HistoryEntry, OrderStatus},
    handlers::fail_order::Compensation,
    store::{Change, Changed, outbox_item},
};

/// The task's input.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Input {
    /// The order.
    pub order_id: Uuid,
    /// The correlation id of the request that placed it.
    pub correlation_id: String,
    /// What the payment's compensation did.
    #[serde(default)]
    pub compensation: Option<Compensation>,
}

/// Runs the task.
///
/// # Errors
/// `INVALID_TRANSITION` when the order is not confirmed; `Transient` on storage failure.
#[tracing::instrument(skip_all, fields(order_id = %input.order_id))]
pub async fn handle(orders: &Orders, input: Input) -> Result<serde_json::Value, TaskFailure> {
    let changed = orders
        .store
        .change(input.order_id, |order| {
            if order.status == OrderStatus::Cancelled {
                return Ok(None);
            }
            super::check_transition(order.status, OrderStatus::Cancelled)?;
            let mut next = order.clone();
            next.status = OrderStatus::Cancelled;
            next.cancel_requested = false;
            if let Some(compensation) = &input.compensation {
                next.payment.status = compensation.action.clone();
            }
            let event = outbox_item(
                OrderCancelled {
                    order_id: order.order_id,
                    user_id: order.user_id,
                    lines: order.lines.clone(),
                    total: order.total,
                },
                &input.correlation_id,
            )?;
            Ok(Some(Change {
                history: Some(HistoryEntry {
                    from: Some(order.status),
                    to: OrderStatus::Cancelled,
                    at: shared::time::now_rfc3339(),
                    actor: Actor::checkout(),
                    reason: Some("cancelled by the customer; refunded and restocked".into()),
                }),
                order: next,
                event: Some(event),
                extra: None,
            }))
        })
        .await?;
    if matches!(changed, Changed::Done(_)) {
        metrics::count(Business::OrdersCancelled);
    }
    Ok(serde_json::json!({}))
}
