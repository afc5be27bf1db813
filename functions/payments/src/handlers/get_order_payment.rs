//! `GET /v1/payments/order/{orderId}`: an order's payment, for the order's owner or an admin.

use lambda_http::{Body, Request, Response};
use serde::Serialize;
use shared::{
    ApiError, RequestContext,
    auth::{Caller, Role},
    http,
    money::Money,
};
use uuid::Uuid;

use crate::{
    Records,
    domain::{Payment, PaymentStatus},
    provider::Decline,
};

/// A payment as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaymentView {
    /// The payment.
    pub payment_id: Uuid,
    /// Its order.
    pub order_id: Uuid,
    /// Where it is.
    pub status: PaymentStatus,
    /// How much was charged (or asked for).
    pub amount: Money,
    /// How much went back.
    pub refunded_amount: Money,
    /// Why the card was declined.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<Decline>,
    /// What the client confirms the payment with, while it waits for the customer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

impl From<&Payment> for PaymentView {
    fn from(payment: &Payment) -> Self {
        let waiting = matches!(
            payment.status,
            PaymentStatus::RequiresAction
                | PaymentStatus::RequiresPaymentMethod
                | PaymentStatus::RequiresConfirmation
        ) && !payment.voided;
        Self {
            payment_id: payment.payment_id,
            order_id: payment.order_id,
            status: payment.status,
            amount: payment.amount,
            refunded_amount: Money::new(payment.refunded_amount, payment.amount.currency),
            failure: payment.failure.clone(),
            client_secret: payment.client_secret.clone().filter(|_| waiting),
            created_at: payment.created_at.clone(),
            updated_at: payment.updated_at.clone(),
        }
    }
}

/// Answers 200 with the order's payment.
///
/// # Errors
/// 404 when the order has no payment or belongs to someone else (no existence leak); 500 on
/// storage failure.
#[utoipa::path(
    get,
    path = "/v1/payments/order/{orderId}",
    operation_id = "getOrderPayment",
    summary = "Get an order's payment (its owner or an admin)",
    tag = "payments",
    security(("bearer" = [])),
    params(("orderId" = uuid::Uuid, Path, description = "The order")),
    responses(
        (status = 200, description = "The order's payment", body = PaymentView),
        (status = 401, response = shared::openapi::Unauthorized),
        (status = 404, response = shared::openapi::NotFound),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn handle(
    records: &Records,
    req: Request,
    ctx: &RequestContext,
) -> Result<Response<Body>, ApiError> {
    let caller = Caller::from_request(&req)?;
    let order = http::id_in_path(&req, "orderId", "payment")?;
    let payment = records
        .store
        .payment_of_order(order)
        .await?
        .filter(|p| visible_to(p, &caller))
        .ok_or_else(|| ApiError::not_found("No such payment."))?;
    http::ok(ctx, &PaymentView::from(&payment))
}

/// Whether `caller` may see `payment`: its owner or an admin.
#[must_use]
pub fn visible_to(payment: &Payment, caller: &Caller) -> bool {
    caller.is(Role::Admin) || payment.user_id == caller.user_id
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::samples;

    #[test]
    fn the_sample_event_carries_a_caller_and_an_order() {
        let req = samples::get_order_payment();
        assert!(Caller::from_request(&req).is_ok());
        assert!(http::id_in_path(&req, "orderId", "payment").is_ok());
    }
}
