//! Lambda function `notification-user-events`: keeps the contact projection from the identity
//! service's `UserRegistered` and `UserChanged`, from its queue.

use lambda_http::Error;
use notifications::{Contacts, handlers::user_events};
use shared::{config::Env, consumer, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let state = Contacts::load(&Env::from_process())
        .await
        .inspect_err(|error| tracing::error!(%error, "cannot start"))?;
    consumer::run_sqs(&state, "notification-user-events", user_events::apply).await
}
