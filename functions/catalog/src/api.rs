//! The catalog's routes in the OpenAPI document (the platform service merges every service's).

use utoipa::OpenApi;

use crate::handlers::{
    create_category, create_product, delete_category, delete_product, get_product, list_categories,
    list_products, list_seller_products, update_category, update_product,
};

/// The catalog's operations and the schemas they use.
#[derive(OpenApi)]
#[openapi(
    paths(
        list_products::handle,
        get_product::handle,
        create_product::handle,
        update_product::handle,
        delete_product::handle,
        list_seller_products::handle,
        list_categories::handle,
        create_category::handle,
        update_category::handle,
        delete_category::handle,
    ),
    components(schemas(crate::store::Sort, shared::events::catalog::ProductStatus)),
    tags((name = "catalog", description = "Products, categories, listing and keyword search"))
)]
pub struct ApiDoc;
