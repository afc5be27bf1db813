//! The local Step Functions API through `aws-sdk-sfn`, against a stack running
//! `tests/fixtures/sfn-api.yaml`: a STANDARD machine (`test-orders`: Choice, Wait, Pass,
//! Fail) and an EXPRESS one (`test-greet`, from a DefinitionUri).

// Helpers outside the test functions fail the test on a setup error too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use aws_sdk_sfn::config::interceptors::BeforeTransmitInterceptorContextMut;
use aws_sdk_sfn::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_sfn::error::BoxError;
use aws_sdk_sfn::types::{ExecutionStatus, HistoryEventType, SyncExecutionStatus};
use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use local::testing::{self, TestStack};
use local_lambda::{InvokeRequest, Outcome};
use serde_json::{Value, json};

const FIXTURES: &str = "local/tests/fixtures/sfn-api.yaml";

/// The SDK prefixes the host of StartSyncExecution with `sync-` even for a custom endpoint
/// (`sync-127.0.0.1` does not resolve); this puts the endpoint's host back.
#[derive(Debug)]
struct WithoutHostPrefix;

impl Intercept for WithoutHostPrefix {
    fn name(&self) -> &'static str {
        "WithoutHostPrefix"
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let uri = context.request().uri().replacen("://sync-", "://", 1);
        context.request_mut().set_uri(uri)?;
        Ok(())
    }
}

struct Fixture {
    stack: TestStack,
    sfn: aws_sdk_sfn::Client,
    orders: String,
    greet: String,
}

async fn fixture() -> Fixture {
    let stack = testing::spawn_template(FIXTURES).await.unwrap();
    let config = aws_sdk_sfn::config::Builder::from(stack.stack().sdk_config())
        .endpoint_url(stack.stack().sfn_endpoint())
        .interceptor(WithoutHostPrefix)
        .build();
    let machine_arn = |name: &str| {
        stack
            .stack()
            .model()
            .state_machines
            .iter()
            .find(|m| m.name == name)
            .unwrap_or_else(|| panic!("no state machine {name}"))
            .arn
            .clone()
    };
    let orders = machine_arn("test-orders");
    let greet = machine_arn("test-greet");
    Fixture {
        sfn: aws_sdk_sfn::Client::from_conf(config),
        stack,
        orders,
        greet,
    }
}

impl Fixture {
    async fn start(&self, name: &str, input: Value) -> String {
        self.sfn
            .start_execution()
            .state_machine_arn(&self.orders)
            .name(name)
            .input(input.to_string())
            .send()
            .await
            .unwrap()
            .execution_arn
    }

    async fn describe(
        &self,
        arn: &str,
    ) -> aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput {
        self.sfn
            .describe_execution()
            .execution_arn(arn)
            .send()
            .await
            .unwrap()
    }

    /// Polls until the execution has left RUNNING.
    async fn finished(
        &self,
        arn: &str,
    ) -> aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let described = self.describe(arn).await;
            if described.status != ExecutionStatus::Running {
                return described;
            }
            assert!(Instant::now() < deadline, "{arn} still running");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Polls until the execution's history has an event of this type.
    async fn reached(&self, arn: &str, event: HistoryEventType) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !self.history_types(arn, false).await.contains(&event) {
            assert!(Instant::now() < deadline, "{arn} never reached {event:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn history_types(&self, arn: &str, reverse: bool) -> Vec<HistoryEventType> {
        self.sfn
            .get_execution_history()
            .execution_arn(arn)
            .reverse_order(reverse)
            .send()
            .await
            .unwrap()
            .events
            .into_iter()
            .map(|e| e.r#type)
            .collect()
    }

    /// A raw request to the Step Functions endpoint: (status, JSON body).
    async fn raw(
        &self,
        method: &str,
        path: &str,
        target: Option<&str>,
        body: &str,
    ) -> (u16, Value) {
        let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        let mut request = http::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.stack.stack().sfn_endpoint()))
            .header("content-type", "application/x-amz-json-1.0");
        if let Some(target) = target {
            request = request.header("x-amz-target", target);
        }
        let response = client
            .request(
                request
                    .body(Full::new(Bytes::from(body.to_owned())))
                    .unwrap(),
            )
            .await
            .unwrap();
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }
}

fn json_of(text: Option<&str>) -> Value {
    serde_json::from_str(text.unwrap_or("null")).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_execution_runs_to_its_end_and_shows_in_describe_history_and_lists() {
    let f = fixture().await;
    let input = json!({"order": "o-1", "correlationId": "c-1"});
    let arn = f.start("o-1", input.clone()).await;
    assert_eq!(
        arn,
        format!("{}:o-1", f.orders.replace(":stateMachine:", ":execution:"))
    );

    let described = f.finished(&arn).await;
    assert_eq!(described.status, ExecutionStatus::Succeeded);
    assert_eq!(described.name.as_deref(), Some("o-1"));
    assert_eq!(described.state_machine_arn, f.orders);
    assert_eq!(json_of(described.input.as_deref()), input);
    assert_eq!(
        json_of(described.output.as_deref()),
        json!({"order": "o-1", "status": "CONFIRMED"})
    );
    assert!(described.stop_date.is_some());

    use HistoryEventType as T;
    let types = f.history_types(&arn, false).await;
    assert_eq!(
        types,
        [
            T::ExecutionStarted,
            T::ChoiceStateEntered,
            T::ChoiceStateExited,
            T::PassStateEntered,
            T::PassStateExited,
            T::ExecutionSucceeded
        ]
    );
    let mut reversed = f.history_types(&arn, true).await;
    reversed.reverse();
    assert_eq!(reversed, types);

    // Pages of two events, followed by their tokens, give the whole history once.
    let mut ids = Vec::new();
    let mut token = None;
    loop {
        let page = f
            .sfn
            .get_execution_history()
            .execution_arn(&arn)
            .max_results(2)
            .set_next_token(token)
            .send()
            .await
            .unwrap();
        assert!(page.events.len() <= 2);
        ids.extend(page.events.iter().map(|e| e.id));
        token = page.next_token;
        if token.is_none() {
            break;
        }
    }
    assert_eq!(ids, [1, 2, 3, 4, 5, 6]);

    let rejected = f.start("o-2", json!({"order": "o-2", "fail": true})).await;
    let described = f.finished(&rejected).await;
    assert_eq!(described.status, ExecutionStatus::Failed);
    assert_eq!(described.error.as_deref(), Some("OrderRejected"));
    assert_eq!(described.cause.as_deref(), Some("the order was rejected"));
    assert_eq!(
        f.history_types(&rejected, true).await.first(),
        Some(&T::ExecutionFailed)
    );

    let listed = f
        .sfn
        .list_executions()
        .state_machine_arn(&f.orders)
        .send()
        .await
        .unwrap()
        .executions;
    let names: Vec<&str> = listed.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["o-2", "o-1"], "newest first");
    let succeeded = f
        .sfn
        .list_executions()
        .state_machine_arn(&f.orders)
        .status_filter(ExecutionStatus::Succeeded)
        .send()
        .await
        .unwrap()
        .executions;
    assert_eq!(succeeded.len(), 1);
    assert_eq!(succeeded[0].execution_arn, arn);

    let machines = f
        .sfn
        .list_state_machines()
        .send()
        .await
        .unwrap()
        .state_machines;
    assert_eq!(machines.len(), 2);
    let described = f
        .sfn
        .describe_state_machine()
        .state_machine_arn(&f.greet)
        .send()
        .await
        .unwrap();
    assert_eq!(
        described.r#type,
        aws_sdk_sfn::types::StateMachineType::Express
    );
    assert!(
        described.definition.contains("Hello, {}!"),
        "substituted: {}",
        described.definition
    );

    // The same executions, for `local executions`.
    let (status, body) = f.raw("GET", "/executions", None, "").await;
    assert_eq!(status, 200);
    assert_eq!(body[0]["name"], "o-2");
    assert_eq!(body[0]["machine"], "test-orders");
    assert_eq!(body[1]["status"], "SUCCEEDED");
    let encoded: String = url_encode(&arn);
    let (status, body) = f
        .raw("GET", &format!("/executions/{encoded}/history"), None, "")
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["events"].as_array().map(Vec::len), Some(6));
    f.stack.shutdown().await;
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_name_is_reused_only_by_the_same_input_while_the_execution_runs() {
    let f = fixture().await;
    let input = json!({"order": "o-3", "wait": 3600});
    let first = f
        .sfn
        .start_execution()
        .state_machine_arn(&f.orders)
        .name("o-3")
        .input(input.to_string())
        .send()
        .await
        .unwrap();
    let again = f
        .sfn
        .start_execution()
        .state_machine_arn(&f.orders)
        .name("o-3")
        .input(input.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(again.execution_arn, first.execution_arn);
    assert_eq!(again.start_date, first.start_date);

    let other = f
        .sfn
        .start_execution()
        .state_machine_arn(&f.orders)
        .name("o-3")
        .input(json!({"order": "other"}).to_string())
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(other.is_execution_already_exists(), "{other:?}");

    f.sfn
        .stop_execution()
        .execution_arn(&first.execution_arn)
        .send()
        .await
        .unwrap();
    let closed = f
        .sfn
        .start_execution()
        .state_machine_arn(&f.orders)
        .name("o-3")
        .input(input.to_string())
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(closed.is_execution_already_exists(), "{closed:?}");
    let listed = f
        .sfn
        .list_executions()
        .state_machine_arn(&f.orders)
        .send()
        .await
        .unwrap()
        .executions;
    assert_eq!(listed.len(), 1);
    f.stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stop_execution_aborts_an_execution_in_a_wait_state() {
    let f = fixture().await;
    let arn = f.start("o-4", json!({"order": "o-4", "wait": 3600})).await;
    f.reached(&arn, HistoryEventType::WaitStateEntered).await;

    let stopped = f
        .sfn
        .stop_execution()
        .execution_arn(&arn)
        .error("Cancelled")
        .cause("the customer cancelled")
        .send()
        .await
        .unwrap();
    let described = f.describe(&arn).await;
    assert_eq!(described.status, ExecutionStatus::Aborted);
    assert_eq!(described.stop_date, Some(stopped.stop_date));
    assert_eq!(described.error.as_deref(), Some("Cancelled"));
    assert_eq!(described.cause.as_deref(), Some("the customer cancelled"));

    let history = f
        .sfn
        .get_execution_history()
        .execution_arn(&arn)
        .reverse_order(true)
        .send()
        .await
        .unwrap()
        .events;
    let last = &history[0];
    assert_eq!(last.r#type, HistoryEventType::ExecutionAborted);
    let details = last.execution_aborted_event_details.as_ref().unwrap();
    assert_eq!(details.error.as_deref(), Some("Cancelled"));
    assert_eq!(details.cause.as_deref(), Some("the customer cancelled"));
    assert!(
        !history
            .iter()
            .any(|e| e.r#type == HistoryEventType::PassStateEntered),
        "the execution went on after the stop"
    );
    f.stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn start_sync_execution_runs_express_machines_and_refuses_standard_ones() {
    let f = fixture().await;
    let done = f
        .sfn
        .start_sync_execution()
        .state_machine_arn(&f.greet)
        .input(json!({"who": "Ada"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(done.status, SyncExecutionStatus::Succeeded);
    assert_eq!(
        json_of(done.output.as_deref()),
        json!({"greeting": "Hello, Ada!", "machine": "test-greet"})
    );
    assert!(
        done.execution_arn.contains(":express:test-greet:"),
        "{}",
        done.execution_arn
    );
    assert!(done.billing_details.is_some());

    let refused = f
        .sfn
        .start_sync_execution()
        .state_machine_arn(&f.greet)
        .name("refused")
        .input(json!({"fail": "no greetings today"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status, SyncExecutionStatus::Failed);
    assert_eq!(refused.error.as_deref(), Some("Refused"));
    assert_eq!(refused.cause.as_deref(), Some("no greetings today"));

    let standard = f
        .sfn
        .start_sync_execution()
        .state_machine_arn(&f.orders)
        .input("{}")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        standard.is_state_machine_type_not_supported(),
        "{standard:?}"
    );
    f.stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn malformed_requests_get_the_service_error_types() {
    let f = fixture().await;
    let not_json = f
        .sfn
        .start_execution()
        .state_machine_arn(&f.orders)
        .input("{not json")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(not_json.is_invalid_execution_input(), "{not_json:?}");

    let bad_name = f
        .sfn
        .start_execution()
        .state_machine_arn(&f.orders)
        .name("has a space")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(bad_name.is_invalid_name(), "{bad_name:?}");

    let no_machine = f
        .sfn
        .start_execution()
        .state_machine_arn(f.orders.replace("test-orders", "nope"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        no_machine.is_state_machine_does_not_exist(),
        "{no_machine:?}"
    );

    let no_execution = f
        .sfn
        .describe_execution()
        .execution_arn(f.orders.replace(":stateMachine:", ":execution:") + ":nope")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        no_execution.is_execution_does_not_exist(),
        "{no_execution:?}"
    );

    let bad_token = f
        .sfn
        .send_task_success()
        .task_token("not-a-token")
        .output("{}")
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(bad_token.is_invalid_token(), "{bad_token:?}");

    let (status, body) = f
        .raw(
            "POST",
            "/",
            Some("AWSStepFunctions.StartExecution"),
            r#"{"stateMachineArn": 5}"#,
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["__type"], "ValidationException");
    let (status, body) = f
        .raw("POST", "/", Some("AWSStepFunctions.CreateActivity"), "{}")
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["__type"], "UnknownOperationException");
    let (status, body) = f
        .raw(
            "POST",
            "/",
            Some("AWSStepFunctions.StartExecution"),
            "{oops",
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["__type"], "SerializationException");
    f.stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn functions_reach_step_functions_through_aws_endpoint_url_sfn() {
    let f = fixture().await;
    let stack = f.stack.stack();
    let name = stack.function("EchoFunction").unwrap().name.clone();
    let invocation = stack
        .lambda()
        .invoke(
            &name,
            InvokeRequest {
                payload: Bytes::from(json!({"allEnv": true}).to_string()),
                trace_id: None,
                client_context: None,
            },
        )
        .await
        .unwrap();
    let body: Value = match &invocation.outcome {
        Outcome::Success(body) => serde_json::from_slice(body).unwrap(),
        Outcome::Error(error) => panic!("invocation failed: {error:?}"),
    };
    assert_eq!(body["env"]["AWS_ENDPOINT_URL_SFN"], stack.sfn_endpoint());
    assert_ne!(stack.sfn_endpoint(), stack.emulator_endpoint());
    f.stack.shutdown().await;
}

#[tokio::test]
async fn an_invalid_definition_fails_the_start_naming_its_machine() {
    let dir = std::env::temp_dir().join(format!("sfn-api-invalid-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let template = dir.join("template.yaml");
    std::fs::write(
        &template,
        r#"
Transform: AWS::Serverless-2016-10-31
Resources:
  Broken:
    Type: AWS::Serverless::StateMachine
    Properties:
      Name: broken
      Definition:
        StartAt: Nowhere
        States:
          Somewhere: {Type: Pass, End: true}
"#,
    )
    .unwrap();
    let error = match testing::spawn_template(&template).await {
        Ok(stack) => {
            stack.shutdown().await;
            panic!("a stack started with an invalid definition");
        }
        Err(error) => format!("{error:#}"),
    };
    assert!(error.contains("Broken (broken)"), "{error}");
    std::fs::remove_dir_all(&dir).ok();
}
