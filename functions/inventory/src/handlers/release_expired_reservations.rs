//! The `release-expired-reservations` sweeper, run every minute by a schedule: the units of
//! checkouts that never finished (reservations still `RESERVED` past their `holdUntil`) go back to
//! `available`, through [`Store::release_expired`]; a sold reservation is never touched.
//!
//! It finds them in the sparse index of held reservations (see [`crate::reservations`]), never by
//! a scan, and does a bounded amount of work per run ([`MAX_PER_RUN`]); what is left waits for the
//! next run.
//!
//! [`Store::release_expired`]: crate::store::Store::release_expired

use serde::Serialize;
use shared::ApiError;

use crate::Inventory;

/// At most this many reservations are looked at per run.
pub const MAX_PER_RUN: usize = 100;

/// What a run did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Swept {
    /// Reservations released.
    pub released: usize,
    /// Reservations found in the index but left as they were (sold or released meanwhile).
    pub kept: usize,
    /// Reservations whose release failed (retried by the next run).
    pub failed: usize,
}

/// Releases the reservations whose hold ended before `now` (RFC 3339 UTC), at most
/// [`MAX_PER_RUN`], oldest hold first.
///
/// # Errors
/// 500 when the index cannot be read, or when any release failed (after trying the others).
#[tracing::instrument(skip(inventory))]
pub async fn handle(inventory: &Inventory, now: &str) -> Result<Swept, ApiError> {
    let mut swept = Swept::default();
    let mut looked_at = 0;
    let mut start = None;
    let mut last_error = None;
    while looked_at < MAX_PER_RUN {
        let limit = i32::try_from(MAX_PER_RUN - looked_at).unwrap_or(i32::MAX);
        let (orders, next) = inventory.store.expired_holds(now, limit, start).await?;
        // An empty page still counts, so that the run ends whatever the index answers.
        looked_at += orders.len().max(1);
        for order in orders {
            match inventory.store.release_expired(order, now).await {
                Ok(true) => swept.released += 1,
                Ok(false) => swept.kept += 1,
                Err(error) => {
                    tracing::error!(%order, error = %shared::error::cause_chain(&error), "cannot release an expired reservation");
                    swept.failed += 1;
                    last_error = Some(error);
                }
            }
        }
        match next {
            Some(next) => start = Some(next),
            None => break,
        }
    }
    tracing::info!(
        released = swept.released,
        kept = swept.kept,
        failed = swept.failed,
        "released expired reservations"
    );
    match last_error {
        Some(error) => Err(error),
        None => Ok(swept),
    }
}
