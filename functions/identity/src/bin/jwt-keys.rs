//! Lambda function `jwt-keys`: the CloudFormation custom resource that makes and rotates the token
//! signing keys.

use identity::{
    aws_config,
    handlers::{
        custom_resource,
        jwt_keys::{self, KeyMaker},
    },
};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;
use shared::telemetry;

#[tokio::main]
async fn main() -> Result<(), Error> {
    telemetry::init();
    let config = aws_config().await;
    let state = KeyMaker {
        secrets: aws_sdk_secretsmanager::Client::new(&config),
        http: custom_resource::https_client()?,
    };
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| async {
        jwt_keys::handle(&state, event.payload)
            .await
            .map_err(Error::from)
    }))
    .await
}
