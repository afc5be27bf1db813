//! `GET /v1/users/me`: the caller's profile.

use lambda_http::{Body, Request, Response};
use shared::{ApiError, RequestContext, auth::Caller, http};

use crate::{handlers::views::ProfileView, store::Store};

/// Answers 200 with the caller's profile; 404 if the account no longer exists.
///
/// # Errors
/// As above; 401 without an authorizer context; 500 on storage failure.
#[utoipa::path(
    get,
    path = "/v1/users/me",
    operation_id = "getProfile",
    summary = "Get the caller's profile",
    tag = "accounts",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's profile", body = crate::handlers::views::ProfileView),
        (status = 401, response = shared::openapi::Unauthorized),
        (status = 404, response = shared::openapi::NotFound),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn handle(
    store: &Store,
    req: Request,
    ctx: &RequestContext,
) -> Result<Response<Body>, ApiError> {
    let caller = Caller::from_request(&req)?;
    // A projected read: this function may not read the password hash (see its IAM policy).
    let profile = store
        .profile(caller.user_id)
        .await?
        .ok_or_else(|| ApiError::not_found("No such user."))?;
    http::ok(ctx, &ProfileView::from(&profile))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::samples;

    #[test]
    fn the_sample_event_carries_a_caller() {
        assert!(Caller::from_request(&samples::get_profile()).is_ok());
    }
}
