//! One module per function.

pub mod create_category;
pub mod create_product;
pub mod delete_category;
pub mod delete_product;
pub mod get_product;
pub mod list_categories;
pub mod list_products;
pub mod list_seller_products;
pub mod update_category;
pub mod update_product;

use lambda_http::{Body, Request, Response, http::HeaderValue, http::header};
use shared::{ApiError, http::path_param, ids::parse_id};
use uuid::Uuid;

use crate::domain::Product;

/// The id in path parameter `name`. Anything that is not an id cannot name an existing resource, so
/// it is a 404 rather than a 400.
fn id_in_path(req: &Request, name: &str, what: &str) -> Result<Uuid, ApiError> {
    path_param(req, name)
        .and_then(parse_id)
        .ok_or_else(|| ApiError::not_found(format!("No such {what}.")))
}

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
    use lambda_http::Request;

    macro_rules! sample {
        ($name:ident, $file:literal) => {
            #[doc = concat!("The sample event `events/", $file, "`.")]
            pub fn $name() -> Request {
                lambda_http::request::from_str(include_str!(concat!("../../../../events/", $file)))
                    .unwrap()
            }
        };
    }

    sample!(create_product, "create-product.json");
    sample!(get_product, "get-product.json");
    sample!(list_products, "list-products.json");
    sample!(update_product, "update-product.json");
    sample!(delete_product, "delete-product.json");
    sample!(list_seller_products, "list-seller-products.json");
    sample!(list_categories, "list-categories.json");
    sample!(create_category, "create-category.json");
    sample!(update_category, "update-category.json");
    sample!(delete_category, "delete-category.json");
}
