//! The checkout saga's AwaitPayment task: the payment needs the customer or the provider to
//! confirm it, so the order becomes AWAITING_PAYMENT and keeps what the client needs (the
//! provider's client secret). A retry finds it done.

use serde::Deserialize;
use shared::task::TaskFailure;
use uuid::Uuid;

use crate::{
    Orders,
    domain::{Actor, HistoryEntry, OrderStatus, PaymentState},
    store::Change,
};

/// The payment as AuthorizePayment answered.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Payment {
    /// The payment.
    pub payment_id: Uuid,
    /// The provider's status.
    pub status: String,
    /// What the client confirms the payment with.
    #[serde(default)]
    pub client_secret: Option<String>,
}

/// The task's input.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Input {
    /// The order.
    pub order_id: Uuid,
    /// The payment.
    pub payment: Payment,
}

/// Runs the task.
///
/// # Errors
/// `INVALID_TRANSITION` when the order is past its checkout; `Transient` on storage failure.
#[tracing::instrument(skip_all, fields(order_id = %input.order_id))]
pub async fn handle(orders: &Orders, input: Input) -> Result<serde_json::Value, TaskFailure> {
    orders
        .store
        .change(input.order_id, |order| {
            if order.status == OrderStatus::AwaitingPayment {
                return Ok(None);
            }
            super::check_transition(order.status, OrderStatus::AwaitingPayment)?;
            let mut next = order.clone();
            next.status = OrderStatus::AwaitingPayment;
            next.payment = PaymentState {
                payment_id: Some(input.payment.payment_id),
                status: input.payment.status.clone(),
                client_secret: input.payment.client_secret.clone(),
                refunded: None,
            };
            Ok(Some(Change {
                history: Some(HistoryEntry {
                    from: Some(order.status),
                    to: OrderStatus::AwaitingPayment,
                    at: shared::time::now_rfc3339(),
                    actor: Actor::checkout(),
                    reason: Some(format!("payment {}", input.payment.status)),
                }),
                order: next,
                event: None,
                extra: None,
            }))
        })
        .await?;
    Ok(serde_json::json!({}))
}
