//! Lambda function `cancel-order`: `POST /v1/orders/{orderId}/cancel`.

use lambda_http::{Error, service_fn};
use orders::{Checkout, handlers::cancel_order};
use shared::{config::Env, http::run_http, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let state = Checkout::load(&Env::from_process())
        .await
        .inspect_err(|error| tracing::error!(%error, "cannot start"))?;
    lambda_http::run(service_fn(|req| {
        run_http(&state, req, cancel_order::handle)
    }))
    .await
}
