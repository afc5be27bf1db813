//! The checkout saga's ReserveStock task: every line of the order held in one transaction, or
//! none (`OutOfStock`). See [`crate::reservations`].

use serde::{Deserialize, Serialize};
use shared::{
    checkout::{OrderLine, errors},
    task::TaskFailure,
};
use uuid::Uuid;

use crate::{Inventory, reservations::Reserved};

/// The task's input: the priced lines (their other fields are ignored).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Input {
    /// The order.
    pub order_id: Uuid,
    /// What to hold.
    pub lines: Vec<OrderLine>,
}

/// The task's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Output {
    /// Until when the units are held.
    pub hold_until: String,
}

/// The cause of `OutOfStock`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
struct OutOfStock {
    product_id: Uuid,
}

/// Runs the task.
///
/// # Errors
/// `OutOfStock`; `ReservationClosed` when the order's checkout already gave up; `Transient` on
/// storage failure.
#[tracing::instrument(skip_all, fields(order_id = %input.order_id))]
pub async fn handle(inventory: &Inventory, input: Input) -> Result<Output, TaskFailure> {
    let hold_until = shared::time::to_rfc3339(
        shared::time::now()
            + std::time::Duration::from_secs(inventory.reservation_hold_secs.unsigned_abs()),
    );
    match inventory
        .store
        .reserve(input.order_id, &input.lines, &hold_until)
        .await?
    {
        Reserved::Held(reservation) => Ok(Output {
            hold_until: reservation.hold_until,
        }),
        Reserved::OutOfStock(product_id) => Err(TaskFailure::business(
            errors::OUT_OF_STOCK,
            &OutOfStock { product_id },
        )),
        Reserved::Closed(_) => Err(TaskFailure::business(
            "ReservationClosed",
            &serde_json::json!({"orderId": input.order_id}),
        )),
    }
}
