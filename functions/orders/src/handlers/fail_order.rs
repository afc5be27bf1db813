//! The checkout saga's FailOrder task, the last step of its compensation: the order becomes
//! FAILED with a stable reason code taken from the error the saga caught, and `OrderFailed`
//! leaves through the outbox. By then the payment was cancelled or refunded and the stock
//! released. A retry finds it failed.

use serde::Deserialize;
use shared::{
    events::orders::OrderFailed,
    metrics::{self, Business},
    task::TaskFailure,
};
use uuid::Uuid;

use crate::{
    Orders,
    domain::{Actor, FailureReason, HistoryEntry, OrderStatus},
    store::{Change, Changed, outbox_item},
};

/// The error the saga caught (Step Functions' `Error` and `Cause`).
#[derive(Debug, Clone, Deserialize)]
pub struct CaughtError {
    /// The error name.
    #[serde(rename = "Error")]
    pub error: String,
    /// Its cause.
    #[serde(rename = "Cause", default)]
    pub cause: Option<String>,
}

/// The compensation's payment outcome, when the saga got that far.
#[derive(Debug, Clone, Deserialize)]
pub struct Compensation {
    /// `none`, `canceled` or `refunded`.
    pub action: String,
}

/// The task's input.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Input {
    /// The order.
    pub order_id: Uuid,
    /// The correlation id of the request that placed it.
    pub correlation_id: String,
    /// What went wrong.
    pub error: CaughtError,
    /// What the payment's compensation did, if it ran.
    #[serde(default)]
    pub compensation: Option<Compensation>,
}

/// Runs the task.
///
/// # Errors
/// `INVALID_TRANSITION` when the order is closed otherwise; `Transient` on storage failure.
#[tracing::instrument(skip_all, fields(order_id = %input.order_id, error = %input.error.error))]
pub async fn handle(orders: &Orders, input: Input) -> Result<serde_json::Value, TaskFailure> {
    let reason = FailureReason::from_error(&input.error.error, input.error.cause.as_deref());
    let changed = orders
        .store
        .change(input.order_id, |order| {
            if order.status == OrderStatus::Failed {
                return Ok(None);
            }
            super::check_transition(order.status, OrderStatus::Failed)?;
            let mut next = order.clone();
            next.status = OrderStatus::Failed;
            next.failure = Some(reason.clone());
            next.payment.client_secret = None;
            if let Some(compensation) = &input.compensation
                && compensation.action != "none"
            {
                next.payment.status = compensation.action.clone();
            }
            let event = outbox_item(
                OrderFailed {
                    order_id: order.order_id,
                    user_id: order.user_id,
                    reason: reason.code.clone(),
                    detail: reason.detail.clone(),
                },
                &input.correlation_id,
            )?;
            Ok(Some(Change {
                history: Some(HistoryEntry {
                    from: Some(order.status),
                    to: OrderStatus::Failed,
                    at: shared::time::now_rfc3339(),
                    actor: Actor::checkout(),
                    reason: Some(reason.code.clone()),
                }),
                order: next,
                event: Some(event),
                extra: None,
            }))
        })
        .await?;
    if matches!(changed, Changed::Done(_)) {
        metrics::count(Business::OrdersFailed);
    }
    Ok(serde_json::json!({}))
}
