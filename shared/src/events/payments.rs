//! Events the payments service publishes.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::DomainEvent;
use crate::money::Money;

/// `PaymentRefunded` v1: money went back to the customer outside the checkout's own
/// compensation (an admin's refund).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentRefunded {
    /// The payment.
    pub payment_id: Uuid,
    /// Its order.
    pub order_id: Uuid,
    /// Who paid.
    pub user_id: Uuid,
    /// This refund's amount.
    pub amount: Money,
    /// Everything paid is now refunded.
    pub full: bool,
    /// Whether the goods go back to stock.
    pub restock: bool,
    /// The provider's refund id.
    pub refund_id: String,
}

impl DomainEvent for PaymentRefunded {
    const TYPE: &'static str = "PaymentRefunded";
}
