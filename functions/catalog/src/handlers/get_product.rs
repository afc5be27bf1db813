//! `GET /v1/products/{productId}`: one product, as the public sees it. Cacheable.

use lambda_http::{Body, Request, Response};
use shared::{
    ApiError, RequestContext,
    error::Context as _,
    events::catalog::ProductStatus,
    http::{self, Caching},
};

use crate::{
    Catalog,
    handlers::{id_in_path, no_product},
};

/// Answers 200 with the product, its `ETag` (its version) and `Cache-Control: public`; 304 when
/// `If-None-Match` names the current version; 404 for an unknown or archived product (its seller
/// sees it in `GET /v1/seller/products`).
///
/// # Errors
/// As above; 500 on storage failure.
#[utoipa::path(
    get,
    path = "/v1/products/{productId}",
    operation_id = "getProduct",
    summary = "Get a product",
    tag = "catalog",
    params(
        ("productId" = uuid::Uuid, Path, description = "The product"),
        ("If-None-Match" = Option<String>, Header, description = "An `ETag` from an earlier answer"),
    ),
    responses(
        (status = 200, description = "The product", body = crate::domain::Product, headers(
            ("ETag" = String, description = "Strong entity tag of the answer"),
            ("Cache-Control" = String, description = "`public, max-age=...`"),
        )),
        (status = 304, description = "The product is as `If-None-Match` names it"),
        (status = 404, response = shared::openapi::NotFound),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn handle(
    catalog: &Catalog,
    req: Request,
    ctx: &RequestContext,
) -> Result<Response<Body>, ApiError> {
    let id = id_in_path(&req, "productId", "product")?;
    let product = catalog
        .store
        .product(id)
        .await?
        .filter(|p| p.status == ProductStatus::Active)
        .ok_or_else(no_product)?;
    let text = serde_json::to_string(&product).context("serialize a product")?;
    http::cacheable_text(
        ctx,
        &req,
        text,
        &product.etag(),
        Caching::Public {
            max_age: catalog.cache_max_age,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::samples;

    #[test]
    fn the_sample_event_names_a_product() {
        assert!(id_in_path(&samples::get_product(), "productId", "product").is_ok());
    }
}
