//! The `cart-order-events` consumer: when an order placed from the cart is confirmed, what it
//! bought leaves the cart (its queue subscribes to `OrderConfirmed` only). Lines added since the
//! order was placed stay.

use shared::{
    checkout::OrderLine,
    consumer::{self, Applied, Failure},
    events::{DomainEvent as _, RawEnvelope, orders::OrderConfirmed},
};

use crate::Carts;

/// Applies one event; any other type or version is poison.
///
/// # Errors
/// [`Failure::Poison`] for an event it cannot read; [`Failure::Retry`] on storage failure.
pub async fn apply(carts: &Carts, event: RawEnvelope) -> Result<Applied, Failure> {
    if event.event_type != OrderConfirmed::TYPE || event.version != OrderConfirmed::VERSION {
        return Err(Failure::Poison(format!(
            "unexpected event {} v{}",
            event.event_type, event.version
        )));
    }
    let order: OrderConfirmed = consumer::data(&event)?;
    if !order.from_cart {
        return Ok(Applied::Ignored);
    }
    let ordered: Vec<OrderLine> = order
        .lines
        .iter()
        .map(|line| OrderLine {
            product_id: line.product_id,
            quantity: line.quantity,
        })
        .collect();
    carts
        .store
        .take_ordered(event.id, order.user_id, &ordered)
        .await
}
