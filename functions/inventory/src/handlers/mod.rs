//! One module per function.

pub mod adjust_stock;
pub mod get_stock;
pub mod list_stock_audit;
pub mod order_events;
pub mod product_events;
pub mod release_expired_reservations;
pub mod release_stock;
pub mod reserve_stock;
pub mod set_stock;

use lambda_http::Request;
use shared::{
    ApiError,
    auth::Caller,
    events::{Envelope, inventory::StockLow},
    http::path_param,
    ids::parse_id,
};
use uuid::Uuid;

use crate::{
    Inventory,
    domain::{AuditRecord, ChangeKind, Stock, crosses_low},
    store::{Change, Idempotency, Written},
};

/// How often a change is re-applied after losing a race. Between attempts the change waits a
/// random time whose bound doubles each round ([`shared::dynamo::backoff`], from 10 ms), so a burst
/// of writers on one product spreads out instead of colliding again: 16 concurrent adjustments of
/// one product all get their answer in the tests.
const ATTEMPTS: u32 = 8;

/// The product id in the path. Anything that is not an id is a 404.
fn product_in_path(req: &Request) -> Result<Uuid, ApiError> {
    path_param(req, "productId")
        .and_then(parse_id)
        .ok_or_else(no_stock)
}

/// 404 for a product inventory does not know (yet: a product just created is learned within
/// seconds, from the catalog's events).
fn no_stock() -> ApiError {
    ApiError::not_found(
        "Inventory knows no such product; a product just created appears here within seconds.",
    )
}

/// What a change of `available` is about.
#[derive(Debug, Clone)]
pub struct Edit<'a> {
    /// The product.
    pub product: Uuid,
    /// Set or adjust.
    pub kind: ChangeKind,
    /// Why, for the audit trail.
    pub reason: &'a str,
    /// The adjustment's idempotency key.
    pub idempotency: Option<&'a Idempotency<'a>>,
    /// The request's correlation id, carried by a `StockLow` event.
    pub correlation_id: &'a str,
}

/// A change of `available` by `caller`: read, check, compute with `next_available`, write with the
/// audit record (and a `StockLow` event when it crosses the threshold), re-reading after a lost
/// race. Returns the stock after the change.
///
/// # Errors
/// 404 unknown product; 403 not its seller nor an admin; what `next_available` returns; 422
/// `IDEMPOTENCY_KEY_REUSED`; 500 on storage failure.
pub async fn change_available(
    inventory: &Inventory,
    caller: &Caller,
    edit: Edit<'_>,
    next_available: impl Fn(&Stock) -> Result<u32, ApiError>,
) -> Result<Stock, ApiError> {
    let Edit {
        product,
        kind,
        reason,
        idempotency,
        correlation_id,
    } = edit;
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            shared::dynamo::backoff(attempt - 1).await;
        }
        let current = inventory.store.stock(product).await?.ok_or_else(no_stock)?;
        if current.seller_id.is_none() {
            return Err(no_stock());
        }
        if !current.editable_by(caller) {
            return Err(ApiError::forbidden(
                "Only the product's seller or an admin may change its stock.",
            ));
        }
        let available = next_available(&current)?;
        let now = shared::time::now_rfc3339();
        let next = Stock {
            available,
            version: current.version + 1,
            updated_at: now.clone(),
            ..current.clone()
        };
        let audit = AuditRecord {
            id: shared::ids::new_id(),
            product_id: product,
            actor_id: caller.user_id,
            actor_role: caller.role,
            kind,
            delta: i64::from(available) - i64::from(current.available),
            reason: reason.to_owned(),
            available: next.available,
            reserved: next.reserved,
            sold: next.sold,
            at: now,
        };
        let low = crosses_low(current.available, available, inventory.low_threshold).then(|| {
            Envelope::wrap(
                StockLow {
                    product_id: product,
                    seller_id: current.seller_id,
                    available,
                    threshold: inventory.low_threshold,
                },
                correlation_id.to_owned(),
            )
        });
        let change = Change {
            current: &current,
            next: &next,
            audit: &audit,
            low: low.as_ref(),
            idempotency,
        };
        match inventory.store.write(&change).await? {
            Written::Done => {
                tracing::info!(product_id = %product, delta = audit.delta, available, low = low.is_some(), "stock changed");
                return Ok(next);
            }
            Written::Replayed(stock) => return Ok(stock),
            Written::Stale => {}
        }
    }
    Err(ApiError::conflict(
        "CONCURRENT_UPDATE",
        "The stock kept changing while this change was applied; try again.",
    ))
}

/// Sample events shared by the handler tests.
#[cfg(test)]
pub(crate) mod samples {
    shared::sample_events! {
        get_stock => "get-stock.json",
        set_stock => "set-stock.json",
        adjust_stock => "adjust-stock.json",
        list_stock_audit => "list-stock-audit.json",
    }
}
