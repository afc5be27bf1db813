//! Payments as the service keeps them, with no AWS in them.

use serde::{Deserialize, Serialize};
use shared::money::Money;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::provider::{Decline, IntentStatus};

/// Where a payment is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    /// Recorded; the provider has not answered yet.
    Creating,
    /// Waiting for a payment method.
    RequiresPaymentMethod,
    /// Waiting for a confirmation.
    RequiresConfirmation,
    /// The customer must act.
    RequiresAction,
    /// Settling asynchronously.
    Processing,
    /// Authorized, not captured.
    RequiresCapture,
    /// Charged.
    Succeeded,
    /// Declined: nothing is charged.
    Failed,
    /// Canceled: nothing is charged.
    Canceled,
    /// Everything charged went back.
    Refunded,
}

impl PaymentStatus {
    /// The status an intent's status maps to.
    #[must_use]
    pub const fn of_intent(status: IntentStatus) -> Self {
        match status {
            IntentStatus::RequiresPaymentMethod => Self::RequiresPaymentMethod,
            IntentStatus::RequiresConfirmation => Self::RequiresConfirmation,
            IntentStatus::RequiresAction => Self::RequiresAction,
            IntentStatus::Processing => Self::Processing,
            IntentStatus::RequiresCapture => Self::RequiresCapture,
            IntentStatus::Succeeded => Self::Succeeded,
            IntentStatus::Canceled => Self::Canceled,
        }
    }

    /// The name as stored and answered.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Creating => "creating",
            Self::RequiresPaymentMethod => "requires_payment_method",
            Self::RequiresConfirmation => "requires_confirmation",
            Self::RequiresAction => "requires_action",
            Self::Processing => "processing",
            Self::RequiresCapture => "requires_capture",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Canceled => "canceled",
            Self::Refunded => "refunded",
        }
    }

    /// Whether the payment's outcome is known (the saga waits for nothing more).
    #[must_use]
    pub const fn is_settled(self) -> bool {
        matches!(
            self,
            Self::Succeeded | Self::Failed | Self::Canceled | Self::Refunded
        )
    }

    /// The statuses a webhook may still move a payment from.
    pub const UNSETTLED: [Self; 6] = [
        Self::Creating,
        Self::RequiresPaymentMethod,
        Self::RequiresConfirmation,
        Self::RequiresAction,
        Self::Processing,
        Self::RequiresCapture,
    ];
}

/// What the compensation did to an order's payment (the `cancel-or-refund-payment` answer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Compensation {
    /// `none`, `canceled` or `refunded`.
    pub action: CompensationAction,
    /// The payment, if there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_id: Option<Uuid>,
    /// What went back (refunds only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<Money>,
}

/// What the compensation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CompensationAction {
    /// Nothing to undo.
    None,
    /// The intent was canceled: nothing was charged.
    Canceled,
    /// The charge was refunded.
    Refunded,
}

/// An order's payment, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Payment {
    /// The payment id.
    pub payment_id: Uuid,
    /// Its order (one payment per order).
    pub order_id: Uuid,
    /// Who pays.
    pub user_id: Uuid,
    /// How much.
    pub amount: Money,
    /// The payment method the order came with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_method: Option<String>,
    /// Where it is.
    pub status: PaymentStatus,
    /// The provider's intent, once known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intent_id: Option<String>,
    /// What the client confirms the intent with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// Why the card was declined.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Decline>,
    /// How much went back, in minor units.
    #[serde(default)]
    pub refunded_amount: i64,
    /// Set by the compensation: the order will never be paid, whatever arrives later (a charge
    /// that succeeds later is refunded by the webhook).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub voided: bool,
    /// When the compensation last set `voided` (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voided_at: Option<String>,
    /// What the compensation did, once done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compensation: Option<Compensation>,
    /// The provider's refund of a payment that succeeded after the compensation (by the webhook).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub late_refund_id: Option<String>,
    /// The token of the saga's task waiting for the payment to settle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_token: Option<String>,
    /// The order's correlation id.
    pub correlation_id: String,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

/// How long after the compensation last ran a payment it has not finished compensating counts as
/// being canceled by it (its retries take a few minutes); after that it has given up, and admins
/// may refund by hand.
pub const COMPENSATION_WINDOW_SECS: i64 = 15 * 60;

impl Payment {
    /// Whether a compensation is under way on the payment at `now`: voided, its outcome not
    /// recorded yet, and voided less than [`COMPENSATION_WINDOW_SECS`] ago.
    #[must_use]
    pub fn being_compensated(&self, now: OffsetDateTime) -> bool {
        if !self.voided || self.compensation.is_some() {
            return false;
        }
        let since = self.voided_at.as_deref().unwrap_or(&self.updated_at);
        shared::time::parse_rfc3339(since).map_or(true, |at| {
            (now - at).whole_seconds() < COMPENSATION_WINDOW_SECS
        })
    }

    /// What is left to refund, in minor units.
    #[must_use]
    pub fn remaining(&self) -> i64 {
        if self.status == PaymentStatus::Succeeded {
            (self.amount.amount - self.refunded_amount).max(0)
        } else {
            0
        }
    }
}

/// The cause of a `PaymentDeclined` failure.
#[must_use]
pub fn decline_cause(decline: Option<&Decline>) -> Decline {
    decline.cloned().unwrap_or(Decline {
        code: Some("payment_failed".into()),
        decline_code: None,
        message: Some("The payment failed.".into()),
    })
}

/// How much an admin's refund returns at `now`: all that is left when `requested` is `None`.
///
/// # Errors
/// [`RefundRefused`] while the compensation cancels the payment (it refunds what is left), when
/// nothing is left, the amount is not positive, in another currency, or more than what is left.
pub fn refund_amount(
    payment: &Payment,
    requested: Option<Money>,
    now: OffsetDateTime,
) -> Result<i64, RefundRefused> {
    if payment.being_compensated(now) {
        return Err(RefundRefused::BeingCancelled);
    }
    if payment.status == PaymentStatus::Refunded {
        return Err(RefundRefused::NothingLeft);
    }
    if payment.status != PaymentStatus::Succeeded {
        return Err(RefundRefused::NotCharged);
    }
    let remaining = payment.remaining();
    if remaining == 0 {
        return Err(RefundRefused::NothingLeft);
    }
    let Some(requested) = requested else {
        return Ok(remaining);
    };
    if requested.currency != payment.amount.currency {
        return Err(RefundRefused::WrongCurrency);
    }
    if requested.amount <= 0 {
        return Err(RefundRefused::NotPositive);
    }
    if requested.amount > remaining {
        return Err(RefundRefused::TooMuch { remaining });
    }
    Ok(requested.amount)
}

/// Why a refund cannot be made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RefundRefused {
    /// The order's compensation is canceling or refunding the payment right now.
    #[error("the payment is being canceled by its order's compensation")]
    BeingCancelled,
    /// The payment was never charged.
    #[error("the payment was not charged")]
    NotCharged,
    /// Everything was refunded already.
    #[error("everything was refunded already")]
    NothingLeft,
    /// The amount is zero or negative.
    #[error("the amount must be positive")]
    NotPositive,
    /// The amount's currency is not the payment's.
    #[error("the amount is in another currency than the payment")]
    WrongCurrency,
    /// More than what is left.
    #[error("at most {remaining} minor units are left to refund")]
    TooMuch {
        /// What is left.
        remaining: i64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::money::Currency;

    fn charged(amount: i64, refunded: i64) -> Payment {
        Payment {
            payment_id: Uuid::nil(),
            order_id: Uuid::nil(),
            user_id: Uuid::nil(),
            amount: Money::new(amount, Currency::USD),
            payment_method: None,
            status: PaymentStatus::Succeeded,
            intent_id: Some("pi_1".into()),
            client_secret: None,
            failure: None,
            refunded_amount: refunded,
            voided: false,
            voided_at: None,
            compensation: None,
            late_refund_id: None,
            task_token: None,
            correlation_id: "c".into(),
            created_at: String::new(),
            updated_at: String::new(),
        }
    }

    fn at(text: &str) -> OffsetDateTime {
        shared::time::parse_rfc3339(text).unwrap()
    }

    #[test]
    fn a_refund_is_everything_left_unless_an_amount_is_given() {
        let now = at("2026-01-01T12:00:00Z");
        let usd = |n| Some(Money::new(n, Currency::USD));
        assert_eq!(refund_amount(&charged(1000, 300), None, now), Ok(700));
        assert_eq!(refund_amount(&charged(1000, 300), usd(700), now), Ok(700));
        assert_eq!(refund_amount(&charged(1000, 300), usd(200), now), Ok(200));
        assert_eq!(
            refund_amount(&charged(1000, 300), usd(701), now),
            Err(RefundRefused::TooMuch { remaining: 700 })
        );
        assert_eq!(
            refund_amount(&charged(1000, 300), usd(0), now),
            Err(RefundRefused::NotPositive)
        );
        assert_eq!(
            refund_amount(&charged(1000, 1000), None, now),
            Err(RefundRefused::NothingLeft)
        );
        let eur = Some(Money::new(1, Currency::parse("EUR").unwrap()));
        assert_eq!(
            refund_amount(&charged(1000, 0), eur, now),
            Err(RefundRefused::WrongCurrency)
        );
        let mut pending = charged(1000, 0);
        pending.status = PaymentStatus::Processing;
        assert_eq!(
            refund_amount(&pending, None, now),
            Err(RefundRefused::NotCharged)
        );
    }

    #[test]
    fn no_admin_refund_while_the_compensation_runs() {
        let now = at("2026-01-01T12:00:00Z");
        let mut voided = charged(1000, 200);
        voided.voided = true;
        voided.voided_at = Some("2026-01-01T11:59:00Z".into());
        assert_eq!(
            refund_amount(&voided, None, now),
            Err(RefundRefused::BeingCancelled)
        );
        // Without `voidedAt`, the last update says when.
        voided.voided_at = None;
        voided.updated_at = "2026-01-01T11:58:00Z".into();
        assert!(voided.being_compensated(now));
        // A compensation that gave up long ago leaves the refund to admins.
        voided.voided_at = Some("2026-01-01T11:00:00Z".into());
        assert_eq!(refund_amount(&voided, None, now), Ok(800));
        // A finished compensation says what is left (its refund is in `refundedAmount`).
        voided.voided_at = Some("2026-01-01T11:59:00Z".into());
        voided.compensation = Some(Compensation {
            action: CompensationAction::Refunded,
            payment_id: None,
            amount: None,
        });
        voided.status = PaymentStatus::Refunded;
        assert_eq!(
            refund_amount(&voided, None, now),
            Err(RefundRefused::NothingLeft)
        );
    }

    #[test]
    fn statuses_have_the_providers_names() {
        assert_eq!(
            serde_json::to_value(PaymentStatus::RequiresAction).unwrap(),
            "requires_action"
        );
        for status in PaymentStatus::UNSETTLED {
            assert!(!status.is_settled());
        }
        assert!(PaymentStatus::Failed.is_settled());
    }
}
