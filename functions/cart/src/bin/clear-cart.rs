//! Lambda function `clear-cart`: `DELETE /v1/cart`.

use cart::{Carts, handlers::clear_cart};
use lambda_http::{Error, service_fn};
use shared::{config::Env, http::run_http, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let state = Carts::load(&Env::from_process())
        .await
        .inspect_err(|error| tracing::error!(%error, "cannot start"))?;
    lambda_http::run(service_fn(|req| run_http(&state, req, clear_cart::handle))).await
}
