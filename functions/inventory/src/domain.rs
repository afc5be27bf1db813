//! Stock levels and the rules of changing them.

use serde::{Deserialize, Serialize};
use shared::{
    ApiError,
    auth::{Caller, Role},
    error::FieldError,
};
use uuid::Uuid;

/// Largest stock level or delta accepted.
pub const MAX_UNITS: u32 = 1_000_000_000;
/// Longest reason, in characters.
pub const REASON_MAX_CHARS: usize = 200;

/// A product's stock, as stored and as the API shows it.
///
/// `available + reserved + sold` only moves through audited changes (set and adjust here; the
/// checkout moves units between the three without changing the sum).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Stock {
    /// The product.
    pub product_id: Uuid,
    /// Who sells it (learned from the catalog's events); `None` until known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seller_id: Option<Uuid>,
    /// Units that can be bought.
    pub available: u32,
    /// Units held for checkouts in progress.
    pub reserved: u32,
    /// Units sold.
    pub sold: u32,
    /// Grows by one with every change of the levels.
    pub version: u64,
    /// RFC 3339 time of the last change.
    pub updated_at: String,
}

impl Stock {
    /// Whether the caller may change it: its seller or an admin.
    #[must_use]
    pub fn editable_by(&self, caller: &Caller) -> bool {
        caller.is(Role::Admin) || self.seller_id == Some(caller.user_id)
    }
}

/// One audited change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AuditRecord {
    /// Audit record id.
    pub id: Uuid,
    /// The product.
    pub product_id: Uuid,
    /// Who changed it.
    pub actor_id: Uuid,
    /// Their role then.
    pub actor_role: Role,
    /// `set` or `adjust`.
    pub kind: ChangeKind,
    /// The change of `available` (new minus old).
    pub delta: i64,
    /// Why, as the actor said.
    #[serde(default)]
    pub reason: String,
    /// `available` after the change.
    pub available: u32,
    /// `reserved` after the change.
    pub reserved: u32,
    /// `sold` after the change.
    pub sold: u32,
    /// RFC 3339 time of the change.
    pub at: String,
}

/// How a level was changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChangeKind {
    /// `PUT`: available set to a value.
    Set,
    /// `POST .../adjust`: available moved by a delta.
    Adjust,
}

/// A validated reason: trimmed, 1 to 200 characters, one line.
///
/// # Errors
/// A [`FieldError`] on `reason`.
pub fn reason(raw: &str) -> Result<String, FieldError> {
    let reason = raw.trim();
    if reason.is_empty() {
        return Err(FieldError::new("reason", "must not be empty"));
    }
    if reason.chars().count() > REASON_MAX_CHARS || reason.chars().any(char::is_control) {
        return Err(FieldError::new(
            "reason",
            format!("must be one line of at most {REASON_MAX_CHARS} characters"),
        ));
    }
    Ok(reason.to_owned())
}

/// `available` after adding `delta`.
///
/// # Errors
/// 409 `INSUFFICIENT_STOCK` when it would go below zero; 400 when it would exceed [`MAX_UNITS`].
pub fn adjusted(available: u32, delta: i64) -> Result<u32, ApiError> {
    let next = i64::from(available) + delta;
    if next < 0 {
        return Err(ApiError::conflict(
            "INSUFFICIENT_STOCK",
            format!("Only {available} units are available; the change would make stock negative."),
        ));
    }
    u32::try_from(next)
        .ok()
        .filter(|n| *n <= MAX_UNITS)
        .ok_or_else(|| {
            ApiError::invalid_field("delta", format!("stock cannot exceed {MAX_UNITS} units"))
        })
}

/// Whether a change from `before` to `after` crosses under `threshold`.
#[must_use]
pub fn crosses_low(before: u32, after: u32, threshold: u32) -> bool {
    before >= threshold && after < threshold
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stock_never_goes_negative() {
        assert_eq!(adjusted(5, -5).unwrap(), 0);
        let error = adjusted(5, -6).unwrap_err();
        assert_eq!(
            (error.status().as_u16(), error.code()),
            (409, "INSUFFICIENT_STOCK")
        );
        assert_eq!(adjusted(0, 7).unwrap(), 7);
        assert_eq!(adjusted(MAX_UNITS, 1).unwrap_err().status(), 400);
    }

    #[test]
    fn low_stock_fires_only_when_crossing() {
        assert!(crosses_low(5, 4, 5));
        assert!(crosses_low(10, 0, 5));
        assert!(!crosses_low(4, 3, 5), "already low");
        assert!(!crosses_low(10, 5, 5), "not under");
        assert!(!crosses_low(3, 8, 5), "rising");
    }

    #[test]
    fn reasons_are_one_bounded_line() {
        assert_eq!(reason("  recount  ").unwrap(), "recount");
        assert!(reason("").is_err());
        assert!(reason("a\nb").is_err());
        assert!(reason(&"x".repeat(201)).is_err());
    }
}
