//! Lambda function `snapshot-cart`: the checkout saga's SnapshotCart task.

use cart::{Carts, handlers::snapshot_cart};
use lambda_http::Error;
use shared::{config::Env, task::run_task, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let state = Carts::load(&Env::from_process())
        .await
        .inspect_err(|error| tracing::error!(%error, "cannot start"))?;
    run_task(&state, "snapshot-cart", snapshot_cart::handle).await
}
