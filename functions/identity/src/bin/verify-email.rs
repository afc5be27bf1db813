//! Lambda function `verify-email`: `POST /v1/auth/verify-email`.

use identity::{aws_config, handlers::verify_email, store_from_env};
use lambda_http::{Error, service_fn};
use shared::{config::Env, http::run_http, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let store = store_from_env(&Env::from_process(), &aws_config().await)
        .inspect_err(|error| tracing::error!(%error, "invalid configuration"))?;
    lambda_http::run(service_fn(|req| {
        run_http(&store, req, verify_email::handle)
    }))
    .await
}
