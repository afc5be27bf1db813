//! Lambda function `inventory-product-events`: applies the catalog's `ProductChanged` events from
//! its queue.

use inventory::{Inventory, handlers::product_events};
use lambda_http::Error;
use shared::{config::Env, consumer, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let state = Inventory::load(&Env::from_process())
        .await
        .inspect_err(|error| tracing::error!(%error, "cannot start"))?;
    consumer::run_sqs(&state, "inventory-product-events", product_events::apply).await
}
