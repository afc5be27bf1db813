//! Lambda function `confirm-password-reset`: `POST /v1/auth/password-reset/confirm`.

use identity::handlers::confirm_password_reset::{self, Resetter};
use lambda_http::{Error, service_fn};
use shared::{config::Env, http::run_http, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let resetter = Resetter::from_env(&Env::from_process())
        .await
        .inspect_err(|error| tracing::error!(%error, "cannot start"))?;
    lambda_http::run(service_fn(|req| {
        run_http(&resetter, req, confirm_password_reset::handle)
    }))
    .await
}
