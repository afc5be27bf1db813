//! Lambda function `wait-for-payment`: the checkout saga's task `WaitForPayment`.

use lambda_http::Error;
use payments::{Payments, handlers::wait_for_payment};
use shared::{config::Env, task::run_task, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let state = Payments::load(&Env::from_process())
        .await
        .inspect_err(|error| tracing::error!(%error, "cannot start"))?;
    run_task(&state, "wait-for-payment", wait_for_payment::handle).await
}
