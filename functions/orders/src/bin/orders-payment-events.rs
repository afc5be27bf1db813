//! Lambda function `orders-payment-events`: records admins' refunds on their orders, from the
//! `PaymentRefunded` events of its queue.

use lambda_http::Error;
use orders::{Orders, handlers::payment_events};
use shared::{config::Env, consumer, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let state = Orders::load(&Env::from_process())
        .await
        .inspect_err(|error| tracing::error!(%error, "cannot start"))?;
    consumer::run_sqs(&state, "orders-payment-events", payment_events::apply).await
}
