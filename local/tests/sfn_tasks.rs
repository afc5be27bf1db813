//! The task integrations of the local Step Functions service, driven through `aws-sdk-sfn`
//! against a stack running `tests/fixtures/sfn.yaml`: Lambda tasks with Retry and Catch
//! on the fixture functions, the Step Functions names of crashes and timeouts,
//! `.waitForTaskToken` completed by SendTaskSuccess / SendTaskFailure or timed out by a
//! missing heartbeat, the SNS, SQS and DynamoDB integrations landing in the emulator, and a
//! JSONata machine with variables calling the fixture functions.

// Helpers outside the test functions fail the test on a setup error too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use aws_sdk_sfn::error::ProvideErrorMetadata as _;
use aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput;
use aws_sdk_sfn::types::{ExecutionStatus, HistoryEvent, HistoryEventType};
use local::testing::{self, TestStack};
use serde_json::{Value, json};

const FIXTURES: &str = "local/tests/fixtures/sfn.yaml";

struct Fixture {
    stack: TestStack,
    sfn: aws_sdk_sfn::Client,
    sqs: aws_sdk_sqs::Client,
}

async fn fixture() -> Fixture {
    let stack = testing::spawn_template(FIXTURES).await.unwrap();
    let config = aws_sdk_sfn::config::Builder::from(stack.stack().sdk_config())
        .endpoint_url(stack.stack().sfn_endpoint())
        .build();
    let sqs = aws_sdk_sqs::Client::new(stack.stack().sdk_config());
    Fixture {
        sfn: aws_sdk_sfn::Client::from_conf(config),
        sqs,
        stack,
    }
}

impl Fixture {
    fn machine(&self, logical_id: &str) -> String {
        let machine = self.stack.stack().model().state_machine(logical_id);
        machine
            .unwrap_or_else(|| panic!("no state machine {logical_id}"))
            .arn
            .clone()
    }

    fn queue_url(&self, logical_id: &str) -> String {
        let queue = self.stack.stack().model().queue(logical_id);
        queue
            .unwrap_or_else(|| panic!("no queue {logical_id}"))
            .url
            .clone()
    }

    async fn start(&self, machine: &str, input: Value) -> String {
        self.sfn
            .start_execution()
            .state_machine_arn(self.machine(machine))
            .input(input.to_string())
            .send()
            .await
            .unwrap()
            .execution_arn
    }

    /// Polls until the execution has left RUNNING.
    async fn finished(&self, arn: &str) -> DescribeExecutionOutput {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let described = self
                .sfn
                .describe_execution()
                .execution_arn(arn)
                .send()
                .await
                .unwrap();
            if described.status != ExecutionStatus::Running {
                return described;
            }
            assert!(Instant::now() < deadline, "{arn} still running");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn run(&self, machine: &str, input: Value) -> (String, DescribeExecutionOutput) {
        let arn = self.start(machine, input).await;
        let described = self.finished(&arn).await;
        (arn, described)
    }

    async fn history(&self, arn: &str) -> Vec<HistoryEvent> {
        self.sfn
            .get_execution_history()
            .execution_arn(arn)
            .max_results(1000)
            .send()
            .await
            .unwrap()
            .events
    }

    /// The task token of the execution's first callback task, read from the parameters of
    /// its `TaskScheduled` event.
    async fn token(&self, arn: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let scheduled = self.history(arn).await.into_iter().find_map(|e| {
                e.task_scheduled_event_details
                    .map(|details| details.parameters)
            });
            if let Some(parameters) = scheduled {
                let parameters: Value = serde_json::from_str(&parameters).unwrap();
                return parameters["Payload"]["token"]
                    .as_str()
                    .unwrap_or_else(|| panic!("no token in {parameters}"))
                    .to_owned();
            }
            assert!(Instant::now() < deadline, "{arn} never scheduled its task");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SendTaskSuccess, retried while the task is still being handed its token (the
    /// history shows the token a moment before the task waits on it).
    async fn send_success(&self, token: &str, output: Value) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let sent = self
                .sfn
                .send_task_success()
                .task_token(token)
                .output(output.to_string())
                .send()
                .await;
            match sent {
                Ok(_) => return,
                Err(e) if e.code() == Some("InvalidToken") && Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("SendTaskSuccess failed: {e:?}"),
            }
        }
    }

    async fn receive(&self, queue: &str) -> aws_sdk_sqs::types::Message {
        let url = self.queue_url(queue);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let received = self
                .sqs
                .receive_message()
                .queue_url(&url)
                .wait_time_seconds(1)
                .message_attribute_names("All")
                .send()
                .await
                .unwrap();
            if let Some(message) = received.messages.unwrap_or_default().into_iter().next() {
                return message;
            }
            assert!(Instant::now() < deadline, "nothing arrived in {queue}");
        }
    }
}

fn output(described: &DescribeExecutionOutput) -> Value {
    assert_eq!(
        described.status,
        ExecutionStatus::Succeeded,
        "{:?}: {:?}",
        described.error,
        described.cause
    );
    serde_json::from_str(described.output.as_deref().unwrap_or("null")).unwrap()
}

fn failure(described: &DescribeExecutionOutput) -> (String, String) {
    assert_eq!(
        described.status,
        ExecutionStatus::Failed,
        "output: {:?}",
        described.output
    );
    (
        described.error.clone().unwrap_or_default(),
        described.cause.clone().unwrap_or_default(),
    )
}

#[tokio::test]
async fn retry_carries_a_lambda_task_through_transient_failures() {
    let fx = fixture().await;
    let (arn, described) = fx.run("RetryMachine", json!({"failUntilAttempt": 2})).await;
    assert_eq!(output(&described), json!({"attempt": 2}));

    let attempts: Vec<(HistoryEventType, Option<String>)> = fx
        .history(&arn)
        .await
        .into_iter()
        .filter(|e| {
            matches!(
                e.r#type,
                HistoryEventType::LambdaFunctionFailed | HistoryEventType::LambdaFunctionSucceeded
            )
        })
        .map(|e| {
            let error = e.lambda_function_failed_event_details.and_then(|d| d.error);
            (e.r#type, error)
        })
        .collect();
    let transient = Some("Fixture.Transient".to_owned());
    assert_eq!(
        attempts,
        vec![
            (HistoryEventType::LambdaFunctionFailed, transient.clone()),
            (HistoryEventType::LambdaFunctionFailed, transient),
            (HistoryEventType::LambdaFunctionSucceeded, None),
        ]
    );
    fx.stack.shutdown().await;
}

#[tokio::test]
async fn catch_routes_a_typed_function_error_to_compensation() {
    let fx = fixture().await;

    let (arn, described) = fx
        .run(
            "SagaMachine",
            json!({"order": "o-1", "reserveFails": "OutOfStock"}),
        )
        .await;
    let out = output(&described);
    assert_eq!(out["status"], "FAILED");
    assert_eq!(out["reason"], "OutOfStock");
    // The cause is the function's error payload, as the Invoke API returns it.
    assert_eq!(out["cause"]["errorType"], "OutOfStock");
    // lambda:invoke nests the function's result in the Invoke API's answer.
    assert_eq!(
        out["priced"],
        json!({"order": "o-1", "statusCode": 200, "executedVersion": "$LATEST"})
    );
    let entered: Vec<String> = fx
        .history(&arn)
        .await
        .into_iter()
        .filter_map(|e| e.state_entered_event_details.map(|d| d.name))
        .collect();
    assert_eq!(
        entered,
        ["PriceOrder", "ReserveStock", "ReleaseOrder", "Failed"]
    );

    let (_, described) = fx
        .run("SagaMachine", json!({"order": "o-2", "reserveFails": null}))
        .await;
    assert_eq!(output(&described)["status"], "CONFIRMED");
    fx.stack.shutdown().await;
}

#[tokio::test]
async fn crashes_timeouts_and_missing_functions_fail_with_their_step_functions_names() {
    let fx = fixture().await;

    let (_, crashed) = fx.run("InvokeMachine", json!({"crash": true})).await;
    let (error, cause) = failure(&crashed);
    assert_eq!(error, "Lambda.Unknown");
    assert!(cause.contains("Runtime.ExitError"), "{cause}");

    let (arn, slow) = fx
        .run("InvokeMachine", json!({"slow": {"sleepMs": 3000}}))
        .await;
    // A function's own timeout is an unhandled Lambda error, not the state's States.Timeout.
    let (error, cause) = failure(&slow);
    assert_eq!(error, "Lambda.Unknown");
    assert!(
        cause.contains("Task timed out after 1.00 seconds"),
        "{cause}"
    );
    let types: Vec<HistoryEventType> = fx
        .history(&arn)
        .await
        .into_iter()
        .map(|e| e.r#type)
        .collect();
    assert!(
        types.contains(&HistoryEventType::LambdaFunctionFailed),
        "{types:?}"
    );
    assert!(
        !types.contains(&HistoryEventType::LambdaFunctionTimedOut),
        "{types:?}"
    );

    // So `States.TaskFailed` catches it, as on AWS.
    let (_, caught) = fx
        .run("InvokeMachine", json!({"slowCaught": {"sleepMs": 3000}}))
        .await;
    assert_eq!(caught.status, ExecutionStatus::Succeeded);
    let caught = output(&caught);
    assert_eq!(caught["error"]["Error"], "Lambda.Unknown", "{caught}");
    assert!(
        caught["error"]["Cause"]
            .as_str()
            .unwrap_or_default()
            .contains("Task timed out"),
        "{caught}"
    );

    let (_, missing) = fx.run("InvokeMachine", json!({"missing": true})).await;
    assert_eq!(failure(&missing).0, "Lambda.ResourceNotFoundException");

    // The crashed instance is replaced: the function still answers.
    let (_, echoed) = fx.run("InvokeMachine", json!({"hello": "again"})).await;
    assert_eq!(output(&echoed)["event"], json!({"hello": "again"}));
    fx.stack.shutdown().await;
}

#[tokio::test]
async fn a_jsonata_machine_with_variables_runs_lambda_tasks() {
    let fx = fixture().await;
    let lines = |units: [u64; 2]| {
        json!([
            {"sku": "a", "qty": 2, "unit": units[0]},
            {"sku": "b", "qty": 1, "unit": units[1]}
        ])
    };

    // A small order: each line priced by the function in the Map, the total in a variable.
    let (_, small) = fx
        .run(
            "JsonataMachine",
            json!({"orderId": "o-7", "lines": lines([10, 5])}),
        )
        .await;
    assert_eq!(
        output(&small),
        json!({
            "order": "o-7",
            "total": 25,
            "currency": "EUR",
            "band": "small",
            "input": [
                {"sku": "a", "amount": 20, "order": "o-7"},
                {"sku": "b", "amount": 5, "order": "o-7"}
            ]
        })
    );

    // A large one takes the Choice rule, whose Assign wins, and the crash is caught.
    let (_, large) = fx
        .run(
            "JsonataMachine",
            json!({"orderId": "o-8", "lines": lines([70, 10])}),
        )
        .await;
    let large = output(&large);
    assert_eq!(large["band"], "large", "{large}");
    assert_eq!(large["total"], 150);
    assert_eq!(large["input"]["caught"], "Lambda.Unknown", "{large}");
    assert_eq!(large["input"]["lines"][1]["amount"], 10);
    fx.stack.shutdown().await;
}

#[tokio::test]
async fn wait_for_task_token_resumes_on_send_task_success_and_send_task_failure() {
    let fx = fixture().await;

    // A function is handed the token; the test plays the worker that completes it.
    let parked = fx
        .start(
            "CallbackMachine",
            json!({"via": "function", "order": "o-1"}),
        )
        .await;
    let token = fx.token(&parked).await;
    fx.send_success(&token, json!({"paid": true})).await;
    let described = fx.finished(&parked).await;
    assert_eq!(
        output(&described),
        json!({"via": "function", "order": "o-1", "confirmation": {"paid": true}})
    );
    let again = fx
        .sfn
        .send_task_success()
        .task_token(&token)
        .output("{}")
        .send()
        .await
        .unwrap_err();
    assert_eq!(again.code(), Some("TaskTimedOut"));

    // A queue is handed the token; the failure is caught by its error name.
    let parked = fx
        .start("CallbackMachine", json!({"via": "queue", "order": "o-2"}))
        .await;
    let message = fx.receive("Callbacks").await;
    let body: Value = serde_json::from_str(message.body.as_deref().unwrap()).unwrap();
    assert_eq!(body["order"], "o-2");
    fx.sfn
        .send_task_failure()
        .task_token(body["token"].as_str().unwrap())
        .error("Payment.Declined")
        .cause("card declined")
        .send()
        .await
        .unwrap();
    let described = fx.finished(&parked).await;
    assert_eq!(
        output(&described),
        json!({"declined": "Payment.Declined", "cause": "card declined"})
    );

    let unknown = fx
        .sfn
        .send_task_success()
        .task_token("not-a-token-of-this-stack")
        .output("{}")
        .send()
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Some("InvalidToken"));
    fx.stack.shutdown().await;
}

#[tokio::test]
async fn a_callback_task_without_heartbeats_times_out() {
    let fx = fixture().await;
    let arn = fx
        .start(
            "CallbackMachine",
            json!({"via": "heartbeat", "order": "o-3"}),
        )
        .await;
    let token = fx.token(&arn).await;
    let described = fx.finished(&arn).await;
    assert_eq!(failure(&described).0, "States.HeartbeatTimeout");
    let types: Vec<HistoryEventType> = fx
        .history(&arn)
        .await
        .into_iter()
        .map(|e| e.r#type)
        .collect();
    assert!(types.contains(&HistoryEventType::TaskTimedOut), "{types:?}");

    // The token expired with the task.
    let late = fx
        .sfn
        .send_task_heartbeat()
        .task_token(&token)
        .send()
        .await
        .unwrap_err();
    assert_eq!(late.code(), Some("TaskTimedOut"));
    fx.stack.shutdown().await;
}

#[tokio::test]
async fn sns_sqs_and_dynamodb_integrations_reach_the_emulator() {
    let fx = fixture().await;
    let (_, described) = fx.run("ServicesMachine", json!({"order": "o-9"})).await;
    let out = output(&described);

    // sns:publish reached the topic, and its subscription delivered it to a queue.
    assert!(out["published"]["messageId"].is_string(), "{out}");
    let notification = fx.receive("Notifications").await;
    let published: Value = serde_json::from_str(notification.body.as_deref().unwrap()).unwrap();
    assert_eq!(published, json!({"type": "OrderPlaced", "order": "o-9"}));

    // sqs:sendMessage sent the object as JSON text, with its attributes.
    let work = fx.receive("Work").await;
    assert_eq!(work.body.as_deref(), Some(r#"{"order":"o-9"}"#));
    assert_eq!(
        work.message_id.as_deref(),
        out["sent"]["messageId"].as_str()
    );
    assert_eq!(work.md5_of_body.as_deref(), out["sent"]["md5"].as_str());
    let kind = work
        .message_attributes
        .unwrap_or_default()
        .get("kind")
        .and_then(|a| a.string_value.clone());
    assert_eq!(kind.as_deref(), Some("work"));

    // putItem, getItem, updateItem, a conditional putItem caught by its DynamoDB name,
    // deleteItem, and a getItem that finds nothing.
    assert_eq!(out["stored"], json!({"status": "PENDING"}));
    assert_eq!(out["updated"], json!({"status": "CONFIRMED"}));
    assert_eq!(
        out["conflict"]["Error"],
        "DynamoDB.ConditionalCheckFailedException"
    );
    assert_eq!(out["deleted"], json!({"status": "CONFIRMED"}));
    assert!(out["afterDelete"].get("Item").is_none(), "{out}");
    fx.stack.shutdown().await;
}
