//! The orders routes' part of the OpenAPI document.

use utoipa::OpenApi;

/// The orders routes.
#[derive(OpenApi)]
#[openapi(
    paths(
        crate::handlers::create_order::handle,
        crate::handlers::list_orders::handle,
        crate::handlers::get_order::handle,
        crate::handlers::get_order_history::handle,
        crate::handlers::cancel_order::handle,
        crate::handlers::update_order_status::handle,
        crate::handlers::update_order_tracking::handle,
    ),
    tags((name = "orders", description = "Orders and their checkout"))
)]
pub struct ApiDoc;
