//! Task `authorize-payment` (the saga's `AuthorizePayment`): a payment intent for the order's
//! total, created with the provider, then confirmed with the order's payment method when it came
//! with one.
//!
//! The payment is recorded before the provider is called, so a retry finds it and replays the
//! same calls (same idempotency keys, same parameters): the creation (`order-<id>-create`, never
//! confirming, so that its replay by the compensation cannot charge) and the confirmation
//! (`order-<id>-confirm`); the provider answers the first attempt's intent and outcome, and the
//! order is charged once. The intent is recorded on the payment between the two calls, so that
//! the compensation finds it. An order whose compensation already ran is never charged: the
//! authorization fails with `PaymentRejected` (and a confirmation that comes after the
//! compensation canceled the intent is refused by the provider). An answer other than
//! `succeeded` (`requires_action`, `processing`, …) means the webhook settles the payment.

use serde::{Deserialize, Serialize};
use shared::{
    checkout::errors,
    money::{MAX_AMOUNT, Money},
    task::TaskFailure,
};
use uuid::Uuid;

use crate::{
    Payments,
    domain::{Payment, PaymentStatus},
    provider::{CONFIRM, Decline, NewIntent, PaymentIntent, ProviderError, order_key},
    store::{Begun, Recorded, Store},
};

/// The longest payment method id accepted.
const MAX_PAYMENT_METHOD_LEN: usize = 255;

/// The task's input.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Input {
    /// The order.
    pub order_id: Uuid,
    /// Who pays.
    pub user_id: Uuid,
    /// The order's correlation id.
    pub correlation_id: String,
    /// The state's retry count.
    #[serde(default)]
    pub attempt: u32,
    /// The order's total.
    pub amount: Money,
    /// A payment method to confirm with at once (`pm_…`), or none: the client confirms.
    #[serde(default)]
    pub payment_method: Option<String>,
}

/// The task's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Authorized {
    /// The payment.
    pub payment_id: Uuid,
    /// The provider's intent.
    pub intent_id: String,
    /// `succeeded`, `processing`, `requires_action`, `requires_payment_method`, …
    pub status: PaymentStatus,
    /// What the client confirms the intent with.
    pub client_secret: String,
}

/// The cause of a `PaymentRejected` failure.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct Rejection<'a> {
    code: &'a str,
    message: String,
}

fn rejected(code: &str, message: impl Into<String>) -> TaskFailure {
    TaskFailure::business(
        errors::PAYMENT_REJECTED,
        &Rejection {
            code,
            message: message.into(),
        },
    )
}

fn declined(decline: &Decline) -> TaskFailure {
    TaskFailure::business(errors::PAYMENT_DECLINED, decline)
}

fn compensated() -> TaskFailure {
    rejected(
        "order_compensated",
        "The order's payment was canceled by its compensation; it is not charged.",
    )
}

/// Authorizes the order's payment (see the [module docs](self)).
///
/// # Errors
/// `PaymentDeclined` (cause `{code, declineCode, message}`) when the card is refused;
/// `PaymentRejected` when the provider refuses the request or the order was compensated;
/// `Transient` on storage or provider trouble.
#[tracing::instrument(skip_all, fields(order_id = %input.order_id))]
pub async fn handle(payments: &Payments, input: Input) -> Result<Authorized, TaskFailure> {
    if input.amount.amount <= 0 || input.amount.amount > MAX_AMOUNT {
        return Err(rejected(
            "invalid_amount",
            format!("Cannot charge {} minor units.", input.amount.amount),
        ));
    }
    let payment_method = input
        .payment_method
        .as_deref()
        .map(str::trim)
        .filter(|m| !m.is_empty());
    if payment_method.is_some_and(|m| m.len() > MAX_PAYMENT_METHOD_LEN) {
        return Err(rejected(
            "invalid_payment_method",
            "The payment method is too long.",
        ));
    }
    let now = shared::time::now_rfc3339();
    let fresh = Payment {
        payment_id: shared::ids::new_id(),
        order_id: input.order_id,
        user_id: input.user_id,
        amount: input.amount,
        payment_method: payment_method.map(str::to_owned),
        status: PaymentStatus::Creating,
        intent_id: None,
        client_secret: None,
        failure: None,
        refunded_amount: 0,
        voided: false,
        voided_at: None,
        compensation: None,
        late_refund_id: None,
        task_token: None,
        correlation_id: input.correlation_id.clone(),
        created_at: now.clone(),
        updated_at: now,
    };
    let payment = match payments.store.begin(&fresh).await? {
        Begun::Created => fresh,
        Begun::Compensated => return Err(compensated()),
        Begun::Existing(existing)
            if existing.status == PaymentStatus::Creating && !existing.voided =>
        {
            tracing::info!("a retry: replaying the creation");
            *existing
        }
        Begun::Existing(existing) => return answer(&existing),
    };
    let order = payment.order_id;
    let store = &payments.store;
    let new = NewIntent {
        order_id: order,
        payment_id: payment.payment_id,
        amount: payment.amount,
    };
    let created = match payments.provider.create_intent(&new).await {
        Ok(intent) => intent,
        Err(error) => return refused(store, order, None, error, "create a payment intent").await,
    };
    // Known before the confirmation, so that the compensation finds it (and cancels it).
    let payment = match store
        .attach_intent(order, &created.id, created.client_secret.as_deref())
        .await?
    {
        Recorded::Done(payment) => payment,
        Recorded::Moved(payment) => return answer(&payment),
    };
    let Some(method) = payment.payment_method.as_deref() else {
        // The client confirms.
        return record(store, order, &created).await;
    };
    match payments
        .provider
        .confirm_intent(&created.id, Some(method), &order_key(order, CONFIRM))
        .await
    {
        Ok(intent) => record(store, order, &intent).await,
        Err(error) => {
            refused(
                store,
                order,
                Some(&created.id),
                error,
                "confirm the payment intent",
            )
            .await
        }
    }
}

/// Records the provider's intent on the payment, and answers the payment as it is then.
async fn record(
    store: &Store,
    order: Uuid,
    intent: &PaymentIntent,
) -> Result<Authorized, TaskFailure> {
    match store
        .record_intent(
            order,
            PaymentStatus::of_intent(intent.status),
            Some(&intent.id),
            intent.client_secret.as_deref(),
            None,
        )
        .await?
    {
        Recorded::Done(payment) | Recorded::Moved(payment) => answer(&payment),
    }
}

/// Records a refused creation or confirmation, and answers it: `PaymentDeclined` for a card
/// refused, `PaymentRejected` for a request refused (or the order compensated meanwhile),
/// `Transient` for trouble that may pass.
async fn refused(
    store: &Store,
    order: Uuid,
    intent_id: Option<&str>,
    error: ProviderError,
    context: &str,
) -> Result<Authorized, TaskFailure> {
    match error {
        ProviderError::Declined {
            decline,
            intent_id: declined_intent,
        } => {
            tracing::info!(?decline, "the card was declined");
            let recorded = store
                .record_intent(
                    order,
                    PaymentStatus::Failed,
                    declined_intent.as_deref().or(intent_id),
                    None,
                    Some(&decline),
                )
                .await?;
            match recorded {
                Recorded::Done(payment) | Recorded::Moved(payment) => answer(&payment),
            }
        }
        ProviderError::Rejected {
            status,
            kind,
            code,
            message,
        } => {
            tracing::error!(status, %kind, ?code, %message, "the provider refused the payment request");
            let reason = Decline {
                code: Some(code.unwrap_or(kind)),
                decline_code: None,
                message: Some(message),
            };
            let recorded = store
                .record_intent(order, PaymentStatus::Failed, intent_id, None, Some(&reason))
                .await?;
            match recorded {
                Recorded::Done(_) => Err(rejected(
                    reason.code.as_deref().unwrap_or("rejected"),
                    reason.message.unwrap_or_default(),
                )),
                // Compensated meanwhile (the confirmation met a canceled intent), or settled.
                Recorded::Moved(payment) => answer(&payment),
            }
        }
        error @ ProviderError::Transient(_) => Err(TaskFailure::transient(context, &error)),
    }
}

/// The task's answer for `payment` as it is.
fn answer(payment: &Payment) -> Result<Authorized, TaskFailure> {
    if payment.voided {
        return Err(compensated());
    }
    match payment.status {
        PaymentStatus::Failed => Err(declined(&crate::domain::decline_cause(
            payment.failure.as_ref(),
        ))),
        PaymentStatus::Canceled | PaymentStatus::Refunded => Err(compensated()),
        PaymentStatus::Creating => Err(TaskFailure {
            error: std::borrow::Cow::Borrowed(shared::task::TRANSIENT),
            cause: "the payment is being created by another call".into(),
        }),
        status => Ok(Authorized {
            payment_id: payment.payment_id,
            intent_id: payment.intent_id.clone().unwrap_or_default(),
            status,
            client_secret: payment.client_secret.clone().unwrap_or_default(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_sample_input_is_an_authorization() {
        let input: Input = serde_json::from_str(include_str!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../events/authorize-payment.json"
        )))
        .unwrap();
        assert_eq!(input.amount.amount, 4_500);
        assert_eq!(input.payment_method.as_deref(), Some("pm_card_visa"));
    }

    #[test]
    fn a_missing_payment_method_is_allowed() {
        let input: Input = serde_json::from_value(json!({
            "orderId": Uuid::nil(), "userId": Uuid::nil(), "correlationId": "c",
            "amount": {"amount": 1, "currency": "USD"}, "paymentMethod": null
        }))
        .unwrap();
        assert_eq!(input.payment_method, None);
        assert_eq!(input.attempt, 0);
    }

    #[test]
    fn the_answer_names_the_intent_and_a_decline_keeps_its_codes() {
        let decline = Decline {
            code: Some("card_declined".into()),
            decline_code: Some("insufficient_funds".into()),
            message: Some("Your card has insufficient funds.".into()),
        };
        let failure = declined(&decline);
        assert_eq!(failure.error, errors::PAYMENT_DECLINED);
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&failure.cause).unwrap(),
            json!({"code": "card_declined", "declineCode": "insufficient_funds", "message": "Your card has insufficient funds."})
        );
        let authorized = Authorized {
            payment_id: Uuid::nil(),
            intent_id: "pi_1".into(),
            status: PaymentStatus::Processing,
            client_secret: "pi_1_secret".into(),
        };
        assert_eq!(
            serde_json::to_value(authorized).unwrap(),
            json!({"paymentId": Uuid::nil(), "intentId": "pi_1", "status": "processing", "clientSecret": "pi_1_secret"})
        );
        assert_eq!(compensated().error, errors::PAYMENT_REJECTED);
    }
}
