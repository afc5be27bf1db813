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
