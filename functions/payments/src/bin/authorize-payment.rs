//! Lambda function `authorize-payment`: the checkout saga's task `AuthorizePayment`.

use lambda_http::Error;
use payments::{Payments, handlers::authorize_payment};
use shared::{config::Env, task::run_task, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let state = Payments::load(&Env::from_process())
        .await
        .inspect_err(|error| tracing::error!(%error, "cannot start"))?;
    run_task(&state, "authorize-payment", authorize_payment::handle).await
}
