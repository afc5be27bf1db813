//! The saga's NeedsAttention task: a compensation kept failing, so the order becomes
//! NEEDS_ATTENTION (admins list them with `GET /v1/orders?scope=all&status=NEEDS_ATTENTION`) and
//! the saga publishes an alert. It never sits silently in a checkout status.

use serde::Deserialize;
use shared::task::TaskFailure;
use uuid::Uuid;

use crate::{
    Orders,
    domain::{Actor, FailureReason, HistoryEntry, OrderStatus},
    handlers::fail_order::CaughtError,
    store::Change,
};

/// The task's input.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Input {
    /// The order.
    pub order_id: Uuid,
    /// The compensation's error.
    pub error: CaughtError,
}

/// Runs the task.
///
/// # Errors
/// `Transient` on storage failure.
#[tracing::instrument(skip_all, fields(order_id = %input.order_id))]
pub async fn handle(orders: &Orders, input: Input) -> Result<serde_json::Value, TaskFailure> {
    let detail = format!(
        "compensation failed: {} {}",
        input.error.error,
        input.error.cause.as_deref().unwrap_or_default()
    );
    orders
        .store
        .change(input.order_id, |order| {
            if order.status == OrderStatus::NeedsAttention {
                return Ok(None);
            }
            let mut next = order.clone();
            next.status = OrderStatus::NeedsAttention;
            // Whatever was running for it (a cancellation) is over.
            next.cancel_requested = false;
            next.failure = Some(FailureReason {
                code: "COMPENSATION_FAILED".into(),
                detail: Some(detail.chars().take(500).collect()),
            });
            Ok(Some(Change {
                history: Some(HistoryEntry {
                    from: Some(order.status),
                    to: OrderStatus::NeedsAttention,
                    at: shared::time::now_rfc3339(),
                    actor: Actor::checkout(),
                    reason: Some(detail.chars().take(200).collect()),
                }),
                order: next,
                event: None,
                extra: None,
            }))
        })
        .await?;
    Ok(serde_json::json!({}))
}
