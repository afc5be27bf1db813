//! Events the catalog publishes.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::DomainEvent;
use crate::money::Money;

/// Whether a product can be bought.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProductStatus {
    /// Listed and for sale.
    Active,
    /// Withdrawn: hidden from the public, kept for the orders that refer to it.
    Archived,
}

impl ProductStatus {
    /// The lowercase name used in JSON and in storage.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Archived => "archived",
        }
    }
}

/// `ProductChanged` v1: a product as the public sees it after it was created, changed or
/// archived. Consumers keep projections of it; `version` grows with every change, so a consumer
/// can ignore an older state that arrives after a newer one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductChanged {
    /// The product.
    pub product_id: Uuid,
    /// Who sells it.
    pub seller_id: Uuid,
    /// Its name.
    pub name: String,
    /// Its category.
    pub category_id: Uuid,
    /// Its current price.
    pub price: Money,
    /// Whether it is for sale.
    pub status: ProductStatus,
    /// Its first image, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// The product's version after this change (1 when created).
    pub version: u64,
    /// When it changed, RFC 3339 UTC.
    pub changed_at: String,
}

impl DomainEvent for ProductChanged {
    const TYPE: &'static str = "ProductChanged";
}
