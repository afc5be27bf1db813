//! Task `wait-for-payment` (the saga's `WaitForPayment`, invoked with
//! `lambda:invoke.waitForTaskToken`): parks the execution until the payment settles.
//!
//! It stores the task token on the payment. If the payment already settled (the webhook came
//! first), it completes the task itself; otherwise the webhook will, when it sees the token. The
//! execution goes on with `{"paymentId", "status": "succeeded"}`, or fails with
//! `PaymentDeclined`; the state's timeout compensates when neither comes.

use serde::Deserialize;
use shared::{checkout::errors, task::TaskFailure};
use uuid::Uuid;

use crate::{Payments, handlers::complete_waiting_task};

/// The task's input.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Input {
    /// The order.
    pub order_id: Uuid,
    /// The payment `AuthorizePayment` answered.
    pub payment_id: Uuid,
    /// The order's correlation id.
    pub correlation_id: String,
    /// The state's retry count.
    #[serde(default)]
    pub attempt: u32,
    /// The token that completes the state.
    pub task_token: String,
}

/// Stores the token, and completes the task when the payment already settled. Answers `{}`
/// (Step Functions ignores it: the state's result is what completes the token).
///
/// # Errors
/// `PaymentRejected` when the order has no such payment; `Transient` on storage or Step
/// Functions trouble.
#[tracing::instrument(skip_all, fields(order_id = %input.order_id, payment_id = %input.payment_id))]
pub async fn handle(payments: &Payments, input: Input) -> Result<serde_json::Value, TaskFailure> {
    let Some(payment) = payments
        .store
        .set_task_token(input.order_id, input.payment_id, &input.task_token)
        .await?
    else {
        return Err(TaskFailure::business(
            errors::PAYMENT_REJECTED,
            &serde_json::json!({"code": "no_such_payment", "message": "The order has no such payment."}),
        ));
    };
    tracing::info!(
        status = payment.status.as_str(),
        "waiting for the payment to settle"
    );
    complete_waiting_task(payments, &payment)
        .await
        .map_err(|e| TaskFailure::transient("complete the waiting task", &e))?;
    Ok(serde_json::json!({}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_input_carries_a_task_token() {
        let input: Input = serde_json::from_str(include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../events/wait-for-payment.json"
        )))
        .unwrap();
        assert!(!input.task_token.is_empty());
    }
}
