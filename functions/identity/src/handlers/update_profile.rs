//! `PATCH /v1/users/me`: changes the caller's name, phone and notification choices, and publishes
//! `UserChanged` with the new contact details through the outbox (in the same transaction, see
//! [`Store::update_profile`]). A patch that changes nothing (an empty one, or one that repeats the
//! stored values) writes and publishes nothing.

use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use shared::{ApiError, RequestContext, auth::Caller, http};

use crate::{
    domain::{Checks, Patch, Phone, text},
    handlers::views::ProfileView,
    store::{ProfileChanges, Store},
};

/// The request body: every field optional; `null` clears `name` or `phone`. Any other field (`role`,
/// `email`, …) is refused with 400, so a profile update can never change a role.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProfilePatch {
    /// Display name, up to 100 characters.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub name: Patch<String>,
    /// E.164 phone number.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub phone: Patch<String>,
    /// Marketing email opt-in.
    #[serde(default)]
    pub marketing_opt_in: Option<bool>,
    /// SMS notifications opt-in (needs a phone).
    #[serde(default)]
    pub sms_opt_in: Option<bool>,
}

impl ProfilePatch {
    /// Validates the fields into store changes.
    ///
    /// # Errors
    /// 400 `VALIDATION_FAILED` listing every invalid field.
    pub fn into_changes(self) -> Result<ProfileChanges, ApiError> {
        let mut checks = Checks::default();
        let name = match self.name {
            Patch::Keep => None,
            Patch::Clear => Some(None),
            Patch::Set(name) => checks.check(text("name", &name, 100)).map(Some),
        };
        let phone = match self.phone {
            Patch::Keep => None,
            Patch::Clear => Some(None),
            Patch::Set(phone) => checks
                .check(Phone::parse("phone", &phone))
                .map(|p| Some(p.as_str().to_owned())),
        };
        if self.sms_opt_in == Some(true) && phone == Some(None) {
            checks.fail("smsOptIn", "needs a phone number");
        }
        checks.finish()?;
        Ok(ProfileChanges {
            name,
            phone,
            marketing_opt_in: self.marketing_opt_in,
            sms_opt_in: self.sms_opt_in,
        })
    }
}

/// Answers 200 with the updated profile. An empty patch changes nothing and returns the profile.
///
/// # Errors
/// 400 for invalid or unknown fields; 422 `PHONE_REQUIRED` for SMS without a phone; 404 if the account
/// no longer exists; 500 on storage failure.
#[utoipa::path(
    patch,
    path = "/v1/users/me",
    operation_id = "updateProfile",
    summary = "Change the caller's profile",
    tag = "accounts",
    security(("bearer" = [])),
    request_body = ProfilePatch,
    responses(
        (status = 200, description = "The profile as changed", body = crate::handlers::views::ProfileView),
        (status = 400, response = shared::openapi::BadRequest),
        (status = 401, response = shared::openapi::Unauthorized),
        (status = 404, response = shared::openapi::NotFound),
        (status = 409, response = shared::openapi::Conflict),
        (status = 413, response = shared::openapi::PayloadTooLarge),
        (status = 415, response = shared::openapi::UnsupportedMediaType),
        (status = 422, response = shared::openapi::Unprocessable),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn handle(
    store: &Store,
    req: Request,
    ctx: &RequestContext,
) -> Result<Response<Body>, ApiError> {
    let caller = Caller::from_request(&req)?;
    let changes = http::parse_json::<ProfilePatch>(&req)?.into_changes()?;
    let user = store
        .update_profile(
            caller.user_id,
            &changes,
            &shared::time::now_rfc3339(),
            &ctx.correlation_id,
        )
        .await?;
    http::ok(ctx, &ProfileView::from(&user))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::samples;

    #[test]
    fn the_sample_event_is_a_valid_patch() {
        let patch: ProfilePatch = http::parse_json(&samples::update_profile()).unwrap();
        assert!(patch.into_changes().is_ok());
    }

    #[test]
    fn a_role_in_the_patch_is_refused() {
        let err =
            serde_json::from_str::<ProfilePatch>(r#"{"name":"Eve","role":"admin"}"#).unwrap_err();
        assert!(err.to_string().contains("role"), "{err}");
    }

    #[test]
    fn invalid_fields_are_all_reported() {
        let patch: ProfilePatch =
            serde_json::from_str(r#"{"name":"","phone":"555-0123"}"#).unwrap();
        let ApiError::Validation { errors } = patch.into_changes().unwrap_err() else {
            panic!("expected a validation error");
        };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "phone"]);
    }

    #[test]
    fn sms_without_a_phone_is_refused_when_the_phone_is_cleared() {
        let patch: ProfilePatch =
            serde_json::from_str(r#"{"phone":null,"smsOptIn":true}"#).unwrap();
        assert_eq!(patch.into_changes().unwrap_err().status(), 400);
    }
}
