//! Lambda function `flag-order`: the checkout saga's NeedsAttention task.

use lambda_http::Error;
use orders::{Orders, handlers::flag_order};
use shared::{config::Env, task::run_task, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let state = Orders::load(&Env::from_process())
        .await
        .inspect_err(|error| tracing::error!(%error, "cannot start"))?;
    run_task(&state, "flag-order", flag_order::handle).await
}
