//! Lambda function `bootstrap-admin`: the CloudFormation custom resource that creates the first admin.

use identity::{
    aws_config,
    handlers::{
        bootstrap_admin::{self, Bootstrap},
        custom_resource,
    },
    hasher_from_env, store_from_env,
};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;
use shared::{config::Env, telemetry};

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let env = Env::from_process();
    let config = aws_config().await;
    let state = Bootstrap {
        store: store_from_env(&env, &config)?,
        hasher: hasher_from_env(&env)?,
        secrets: aws_sdk_secretsmanager::Client::new(&config),
        http: custom_resource::https_client()?,
    };
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async {
        bootstrap_admin::handle(&state, event.payload)
            .await
            .map_err(Error::from)
    }))
    .await
}
