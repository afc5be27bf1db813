//! One module per function.

pub mod create_category;
pub mod create_product;
pub mod delete_category;
pub mod delete_product;
pub mod get_product;
pub mod list_categories;
pub mod list_products;
pub mod list_seller_products;
pub mod price_order;
pub mod update_category;
pub mod update_product;

use lambda_http::{Body, Response, http::HeaderValue, http::header};
use shared::{ApiError, http::id_in_path};

use crate::domain::Product;

/// 404 for a product the caller may not see.
fn no_product() -> ApiError {
    ApiError::not_found("No such product.")
}

/// Adds the product's `ETag` (its version), so the client can send it back in `If-Match`.
fn with_etag(mut response: Response<Body>, product: &Product) -> Response<Body> {
    if let Ok(value) = HeaderValue::from_str(&product.etag()) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

/// A 400 `VALIDATION_FAILED` naming the query parameter.
fn bad_query(field: &str, message: impl Into<String>) -> ApiError {
    ApiError::invalid_field(field, message)
}

/// Sample events shared by the handler tests.
#[cfg(test)]
pub(crate) mod samples {
    shared::sample_events! {
        create_product => "create-product.json",
        get_product => "get-product.json",
        list_products => "list-products.json",
        update_product => "update-product.json",
        delete_product => "delete-product.json",
        list_seller_products => "list-seller-products.json",
        list_categories => "list-categories.json",
        create_category => "create-category.json",
        update_category => "update-category.json",
        delete_category => "delete-category.json",
    }
}
