//! Events the orders service publishes.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::DomainEvent;
use crate::{
    checkout::{OrderLine, PricedLine},
    money::Money,
};

/// `OrderPlaced` v1: an order was accepted and its checkout started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderPlaced {
    /// The order.
    pub order_id: Uuid,
    /// Who placed it.
    pub user_id: Uuid,
    /// Whether its lines come from the cart.
    pub from_cart: bool,
    /// The lines the client gave (empty when they come from the cart).
    #[serde(default)]
    pub lines: Vec<OrderLine>,
}

impl DomainEvent for OrderPlaced {
    const TYPE: &'static str = "OrderPlaced";
}

/// `OrderConfirmed` v1: paid for and reserved; it will ship.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderConfirmed {
    /// The order.
    pub order_id: Uuid,
    /// Who placed it.
    pub user_id: Uuid,
    /// The lines with the prices charged.
    pub lines: Vec<PricedLine>,
    /// What was charged.
    pub total: Money,
    /// The payment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_id: Option<Uuid>,
    /// Whether the lines came from the cart (the cart service then removes them from it).
    pub from_cart: bool,
}

impl DomainEvent for OrderConfirmed {
    const TYPE: &'static str = "OrderConfirmed";
}

/// `OrderFailed` v1: the checkout gave up; nothing is charged or reserved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderFailed {
    /// The order.
    pub order_id: Uuid,
    /// Who placed it.
    pub user_id: Uuid,
    /// Why, as a stable code (`OUT_OF_STOCK`, `PAYMENT_DECLINED`, …).
    pub reason: String,
    /// Details for people.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl DomainEvent for OrderFailed {
    const TYPE: &'static str = "OrderFailed";
}

/// `OrderCancelled` v1: a confirmed order was cancelled by its owner; refunded and restocked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderCancelled {
    /// The order.
    pub order_id: Uuid,
    /// Who placed it.
    pub user_id: Uuid,
    /// The lines that were ordered.
    pub lines: Vec<PricedLine>,
    /// What was refunded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<Money>,
}

impl DomainEvent for OrderCancelled {
    const TYPE: &'static str = "OrderCancelled";
}

/// `OrderShipped` v1: handed to a carrier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderShipped {
    /// The order.
    pub order_id: Uuid,
    /// Who placed it.
    pub user_id: Uuid,
    /// The carrier, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carrier: Option<String>,
    /// The tracking number, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracking_number: Option<String>,
}

impl DomainEvent for OrderShipped {
    const TYPE: &'static str = "OrderShipped";
}

/// `OrderDelivered` v1: the carrier delivered it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderDelivered {
    /// The order.
    pub order_id: Uuid,
    /// Who placed it.
    pub user_id: Uuid,
}

impl DomainEvent for OrderDelivered {
    const TYPE: &'static str = "OrderDelivered";
}
