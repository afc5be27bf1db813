//! `DELETE /v1/products/{productId}`: the product's seller (or an admin) archives it. Orders keep
//! referring to it, so it is never removed.

use lambda_http::{Body, Request, Response};
use shared::{
    ApiError, RequestContext,
    auth::{Caller, Role},
    events::catalog::ProductStatus,
    http,
};

use crate::{
    Catalog,
    handlers::{id_in_path, update_product::change},
};

/// Answers 204 once the product is archived (also when it already was).
///
/// # Errors
/// 404 unknown product; 403 not its seller nor an admin; 500 on storage failure.
#[utoipa::path(
    delete,
    path = "/v1/products/{productId}",
    operation_id = "archiveProduct",
    summary = "Archive a product (its seller or an admin)",
    tag = "catalog",
    security(("bearer" = [])),
    params(("productId" = uuid::Uuid, Path, description = "The product")),
    responses(
        (status = 204, description = "Archived (also when it already was)"),
        (status = 401, response = shared::openapi::Unauthorized),
        (status = 403, response = shared::openapi::Forbidden),
        (status = 404, response = shared::openapi::NotFound),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn handle(
    catalog: &Catalog,
    req: Request,
    ctx: &RequestContext,
) -> Result<Response<Body>, ApiError> {
    let caller = Caller::from_request(&req)?;
    caller.require_any(&[Role::Seller, Role::Admin])?;
    let id = id_in_path(&req, "productId", "product")?;
    change(catalog, &caller, id, None, &ctx.correlation_id, |current| {
        let mut next = current.clone();
        if current.status != ProductStatus::Archived {
            next.status = ProductStatus::Archived;
            next.version = current.version + 1;
            next.updated_at = shared::time::now_rfc3339();
        }
        Ok(next)
    })
    .await?;
    Ok(http::no_content(ctx))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::samples;

    #[test]
    fn the_sample_event_names_a_product_and_a_seller() {
        let req = samples::delete_product();
        assert!(id_in_path(&req, "productId", "product").is_ok());
        assert_eq!(Caller::from_request(&req).unwrap().role, Role::Seller);
    }
}
