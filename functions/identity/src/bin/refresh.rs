//! Lambda function `refresh`: `POST /v1/auth/refresh`.

use identity::handlers::refresh::{self, Refresher};
use lambda_http::{Error, service_fn};
use shared::{config::Env, http::run_http, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let refresher = Refresher::load(&Env::from_process())
        .await
        .inspect_err(|error| tracing::error!(%error, "cannot start"))?;
    lambda_http::run(service_fn(|req| run_http(&refresher, req, refresh::handle))).await
}
