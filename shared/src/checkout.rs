//! What the checkout saga's steps hand each other: the lines of an order before and after
//! pricing. Each service reads only the fields it needs from a task's input; these are the
//! shapes every one of them agrees on (see `infra/statemachines/checkout.asl.json`).

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::money::Money;

/// The most lines one order may have (one stock transaction holds them all, with its
/// reservation record).
pub const MAX_ORDER_LINES: usize = 50;

/// The most units of one product in one order.
pub const MAX_LINE_QUANTITY: u32 = 99;

/// A product and how many of it, before pricing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderLine {
    /// The product.
    pub product_id: Uuid,
    /// Units, 1–99.
    #[schema(minimum = 1, maximum = 99)]
    pub quantity: u32,
}

/// A line as the catalog priced it: the price charged, whatever the client believed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PricedLine {
    /// The product.
    pub product_id: Uuid,
    /// Who sells it.
    pub seller_id: Uuid,
    /// Its name when the order was priced.
    pub name: String,
    /// Units.
    pub quantity: u32,
    /// The price of one unit when the order was priced.
    pub unit_price: Money,
    /// `unitPrice × quantity`.
    pub line_total: Money,
}

/// The catalog's answer to PriceOrder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Priced {
    /// The lines, in the order's order.
    pub lines: Vec<PricedLine>,
    /// The sum of the line totals.
    pub total: Money,
}

/// Error names of the saga's business outcomes, shared by the tasks that raise them and the
/// state machine that catches them.
pub mod errors {
    /// The cart had nothing to order.
    pub const CART_EMPTY: &str = "CartEmpty";
    /// A product is archived, unknown or not sold in the order's currency.
    pub const PRODUCT_UNAVAILABLE: &str = "ProductUnavailable";
    /// Not enough stock for a line.
    pub const OUT_OF_STOCK: &str = "OutOfStock";
    /// The provider refused the payment.
    pub const PAYMENT_DECLINED: &str = "PaymentDeclined";
    /// The provider refused the request itself (not the card): a configuration problem.
    pub const PAYMENT_REJECTED: &str = "PaymentRejected";
}
