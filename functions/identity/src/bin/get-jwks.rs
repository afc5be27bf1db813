//! Lambda function `get-jwks`: `GET /.well-known/jwks.json`.

use identity::{
    aws_config,
    handlers::get_jwks::{self, KeySet},
    read_secret,
};
use lambda_http::{Error, service_fn};
use shared::{config::Env, http::run_http, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let env = Env::from_process();
    let text = read_secret(&aws_config().await, &env.required("JWKS_SECRET_ARN")?)
        .await
        .inspect_err(|error| tracing::error!(%error, "cannot start"))?;
    let keys = KeySet::new(&text).inspect_err(|error| tracing::error!(%error, "cannot start"))?;
    lambda_http::run(service_fn(|req| run_http(&keys, req, get_jwks::handle))).await
}
