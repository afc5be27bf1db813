//! Lambda function `update-order-status`: `PUT /v1/orders/{orderId}/status`.

use lambda_http::{Error, service_fn};
use orders::{Orders, handlers::update_order_status};
use shared::{config::Env, http::run_http, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let state = Orders::load(&Env::from_process())
        .await
        .inspect_err(|error| tracing::error!(%error, "cannot start"))?;
    lambda_http::run(service_fn(|req| {
        run_http(&state, req, update_order_status::handle)
    }))
    .await
}
