//! Lambda function `identity-publisher`: publishes the identity table's outbox events
//! (`UserRegistered`, `UserChanged` and the account emails' events; its stream) to the
//! domain-events topic.

use lambda_http::Error;
use shared::{outbox, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    outbox::run_publisher().await
}
