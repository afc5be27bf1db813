//! `POST /v1/payments/{paymentId}/refund`: an admin gives money back, all that is left or a
//! part of it, never more. Requires an `Idempotency-Key`: a retried request refunds once and
//! answers the same; the key reused with another body is a 422. The refund and its
//! `PaymentRefunded` event are written in one transaction.
//!
//! What is left is checked before the provider is asked; the provider, which refuses to refund
//! more than was charged, has the last word. Once it accepted the refund, the refund is recorded
//! as it is (added to what was refunded, once), even if another refund (another admin's, the
//! compensation's) was recorded meanwhile. While the order's compensation runs, admins' refunds
//! are refused (409 `PAYMENT_BEING_CANCELLED`): it refunds what is left.

use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};
use shared::{
    ApiError, RequestContext,
    auth::Caller,
    events::{Envelope, payments::PaymentRefunded},
    http,
    idempotency::{self, IdempotencyKey},
    money::Money,
};
use uuid::Uuid;

use crate::{
    Payments,
    domain::{self, Payment, PaymentStatus, RefundRefused},
    provider::ProviderError,
    signature::hex,
    store::{RefundWrite, RefundWritten},
};

/// The longest reason kept.
const MAX_REASON_CHARS: usize = 200;

/// The request body.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RefundRequest {
    /// How much; all that is left when absent.
    pub amount: Option<Money>,
    /// Whether the goods go back to stock (default true).
    pub restock: Option<bool>,
    /// Why (kept with the refund).
    #[schema(max_length = 200)]
    pub reason: Option<String>,
}

/// The answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefundView {
    /// The provider's refund id.
    pub refund_id: String,
    /// The payment.
    pub payment_id: Uuid,
    /// Its order.
    pub order_id: Uuid,
    /// This refund's amount.
    pub amount: Money,
    /// Everything refunded so far, this refund included.
    pub refunded_amount: Money,
    /// What is left to refund.
    pub remaining: Money,
    /// Nothing is left.
    pub full: bool,
    /// Whether the goods go back to stock.
    pub restock: bool,
    /// Why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The payment's status after the refund.
    pub status: PaymentStatus,
}

fn refused(error: RefundRefused) -> ApiError {
    match error {
        RefundRefused::BeingCancelled => ApiError::conflict(
            "PAYMENT_BEING_CANCELLED",
            "The order's payment is being canceled or refunded by its compensation, which refunds \
             what is left.",
        ),
        RefundRefused::NotCharged => ApiError::conflict(
            "PAYMENT_NOT_CHARGED",
            "The payment was not charged: there is nothing to refund.",
        ),
        RefundRefused::NothingLeft => {
            ApiError::conflict("NOTHING_TO_REFUND", "Everything paid was refunded already.")
        }
        RefundRefused::NotPositive | RefundRefused::WrongCurrency => {
            ApiError::invalid_field("amount", error.to_string())
        }
        RefundRefused::TooMuch { remaining } => ApiError::unprocessable(
            "REFUND_EXCEEDS_REMAINING",
            format!("At most {remaining} minor units are left to refund."),
        ),
    }
}

/// Validates the body: the reason's length.
///
/// # Errors
/// 400 `VALIDATION_FAILED`.
pub fn validate(body: &RefundRequest) -> Result<Option<String>, ApiError> {
    let reason = body
        .reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_owned);
    if reason
        .as_ref()
        .is_some_and(|r| r.chars().count() > MAX_REASON_CHARS || r.chars().any(char::is_control))
    {
        return Err(ApiError::invalid_field(
            "reason",
            format!("must be at most {MAX_REASON_CHARS} characters, without control characters"),
        ));
    }
    Ok(reason)
}

/// The provider's idempotency key of an admin's refund: the payment and a digest of the
/// admin's key (any length, any visible character).
fn provider_key(payment: Uuid, key: &IdempotencyKey) -> String {
    use sha2::{Digest as _, Sha256};
    let digest = Sha256::digest(key.as_str().as_bytes());
    format!("payment-{payment}-refund-{}", hex(&digest[..16]))
}

/// Answers 200 with the refund.
///
/// # Errors
/// 400 without `Idempotency-Key` (`IDEMPOTENCY_KEY_REQUIRED`) or with an invalid body; 403 for
/// non-admins; 404 unknown payment; 409 `PAYMENT_NOT_CHARGED`, `NOTHING_TO_REFUND`,
/// `PAYMENT_BEING_CANCELLED` or `REFUND_REFUSED` (by the provider); 422 `REFUND_EXCEEDS_REMAINING` or
/// `IDEMPOTENCY_KEY_REUSED`; 500 on storage or provider failure.
#[utoipa::path(
    post,
    path = "/v1/payments/{paymentId}/refund",
    operation_id = "refundPayment",
    summary = "Refund a payment, in full or in part (admin)",
    tag = "payments",
    security(("bearer" = [])),
    params(
        ("paymentId" = uuid::Uuid, Path, description = "The payment"),
        ("Idempotency-Key" = String, Header, description = "Required: makes a retried refund refund once (1 to 255 visible ASCII characters)"),
    ),
    request_body = RefundRequest,
    responses(
        (status = 200, description = "The refund", body = RefundView),
        (status = 400, response = shared::openapi::BadRequest),
        (status = 401, response = shared::openapi::Unauthorized),
        (status = 403, response = shared::openapi::Forbidden),
        (status = 404, response = shared::openapi::NotFound),
        (status = 409, response = shared::openapi::Conflict),
        (status = 413, response = shared::openapi::PayloadTooLarge),
        (status = 415, response = shared::openapi::UnsupportedMediaType),
        (status = 422, response = shared::openapi::Unprocessable),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn handle(
    payments: &Payments,
    req: Request,
    ctx: &RequestContext,
) -> Result<Response<Body>, ApiError> {
    let caller = Caller::from_request(&req)?;
    caller.require_admin()?;
    let payment_id = http::id_in_path(&req, "paymentId", "payment")?;
    let key = IdempotencyKey::from_request(&req)?.ok_or_else(|| {
        ApiError::bad_request(
            "IDEMPOTENCY_KEY_REQUIRED",
            "A refund needs an Idempotency-Key header.",
        )
    })?;
    let body: RefundRequest = http::parse_json_limited(&req, http::SMALL_BODY_LIMIT)?;
    let reason = validate(&body)?;
    let fingerprint = idempotency::fingerprint(req.body());
    let store = &payments.store;
    if let Some(record) = store.refund_record(payment_id, key.as_str()).await? {
        if record.fingerprint != fingerprint {
            return Err(idempotency::reused());
        }
        return http::ok(ctx, &record.answer);
    }
    let restock = body.restock.unwrap_or(true);
    let payment = store
        .payment(payment_id)
        .await?
        .ok_or_else(|| ApiError::not_found("No such payment."))?;
    let amount =
        domain::refund_amount(&payment, body.amount, shared::time::now()).map_err(refused)?;
    let intent = payment
        .intent_id
        .as_deref()
        .ok_or_else(|| refused(RefundRefused::NotCharged))?;
    let refund = payments
        .provider
        .refund(
            intent,
            Some(amount),
            reason.as_deref(),
            &provider_key(payment_id, &key),
        )
        .await
        .map_err(|error| match error {
            ProviderError::Rejected { message, .. } => ApiError::conflict(
                "REFUND_REFUSED",
                format!("The payment provider refused the refund: {message}"),
            ),
            other => ApiError::internal("refund a payment", other),
        })?;
    // The provider accepted it: it is recorded whatever was recorded since the payment was read.
    let view = view(&payment, &refund.id, refund.amount, restock, reason);
    let answer =
        serde_json::to_value(&view).map_err(|e| ApiError::internal("serialize a refund", e))?;
    let event = Envelope::wrap(
        PaymentRefunded {
            payment_id,
            order_id: payment.order_id,
            user_id: payment.user_id,
            amount: view.amount,
            full: view.full,
            restock,
            refund_id: refund.id.clone(),
        },
        ctx.correlation_id.clone(),
    );
    let written = store
        .write_refund(&RefundWrite {
            payment: &payment,
            refund_id: &refund.id,
            amount: refund.amount,
            key: key.as_str(),
            fingerprint: &fingerprint,
            answer: &answer,
            event: &event,
        })
        .await?;
    match written {
        RefundWritten::Done => {
            tracing::info!(%payment_id, amount = refund.amount, full = view.full, "payment refunded");
            http::ok(ctx, &answer)
        }
        RefundWritten::Replayed(answer) => http::ok(ctx, &answer),
    }
}

fn view(
    payment: &Payment,
    refund_id: &str,
    amount: i64,
    restock: bool,
    reason: Option<String>,
) -> RefundView {
    let currency = payment.amount.currency;
    let refunded = payment.refunded_amount + amount;
    let remaining = (payment.amount.amount - refunded).max(0);
    RefundView {
        refund_id: refund_id.to_owned(),
        payment_id: payment.payment_id,
        order_id: payment.order_id,
        amount: Money::new(amount, currency),
        refunded_amount: Money::new(refunded, currency),
        remaining: Money::new(remaining, currency),
        full: remaining == 0,
        restock,
        reason,
        status: if remaining == 0 {
            PaymentStatus::Refunded
        } else {
            payment.status
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::samples;

    #[test]
    fn the_sample_event_is_a_valid_partial_refund_with_a_key() {
        let req = samples::refund_payment();
        assert!(IdempotencyKey::from_request(&req).unwrap().is_some());
        let body: RefundRequest = http::parse_json(&req).unwrap();
        assert_eq!(body.amount.map(|m| m.amount), Some(1_000));
        assert_eq!(
            validate(&body).unwrap().as_deref(),
            Some("Damaged in transit")
        );
        assert!(http::id_in_path(&req, "paymentId", "payment").is_ok());
    }

    #[test]
    fn refusals_have_clear_codes() {
        assert_eq!(
            refused(RefundRefused::NothingLeft).code(),
            "NOTHING_TO_REFUND"
        );
        assert_eq!(refused(RefundRefused::NotCharged).status(), 409);
        let cancelling = refused(RefundRefused::BeingCancelled);
        assert_eq!(
            (cancelling.status().as_u16(), cancelling.code()),
            (409, "PAYMENT_BEING_CANCELLED")
        );
        let too_much = refused(RefundRefused::TooMuch { remaining: 5 });
        assert_eq!(
            (too_much.status().as_u16(), too_much.code()),
            (422, "REFUND_EXCEEDS_REMAINING")
        );
        assert_eq!(refused(RefundRefused::NotPositive).status(), 400);
        let long = RefundRequest {
            reason: Some("x".repeat(201)),
            ..RefundRequest::default()
        };
        assert!(validate(&long).is_err());
    }

    #[test]
    fn provider_keys_are_bounded_and_stable() {
        let key = IdempotencyKey::parse(&"k".repeat(255)).unwrap();
        let a = provider_key(Uuid::nil(), &key);
        assert_eq!(a, provider_key(Uuid::nil(), &key));
        assert!(a.len() < 100);
    }
}
