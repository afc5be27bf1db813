//! `POST /v1/categories`: an admin adds a category with a unique slug.

use lambda_http::{Body, Request, Response, http::StatusCode};
use serde::Deserialize;
use shared::{ApiError, RequestContext, auth::Caller, http};

use crate::{
    Catalog,
    domain::{self, Category, Problems, Slug},
};

/// The request body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewCategory {
    /// Unique, URL-friendly: lowercase words joined by hyphens.
    #[schema(pattern = "^[a-z0-9]+(-[a-z0-9]+)*$", max_length = 64)]
    pub slug: String,
    /// Display name.
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// Description.
    #[serde(default)]
    pub description: String,
}

/// Validates `body` into a new category.
///
/// # Errors
/// 400 `VALIDATION_FAILED` listing every invalid field.
pub fn category(body: &NewCategory) -> Result<Category, ApiError> {
    let mut problems = Problems::default();
    let slug = Slug::parse(&body.slug)
        .map_err(|e| problems.add(e.field, e.message))
        .ok();
    let name = domain::category_name(&mut problems, &body.name);
    let description = domain::description(&mut problems, &body.description);
    let now = shared::time::now_rfc3339();
    let category = slug.map(|slug| Category {
        id: shared::ids::new_id(),
        slug,
        name,
        description,
        product_count: 0,
        created_at: now.clone(),
        updated_at: now,
        version: 1,
    });
    problems
        .finish(category)?
        .ok_or_else(|| ApiError::invalid_field("slug", "is invalid"))
}

/// Answers 201 with the category.
///
/// # Errors
/// 403 for non-admins; 400 for an invalid body; 409 `SLUG_TAKEN`; 500 on storage failure.
#[utoipa::path(
    post,
    path = "/v1/categories",
    operation_id = "createCategory",
    summary = "Create a category (admin)",
    tag = "catalog",
    security(("bearer" = [])),
    request_body = NewCategory,
    responses(
        (status = 201, description = "The new category", body = crate::domain::Category),
        (status = 400, response = shared::openapi::BadRequest),
        (status = 401, response = shared::openapi::Unauthorized),
        (status = 403, response = shared::openapi::Forbidden),
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
    let body: NewCategory = http::parse_json(&req)?;
    let category = category(&body)?;
    catalog.store.create_category(&category).await?;
    tracing::info!(category_id = %category.id, slug = category.slug.as_str(), "category created");
    http::json(ctx, StatusCode::CREATED, &category)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::samples;

    #[test]
    fn the_sample_event_is_a_valid_category() {
        let body: NewCategory = http::parse_json(&samples::create_category()).unwrap();
        assert_eq!(category(&body).unwrap().version, 1);
    }

    #[test]
    fn an_invalid_slug_and_name_are_reported_together() {
        let body = NewCategory {
            slug: "Not OK".into(),
            name: "".into(),
            description: String::new(),
        };
        let Err(ApiError::Validation { errors }) = category(&body) else {
            panic!("a validation error")
        };
        assert_eq!(errors.len(), 2);
    }
}
