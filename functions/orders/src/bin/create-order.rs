//! Lambda function `create-order`: `POST /v1/orders`.

use lambda_http::{Error, service_fn};
use orders::{Checkout, handlers::create_order};
use shared::{config::Env, http::run_http, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let state = Checkout::load(&Env::from_process())
        .await
        .inspect_err(|error| tracing::error!(%error, "cannot start"))?;
    lambda_http::run(service_fn(|req| {
        run_http(&state, req, create_order::handle)
    }))
    .await
}
