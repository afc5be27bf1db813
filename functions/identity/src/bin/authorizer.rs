//! Lambda function `authorizer`: the HTTP API's Lambda authorizer for protected routes.

use identity::handlers::authorize::Authorizer;
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;
use shared::{config::Env, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let authorizer = Authorizer::from_env(Env::from_process())
        .await
        .inspect_err(|error| tracing::error!(%error, "cannot start"))?;
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let authorizer = &authorizer;
        async move { Ok::<_, Error>(authorizer.decide(&event.payload, shared::time::now()).await) }
    }))
    .await
}
