//! Lambda function `cancel-or-refund-payment`: the checkout saga's task `CancelOrRefundPayment`.

use lambda_http::Error;
use payments::{Payments, handlers::cancel_or_refund_payment};
use shared::{config::Env, task::run_task, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let state = Payments::load(&Env::from_process())
        .await
        .inspect_err(|error| tracing::error!(%error, "cannot start"))?;
    run_task(
        &state,
        "cancel-or-refund-payment",
        cancel_or_refund_payment::handle,
    )
    .await
}
