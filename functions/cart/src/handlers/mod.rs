//! One module per function.

pub mod add_cart_item;
pub mod clear_cart;
pub mod get_cart;
pub mod order_events;
pub mod product_events;
pub mod remove_cart_item;
pub mod snapshot_cart;
pub mod update_cart_item;

use lambda_http::{Body, Request, Response};
use shared::{ApiError, RequestContext, http, http::path_param, ids::parse_id};
use uuid::Uuid;

use crate::{
    Carts,
    domain::{self, Cart},
};

/// How often a change is re-applied after losing a race with another change of the same cart.
const ATTEMPTS: u32 = 12;

/// What a change of a cart decided.
pub enum Outcome {
    /// Store the cart as changed.
    Save,
    /// Nothing to store (the change was already made, or changes nothing).
    Keep,
}

/// Reads `user`'s cart, lets `change` change it, and stores it under the condition that nobody
/// changed it meanwhile; after a lost race it reads again and re-applies `change`. Returns the cart
/// as stored.
///
/// # Errors
/// What `change` returns; 409 `CONCURRENT_UPDATE` if the races never end; 500 on storage failure.
pub async fn modify(
    carts: &Carts,
    user: Uuid,
    mut change: impl FnMut(&mut Cart) -> Result<Outcome, ApiError>,
) -> Result<Cart, ApiError> {
    for attempt in 0..ATTEMPTS {
        let current = carts.store.cart(user).await?;
        let read_version = current.as_ref().map_or(0, |c| c.version);
        let mut cart = current.unwrap_or_else(|| Cart::empty(user));
        if let Outcome::Keep = change(&mut cart)? {
            return Ok(cart);
        }
        cart.version = read_version + 1;
        cart.updated_at = shared::time::now_rfc3339();
        if carts.store.save(&cart, read_version).await? {
            return Ok(cart);
        }
        tracing::debug!(
            attempt,
            "the cart changed meanwhile; applying the change again"
        );
        shared::dynamo::backoff(attempt).await;
    }
    Err(ApiError::conflict(
        "CONCURRENT_UPDATE",
        "The cart kept changing while this change was applied; try again.",
    ))
}

/// 200 with the view of `cart`, priced from the cart's copies of its products.
///
/// # Errors
/// 500 on storage failure.
pub async fn answer(
    carts: &Carts,
    ctx: &RequestContext,
    cart: &Cart,
) -> Result<Response<Body>, ApiError> {
    let ids: Vec<Uuid> = cart.lines.iter().map(|l| l.product_id).collect();
    let products = carts.store.products(&ids).await?;
    let mut response = http::ok(ctx, &domain::view(cart, &products, carts.currency))?;
    // Personal data: never kept by a shared cache.
    response.headers_mut().insert(
        lambda_http::http::header::CACHE_CONTROL,
        lambda_http::http::HeaderValue::from_static("private, no-store"),
    );
    Ok(response)
}

/// The product id in the path; anything else cannot be in a cart (404).
fn product_in_path(req: &Request) -> Result<Uuid, ApiError> {
    path_param(req, "productId")
        .and_then(parse_id)
        .ok_or_else(|| ApiError::not_found("The cart has no such product."))
}

/// Checks a quantity: 1 to 99.
///
/// # Errors
/// 400 `VALIDATION_FAILED` on `quantity`.
pub fn quantity(quantity: u32) -> Result<u32, ApiError> {
    if (1..=domain::MAX_QUANTITY).contains(&quantity) {
        Ok(quantity)
    } else {
        Err(ApiError::invalid_field(
            "quantity",
            format!("must be from 1 to {}", domain::MAX_QUANTITY),
        ))
    }
}

/// Sample events shared by the handler tests.
#[cfg(test)]
pub(crate) mod samples {
    shared::sample_events! {
        get_cart => "get-cart.json",
        add_cart_item => "add-cart-item.json",
        update_cart_item => "update-cart-item.json",
        remove_cart_item => "remove-cart-item.json",
        clear_cart => "clear-cart.json",
    }
}
