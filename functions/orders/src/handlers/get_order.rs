//! `GET /v1/orders/{orderId}`: one order, for its owner, an admin, or a seller of its lines.

use lambda_http::{Body, Request, Response};
use shared::{ApiError, RequestContext, auth::Caller};

use crate::{
    Orders,
    handlers::{answer, visible_order},
};

/// Answers 200 with the order: its lines with the prices charged, totals, status and payment
/// status, and while the payment waits, the client secret that confirms it (owner only).
///
/// # Errors
/// 404 for an order the caller may not see; 500 on storage failure.
#[utoipa::path(
    get,
    path = "/v1/orders/{orderId}",
    operation_id = "getOrder",
    summary = "Read an order",
    tag = "orders",
    security(("bearer" = [])),
    params(("orderId" = uuid::Uuid, Path, description = "The order")),
    responses(
        (status = 200, description = "The order", body = crate::domain::OrderView),
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
    answer(ctx, &order, &caller)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::{order_in_path, samples};

    #[test]
    fn the_sample_event_names_an_order() {
        let req = samples::get_order();
        assert!(order_in_path(&req).is_ok());
        assert!(Caller::from_request(&req).is_ok());
    }
}
