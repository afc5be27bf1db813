//! `PUT /v1/orders/{orderId}/tracking`: a seller of the order's lines or an admin records the
//! carrier and tracking number, shown in the order (confirmed or shipped orders only).

use lambda_http::{Body, Request, Response};
use shared::{
    ApiError, RequestContext,
    auth::{Caller, Role},
    http,
};

use crate::{
    Orders,
    domain::{OrderStatus, Tracking},
    handlers::{answer, no_order, order_in_path},
    store::Change,
};

/// Answers 200 with the order.
///
/// # Errors
/// 400 for an invalid body; 403 for customers; 404 for an order the caller does not sell in;
/// 409 `INVALID_TRANSITION` unless confirmed or shipped; 500 on storage failure.
#[utoipa::path(
    put,
    path = "/v1/orders/{orderId}/tracking",
    operation_id = "updateOrderTracking",
    summary = "Record an order's carrier and tracking number (sellers of its lines, admins)",
    tag = "orders",
    security(("bearer" = [])),
    params(("orderId" = uuid::Uuid, Path, description = "The order")),
    request_body = Tracking,
    responses(
        (status = 200, description = "The order", body = crate::domain::OrderView),
        (status = 400, response = shared::openapi::BadRequest),
        (status = 401, response = shared::openapi::Unauthorized),
        (status = 403, response = shared::openapi::Forbidden),
        (status = 404, response = shared::openapi::NotFound),
        (status = 409, response = shared::openapi::Conflict),
        (status = 413, response = shared::openapi::PayloadTooLarge),
        (status = 415, response = shared::openapi::UnsupportedMediaType),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn handle(
    orders: &Orders,
    req: Request,
    ctx: &RequestContext,
) -> Result<Response<Body>, ApiError> {
    let caller = Caller::from_request(&req)?;
    caller.require_any(&[Role::Seller, Role::Admin])?;
    let id = order_in_path(&req)?;
    let tracking: Tracking = http::parse_json_limited(&req, http::SMALL_BODY_LIMIT)?;
    tracking.validate()?;
    let changed = orders
        .store
        .change(id, |order| {
            if !order.fulfillable_by(&caller) {
                return Err(no_order());
            }
            if !matches!(order.status, OrderStatus::Confirmed | OrderStatus::Shipped) {
                return Err(ApiError::conflict(
                    "INVALID_TRANSITION",
                    format!(
                        "An order that is {} cannot be tracked.",
                        order.status.as_str()
                    ),
                ));
            }
            if order.tracking.as_ref() == Some(&tracking) {
                return Ok(None);
            }
            let mut next = order.clone();
            next.tracking = Some(tracking.clone());
            Ok(Some(Change {
                order: next,
                history: None,
                event: None,
                extra: None,
            }))
        })
        .await?;
    answer(ctx, changed.order(), &caller)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::samples;

    #[test]
    fn the_sample_event_carries_a_valid_tracking_number() {
        let tracking: Tracking = http::parse_json(&samples::update_order_tracking()).unwrap();
        assert!(tracking.validate().is_ok());
    }
}
