//! Lambda function `list-notifications`: `GET /v1/notifications`.

use lambda_http::{Error, service_fn};
use notifications::{Lists, handlers::list_notifications};
use shared::{config::Env, http::run_http, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let state = Lists::load(&Env::from_process())
        .await
        .inspect_err(|error| tracing::error!(%error, "cannot start"))?;
    lambda_http::run(service_fn(|req| {
        run_http(&state, req, list_notifications::handle)
    }))
    .await
}
