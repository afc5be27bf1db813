//! Lambda function `set-stock`: `PUT /v1/inventory/{productId}`.

use inventory::{Inventory, handlers::set_stock};
use lambda_http::{Error, service_fn};
use shared::{config::Env, http::run_http, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let state = Inventory::load(&Env::from_process())
        .await
        .inspect_err(|error| tracing::error!(%error, "cannot start"))?;
    lambda_http::run(service_fn(|req| run_http(&state, req, set_stock::handle))).await
}
