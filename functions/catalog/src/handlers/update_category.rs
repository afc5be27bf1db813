//! `PATCH /v1/categories/{categoryId}`: an admin renames a category or changes its slug.

use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use shared::{ApiError, RequestContext, auth::Caller, http};

use crate::{
    Catalog,
    domain::{self, Problems, Slug},
    handlers::id_in_path,
    store::CategoryChanges,
};

const ATTEMPTS: u32 = 5;

/// The request body: the fields to change.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CategoryPatch {
    /// New slug (must be free).
    pub slug: Option<String>,
    /// New name.
    pub name: Option<String>,
    /// New description (`""` clears it).
    pub description: Option<String>,
}

/// Validates `patch`.
///
/// # Errors
/// 400 `VALIDATION_FAILED` listing every invalid field.
pub fn changes(patch: &CategoryPatch) -> Result<CategoryChanges, ApiError> {
    let mut problems = Problems::default();
    let slug = patch.slug.as_deref().and_then(|s| {
        Slug::parse(s)
            .map_err(|e| problems.add(e.field, e.message))
            .ok()
    });
    let name = patch
        .name
        .as_deref()
        .map(|n| domain::category_name(&mut problems, n));
    let description = patch
        .description
        .as_deref()
        .map(|d| domain::description(&mut problems, d));
    problems.finish(CategoryChanges {
        slug,
        name,
        description,
    })
}

/// Answers 200 with the category after the change.
///
/// # Errors
/// 403 for non-admins; 404 unknown category; 400 invalid fields; 409 `SLUG_TAKEN`; 500 on storage
/// failure.
#[utoipa::path(
    patch,
    path = "/v1/categories/{categoryId}",
    operation_id = "updateCategory",
    summary = "Change a category (admin)",
    tag = "catalog",
    security(("bearer" = [])),
    params(("categoryId" = uuid::Uuid, Path, description = "The category")),
    request_body = CategoryPatch,
    responses(
        (status = 200, description = "The category as changed", body = crate::domain::Category),
        (status = 400, response = shared::openapi::BadRequest),
        (status = 401, response = shared::openapi::Unauthorized),
        (status = 403, response = shared::openapi::Forbidden),
        (status = 404, response = shared::openapi::NotFound),
        (status = 409, response = shared::openapi::Conflict),
        (status = 413, response = shared::openapi::PayloadTooLarge),
        (status = 415, response = shared::openapi::UnsupportedMediaType),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn handle(
    catalog: &Catalog,
    req: Request,
    ctx: &RequestContext,
) -> Result<Response<Body>, ApiError> {
    Caller::from_request(&req)?.require_admin()?;
    let id = id_in_path(&req, "categoryId", "category")?;
    let patch: CategoryPatch = http::parse_json(&req)?;
    let changes = changes(&patch)?;
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            shared::dynamo::backoff(attempt - 1).await;
        }
        let current = catalog
            .store
            .category(id)
            .await?
            .ok_or_else(|| ApiError::not_found("No such category."))?;
        if catalog
            .store
            .update_category(&current, &changes, &shared::time::now_rfc3339())
            .await?
        {
            let updated = catalog
                .store
                .category(id)
                .await?
                .ok_or_else(|| ApiError::not_found("No such category."))?;
            return http::ok(ctx, &updated);
        }
    }
    Err(ApiError::conflict(
        "CONCURRENT_UPDATE",
        "The category kept changing while this change was applied; try again.",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::samples;

    #[test]
    fn the_sample_event_is_a_valid_patch() {
        let patch: CategoryPatch = http::parse_json(&samples::update_category()).unwrap();
        assert!(changes(&patch).unwrap().name.is_some());
    }
}
