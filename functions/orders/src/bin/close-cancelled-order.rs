//! Lambda function `close-cancelled-order`: the last step of an order's cancellation.

use lambda_http::Error;
use orders::{Orders, handlers::close_cancelled_order};
use shared::{config::Env, task::run_task, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let state = Orders::load(&Env::from_process())
        .await
        .inspect_err(|error| tracing::error!(%error, "cannot start"))?;
    run_task(
        &state,
        "close-cancelled-order",
        close_cancelled_order::handle,
    )
    .await
}
