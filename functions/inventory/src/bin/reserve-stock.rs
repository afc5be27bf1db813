//! Lambda function `reserve-stock`: the checkout saga's ReserveStock task.

use inventory::{Inventory, handlers::reserve_stock};
use lambda_http::Error;
use shared::{config::Env, task::run_task, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let state = Inventory::load(&Env::from_process())
        .await
        .inspect_err(|error| tracing::error!(%error, "cannot start"))?;
    run_task(&state, "reserve-stock", reserve_stock::handle).await
}
