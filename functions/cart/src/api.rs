//! The cart's routes in the OpenAPI document (the platform service merges every service's).

use utoipa::OpenApi;

use crate::handlers::{add_cart_item, clear_cart, get_cart, remove_cart_item, update_cart_item};

/// The cart's operations and the schemas they use.
#[derive(OpenApi)]
#[openapi(
    paths(
        get_cart::handle,
        add_cart_item::handle,
        update_cart_item::handle,
        remove_cart_item::handle,
        clear_cart::handle,
    ),
    tags((name = "cart", description = "The caller's cart, priced from the catalog's events"))
)]
pub struct ApiDoc;
