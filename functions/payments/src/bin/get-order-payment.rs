//! Lambda function `get-order-payment`: `GET /v1/payments/order/{orderId}`.

use lambda_http::{Error, service_fn};
use payments::{Records, handlers::get_order_payment};
use shared::{config::Env, http::run_http, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let state = Records::load(&Env::from_process())
        .await
        .inspect_err(|error| tracing::error!(%error, "cannot start"))?;
    lambda_http::run(service_fn(|req| {
        run_http(&state, req, get_order_payment::handle)
    }))
    .await
}
