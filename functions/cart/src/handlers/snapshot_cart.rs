//! The checkout saga's SnapshotCart task: the lines of the caller's cart as they are when the
//! order is placed (the orders service never reads the cart's table). An empty cart is
//! `CartEmpty`. It only reads, so a retry is harmless.

use serde::{Deserialize, Serialize};
use shared::{
    checkout::{MAX_ORDER_LINES, OrderLine, errors},
    task::TaskFailure,
};
use uuid::Uuid;

use crate::Carts;

/// The task's input.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Input {
    /// The order.
    pub order_id: Uuid,
    /// Whose cart.
    pub user_id: Uuid,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Empty {
    user_id: Uuid,
}

/// Runs the task: the cart's lines (an array, which the state puts in place of the order's).
///
/// # Errors
/// `CartEmpty`; `Transient` on storage failure.
#[tracing::instrument(skip_all, fields(order_id = %input.order_id))]
pub async fn handle(carts: &Carts, input: Input) -> Result<Vec<OrderLine>, TaskFailure> {
    let lines: Vec<OrderLine> = carts
        .store
        .cart(input.user_id)
        .await?
        .map(|cart| {
            cart.lines
                .iter()
                .map(|line| OrderLine {
                    product_id: line.product_id,
                    quantity: line.quantity,
                })
                .take(MAX_ORDER_LINES)
                .collect()
        })
        .unwrap_or_default();
    if lines.is_empty() {
        return Err(TaskFailure::business(
            errors::CART_EMPTY,
            &Empty {
                user_id: input.user_id,
            },
        ));
    }
    Ok(lines)
}
