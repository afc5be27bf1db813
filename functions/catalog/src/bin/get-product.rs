//! Lambda function `get-product`: `GET /v1/products/{productId}`.

use catalog::{Catalog, handlers::get_product};
use lambda_http::{Error, service_fn};
use shared::{config::Env, http::run_http, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let state = Catalog::load(&Env::from_process())
        .await
        .inspect_err(|error| tracing::error!(%error, "cannot start"))?;
    lambda_http::run(service_fn(|req| run_http(&state, req, get_product::handle))).await
}
