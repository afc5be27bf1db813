//! The checkout saga's ReleaseStock compensation: the order's units go back to `available`,
//! once, whatever the order reached. See [`crate::reservations`].

use serde::{Deserialize, Serialize};
use shared::task::TaskFailure;
use uuid::Uuid;

use crate::{Inventory, reservations::Released};

/// The task's input.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Input {
    /// The order.
    pub order_id: Uuid,
}

/// The task's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Output {
    /// What went back.
    pub released: Released,
}

/// Runs the task.
///
/// # Errors
/// `Transient` on storage failure.
#[tracing::instrument(skip_all, fields(order_id = %input.order_id))]
pub async fn handle(inventory: &Inventory, input: Input) -> Result<Output, TaskFailure> {
    let released = inventory.store.release(input.order_id).await?;
    Ok(Output { released })
}
