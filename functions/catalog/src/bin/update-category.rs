//! Lambda function `update-category`: `PATCH /v1/categories/{categoryId}`.

use catalog::{Catalog, handlers::update_category};
use lambda_http::{Error, service_fn};
use shared::{config::Env, http::run_http, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let state = Catalog::load(&Env::from_process())
        .await
        .inspect_err(|error| tracing::error!(%error, "cannot start"))?;
    lambda_http::run(service_fn(|req| {
        run_http(&state, req, update_category::handle)
    }))
    .await
}
