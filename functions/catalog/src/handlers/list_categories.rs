//! `GET /v1/categories`: every category, oldest first, paginated. Public and cacheable.

use lambda_http::{Body, Request, Response};
use shared::{
    ApiError, RequestContext,
    http::{self, Caching},
    pagination::PageRequest,
};

use crate::Lists;

const SCOPE: &str = "categories";

/// Answers 200 with a page of categories, a strong `ETag` and `Cache-Control: public`; 304 when
/// `If-None-Match` names the page as it is.
///
/// # Errors
/// 400 for a malformed `limit` or cursor; 500 on storage failure.
#[utoipa::path(
    get,
    path = "/v1/categories",
    operation_id = "listCategories",
    summary = "List categories",
    tag = "catalog",
    params(
        shared::openapi::PageParams,
        ("If-None-Match" = Option<String>, Header, description = "An `ETag` from an earlier answer"),
    ),
    responses(
        (status = 200, description = "A page of categories, oldest first", body = shared::pagination::Page<crate::domain::Category>, headers(
            ("ETag" = String, description = "Strong entity tag of the answer"),
            ("Cache-Control" = String, description = "`public, max-age=...`"),
        )),
        (status = 304, description = "The page is as `If-None-Match` names it"),
        (status = 400, response = shared::openapi::BadRequest),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn handle(
    lists: &Lists,
    req: Request,
    ctx: &RequestContext,
) -> Result<Response<Body>, ApiError> {
    let page = PageRequest::from_request(&req)?;
    let start = lists.cursors.start_key(SCOPE, &page)?;
    let (items, next) = lists
        .catalog
        .store
        .categories(page.dynamo_limit(), start)
        .await?;
    let body = lists.cursors.page(SCOPE, items, next.as_ref())?;
    http::cacheable(
        ctx,
        &req,
        &body,
        Caching::Public {
            max_age: lists.catalog.cache_max_age,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::samples;

    #[test]
    fn the_sample_event_asks_for_a_page() {
        assert_eq!(
            PageRequest::from_request(&samples::list_categories())
                .unwrap()
                .limit,
            50
        );
    }
}
