//! Lambda function `update-order-tracking`: `PUT /v1/orders/{orderId}/tracking`.

use lambda_http::{Error, service_fn};
use orders::{Orders, handlers::update_order_tracking};
use shared::{config::Env, http::run_http, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let state = Orders::load(&Env::from_process())
        .await
        .inspect_err(|error| tracing::error!(%error, "cannot start"))?;
    lambda_http::run(service_fn(|req| {
        run_http(&state, req, update_order_tracking::handle)
    }))
    .await
}
