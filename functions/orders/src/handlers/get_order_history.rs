//! `GET /v1/orders/{orderId}/history`: every status change of an order, oldest first.

use lambda_http::{Body, Request, Response};
use serde::Serialize;
use shared::{ApiError, RequestContext, auth::Caller, http};

use crate::{
    Orders,
    domain::HistoryEntry,
    handlers::{private, visible_order},
};

/// The answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct History {
    /// The order.
    pub order_id: uuid::Uuid,
    /// Its status changes, oldest first, with time, actor and reason.
    pub items: Vec<HistoryEntry>,
}

/// Answers 200 with the history.
///
/// # Errors
/// 404 for an order the caller may not see; 500 on storage failure.
#[utoipa::path(
    get,
    path = "/v1/orders/{orderId}/history",
    operation_id = "getOrderHistory",
    summary = "Read an order's status changes",
    tag = "orders",
    security(("bearer" = [])),
    params(("orderId" = uuid::Uuid, Path, description = "The order")),
    responses(
        (status = 200, description = "Every status change, oldest first", body = History),
        (status = 401, response = shared::openapi::Unauthorized),
        (status = 404, response = shared::openapi::NotFound),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn handle(
    orders: &Orders,
    req: Request,
    ctx: &RequestContext,
) -> Result<Response<Body>, ApiError> {
    let caller = Caller::from_request(&req)?;
    let order = visible_order(orders, &req, &caller).await?;
    let items = orders.store.history(order.order_id).await?;
    Ok(private(http::ok(
        ctx,
        &History {
            order_id: order.order_id,
            items,
        },
    )?))
}

#[cfg(test)]
mod tests {
    use crate::handlers::{order_in_path, samples};

    #[test]
    fn the_sample_event_names_an_order() {
        assert!(order_in_path(&samples::get_order_history()).is_ok());
    }
}
