//! Lambda function `simulator-webhooks`: the simulator's delayed webhooks (its SQS queue).

use lambda_http::Error;
use lambda_runtime::{LambdaEvent, service_fn};
use payments::simulator::webhooks::{self, WebhookSender};
use shared::{config::Env, consumer::SqsEvent, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let state = WebhookSender::load(&Env::from_process())
        .await
        .inspect_err(|error| tracing::error!(%error, "cannot start"))?;
    let state = &state;
    lambda_runtime::run(service_fn(|event: LambdaEvent<SqsEvent>| async move {
        Ok::<_, std::convert::Infallible>(webhooks::consume(state, event.payload).await)
    }))
    .await
}
