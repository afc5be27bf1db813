//! `GET /v1/seller/products`: a seller's own products, archived ones included, newest first.
//! Query parameters: `status` (`active` or `archived`), `limit`, `cursor`; an admin may add
//! `sellerId` to see another seller's.

use lambda_http::{Body, Request, Response};
use shared::{
    ApiError, RequestContext,
    auth::{Caller, Role},
    events::catalog::ProductStatus,
    http::{self, Caching, query_param},
    ids::parse_id,
    pagination::PageRequest,
};

use crate::{Lists, handlers::bad_query};

/// Answers 200 with a page of the seller's products (private: not for shared caches).
///
/// # Errors
/// 403 for customers, and for a seller naming another `sellerId`; 400 for a malformed parameter or
/// cursor; 500 on storage failure.
#[utoipa::path(
    get,
    path = "/v1/seller/products",
    operation_id = "listSellerProducts",
    summary = "List a seller's own products, archived ones included",
    tag = "catalog",
    security(("bearer" = [])),
    params(
        ("sellerId" = Option<uuid::Uuid>, Query, description = "Another seller's products (admins only); default the caller"),
        ("status" = Option<shared::events::catalog::ProductStatus>, Query, description = "Only active or only archived products"),
        shared::openapi::PageParams,
        ("If-None-Match" = Option<String>, Header, description = "An `ETag` from an earlier answer"),
    ),
    responses(
        (status = 200, description = "A page of the seller's products, newest first", body = shared::pagination::Page<crate::domain::Product>, headers(
            ("ETag" = String, description = "Strong entity tag of the answer"),
        )),
        (status = 304, description = "The page is as `If-None-Match` names it"),
        (status = 400, response = shared::openapi::BadRequest),
        (status = 401, response = shared::openapi::Unauthorized),
        (status = 403, response = shared::openapi::Forbidden),
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
    let seller = match query_param(&req, "sellerId") {
        None => caller.user_id,
        Some(raw) => {
            let seller = parse_id(raw).ok_or_else(|| bad_query("sellerId", "must be a user id"))?;
            if seller != caller.user_id {
                caller.require_admin()?;
            }
            seller
        }
    };
    let status = match query_param(&req, "status") {
        None => None,
        Some("active") => Some(ProductStatus::Active),
        Some("archived") => Some(ProductStatus::Archived),
        Some(_) => return Err(bad_query("status", "must be active or archived")),
    };
    let page = PageRequest::from_request(&req)?;
    let scope = format!(
        "seller-products:{seller}:{}",
        status.map_or("", ProductStatus::as_str)
    );
    let start = lists.cursors.start_key(&scope, &page)?;
    let found = lists
        .catalog
        .store
        .seller_products(seller, status, page.limit as usize, start)
        .await?;
    let body = lists
        .cursors
        .page(&scope, found.items, found.next.as_ref())?;
    http::cacheable(ctx, &req, &body, Caching::Private)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::samples;

    #[test]
    fn the_sample_event_is_a_sellers_request() {
        let req = samples::list_seller_products();
        assert_eq!(Caller::from_request(&req).unwrap().role, Role::Seller);
        assert_eq!(query_param(&req, "status"), Some("archived"));
    }
}
