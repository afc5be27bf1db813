//! Lambda function `health`: `GET /v1/health`.

use lambda_http::{Error, service_fn};
use platform::{Config, handlers::health};
use shared::{config::Env, http::run_http, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let config = Config::from_env(&Env::from_process())
        .inspect_err(|error| tracing::error!(%error, "invalid configuration"))?;
    lambda_http::run(service_fn(|req| run_http(&config, req, health::handle))).await
}
