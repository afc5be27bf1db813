//! Lambda function `request-password-reset`: `POST /v1/auth/password-reset`.

use identity::handlers::request_password_reset::{self, ResetRequests};
use lambda_http::{Error, service_fn};
use shared::{config::Env, http::run_http, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let requests = ResetRequests::from_env(&Env::from_process())
        .await
        .inspect_err(|error| tracing::error!(%error, "cannot start"))?;
    lambda_http::run(service_fn(|req| {
        run_http(&requests, req, request_password_reset::handle)
    }))
    .await
}
