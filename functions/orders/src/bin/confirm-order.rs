//! Lambda function `confirm-order`: the checkout saga's ConfirmOrder task.

use lambda_http::Error;
use orders::{Orders, handlers::confirm_order};
use shared::{config::Env, task::run_task, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let state = Orders::load(&Env::from_process())
        .await
        .inspect_err(|error| tracing::error!(%error, "cannot start"))?;
    run_task(&state, "confirm-order", confirm_order::handle).await
}
