//! Lambda function `payment-simulator`: the payment provider simulator, `ANY /simulator/{proxy+}`.

use lambda_http::{Error, service_fn};
use payments::simulator::{self, Simulator};
use shared::{config::Env, http::run_http, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let state = Simulator::load(&Env::from_process())
        .await
        .inspect_err(|error| tracing::error!(%error, "cannot start"))?;
    lambda_http::run(service_fn(|req| run_http(&state, req, simulator::handle))).await
}
