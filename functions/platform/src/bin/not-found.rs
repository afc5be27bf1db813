//! Lambda function `not-found`: the API's `$default` route, a problem+json 404 for unknown paths.

use lambda_http::{Error, service_fn};
use platform::{Config, handlers::not_found};
use shared::{config::Env, http::run_http, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let config = Config::from_env(&Env::from_process())
        .inspect_err(|error| tracing::error!(%error, "invalid configuration"))?;
    lambda_http::run(service_fn(|req| run_http(&config, req, not_found::handle))).await
}
