//! What clients see of users and addresses, the login answer, and the one answer of the routes
//! that must not tell whether an account exists.

use serde::Serialize;
use shared::auth::Role;
use uuid::Uuid;

use crate::store::{Address, User};

/// A user's profile as `GET /v1/users/me` shows it. No password hash, ever.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProfileView<'a> {
    /// User id.
    pub id: Uuid,
    /// Email.
    pub email: &'a str,
    /// Whether the owner verified the email (the link of the registration email, or a password
    /// reset).
    pub email_verified: bool,
    /// Role.
    pub role: Role,
    /// Display name, or null.
    pub name: Option<&'a str>,
    /// E.164 phone, or null.
    pub phone: Option<&'a str>,
    /// Marketing email opt-in.
    pub marketing_opt_in: bool,
    /// SMS notifications opt-in.
    pub sms_opt_in: bool,
    /// The default address, or null.
    pub default_address_id: Option<Uuid>,
    /// RFC 3339 creation time.
    pub created_at: &'a str,
    /// RFC 3339 time of the last change.
    pub updated_at: &'a str,
}

impl<'a> From<&'a User> for ProfileView<'a> {
    fn from(user: &'a User) -> Self {
        Self {
            id: user.id,
            email: &user.email,
            email_verified: user.email_verified,
            role: user.role,
            name: user.name.as_deref(),
            phone: user.phone.as_deref(),
            marketing_opt_in: user.marketing_opt_in,
            sms_opt_in: user.sms_opt_in,
            default_address_id: user.default_address_id,
            created_at: &user.created_at,
            updated_at: &user.updated_at,
        }
    }
}

/// An address with whether it is the default.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AddressView<'a> {
    /// The stored address.
    #[serde(flatten)]
    pub address: &'a Address,
    /// Whether it is the user's default address.
    pub is_default: bool,
}

impl<'a> AddressView<'a> {
    /// The view of `address` given the user's default.
    #[must_use]
    pub fn new(address: &'a Address, default: Option<Uuid>) -> Self {
        Self {
            address,
            is_default: default == Some(address.id),
        }
    }
}

/// The answer to a login or a refresh.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenPair {
    /// The access token (JWT) to send as `Authorization: Bearer …`.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// The refresh token: single use, exchanged at `POST /v1/auth/refresh`.
    pub refresh_token: String,
    /// When the session (and so every refresh token of it) ends, RFC 3339.
    pub refresh_token_expires_at: String,
    /// Who logged in.
    pub user: TokenUser,
}

/// The user a token pair is for.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenUser {
    /// User id.
    pub id: Uuid,
    /// Role the access token carries.
    pub role: Role,
}

/// The answer of registration and password reset requests: always the same, whether or not the
/// email has an account, so that the answer never tells.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Accepted {
    /// Always `accepted`.
    #[schema(example = "accepted")]
    pub status: &'static str,
    /// What happens next, for people.
    pub message: &'static str,
}

impl Accepted {
    /// The answer with `message`.
    #[must_use]
    pub const fn new(message: &'static str) -> Self {
        Self {
            status: "accepted",
            message,
        }
    }
}
