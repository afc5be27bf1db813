//! Lambda function `price-order`: the checkout saga's PriceOrder task.

use catalog::{Catalog, handlers::price_order};
use lambda_http::Error;
use shared::{config::Env, task::run_task, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let state = Catalog::load(&Env::from_process())
        .await
        .inspect_err(|error| tracing::error!(%error, "cannot start"))?;
    run_task(&state, "price-order", price_order::handle).await
}
