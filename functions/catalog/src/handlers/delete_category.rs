//! `DELETE /v1/categories/{categoryId}`: an admin removes an empty category.

use lambda_http::{Body, Request, Response};
use shared::{ApiError, RequestContext, auth::Caller, http};

use crate::{Catalog, handlers::id_in_path};

/// Answers 204 once the category is gone (and its slug free again).
///
/// # Errors
/// 403 for non-admins; 404 unknown category; 409 `CATEGORY_NOT_EMPTY` while it holds active
/// products; 500 on storage failure.
#[utoipa::path(
    delete,
    path = "/v1/categories/{categoryId}",
    operation_id = "deleteCategory",
    summary = "Delete an empty category (admin)",
    tag = "catalog",
    security(("bearer" = [])),
    params(("categoryId" = uuid::Uuid, Path, description = "The category")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, response = shared::openapi::Unauthorized),
        (status = 403, response = shared::openapi::Forbidden),
        (status = 404, response = shared::openapi::NotFound),
        (status = 409, response = shared::openapi::Conflict),
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
    let category = catalog
        .store
        .category(id)
        .await?
        .ok_or_else(|| ApiError::not_found("No such category."))?;
    if !catalog.store.delete_category(&category).await? {
        return Err(ApiError::conflict(
            "CATEGORY_NOT_EMPTY",
            "The category still holds active products; move or archive them first.",
        ));
    }
    tracing::info!(category_id = %id, "category deleted");
    Ok(http::no_content(ctx))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::samples;

    #[test]
    fn the_sample_event_names_a_category_and_an_admin() {
        let req = samples::delete_category();
        assert!(id_in_path(&req, "categoryId", "category").is_ok());
        assert!(Caller::from_request(&req).unwrap().require_admin().is_ok());
    }
}
