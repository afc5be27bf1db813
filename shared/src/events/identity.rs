//! Events the identity service publishes: what other services may know of a user's contact
//! details (the notification service keeps a projection of them).
//!
//! Both events carry the whole contact snapshot with the user's `revision`, which goes up by one
//! with every change of these fields. A consumer keeps the snapshot with the highest revision, so
//! redelivered or reordered events never bring back older details.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::DomainEvent;

/// A user's contact details and notification choices, as of `revision`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UserContact {
    /// The user.
    pub user_id: Uuid,
    /// The normalized email address.
    pub email: String,
    /// The display name, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The E.164 phone number, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// Whether order notifications may also go out by SMS (never without a phone).
    pub sms_opt_in: bool,
    /// Whether marketing emails may be sent.
    pub marketing_opt_in: bool,
    /// The user's revision: 1 at registration, one more with every change of these fields.
    pub revision: u64,
}

/// `UserRegistered` v1: an account was created (by registration, or the first admin by
/// provisioning).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserRegistered(pub UserContact);

impl DomainEvent for UserRegistered {
    const TYPE: &'static str = "UserRegistered";
}

/// `UserChanged` v1: the contact details or notification choices changed; the data is the whole
/// snapshot after the change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserChanged(pub UserContact);

impl DomainEvent for UserChanged {
    const TYPE: &'static str = "UserChanged";
}

/// `EmailVerificationRequested` v1: a new account's owner is asked to confirm their email. Sent
/// to `email` itself (not to the contact projection, which may not know the user yet).
///
/// `token` is the single-use verification token; the identity table keeps only its hash. It
/// travels in this event because the email carries it, and is worthless after `expiresAt`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmailVerificationRequested {
    /// The new account.
    pub user_id: Uuid,
    /// The address to verify (normalized).
    pub email: String,
    /// The display name, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The verification token (43 characters of base64url, 256 bits).
    pub token: String,
    /// When the token stops working (RFC 3339).
    pub expires_at: String,
}

impl DomainEvent for EmailVerificationRequested {
    const TYPE: &'static str = "EmailVerificationRequested";
}

/// `RegistrationAttempted` v1: someone tried to register an email that already has an account.
/// The owner is told (the answer to the registration says nothing), with a pointer to password
/// reset; never with a verification link, which could verify an account someone else set up.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistrationAttempted {
    /// The existing account.
    pub user_id: Uuid,
    /// Its email (normalized).
    pub email: String,
    /// Its display name, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl DomainEvent for RegistrationAttempted {
    const TYPE: &'static str = "RegistrationAttempted";
}

/// `PasswordResetRequested` v1: a password reset was asked for an existing account; the email
/// carries the single-use reset token (only its hash is stored; valid until `expiresAt`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PasswordResetRequested {
    /// The account.
    pub user_id: Uuid,
    /// Its email (normalized).
    pub email: String,
    /// Its display name, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The reset token (43 characters of base64url, 256 bits).
    pub token: String,
    /// When the token stops working (RFC 3339).
    pub expires_at: String,
}

impl DomainEvent for PasswordResetRequested {
    const TYPE: &'static str = "PasswordResetRequested";
}

/// How a password came to change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PasswordChange {
    /// The signed-in user changed it, giving the current one.
    Changed,
    /// It was set with a reset token from an email.
    Reset,
}

/// `PasswordChanged` v1: an account's password changed and its other sessions ended. The owner
/// is told, so a change they did not make does not go unnoticed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PasswordChanged {
    /// The account.
    pub user_id: Uuid,
    /// Its email (normalized).
    pub email: String,
    /// Its display name, when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// How.
    pub how: PasswordChange,
    /// When (RFC 3339).
    pub at: String,
}

impl DomainEvent for PasswordChanged {
    const TYPE: &'static str = "PasswordChanged";
}
