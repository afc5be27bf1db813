//! The `cart-product-events` consumer: keeps the cart's copy of every product from the catalog's
//! `ProductChanged` events (its queue subscribes to that type only).

use shared::{
    consumer::{self, Applied, Failure},
    events::{DomainEvent as _, RawEnvelope, catalog::ProductChanged},
};

use crate::Carts;

/// Applies one event; any other type or version is poison.
///
/// # Errors
/// [`Failure::Poison`] for an event it cannot read; [`Failure::Retry`] on storage failure.
pub async fn apply(carts: &Carts, event: RawEnvelope) -> Result<Applied, Failure> {
    if event.event_type != ProductChanged::TYPE || event.version != ProductChanged::VERSION {
        return Err(Failure::Poison(format!(
            "unexpected event {} v{}",
            event.event_type, event.version
        )));
    }
    let product: ProductChanged = consumer::data(&event)?;
    carts.store.learn_product(event.id, &product).await
}
