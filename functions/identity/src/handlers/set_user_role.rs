//! `PUT /v1/admin/users/{userId}/role`: an admin sets a user's role.

use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};
use shared::{
    ApiError, RequestContext,
    auth::{Caller, Role},
    http,
};
use uuid::Uuid;

use crate::{
    handlers::id_in_path,
    store::{RoleChange, Store},
};

/// The request body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleRequest {
    /// The new role: `customer`, `seller` or `admin`.
    pub role: Role,
}

/// The answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RoleAnswer {
    /// The user.
    pub user_id: Uuid,
    /// The role now.
    pub role: Role,
    /// The role before.
    pub previous_role: Role,
}

/// Answers 200 with the new and previous role. Every change is written to the user's audit trail (in
/// the same transaction) and logged. The change reaches the user's tokens at their next refresh.
///
/// # Errors
/// 403 unless the caller is an admin (by token, and still by the stored role); 404 for an unknown user; 400 for an unknown role; 409
/// `LAST_ADMIN` when demoting the only admin; 500 on storage failure.
#[utoipa::path(
    put,
    path = "/v1/admin/users/{userId}/role",
    operation_id = "setUserRole",
    summary = "Change a user's role (admin)",
    tag = "accounts",
    security(("bearer" = [])),
    params(("userId" = uuid::Uuid, Path, description = "The user")),
    request_body = RoleRequest,
    responses(
        (status = 200, description = "The role as changed", body = RoleAnswer),
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
    store: &Store,
    req: Request,
    ctx: &RequestContext,
) -> Result<Response<Body>, ApiError> {
    let caller = Caller::from_request(&req)?;
    caller.require_admin()?;
    let user_id = id_in_path(&req, "userId", "user")?;
    let body: RoleRequest = http::parse_json_limited(&req, http::SMALL_BODY_LIMIT)?;
    let now = shared::time::now_rfc3339();
    match store
        .set_role(user_id, body.role, caller.user_id, &ctx.request_id, &now)
        .await?
    {
        RoleChange::Done { previous } => {
            tracing::info!(
                target_user = %user_id, actor = %caller.user_id,
                from = %previous, to = %body.role, "role changed"
            );
            http::ok(
                ctx,
                &RoleAnswer {
                    user_id,
                    role: body.role,
                    previous_role: previous,
                },
            )
        }
        RoleChange::NoUser => Err(ApiError::not_found("No such user.")),
        RoleChange::ActorNotAdmin => Err(ApiError::forbidden(
            "This action needs the role admin, which your account no longer has.",
        )),
        RoleChange::LastAdmin => Err(ApiError::conflict(
            "LAST_ADMIN",
            "This is the last admin; make another user admin first.",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::samples;

    #[test]
    fn the_sample_event_is_an_admin_setting_a_role() {
        let req = samples::set_user_role();
        assert!(Caller::from_request(&req).unwrap().require_admin().is_ok());
        assert!(id_in_path(&req, "userId", "user").is_ok());
        let body: RoleRequest = http::parse_json(&req).unwrap();
        assert_eq!(body.role, Role::Seller);
    }

    #[test]
    fn unknown_roles_are_refused() {
        assert!(serde_json::from_str::<RoleRequest>(r#"{"role":"root"}"#).is_err());
    }
}
