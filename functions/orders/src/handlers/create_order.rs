//! `POST /v1/orders`: places an order and starts its checkout.
//!
//! Parse → decide → store: the body becomes a [`NewOrder`]; the order is written PENDING with
//! its first history entry, `OrderPlaced` and the `Idempotency-Key`'s record in one transaction;
//! then the checkout's execution, named by the order id, is started. The same key and body
//! answer the same order (and start its execution if an earlier attempt could not); the same key
//! with another body is 422.

use lambda_http::{Body, Request, Response, http::HeaderValue, http::header};
use shared::{
    ApiError, RequestContext,
    auth::Caller,
    events::orders::OrderPlaced,
    http,
    idempotency::{IdempotencyKey, fingerprint},
};

use crate::{
    Checkout,
    domain::{Actor, HistoryEntry, NewOrder, Order, OrderStatus, OrderView, PlaceOrder},
    handlers::{private, start_checkout},
    store::{Placed, outbox_item},
};

/// Answers 202 with the order and its `Location`.
///
/// # Errors
/// 403 `EMAIL_NOT_VERIFIED` when the stack requires a verified email (`RequireVerifiedEmail`) and
/// the access token says the caller's is not; 400 without an `Idempotency-Key` or with an invalid
/// body; 422 `IDEMPOTENCY_KEY_REUSED`; 500
/// on storage failure or when the checkout cannot start (a retry with the same key starts it).
#[utoipa::path(
    post,
    path = "/v1/orders",
    operation_id = "createOrder",
    summary = "Place an order and start its checkout",
    tag = "orders",
    security(("bearer" = [])),
    params(
        ("Idempotency-Key" = String, Header, description = "Required. The same key and body give the same order; another body with it is 422. Kept at least 24 hours."),
    ),
    request_body = PlaceOrder,
    responses(
        (status = 202, description = "The order, PENDING while its checkout runs", body = OrderView, headers(
            ("Location" = String, description = "The order's address"),
        )),
        (status = 400, response = shared::openapi::BadRequest),
        (status = 401, response = shared::openapi::Unauthorized),
        (status = 403, response = shared::openapi::Forbidden),
        (status = 413, response = shared::openapi::PayloadTooLarge),
        (status = 415, response = shared::openapi::UnsupportedMediaType),
        (status = 422, response = shared::openapi::Unprocessable),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn handle(
    checkout: &Checkout,
    req: Request,
    ctx: &RequestContext,
) -> Result<Response<Body>, ApiError> {
    let caller = Caller::from_request(&req)?;
    require_verified_email(checkout.require_verified_email, &caller)?;
    let key = IdempotencyKey::from_request(&req)?.ok_or_else(|| {
        ApiError::bad_request(
            "IDEMPOTENCY_KEY_REQUIRED",
            "Placing an order needs an Idempotency-Key header, so that a retry cannot place it twice.",
        )
    })?;
    let body: PlaceOrder = http::parse_json(&req)?;
    let new = NewOrder::try_from(body)?;
    let order = Order::place(
        shared::ids::new_id(),
        caller.user_id,
        new,
        checkout.orders.currency,
        &ctx.correlation_id,
    );
    let entry = HistoryEntry {
        from: None,
        to: OrderStatus::Pending,
        at: order.created_at.clone(),
        actor: Actor::user(&caller),
        reason: Some("placed".into()),
    };
    let event = outbox_item(
        OrderPlaced {
            order_id: order.order_id,
            user_id: order.user_id,
            from_cart: order.from_cart,
            lines: order.requested_lines.clone(),
        },
        &ctx.correlation_id,
    )?;
    let placed = checkout
        .orders
        .store
        .place(
            &order,
            &entry,
            event,
            key.as_str(),
            &fingerprint(req.body().as_ref()),
        )
        .await?;
    let order = match placed {
        Placed::New => order,
        Placed::Replayed(order) => *order,
    };
    if order.status == OrderStatus::Pending {
        start_checkout(checkout, &order).await?;
    }
    shared::metrics::count(shared::metrics::Business::OrdersPlaced);
    let mut response = private(http::accepted(ctx, &OrderView::of(&order, caller.user_id))?);
    if let Ok(location) = HeaderValue::from_str(&format!("/v1/orders/{}", order.order_id)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

/// Refuses a caller whose email is not verified when the stack requires it. The flag comes from the
/// access token, so a customer who has just verified logs in again (or refreshes) first.
fn require_verified_email(required: bool, caller: &Caller) -> Result<(), ApiError> {
    if required && !caller.email_verified {
        return Err(ApiError::forbidden(
            "Placing an order needs a verified email: follow the link sent at registration, then sign in again.",
        )
        .with_code("EMAIL_NOT_VERIFIED"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::samples;

    #[test]
    fn the_sample_event_places_a_valid_order_with_a_key() {
        let req = samples::create_order();
        assert!(IdempotencyKey::from_request(&req).unwrap().is_some());
        let body: PlaceOrder = http::parse_json(&req).unwrap();
        assert!(NewOrder::try_from(body).is_ok());
        assert!(Caller::from_request(&req).is_ok());
    }

    #[test]
    fn an_unverified_email_is_refused_only_when_the_stack_requires_it() {
        let mut caller = Caller::from_request(&samples::create_order()).unwrap();
        caller.email_verified = false;
        let refused = require_verified_email(true, &caller).unwrap_err();
        assert_eq!(refused.status(), 403);
        assert_eq!(refused.code(), "EMAIL_NOT_VERIFIED");
        assert!(require_verified_email(false, &caller).is_ok());
        caller.email_verified = true;
        assert!(require_verified_email(true, &caller).is_ok());
    }
}
