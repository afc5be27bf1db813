//! Lambda function `await-payment`: the checkout saga's AwaitPayment task.

use lambda_http::Error;
use orders::{Orders, handlers::await_payment};
use shared::{config::Env, task::run_task, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let state = Orders::load(&Env::from_process())
        .await
        .inspect_err(|error| tracing::error!(%error, "cannot start"))?;
    run_task(&state, "await-payment", await_payment::handle).await
}
