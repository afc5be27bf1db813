//! `GET /v1/inventory/{productId}/audit`: every change of a product's stock, newest first, for its
//! seller or an admin.

use lambda_http::{Body, Request, Response};
use shared::{
    ApiError, RequestContext,
    auth::{Caller, Role},
    http::{self, Caching},
    pagination::PageRequest,
};

use crate::{
    Lists,
    handlers::{no_stock, product_in_path},
};

/// Answers 200 with a page of audit records.
///
/// # Errors
/// 403 for customers and other sellers; 404 unknown product; 400 for a malformed `limit` or cursor;
/// 500 on storage failure.
#[utoipa::path(
    get,
    path = "/v1/inventory/{productId}/audit",
    operation_id = "listStockAudit",
    summary = "List a product's stock changes (the seller or an admin)",
    tag = "inventory",
    security(("bearer" = [])),
    params(
        ("productId" = uuid::Uuid, Path, description = "The product"),
        shared::openapi::PageParams,
        ("If-None-Match" = Option<String>, Header, description = "An `ETag` from an earlier answer"),
    ),
    responses(
        (status = 200, description = "A page of the product's stock changes, newest first", body = shared::pagination::Page<crate::domain::AuditRecord>, headers(
            ("ETag" = String, description = "Strong entity tag of the answer"),
        )),
        (status = 304, description = "The page is as `If-None-Match` names it"),
        (status = 400, response = shared::openapi::BadRequest),
        (status = 401, response = shared::openapi::Unauthorized),
        (status = 403, response = shared::openapi::Forbidden),
        (status = 404, response = shared::openapi::NotFound),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn handle(
    lists: &Lists,
    req: Request,
    ctx: &RequestContext,
) -> Result<Response<Body>, ApiError> {
    let caller = Caller::from_request(&req)?;
    caller.require_any(&[Role::Seller, Role::Admin])?;
    let product = product_in_path(&req)?;
    let stock = lists
        .inventory
        .store
        .stock(product)
        .await?
        .filter(|s| s.seller_id.is_some())
        .ok_or_else(no_stock)?;
    if !stock.editable_by(&caller) {
        return Err(ApiError::forbidden(
            "Only the product's seller or an admin may read its stock audit.",
        ));
    }
    let page = PageRequest::from_request(&req)?;
    let scope = format!("stock-audit:{product}");
    let start = lists.cursors.start_key(&scope, &page)?;
    let (items, next) = lists
        .inventory
        .store
        .audit(product, page.dynamo_limit(), start)
        .await?;
    let body = lists.cursors.page(&scope, items, next.as_ref())?;
    http::cacheable(ctx, &req, &body, Caching::Private)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::samples;

    #[test]
    fn the_sample_event_is_a_sellers_request() {
        let req = samples::list_stock_audit();
        assert!(product_in_path(&req).is_ok());
        assert_eq!(Caller::from_request(&req).unwrap().role, Role::Seller);
    }
}
