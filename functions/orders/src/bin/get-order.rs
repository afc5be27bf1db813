//! Lambda function `get-order`: `GET /v1/orders/{orderId}`.

use lambda_http::{Error, service_fn};
use orders::{Orders, handlers::get_order};
use shared::{config::Env, http::run_http, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let state = Orders::load(&Env::from_process())
        .await
        .inspect_err(|error| tracing::error!(%error, "cannot start"))?;
    lambda_http::run(service_fn(|req| run_http(&state, req, get_order::handle))).await
}
