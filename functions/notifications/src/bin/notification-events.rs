//! Lambda function `notification-events`: emails (and SMS) for order and payment events, from
//! its queue.

use lambda_http::Error;
use notifications::{Notifier, handlers::order_events};
use shared::{config::Env, consumer, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let state = Notifier::load(&Env::from_process())
        .await
        .inspect_err(|error| tracing::error!(%error, "cannot start"))?;
    consumer::run_sqs(&state, "notification-events", order_events::apply).await
}
