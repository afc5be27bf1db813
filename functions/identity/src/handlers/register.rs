//! `POST /v1/auth/register`: creates a customer account, and publishes `UserRegistered` with its
//! contact details through the outbox (in the same transaction, see
//! [`Store::create_user`](crate::store::Store::create_user)).

use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use shared::{
    ApiError, RequestContext,
    auth::Role,
    error::Context as _,
    http,
    metrics::{self, Business},
};

use crate::{
    Accounts,
    domain::{Checks, Email, Password, text},
    handlers::views::ProfileView,
    store::{FIRST_REVISION, User},
};

/// The request body. Unknown fields (such as `role`) are refused.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// Email; trimmed and lowercased.
    #[schema(format = Email, max_length = 254)]
    pub email: String,
    /// Password; see the policy in [`crate::domain`].
    #[schema(min_length = 10, max_length = 128)]
    pub password: String,
    /// Optional display name.
    #[serde(default)]
    pub name: Option<String>,
}

/// Answers 201 with the new profile, 400 for invalid fields, 409 `EMAIL_TAKEN` when the email has an
/// account (of two concurrent registrations exactly one gets 201).
///
/// # Errors
/// As above; 500 on storage failure.
#[utoipa::path(
    post,
    path = "/v1/auth/register",
    operation_id = "register",
    summary = "Create an account",
    tag = "accounts",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "The new account's profile", body = crate::handlers::views::ProfileView, headers(
            ("Location" = String, description = "`/v1/users/me`"),
        )),
        (status = 400, response = shared::openapi::BadRequest),
        (status = 409, response = shared::openapi::Conflict),
        (status = 413, response = shared::openapi::PayloadTooLarge),
        (status = 415, response = shared::openapi::UnsupportedMediaType),
        (status = 429, description = "API Gateway's throttle on the auth routes", body = shared::openapi::GatewayMessage),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn handle(
    accounts: &Accounts,
    req: Request,
    ctx: &RequestContext,
) -> Result<Response<Body>, ApiError> {
    let body: RegisterRequest = http::parse_json_limited(&req, http::SMALL_BODY_LIMIT)?;
    let mut checks = Checks::default();
    let email = checks.check(Email::parse(&body.email));
    let password = checks.check(Password::parse(&body.password));
    let name = match body.name.as_deref() {
        Some(name) => checks.check(text("name", name, 100)),
        None => None,
    };
    checks.finish()?;
    let (Some(email), Some(password)) = (email, password) else {
        return Err(ApiError::invalid_field("email", "is required"));
    };
    let hasher = accounts.hasher.clone();
    let password_hash = tokio::task::spawn_blocking(move || hasher.hash(password.expose()))
        .await
        .context("join the password hashing task")?
        .context("hash a password")?;
    let now = shared::time::now_rfc3339();
    let user = User {
        id: shared::ids::new_id(),
        email: email.as_str().to_owned(),
        password_hash,
        role: Role::Customer,
        name,
        phone: None,
        marketing_opt_in: false,
        sms_opt_in: false,
        address_count: 0,
        default_address_id: None,
        created_at: now.clone(),
        updated_at: now,
        provisioned: false,
        revision: FIRST_REVISION,
    };
    accounts
        .store
        .create_user(&user, &ctx.correlation_id)
        .await?;
    tracing::info!(user_id = %user.id, "user registered");
    metrics::count(Business::Registrations);
    http::created(ctx, "/v1/users/me", &ProfileView::from(&user))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::samples;

    #[test]
    fn the_sample_event_is_a_valid_registration() {
        let body: RegisterRequest = http::parse_json(&samples::register()).unwrap();
        assert!(Email::parse(&body.email).is_ok());
        assert!(Password::parse(&body.password).is_ok());
    }
}
