//! `POST /v1/orders/{orderId}/cancel`: the owner cancels a confirmed order before it ships. The
//! order is marked as being cancelled (so it cannot ship meanwhile), then the checkout's
//! compensation runs as its own execution: it refunds the payment, returns the stock, and closes
//! the order CANCELLED. Asking again while it runs answers the same.

use lambda_http::{Body, Request, Response};
use shared::{ApiError, RequestContext, auth::Caller, http};

use crate::{
    Checkout,
    domain::{OrderStatus, OrderView},
    handlers::{no_order, order_in_path, private, start_cancellation},
    store::Change,
};

/// Answers 202 with the order, `cancelRequested` set.
///
/// # Errors
/// 404 for an order that is not the caller's; 409 `ORDER_IN_CHECKOUT` while its checkout runs,
/// 409 `ORDER_NOT_CANCELLABLE` once shipped, failed or closed; 500 on storage failure.
#[utoipa::path(
    post,
    path = "/v1/orders/{orderId}/cancel",
    operation_id = "cancelOrder",
    summary = "Cancel a confirmed order before it ships (refund and restock)",
    tag = "orders",
    security(("bearer" = [])),
    params(("orderId" = uuid::Uuid, Path, description = "The order")),
    responses(
        (status = 202, description = "The cancellation is running", body = OrderView),
        (status = 401, response = shared::openapi::Unauthorized),
        (status = 404, response = shared::openapi::NotFound),
        (status = 409, response = shared::openapi::Conflict),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn handle(
    checkout: &Checkout,
    req: Request,
    ctx: &RequestContext,
) -> Result<Response<Body>, ApiError> {
    let caller = Caller::from_request(&req)?;
    let id = order_in_path(&req)?;
    let changed = checkout
        .orders
        .store
        .change(id, |order| {
            if order.user_id != caller.user_id {
                return Err(no_order());
            }
            if order.cancel_requested && order.status == OrderStatus::Confirmed {
                return Ok(None);
            }
            match order.status {
                OrderStatus::Confirmed => {}
                status if status.is_in_checkout() => {
                    return Err(ApiError::conflict(
                        "ORDER_IN_CHECKOUT",
                        "The order's checkout is still running; cancel it once it is confirmed.",
                    ));
                }
                status => {
                    return Err(ApiError::conflict(
                        "ORDER_NOT_CANCELLABLE",
                        format!("An order that is {} cannot be cancelled.", status.as_str()),
                    ));
                }
            }
            let mut next = order.clone();
            next.cancel_requested = true;
            Ok(Some(Change {
                order: next,
                history: None,
                event: None,
                extra: None,
            }))
        })
        .await
        .map_err(|error| {
            if error.status() == 404 {
                no_order()
            } else {
                error
            }
        })?;
    let order = changed.order();
    start_cancellation(checkout, order, caller.user_id).await?;
    Ok(private(http::accepted(
        ctx,
        &OrderView::of(order, caller.user_id),
    )?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::samples;

    #[test]
    fn the_sample_event_names_an_order() {
        assert!(order_in_path(&samples::cancel_order()).is_ok());
    }
}
