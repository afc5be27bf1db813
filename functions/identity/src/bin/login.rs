//! Lambda function `login`: `POST /v1/auth/login`.

use identity::{Issuing, handlers::login};
use lambda_http::{Error, service_fn};
use shared::{config::Env, http::run_http, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let issuing = Issuing::from_env(&Env::from_process())
        .await
        .inspect_err(|error| tracing::error!(%error, "cannot start"))?;
    lambda_http::run(service_fn(|req| run_http(&issuing, req, login::handle))).await
}
