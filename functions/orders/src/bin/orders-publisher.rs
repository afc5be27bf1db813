//! Lambda function `orders-publisher`: publishes the orders table's outbox events (its stream)
//! to the domain-events topic.

use lambda_http::Error;
use shared::{outbox, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    outbox::run_publisher().await
}
