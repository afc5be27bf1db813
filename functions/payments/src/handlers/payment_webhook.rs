//! `POST /v1/payments/webhook`: the provider's events, signed (no access token).
//!
//! The `Stripe-Signature` header is checked first ([`crate::signature`]); an event that is not
//! signed with a current or previous webhook secret, or signed too long ago, is a 400
//! `INVALID_SIGNATURE` and changes nothing. A signed event is processed once (its id is
//! remembered once processed; a redelivery is answered 200 at once):
//! `payment_intent.succeeded` and `payment_intent.payment_failed` settle the order's payment and
//! complete the saga's task waiting for it; other types are acknowledged and ignored.
//!
//! A payment that succeeds after its order's compensation voided it (the customer paid after the
//! order gave up: the compensation could not cancel the intent, or gave up) is refunded in full
//! at once (all that is left, idempotency key `order-<id>-late-refund`), and the refund recorded
//! on the payment once (`refundedAmount`, a `REFUND#` item, `lateRefundId`): a failed order never
//! keeps a charge. A redelivered event replays the same refund; if the provider answers that
//! nothing is left to refund (the compensation refunded it), there is nothing to record.

use std::collections::BTreeMap;

use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};
use shared::{ApiError, RequestContext, http};

use crate::{
    Payments,
    domain::{Payment, PaymentStatus},
    handlers::complete_waiting_task,
    provider::{self, Decline, PaymentIntent, ProviderError, order_key},
    signature,
    store::{RefundEntry, RefundSource},
};

/// The idempotency key's operation of a late payment's refund.
pub const LATE_REFUND: &str = "late-refund";

/// The largest event accepted.
const BODY_LIMIT: usize = 64 * 1024;

/// A provider event (the fields read).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct WebhookEvent {
    /// `evt_…`
    pub id: String,
    /// `payment_intent.succeeded`, …
    #[serde(rename = "type")]
    pub event_type: String,
    /// The object the event is about.
    #[schema(value_type = Object)]
    pub data: EventData,
}

/// The event's object.
#[derive(Debug, Clone, Deserialize)]
pub struct EventData {
    /// For `payment_intent.*` events, the intent.
    pub object: serde_json::Value,
}

/// The answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Received {
    /// Always true.
    pub received: bool,
    /// `processed`, `duplicate` or `ignored`.
    pub outcome: &'static str,
}

fn invalid_signature(error: signature::SignatureError) -> ApiError {
    ApiError::bad_request(
        "INVALID_SIGNATURE",
        format!("The Stripe-Signature header is not valid: {error}."),
    )
}

/// Answers 200 `{"received": true, "outcome"}` to every correctly signed event.
///
/// # Errors
/// 400 `INVALID_SIGNATURE` (missing, forged, or outside the 300-second tolerance), 400
/// `INVALID_EVENT` for a signed body that is no event, 413 for an oversized body, 500 on storage
/// or Step Functions failure (the provider delivers again).
#[utoipa::path(
    post,
    path = "/v1/payments/webhook",
    operation_id = "receivePaymentWebhook",
    summary = "Receive the payment provider's signed events",
    tag = "payments",
    params(
        ("Stripe-Signature" = String, Header, description = "t=<unix seconds>,v1=<hex HMAC-SHA256 of \"t.body\"> (several v1 allowed)"),
    ),
    request_body(content = WebhookEvent, content_type = "application/json"),
    responses(
        (status = 200, description = "Received (processed, a duplicate, or a type the service ignores)", body = Received),
        (status = 400, response = shared::openapi::BadRequest),
        (status = 413, response = shared::openapi::PayloadTooLarge),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn handle(
    payments: &Payments,
    req: Request,
    ctx: &RequestContext,
) -> Result<Response<Body>, ApiError> {
    let body: &[u8] = req.body().as_ref();
    if body.len() > BODY_LIMIT {
        return Err(ApiError::PayloadTooLarge { limit: BODY_LIMIT });
    }
    let header = req
        .headers()
        .get(signature::HEADER)
        .and_then(|v| v.to_str().ok());
    signature::verify(
        header,
        body,
        &payments.keys.webhook_secrets(),
        shared::time::now().unix_timestamp(),
    )
    .map_err(|error| {
        tracing::warn!(%error, "a webhook with a bad signature was refused");
        invalid_signature(error)
    })?;
    let event: WebhookEvent = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request("INVALID_EVENT", format!("The body is not an event: {e}."))
    })?;
    let outcome = process(payments, &event).await?;
    tracing::info!(event_id = %event.id, event_type = %event.event_type, outcome, "webhook received");
    http::ok(
        ctx,
        &Received {
            received: true,
            outcome,
        },
    )
}

/// Processes `event` once.
async fn process(payments: &Payments, event: &WebhookEvent) -> Result<&'static str, ApiError> {
    if payments.store.webhook_seen(&event.id).await? {
        return Ok("duplicate");
    }
    let status = match event.event_type.as_str() {
        "payment_intent.succeeded" => PaymentStatus::Succeeded,
        "payment_intent.payment_failed" => PaymentStatus::Failed,
        _ => {
            payments
                .store
                .remember_webhook(&event.id, &event.event_type)
                .await?;
            return Ok("ignored");
        }
    };
    let intent: PaymentIntent = serde_json::from_value(event.data.object.clone()).map_err(|e| {
        ApiError::bad_request(
            "INVALID_EVENT",
            format!("The event's object is not a payment intent: {e}."),
        )
    })?;
    let Some(order) = order_of(&intent.metadata) else {
        tracing::warn!(intent_id = %intent.id, "an intent of no order of this service");
        payments
            .store
            .remember_webhook(&event.id, &event.event_type)
            .await?;
        return Ok("ignored");
    };
    let failure = (status == PaymentStatus::Failed).then(|| {
        let error = intent.last_payment_error.clone();
        Decline {
            code: error.as_ref().and_then(|e| e.code.clone()),
            decline_code: error.as_ref().and_then(|e| e.decline_code.clone()),
            message: error.and_then(|e| e.message),
        }
    });
    let payment = payments
        .store
        .settle(order, status, &intent.id, failure.as_ref())
        .await?;
    let outcome = match payment {
        Some(payment) if needs_late_refund(&payment, status) => {
            refund_late_payment(payments, &payment, &intent).await?;
            "processed"
        }
        Some(payment) => {
            tracing::info!(order_id = %order, status = payment.status.as_str(), "payment settled by webhook");
            complete_waiting_task(payments, &payment)
                .await
                .map_err(|e| ApiError::internal("complete the waiting task", e))?;
            "processed"
        }
        None => "ignored",
    };
    // Remembered last: an event whose processing failed is processed again when redelivered.
    payments
        .store
        .remember_webhook(&event.id, &event.event_type)
        .await?;
    Ok(outcome)
}

/// Whether the news of `status` for `payment` is a charge that must go back: it succeeded, but
/// the order's compensation voided the payment (whatever it recorded since).
#[must_use]
pub fn needs_late_refund(payment: &Payment, status: PaymentStatus) -> bool {
    status == PaymentStatus::Succeeded && payment.voided
}

/// Refunds all that is left of `intent`, charged after the order's compensation, and records it.
async fn refund_late_payment(
    payments: &Payments,
    payment: &Payment,
    intent: &PaymentIntent,
) -> Result<(), ApiError> {
    let order = payment.order_id;
    tracing::warn!(order_id = %order, intent_id = %intent.id, "a payment succeeded after its order's compensation: refunding it");
    let refund = payments
        .provider
        .refund(
            &intent.id,
            None,
            Some("late_payment_after_compensation"),
            &order_key(order, LATE_REFUND),
        )
        .await;
    let refund = match refund {
        Ok(refund) => refund,
        Err(ProviderError::Rejected { code, .. })
            if code.as_deref() == Some("charge_already_refunded") =>
        {
            tracing::info!(order_id = %order, "the late payment was refunded already");
            return Ok(());
        }
        Err(ProviderError::Rejected {
            status,
            kind,
            code,
            message,
        }) => {
            // Asking again will not change the provider's mind: acknowledged, for people to see.
            tracing::error!(order_id = %order, intent_id = %intent.id, status, %kind, ?code, %message,
                "the provider refused to refund a payment that succeeded after its order's compensation; it needs attention");
            return Ok(());
        }
        // The provider delivers the event again.
        Err(error) => return Err(ApiError::internal("refund a late payment", error)),
    };
    let amount = provider::money(refund.amount, &refund.currency)
        .unwrap_or_else(|| shared::money::Money::new(refund.amount, payment.amount.currency));
    let entry = RefundEntry {
        refund_id: refund.id.clone(),
        payment_id: payment.payment_id,
        order_id: order,
        amount,
        source: RefundSource::LatePayment,
        recorded_at: shared::time::now_rfc3339(),
    };
    let recorded = payments.store.record_late_refund(payment, &entry).await?;
    tracing::info!(order_id = %order, refund_id = %refund.id, amount = refund.amount, recorded, "the late payment was refunded");
    Ok(())
}

fn order_of(metadata: &BTreeMap<String, String>) -> Option<uuid::Uuid> {
    metadata
        .get("order_id")
        .and_then(|id| shared::ids::parse_id(id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::samples;

    #[test]
    fn the_sample_event_is_a_signed_payment_intent_event() {
        let req = samples::payment_webhook();
        assert!(req.headers().contains_key(signature::HEADER));
        let event: WebhookEvent = serde_json::from_slice(req.body().as_ref()).unwrap();
        assert_eq!(event.event_type, "payment_intent.succeeded");
        let intent: PaymentIntent = serde_json::from_value(event.data.object).unwrap();
        assert!(order_of(&intent.metadata).is_some());
    }

    #[test]
    fn only_a_success_after_the_compensation_is_refunded_by_the_webhook() {
        let mut payment: Payment = serde_json::from_value(serde_json::json!({
            "paymentId": uuid::Uuid::nil(), "orderId": uuid::Uuid::nil(), "userId": uuid::Uuid::nil(),
            "amount": {"amount": 3000, "currency": "USD"}, "status": "requires_action",
            "intentId": "pi_1", "refundedAmount": 0, "correlationId": "c",
            "createdAt": "2026-01-01T00:00:00Z", "updatedAt": "2026-01-01T00:00:00Z"
        }))
        .unwrap();
        assert!(!needs_late_refund(&payment, PaymentStatus::Succeeded));
        payment.voided = true;
        assert!(needs_late_refund(&payment, PaymentStatus::Succeeded));
        assert!(!needs_late_refund(&payment, PaymentStatus::Failed));
        // Whatever the compensation recorded meanwhile (it canceled, or gave up).
        for status in [
            PaymentStatus::Canceled,
            PaymentStatus::Succeeded,
            PaymentStatus::Failed,
        ] {
            payment.status = status;
            assert!(
                needs_late_refund(&payment, PaymentStatus::Succeeded),
                "{status:?}"
            );
        }
        assert_eq!(
            crate::provider::order_key(uuid::Uuid::nil(), LATE_REFUND),
            "order-00000000-0000-0000-0000-000000000000-late-refund"
        );
    }

    #[test]
    fn a_bad_signature_is_a_400_with_its_code() {
        let problem = invalid_signature(signature::SignatureError::Stale);
        assert_eq!(problem.status(), 400);
        assert_eq!(problem.code(), "INVALID_SIGNATURE");
    }
}
