//! `GET /v1/cart`: the caller's cart with current prices and a subtotal.

use lambda_http::{Body, Request, Response};
use shared::{ApiError, RequestContext, auth::Caller};

use crate::{Carts, domain::Cart, handlers::answer};

/// Answers 200 with the cart (an empty one if the caller has none).
///
/// # Errors
/// 500 on storage failure.
#[utoipa::path(
    get,
    path = "/v1/cart",
    operation_id = "getCart",
    summary = "Get the caller's cart",
    tag = "cart",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's cart with current prices", body = crate::domain::CartView),
        (status = 401, response = shared::openapi::Unauthorized),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn handle(
    carts: &Carts,
    req: Request,
    ctx: &RequestContext,
) -> Result<Response<Body>, ApiError> {
    let caller = Caller::from_request(&req)?;
    let cart = carts
        .store
        .cart(caller.user_id)
        .await?
        .unwrap_or_else(|| Cart::empty(caller.user_id));
    answer(carts, ctx, &cart).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::samples;

    #[test]
    fn the_sample_event_carries_a_caller() {
        assert!(Caller::from_request(&samples::get_cart()).is_ok());
    }
}
