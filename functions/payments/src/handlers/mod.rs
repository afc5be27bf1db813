//! One module per function.

pub mod authorize_payment;
pub mod cancel_or_refund_payment;
pub mod get_order_payment;
pub mod payment_webhook;
pub mod refund_payment;
pub mod wait_for_payment;

use aws_sdk_sfn::error::ProvideErrorMetadata as _;
use serde::Serialize;
use shared::{checkout::errors, error::cause_chain};
use uuid::Uuid;

use crate::{
    Payments,
    domain::{self, Payment, PaymentStatus},
};

/// What the waiting task (`WaitForPayment`) answers when the payment succeeded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Settled {
    /// The payment.
    pub payment_id: Uuid,
    /// Always `succeeded`.
    pub status: PaymentStatus,
}

/// Why the waiting task could not be completed.
#[derive(Debug, thiserror::Error)]
#[error("complete the waiting task: {0}")]
pub struct CompletionFailed(String);

/// Completes the saga's task waiting for `payment`, when it has a token and has settled:
/// `SendTaskSuccess` when it succeeded, `SendTaskFailure` (`PaymentDeclined`) otherwise. The
/// webhook and the waiting task may both call it for the same token; the second completion's
/// `TaskTimedOut` or `InvalidToken` answer is expected and ignored.
///
/// # Errors
/// Any other failure of Step Functions.
pub async fn complete_waiting_task(
    payments: &Payments,
    payment: &Payment,
) -> Result<(), CompletionFailed> {
    let Some(token) = payment.task_token.as_deref() else {
        return Ok(());
    };
    if !payment.status.is_settled() {
        return Ok(());
    }
    let sent = if payment.status == PaymentStatus::Succeeded {
        let output = serde_json::to_string(&Settled {
            payment_id: payment.payment_id,
            status: PaymentStatus::Succeeded,
        })
        .map_err(|e| CompletionFailed(e.to_string()))?;
        payments
            .sfn
            .send_task_success()
            .task_token(token)
            .output(output)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| (e.code().map(str::to_owned), cause_chain(&e)))
    } else {
        let cause = serde_json::to_string(&domain::decline_cause(payment.failure.as_ref()))
            .map_err(|e| CompletionFailed(e.to_string()))?;
        payments
            .sfn
            .send_task_failure()
            .task_token(token)
            .error(errors::PAYMENT_DECLINED)
            .cause(cause)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| (e.code().map(str::to_owned), cause_chain(&e)))
    };
    match sent {
        Ok(()) => {
            tracing::info!(
                status = payment.status.as_str(),
                "the waiting task was completed"
            );
            Ok(())
        }
        Err((Some(code), _))
            if matches!(
                code.as_str(),
                "TaskTimedOut" | "InvalidToken" | "TaskDoesNotExist"
            ) =>
        {
            tracing::info!(%code, "the waiting task was completed already");
            Ok(())
        }
        Err((_, cause)) => Err(CompletionFailed(cause)),
    }
}

/// Sample events shared by the handler tests.
#[cfg(test)]
pub(crate) mod samples {
    shared::sample_events! {
        payment_webhook => "payment-webhook.json",
        get_order_payment => "get-order-payment.json",
        refund_payment => "refund-payment.json",
    }
}
