//! Inventory's routes in the OpenAPI document (the platform service merges every service's).

use utoipa::OpenApi;

use crate::handlers::{adjust_stock, get_stock, list_stock_audit, set_stock};

/// Inventory's operations and the schemas they use.
#[derive(OpenApi)]
#[openapi(
    paths(
        get_stock::handle,
        set_stock::handle,
        adjust_stock::handle,
        list_stock_audit::handle,
    ),
    tags((name = "inventory", description = "Stock levels and their audited changes"))
)]
pub struct ApiDoc;
