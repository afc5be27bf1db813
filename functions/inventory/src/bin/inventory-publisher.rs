//! Lambda function `inventory-publisher`: publishes the inventory table's outbox events (its
//! stream) to the domain-events topic.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use shared::{
    config::Env,
    outbox::{Publisher, StreamEvent},
    telemetry,
};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let topic = Env::from_process()
        .required("TOPIC_ARN")
        .inspect_err(|error| tracing::error!(%error, "cannot start"))?;
    let config = inventory::aws_config().await;
    let publisher = Publisher::new(aws_sdk_sns::Client::new(&config), topic);
    let publisher = &publisher;
    lambda_runtime::run(service_fn(|event: LambdaEvent<StreamEvent>| async move {
        Ok::<_, Error>(publisher.publish(&event.payload).await)
    }))
    .await
}
