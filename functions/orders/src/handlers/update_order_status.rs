//! `PUT /v1/orders/{orderId}/status`: a seller of the order's lines or an admin moves it along,
//! CONFIRMED → SHIPPED → DELIVERED. Any other transition is 409; a status it already has is
//! answered as it is.

use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use shared::{
    ApiError, RequestContext,
    auth::{Caller, Role},
    events::orders::{OrderDelivered, OrderShipped},
    http,
};

use crate::{
    Orders,
    domain::{Actor, HistoryEntry, OrderStatus},
    handlers::{answer, no_order, order_in_path},
    store::{Change, outbox_item},
};

/// The body.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StatusChange {
    /// `SHIPPED` or `DELIVERED`.
    pub status: OrderStatus,
    /// Why, for the history.
    #[serde(default)]
    #[schema(max_length = 200)]
    pub reason: Option<String>,
}

/// Answers 200 with the order.
///
/// # Errors
/// 400 for another target status; 403 for customers; 404 for an order the caller does not sell
/// in; 409 `INVALID_TRANSITION` or `CANCELLATION_RUNNING`; 500 on storage failure.
#[utoipa::path(
    put,
    path = "/v1/orders/{orderId}/status",
    operation_id = "updateOrderStatus",
    summary = "Ship or deliver an order (sellers of its lines, admins)",
    tag = "orders",
    security(("bearer" = [])),
    params(("orderId" = uuid::Uuid, Path, description = "The order")),
    request_body = StatusChange,
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
    let body: StatusChange = http::parse_json_limited(&req, http::SMALL_BODY_LIMIT)?;
    if !matches!(body.status, OrderStatus::Shipped | OrderStatus::Delivered) {
        return Err(ApiError::invalid_field(
            "status",
            "must be SHIPPED or DELIVERED",
        ));
    }
    if body
        .reason
        .as_ref()
        .is_some_and(|r| r.chars().count() > 200)
    {
        return Err(ApiError::invalid_field(
            "reason",
            "is at most 200 characters",
        ));
    }
    let changed = orders
        .store
        .change(id, |order| {
            if !order.fulfillable_by(&caller) {
                return Err(no_order());
            }
            if order.status == body.status {
                return Ok(None);
            }
            if !order.status.can_become(body.status) {
                return Err(ApiError::conflict(
                    "INVALID_TRANSITION",
                    format!(
                        "An order that is {} cannot become {}.",
                        order.status.as_str(),
                        body.status.as_str()
                    ),
                ));
            }
            if order.cancel_requested {
                return Err(ApiError::conflict(
                    "CANCELLATION_RUNNING",
                    "The customer is cancelling this order.",
                ));
            }
            let mut next = order.clone();
            next.status = body.status;
            let event = match body.status {
                OrderStatus::Shipped => outbox_item(
                    OrderShipped {
                        order_id: order.order_id,
                        user_id: order.user_id,
                        carrier: order.tracking.as_ref().map(|t| t.carrier.clone()),
                        tracking_number: order.tracking.as_ref().map(|t| t.tracking_number.clone()),
                    },
                    &ctx.correlation_id,
                )?,
                _ => outbox_item(
                    OrderDelivered {
                        order_id: order.order_id,
                        user_id: order.user_id,
                    },
                    &ctx.correlation_id,
                )?,
            };
            Ok(Some(Change {
                history: Some(HistoryEntry {
                    from: Some(order.status),
                    to: body.status,
                    at: shared::time::now_rfc3339(),
                    actor: Actor::user(&caller),
                    reason: body.reason.clone(),
                }),
                order: next,
                event: Some(event),
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
    fn the_sample_event_ships_an_order() {
        let req = samples::update_order_status();
        let body: StatusChange = http::parse_json(&req).unwrap();
        assert_eq!(body.status, OrderStatus::Shipped);
        assert_eq!(Caller::from_request(&req).unwrap().role, Role::Seller);
    }
}
