//! `DELETE /v1/cart`: empties the caller's cart.

use lambda_http::{Body, Request, Response};
use shared::{ApiError, RequestContext, auth::Caller, http};

use crate::Carts;

/// Answers 204.
///
/// # Errors
/// 500 on storage failure.
#[utoipa::path(
    delete,
    path = "/v1/cart",
    operation_id = "clearCart",
    summary = "Empty the cart",
    tag = "cart",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "The cart is empty"),
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
    carts.store.clear(caller.user_id).await?;
    Ok(http::no_content(ctx))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::samples;

    #[test]
    fn the_sample_event_carries_a_caller() {
        assert!(Caller::from_request(&samples::clear_cart()).is_ok());
    }
}
