//! Lambda function `authorizer`: the HTTP API's Lambda authorizer for protected routes.

use identity::{aws_config, handlers::authorize, token_service_from_env};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;
use shared::{config::Env, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let tokens = token_service_from_env(&Env::from_process(), &aws_config().await)
        .await
        .inspect_err(|error| tracing::error!(%error, "cannot start"))?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let answer = authorize::authorize(&tokens, &event.payload, shared::time::now());
        async move { Ok::<_, Error>(answer) }
    }))
    .await
}
