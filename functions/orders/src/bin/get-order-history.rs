//! Lambda function `get-order-history`: `GET /v1/orders/{orderId}/history`.

use lambda_http::{Error, service_fn};
use orders::{Orders, handlers::get_order_history};
use shared::{config::Env, http::run_http, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let state = Orders::load(&Env::from_process())
        .await
        .inspect_err(|error| tracing::error!(%error, "cannot start"))?;
    lambda_http::run(service_fn(|req| {
        run_http(&state, req, get_order_history::handle)
    }))
    .await
}
