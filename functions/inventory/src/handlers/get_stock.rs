//! `GET /v1/inventory/{productId}`: a product's stock levels. Public; revalidated with its ETag.

use lambda_http::{Body, Request, Response};
use serde::Serialize;
use shared::{
    ApiError, RequestContext,
    http::{self, Caching},
};
use uuid::Uuid;

use crate::{
    Inventory,
    handlers::{no_stock, product_in_path},
};

/// What the route answers.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StockView {
    /// The product.
    pub product_id: Uuid,
    /// Units that can be bought.
    pub available: u32,
    /// Units held for checkouts in progress.
    pub reserved: u32,
    /// Units sold.
    pub sold: u32,
    /// Whether any can be bought.
    pub in_stock: bool,
    /// RFC 3339 time of the last change.
    pub updated_at: String,
}

/// Answers 200 with the levels, a strong `ETag` and `Cache-Control: public, max-age=0` (shared
/// caches revalidate every time: levels change with every order); 304 when `If-None-Match` names
/// them as they are.
///
/// # Errors
/// 404 for a product inventory does not know; 500 on storage failure.
#[utoipa::path(
    get,
    path = "/v1/inventory/{productId}",
    operation_id = "getStock",
    summary = "Get a product's stock levels",
    tag = "inventory",
    params(
        ("productId" = uuid::Uuid, Path, description = "The product"),
        ("If-None-Match" = Option<String>, Header, description = "An `ETag` from an earlier answer"),
    ),
    responses(
        (status = 200, description = "The product's stock levels", body = StockView, headers(
            ("ETag" = String, description = "Strong entity tag of the answer"),
            ("Cache-Control" = String, description = "`public, max-age=0`: revalidate every time"),
        )),
        (status = 304, description = "The levels are as `If-None-Match` names them"),
        (status = 404, response = shared::openapi::NotFound),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn handle(
    inventory: &Inventory,
    req: Request,
    ctx: &RequestContext,
) -> Result<Response<Body>, ApiError> {
    let product = product_in_path(&req)?;
    let stock = inventory
        .store
        .stock(product)
        .await?
        .filter(|s| s.seller_id.is_some())
        .ok_or_else(no_stock)?;
    let view = StockView {
        product_id: stock.product_id,
        available: stock.available,
        reserved: stock.reserved,
        sold: stock.sold,
        in_stock: stock.available > 0,
        updated_at: stock.updated_at,
    };
    http::cacheable(ctx, &req, &view, Caching::Public { max_age: 0 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::samples;

    #[test]
    fn the_sample_event_names_a_product() {
        assert!(product_in_path(&samples::get_stock()).is_ok());
    }
}
