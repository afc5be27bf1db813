//! Lambda function `change-password`: `POST /v1/users/me/password`.

use identity::handlers::change_password::{self, PasswordChanger};
use lambda_http::{Error, service_fn};
use shared::{config::Env, http::run_http, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let changer = PasswordChanger::from_env(&Env::from_process())
        .await
        .inspect_err(|error| tracing::error!(%error, "cannot start"))?;
    lambda_http::run(service_fn(|req| {
        run_http(&changer, req, change_password::handle)
    }))
    .await
}
