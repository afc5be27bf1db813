//! `DELETE /v1/cart/items/{productId}`: removes a product from the caller's cart.

use lambda_http::{Body, Request, Response};
use shared::{ApiError, RequestContext, auth::Caller, http};

use crate::{
    Carts,
    handlers::{Outcome, modify, product_in_path},
};

/// Answers 204 once the product is not in the cart (also when it was not).
///
/// # Errors
/// 500 on storage failure.
#[utoipa::path(
    delete,
    path = "/v1/cart/items/{productId}",
    operation_id = "removeCartItem",
    summary = "Remove a product from the cart",
    tag = "cart",
    security(("bearer" = [])),
    params(("productId" = uuid::Uuid, Path, description = "The product of the line")),
    responses(
        (status = 204, description = "The cart no longer holds the product (also when it never did)"),
        (status = 401, response = shared::openapi::Unauthorized),
        (status = 409, response = shared::openapi::Conflict),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn handle(
    carts: &Carts,
    req: Request,
    ctx: &RequestContext,
) -> Result<Response<Body>, ApiError> {
    let caller = Caller::from_request(&req)?;
    let Ok(product_id) = product_in_path(&req) else {
        // Not an id: it cannot be in the cart.
        return Ok(http::no_content(ctx));
    };
    modify(carts, caller.user_id, |cart| {
        Ok(if cart.remove(product_id) {
            Outcome::Save
        } else {
            Outcome::Keep
        })
    })
    .await?;
    Ok(http::no_content(ctx))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::samples;

    #[test]
    fn the_sample_event_names_a_product() {
        assert!(product_in_path(&samples::remove_cart_item()).is_ok());
    }
}
