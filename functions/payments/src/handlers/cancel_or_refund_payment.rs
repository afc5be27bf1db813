//! Task `cancel-or-refund-payment` (the saga's `CancelOrRefundPayment`): the compensation of an
//! order's payment.
//!
//! It first marks the order compensated, so that an authorization still under way (or retried
//! later) refuses to charge it, and voids the payment. Then it undoes what the provider did: a
//! charged intent is refunded (all that is left), any other is canceled. When the payment was
//! recorded but its intent was not (an authorization that died or is still running), it replays
//! the creation with the same idempotency key to learn the intent, so none is left behind: the
//! creation never confirms, so its replay cannot charge, and once the intent is canceled a
//! confirmation still under way is refused by the provider. An intent that is `processing`
//! cannot be canceled until it settles: that is a `Transient` failure (the state retries). The
//! outcome is recorded on the payment (a refund added to `refundedAmount` once, with its
//! `REFUND#` item), and a retried compensation answers it again. A payment that succeeds after the
//! compensation gave up is refunded by the webhook.

use serde::Deserialize;
use shared::{checkout::errors, task::TaskFailure};
use uuid::Uuid;

use crate::{
    Payments,
    domain::{Compensation, CompensationAction, Payment, PaymentStatus},
    provider::{self, IntentStatus, NewIntent, ProviderError, order_key},
    store::{RefundEntry, RefundSource},
};

/// How often the intent is read again when it changed under the compensation.
const ROUNDS: usize = 3;

/// The task's input.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Input {
    /// The order.
    pub order_id: Uuid,
    /// The order's correlation id.
    pub correlation_id: String,
    /// The state's retry count.
    #[serde(default)]
    pub attempt: u32,
}

/// Cancels or refunds the order's payment (see the [module docs](self)). Answers
/// `{"action": "none"|"canceled"|"refunded", "paymentId"?, "amount"?}`.
///
/// # Errors
/// `PaymentRejected` when the provider refuses; `Transient` on storage or provider trouble, or
/// while the intent is `processing` (the state retries both).
#[tracing::instrument(skip_all, fields(order_id = %input.order_id))]
pub async fn handle(payments: &Payments, input: Input) -> Result<Compensation, TaskFailure> {
    let Some(payment) = payments.store.void(input.order_id).await? else {
        tracing::info!("the order has no payment");
        return Ok(nothing(None));
    };
    if let Some(done) = &payment.compensation {
        return Ok(done.clone());
    }
    let (status, intent_id, compensation, refund) = undo(payments, &payment).await?;
    payments
        .store
        .compensated(
            &payment,
            status,
            intent_id.as_deref(),
            &compensation,
            refund.as_ref(),
        )
        .await?;
    tracing::info!(action = ?compensation.action, "the payment was compensated");
    Ok(compensation)
}

fn nothing(payment_id: Option<Uuid>) -> Compensation {
    Compensation {
        action: CompensationAction::None,
        payment_id,
        amount: None,
    }
}

fn failure(context: &str, error: ProviderError) -> TaskFailure {
    match error {
        ProviderError::Transient(_) => TaskFailure::transient(context, &error),
        other => TaskFailure::business(
            errors::PAYMENT_REJECTED,
            &serde_json::json!({"code": "compensation_refused", "message": other.to_string()}),
        ),
    }
}

fn processing() -> TaskFailure {
    TaskFailure::transient(
        "cancel the intent",
        &ProviderError::Transient(
            "the intent is processing: it cannot be canceled before it settles".into(),
        ),
    )
}

/// The payment's status, its intent, the answer, and the refund to record.
type Undone = (
    PaymentStatus,
    Option<String>,
    Compensation,
    Option<RefundEntry>,
);

async fn undo(payments: &Payments, payment: &Payment) -> Result<Undone, TaskFailure> {
    let order = payment.order_id;
    let id = Some(payment.payment_id);
    let intent_id = match (&payment.intent_id, payment.status) {
        (Some(intent_id), _) => intent_id.clone(),
        (None, PaymentStatus::Creating) => {
            // The creation never confirms: replaying it charges nothing.
            let new = NewIntent {
                order_id: order,
                payment_id: payment.payment_id,
                amount: payment.amount,
            };
            match payments.provider.create_intent(&new).await {
                Ok(intent) => intent.id,
                Err(ProviderError::Declined {
                    intent_id: Some(intent_id),
                    ..
                }) => intent_id,
                Err(ProviderError::Declined { .. } | ProviderError::Rejected { .. }) => {
                    return Ok((PaymentStatus::Failed, None, nothing(id), None));
                }
                Err(error) => return Err(failure("learn the order's intent", error)),
            }
        }
        (None, status) => return Ok((status, None, nothing(id), None)),
    };
    for _ in 0..ROUNDS {
        let intent = payments
            .provider
            .retrieve_intent(&intent_id)
            .await
            .map_err(|e| failure("read the intent", e))?;
        match intent.status {
            IntentStatus::Canceled => {
                return Ok((PaymentStatus::Canceled, Some(intent_id), canceled(id), None));
            }
            // It settles first; a later run refunds or cancels what it became.
            IntentStatus::Processing => return Err(processing()),
            IntentStatus::Succeeded => {
                let refund = payments
                    .provider
                    .refund(
                        &intent_id,
                        None,
                        Some("checkout_compensation"),
                        &order_key(order, "refund"),
                    )
                    .await;
                let (amount, entry) = match refund {
                    Ok(refund) => {
                        let amount = provider::money(refund.amount, &refund.currency);
                        let entry = amount.map(|amount| RefundEntry {
                            refund_id: refund.id.clone(),
                            payment_id: payment.payment_id,
                            order_id: order,
                            amount,
                            source: RefundSource::Compensation,
                            recorded_at: shared::time::now_rfc3339(),
                        });
                        (amount, entry)
                    }
                    Err(ProviderError::Rejected { code, .. })
                        if code.as_deref() == Some("charge_already_refunded") =>
                    {
                        (
                            Some(shared::money::Money::zero(payment.amount.currency)),
                            None,
                        )
                    }
                    Err(error) => return Err(failure("refund the payment", error)),
                };
                return Ok((
                    PaymentStatus::Refunded,
                    Some(intent_id),
                    Compensation {
                        action: CompensationAction::Refunded,
                        payment_id: id,
                        amount,
                    },
                    entry,
                ));
            }
            // The key names the status the cancellation was asked from: a refusal the provider
            // stored (the intent was being charged) is not replayed to a later run that finds
            // the intent elsewhere. Canceling twice cancels once.
            status => match payments
                .provider
                .cancel_intent(
                    &intent_id,
                    &order_key(order, &format!("cancel-{}", status.as_str())),
                )
                .await
            {
                Ok(_) => {
                    return Ok((PaymentStatus::Canceled, Some(intent_id), canceled(id), None));
                }
                // The intent moved on (it was charged meanwhile): read it again.
                Err(ProviderError::Rejected { .. }) => {}
                Err(error) => return Err(failure("cancel the intent", error)),
            },
        }
    }
    Err(TaskFailure::business(
        errors::PAYMENT_REJECTED,
        &serde_json::json!({"code": "intent_keeps_changing", "message": "The intent could be neither canceled nor refunded."}),
    ))
}

fn canceled(payment_id: Option<Uuid>) -> Compensation {
    Compensation {
        action: CompensationAction::Canceled,
        payment_id,
        amount: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use shared::money::{Currency, Money};

    #[test]
    fn the_sample_input_names_the_order() {
        let input: Input = serde_json::from_str(include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../events/cancel-or-refund-payment.json"
        )))
        .unwrap();
        assert_eq!(input.attempt, 0);
    }

    #[test]
    fn answers_say_what_was_done() {
        assert_eq!(
            serde_json::to_value(nothing(None)).unwrap(),
            json!({"action": "none"})
        );
        assert_eq!(
            serde_json::to_value(Compensation {
                action: CompensationAction::Refunded,
                payment_id: Some(Uuid::nil()),
                amount: Some(Money::new(500, Currency::USD)),
            })
            .unwrap(),
            json!({"action": "refunded", "paymentId": Uuid::nil(), "amount": {"amount": 500, "currency": "USD"}})
        );
    }
}
