//! Lambda function `delete-category`: `DELETE /v1/categories/{categoryId}`.

use catalog::{Catalog, handlers::delete_category};
use lambda_http::{Error, service_fn};
use shared::{config::Env, http::run_http, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let state = Catalog::load(&Env::from_process())
        .await
        .inspect_err(|error| tracing::error!(%error, "cannot start"))?;
    lambda_http::run(service_fn(|req| {
        run_http(&state, req, delete_category::handle)
    }))
    .await
}
