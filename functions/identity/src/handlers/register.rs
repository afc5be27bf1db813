//! `POST /v1/auth/register`: creates a customer account, and publishes `UserRegistered` with its
//! contact details and `EmailVerificationRequested` with a verification link's token through the
//! outbox (in the same transaction, see [`Store::register`](crate::store::Store::register)).
//!
//! The answer never tells whether the email already had an account: it is the same 202 either
//! way, and the work takes about as long (a taken email's password is hashed all the same). The
//! address's owner learns which it was by email: a verification link for a new account, or a note
//! that an account exists (`RegistrationAttempted`, at most one per 15 minutes) with a pointer to
//! password reset. Of two concurrent registrations of one new email, one creates the account and
//! the other is such an attempt.

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
    handlers::views::Accepted,
    store::{
        FIRST_REVISION, User,
        accounts::{LinkToken, Registration, VERIFICATION_TTL},
    },
};

/// The one answer.
pub const ACCEPTED: Accepted =
    Accepted::new("Check your email: it has a link to verify the address and finish signing up.");

/// The request body. Unknown fields (such as `role`) are refused.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// Email; Unicode NFC, trimmed and lowercased.
    #[schema(format = Email, max_length = 254)]
    pub email: String,
    /// Password; see the policy in [`crate::domain`].
    #[schema(min_length = 10, max_length = 128)]
    pub password: String,
    /// Optional display name.
    #[serde(default)]
    pub name: Option<String>,
}

/// Answers 202 with one fixed body whether or not the email had an account (see the
/// [module docs](self)); 400 for invalid fields, which says nothing of accounts.
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
        (status = 202, description = "Always this answer, new email or not: the address's owner is emailed", body = Accepted),
        (status = 400, response = shared::openapi::BadRequest),
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
    let at = shared::time::now();
    let now = shared::time::to_rfc3339(at);
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
        email_verified: false,
        session_epoch: 0,
    };
    let verification = LinkToken::new(at, VERIFICATION_TTL);
    match accounts
        .store
        .register(&user, &verification, at, &ctx.correlation_id)
        .await?
    {
        Registration::Created => {
            tracing::info!(user_id = %user.id, "user registered");
            metrics::count(Business::Registrations);
        }
        Registration::Existing { notified } => {
            tracing::info!(notified, "registration of an email that has an account");
        }
    }
    http::accepted(ctx, &ACCEPTED)
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
