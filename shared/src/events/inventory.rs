//! Events inventory publishes.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::DomainEvent;

/// `StockLow` v1: a product's available stock fell below the low-stock threshold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StockLow {
    /// The product.
    pub product_id: Uuid,
    /// Who sells it, when inventory knows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seller_id: Option<Uuid>,
    /// Units available after the change.
    pub available: u32,
    /// The threshold it fell below.
    pub threshold: u32,
}

impl DomainEvent for StockLow {
    const TYPE: &'static str = "StockLow";
}
