//! `DELETE /v1/users/me/addresses/{addressId}`: removes an address from the caller's book.

use lambda_http::{Body, Request, Response};
use shared::{ApiError, RequestContext, auth::Caller, http};

use crate::{handlers::id_in_path, store::Store};

/// Answers 204. Deleting the default address makes the most recently added remaining one the default.
///
/// # Errors
/// 404 when the caller has no such address; 500 on storage failure.
#[utoipa::path(
    delete,
    path = "/v1/users/me/addresses/{addressId}",
    operation_id = "deleteAddress",
    summary = "Delete an address",
    tag = "accounts",
    security(("bearer" = [])),
    params(("addressId" = uuid::Uuid, Path, description = "One of the caller's addresses")),
    responses(
        (status = 204, description = "Deleted; a deleted default passes to the newest remaining address"),
        (status = 401, response = shared::openapi::Unauthorized),
        (status = 404, response = shared::openapi::NotFound),
        (status = 409, response = shared::openapi::Conflict),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn handle(
    store: &Store,
    req: Request,
    ctx: &RequestContext,
) -> Result<Response<Body>, ApiError> {
    let caller = Caller::from_request(&req)?;
    let address_id = id_in_path(&req, "addressId", "address")?;
    store
        .delete_address(caller.user_id, address_id, &shared::time::now_rfc3339())
        .await?;
    Ok(http::no_content(ctx))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::samples;

    #[test]
    fn the_sample_event_names_an_address() {
        assert!(id_in_path(&samples::delete_address(), "addressId", "address").is_ok());
    }
}
