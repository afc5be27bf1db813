//! Lambda function `inventory-order-events`: sells, or gives back, an order's reserved units as
//! the orders' and payments' events say, from its queue.

use inventory::{Inventory, handlers::order_events};
use lambda_http::Error;
use shared::{config::Env, consumer, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let state = Inventory::load(&Env::from_process())
        .await
        .inspect_err(|error| tracing::error!(%error, "cannot start"))?;
    consumer::run_sqs(&state, "inventory-order-events", order_events::apply).await
}
