//! `PATCH /v1/cart/items/{productId}`: sets how many units of a product the cart holds.

use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use shared::{ApiError, RequestContext, auth::Caller, http};

use crate::{
    Carts,
    handlers::{Outcome, answer, modify, product_in_path, quantity},
};

/// The request body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SetQuantity {
    /// The new quantity, 1 to 99 (remove the line with `DELETE`).
    #[schema(minimum = 1, maximum = 99)]
    pub quantity: u32,
}

/// Answers 200 with the cart.
///
/// # Errors
/// 404 when the cart has no such line; 400 invalid body; 422 `PRODUCT_UNAVAILABLE`; 500 on
/// storage failure.
#[utoipa::path(
    patch,
    path = "/v1/cart/items/{productId}",
    operation_id = "updateCartItem",
    summary = "Set the quantity of a cart line",
    tag = "cart",
    security(("bearer" = [])),
    params(("productId" = uuid::Uuid, Path, description = "The product of the line")),
    request_body = SetQuantity,
    responses(
        (status = 200, description = "The cart with the new quantity", body = crate::domain::CartView),
        (status = 400, response = shared::openapi::BadRequest),
        (status = 401, response = shared::openapi::Unauthorized),
        (status = 404, response = shared::openapi::NotFound),
        (status = 409, response = shared::openapi::Conflict),
        (status = 413, response = shared::openapi::PayloadTooLarge),
        (status = 415, response = shared::openapi::UnsupportedMediaType),
        (status = 422, response = shared::openapi::Unprocessable),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn handle(
    carts: &Carts,
    req: Request,
    ctx: &RequestContext,
) -> Result<Response<Body>, ApiError> {
    let caller = Caller::from_request(&req)?;
    let product_id = product_in_path(&req)?;
    let body: SetQuantity = http::parse_json_limited(&req, http::SMALL_BODY_LIMIT)?;
    let count = quantity(body.quantity)?;
    let product = carts.store.product(product_id).await?;
    let cart = modify(carts, caller.user_id, |cart| {
        cart.set(product.as_ref(), product_id, count)?;
        Ok(Outcome::Save)
    })
    .await?;
    answer(carts, ctx, &cart).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::samples;

    #[test]
    fn the_sample_event_sets_a_quantity() {
        let req = samples::update_cart_item();
        assert!(product_in_path(&req).is_ok());
        let body: SetQuantity = http::parse_json(&req).unwrap();
        assert_eq!(body.quantity, 3);
    }
}
