//! The `inventory-product-events` consumer: learns products and their sellers from the catalog's
//! `ProductChanged` events (its queue subscribes to that type only).

use shared::{
    consumer::{self, Applied, Failure},
    events::{DomainEvent as _, RawEnvelope, catalog::ProductChanged},
};

use crate::Inventory;

/// Applies one event; any other type or version is poison (the queue's filter should not let it
/// through).
///
/// # Errors
/// [`Failure::Poison`] for an event it cannot read; [`Failure::Retry`] on storage failure.
pub async fn apply(inventory: &Inventory, event: RawEnvelope) -> Result<Applied, Failure> {
    if event.event_type != ProductChanged::TYPE || event.version != ProductChanged::VERSION {
        return Err(Failure::Poison(format!(
            "unexpected event {} v{}",
            event.event_type, event.version
        )));
    }
    let product: ProductChanged = consumer::data(&event)?;
    inventory.store.learn_product(event.id, &product).await
}
