//! Custom resources backed by the template's functions, with `fixture-custom-resource` and
//! `tests/fixtures/custom-resources.yaml`: created once at start, in dependency order, with
//! CloudFormation's request; their answers fill `Ref`, `Fn::GetAtt` and the outputs; a
//! `FAILED` answer, a function error or no answer at all fails the start.

// Helpers outside the test functions fail the test on a setup error too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bytes::Bytes;
use local::paths::repo_root;
use local::testing::{self, TestStack};
use local_lambda::{InvokeRequest, Outcome};
use serde_json::{Value, json};

const TEMPLATE: &str = "local/tests/fixtures/custom-resources.yaml";

async fn start(parameters: &[(&str, &str)]) -> anyhow::Result<TestStack> {
    let parameters: Vec<(String, String)> = parameters
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    testing::spawn_with(move |options| {
        options.template = repo_root().join(TEMPLATE);
        options.parameter_overrides.extend(parameters);
    })
    .await
}

/// Why the stack did not start, with the whole cause chain.
async fn start_error(parameters: &[(&str, &str)]) -> String {
    match start(parameters).await {
        Ok(stack) => {
            stack.shutdown().await;
            panic!("the stack started with {parameters:?}");
        }
        Err(error) => format!("{error:#}"),
    }
}

/// The requests the custom resource function has received, oldest first.
async fn requests_seen(stack: &TestStack) -> Vec<Value> {
    let name = stack
        .stack()
        .function("CustomFunction")
        .unwrap()
        .name
        .clone();
    let invocation = stack
        .stack()
        .lambda()
        .invoke(
            &name,
            InvokeRequest::new(Bytes::from(json!({"report": true}).to_string())),
        )
        .await
        .unwrap();
    let body: Value = match &invocation.outcome {
        Outcome::Success(body) => serde_json::from_slice(body).unwrap(),
        Outcome::Error(error) => panic!("the report failed: {error:?}"),
    };
    body["requests"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn custom_resources_are_created_once_at_start_with_cloudformations_request() {
    let stack = start(&[]).await.unwrap();
    let model = stack.stack().model().clone();
    let function_arn = stack
        .stack()
        .function("CustomFunction")
        .unwrap()
        .arn
        .clone();
    let table_arn = model.tables[0].arn.clone();

    let requests = requests_seen(&stack).await;
    let ids: Vec<&str> = requests
        .iter()
        .map(|r| r["LogicalResourceId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec!["First", "Second", "Third"], "{requests:#?}");

    let first = &requests[0];
    let request_id = first["RequestId"].as_str().unwrap();
    assert_eq!(first["RequestType"], "Create");
    assert_eq!(first["ResourceType"], "Custom::Fixture");
    assert_eq!(first["ServiceToken"], function_arn.as_str());
    assert_eq!(first["StackId"], model.stack_id().as_str());
    let url = first["ResponseURL"].as_str().unwrap();
    assert!(
        url.starts_with("http://127.0.0.1:") && url.ends_with(&format!("/First/{request_id}")),
        "{url}"
    );
    // Resolved, with every scalar as a string, as CloudFormation sends them.
    assert_eq!(
        first["ResourceProperties"],
        json!({
            "ServiceToken": function_arn,
            "PhysicalId": "test-first",
            "Email": "admin@example.com",
            "Echo": "hello admin@example.com",
            "TableArn": table_arn,
            "Count": "3",
            "Enabled": "true",
            "Tags": [{"Key": "team", "Value": "7"}],
            "Fail": "false",
            "Reason": "first admin could not be created",
            "Error": "false",
            "Silent": "false",
        })
    );

    // The physical id is the resource's Ref and its Data its attributes.
    let second = &requests[1];
    assert_eq!(
        second["ResourceType"],
        "AWS::CloudFormation::CustomResource"
    );
    assert_eq!(
        second["ResourceProperties"]["Echo"],
        "test-first|hello admin@example.com"
    );
    assert_eq!(model.outputs["FirstId"], "test-first");
    assert_eq!(model.outputs["FirstEcho"], "hello admin@example.com");
    assert_eq!(
        model.outputs["SecondEcho"],
        "test-first|hello admin@example.com"
    );
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_custom_resource_whose_condition_is_false_is_not_invoked() {
    let stack = start(&[("WithSkipped", "no")]).await.unwrap();
    assert!(stack.stack().model().custom_resource("Skipped").is_none());
    let requests = requests_seen(&stack).await;
    assert!(
        requests.iter().all(|r| r["LogicalResourceId"] != "Skipped"),
        "{requests:#?}"
    );
    stack.shutdown().await;

    // With its condition true it is created, and answers FAILED as it is told to.
    let error = start_error(&[("WithSkipped", "yes")]).await;
    assert!(
        error.contains("Skipped") && error.contains("a resource whose condition is false"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_response_fails_the_start_with_the_resource_and_its_reason() {
    let error = start_error(&[("FailFirst", "true")]).await;
    assert!(
        error.contains("create custom resource First (Custom::Fixture)")
            && error.contains("FAILED: first admin could not be created"),
        "{error}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_function_error_or_no_response_fails_the_start() {
    let error = start_error(&[("ErrorFirst", "true")]).await;
    assert!(
        error.contains("create custom resource First")
            && error.contains("failed: Fixture.CustomResourceError"),
        "{error}"
    );

    let error = start_error(&[("SilentFirst", "true")]).await;
    assert!(
        error.contains("create custom resource First")
            && error.contains("returned without sending a response to the ResponseURL"),
        "{error}"
    );
}
