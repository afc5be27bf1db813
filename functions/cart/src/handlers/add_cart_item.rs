//! `POST /v1/cart/items`: adds units of a product to the caller's cart.

use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use shared::{
    ApiError, RequestContext,
    auth::Caller,
    http,
    idempotency::{self, IdempotencyKey},
};
use uuid::Uuid;

use crate::{
    Carts,
    domain::unavailable,
    handlers::{Outcome, answer, modify, quantity},
};

/// The request body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AddItem {
    /// The product.
    pub product_id: Uuid,
    /// How many to add, 1 to 99 (a line holds at most 99).
    #[schema(minimum = 1, maximum = 99)]
    pub quantity: u32,
}

/// Answers 200 with the cart. With an `Idempotency-Key`, a repeated request changes nothing and
/// answers the cart as it is.
///
/// # Errors
/// 400 invalid body; 422 `PRODUCT_UNAVAILABLE` (unknown or archived), `QUANTITY_LIMIT`,
/// `CART_FULL` or `IDEMPOTENCY_KEY_REUSED`; 500 on storage failure.
#[utoipa::path(
    post,
    path = "/v1/cart/items",
    operation_id = "addCartItem",
    summary = "Add units of a product to the cart",
    tag = "cart",
    security(("bearer" = [])),
    params(
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retried addition add once (1 to 255 visible ASCII characters)"),
    ),
    request_body = AddItem,
    responses(
        (status = 200, description = "The cart with the units added", body = crate::domain::CartView),
        (status = 400, response = shared::openapi::BadRequest),
        (status = 401, response = shared::openapi::Unauthorized),
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
    let key = IdempotencyKey::from_request(&req)?;
    let body: AddItem = http::parse_json_limited(&req, http::SMALL_BODY_LIMIT)?;
    let count = quantity(body.quantity)?;
    let product = carts
        .store
        .product(body.product_id)
        .await?
        .ok_or_else(unavailable)?;
    let fingerprint = idempotency::fingerprint(req.body());
    let now = shared::time::now_rfc3339();
    let cart = modify(carts, caller.user_id, |cart| {
        if let Some(key) = &key {
            match cart.key_fingerprint(key.as_str()) {
                Some(seen) if seen == fingerprint => return Ok(Outcome::Keep),
                Some(_) => return Err(idempotency::reused()),
                None => cart.remember_key(key.as_str(), fingerprint.clone()),
            }
        }
        cart.add(&product, count, &now)?;
        Ok(Outcome::Save)
    })
    .await?;
    tracing::info!(product_id = %body.product_id, quantity = count, "added to the cart");
    answer(carts, ctx, &cart).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::samples;

    #[test]
    fn the_sample_event_adds_two() {
        let body: AddItem = http::parse_json(&samples::add_cart_item()).unwrap();
        assert_eq!(quantity(body.quantity).unwrap(), 2);
    }

    #[test]
    fn quantities_are_one_to_ninety_nine() {
        assert!(quantity(0).is_err());
        assert!(quantity(100).is_err());
        assert!(quantity(99).is_ok());
    }
}
