//! The local stack end to end, with the fixture functions and `tests/fixtures/template.yaml`:
//! routing, the authorizer, cold and warm starts, scaling, timeouts, crashes, and SQS
//! partial batch failures through redelivery to the dead-letter queue.

// Helpers outside the test functions fail the test on a setup error too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Method;
use local::testing::{self, TestStack};
use local_lambda::{InvokeRequest, Outcome};
use serde_json::{Value, json};

const FIXTURES: &str = "local/tests/fixtures/template.yaml";

async fn fixture_stack() -> TestStack {
    testing::spawn_template(FIXTURES).await.unwrap()
}

fn pid(body: &Value) -> u64 {
    body["pid"]
        .as_u64()
        .unwrap_or_else(|| panic!("no pid in {body}"))
}

async fn invoke(stack: &TestStack, function: &str, payload: Value) -> local_lambda::Invocation {
    let name = stack.stack().function(function).unwrap().name.clone();
    stack
        .stack()
        .lambda()
        .invoke(
            &name,
            InvokeRequest {
                payload: Bytes::from(payload.to_string()),
                trace_id: None,
                client_context: None,
            },
        )
        .await
        .unwrap()
}

fn success(invocation: &local_lambda::Invocation) -> Value {
    match &invocation.outcome {
        Outcome::Success(body) => serde_json::from_slice(body).unwrap(),
        Outcome::Error(error) => panic!("invocation failed: {error:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn routes_select_functions_and_pass_path_parameters() {
    let stack = fixture_stack().await;

    let item = stack.get("/items/42?color=red&color=blue").await.unwrap();
    assert_eq!(item.status, 200, "{}", item.text());
    let body = item.json();
    assert_eq!(body["pathParameters"]["id"], "42");
    assert_eq!(body["query"]["color"], "red,blue");
    assert_eq!(item.header("x-fixture"), Some("http"));

    let file = stack.get("/files/a/b%20c/d.txt").await.unwrap();
    assert_eq!(file.status, 200, "{}", file.text());
    assert_eq!(file.json()["pathParameters"]["proxy"], "a/b c/d.txt");

    let echo = stack
        .request(
            Method::POST,
            "/echo",
            &[("content-type", "application/json"), ("cookie", "a=1; b=2")],
            r#"{"hello":"world"}"#,
        )
        .await
        .unwrap();
    assert_eq!(echo.status, 200, "{}", echo.text());
    let body = echo.json();
    assert_eq!(body["method"], "POST");
    assert_eq!(body["body"], r#"{"hello":"world"}"#);
    assert_eq!(body["isBase64Encoded"], false);

    // A bare JSON result (no statusCode) is returned as a 200 application/json body, the
    // payload format 2.0 shortcut; fixture-echo returns the event it was given.
    let raw = stack
        .request(
            Method::PUT,
            "/raw/7?a=1&a=2&b=",
            &[
                ("x-multi", "1"),
                ("cookie", "c=3"),
                ("content-type", "text/plain"),
            ],
            "text body",
        )
        .await
        .unwrap();
    assert_eq!(raw.status, 200, "{}", raw.text());
    assert_eq!(raw.header("content-type"), Some("application/json"));
    let event = &raw.json()["event"];
    assert_eq!(event["version"], "2.0");
    assert_eq!(event["routeKey"], "ANY /raw/{id}");
    assert_eq!(event["rawPath"], "/raw/7");
    assert_eq!(event["rawQueryString"], "a=1&a=2&b=");
    assert_eq!(event["queryStringParameters"]["a"], "1,2");
    assert_eq!(event["pathParameters"]["id"], "7");
    assert_eq!(event["cookies"], json!(["c=3"]));
    assert_eq!(event["headers"]["x-multi"], "1");
    assert_eq!(event["body"], "text body");
    assert_eq!(event["requestContext"]["http"]["method"], "PUT");
    assert_eq!(event["requestContext"]["http"]["path"], "/raw/7");
    assert_eq!(event["requestContext"]["routeKey"], "ANY /raw/{id}");
    assert_eq!(event["requestContext"]["stage"], "$default");
    assert!(event["requestContext"]["requestId"].is_string());
    assert!(event["requestContext"]["http"]["sourceIp"].is_string());

    // No route and no `$default`: API Gateway's own 404.
    let unknown = stack.get("/no/such/path").await.unwrap();
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json(), json!({"message": "Not Found"}));

    // A binary request body reaches the function base64-encoded.
    let upload = stack
        .request(
            Method::POST,
            "/echo",
            &[("content-type", "application/octet-stream")],
            vec![0u8, 159, 146, 150, 255],
        )
        .await
        .unwrap();
    assert_eq!(upload.status, 200, "{}", upload.text());
    assert_eq!(upload.json()["isBase64Encoded"], true);
    assert_eq!(upload.json()["body"], "AJ+Slv8=");

    let binary = stack.get("/binary").await.unwrap();
    assert_eq!(binary.status, 200);
    assert_eq!(
        binary.body.as_ref(),
        (0..=255u8).collect::<Vec<_>>().as_slice()
    );

    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_authorizer_allows_denies_and_passes_its_context() {
    let stack = fixture_stack().await;

    let missing = stack.get("/private/1").await.unwrap();
    assert_eq!(missing.status, 401);
    assert_eq!(missing.json(), json!({"message": "Unauthorized"}));

    let denied = stack
        .request(
            Method::GET,
            "/private/1",
            &[("authorization", "deny")],
            Bytes::new(),
        )
        .await
        .unwrap();
    assert_eq!(denied.status, 403);
    assert_eq!(denied.json(), json!({"message": "Forbidden"}));

    let allowed = stack
        .request(
            Method::GET,
            "/private/1",
            &[("authorization", "allow-alice")],
            Bytes::new(),
        )
        .await
        .unwrap();
    assert_eq!(allowed.status, 200, "{}", allowed.text());
    let context = allowed.json()["requestContext"]["authorizer"]["lambda"].clone();
    assert_eq!(context["userId"], "alice");
    assert_eq!(context["role"], "customer");

    // The same identity within the cache TTL is not authorized again.
    let again = stack
        .request(
            Method::GET,
            "/private/2",
            &[("authorization", "allow-alice")],
            Bytes::new(),
        )
        .await
        .unwrap();
    assert_eq!(again.status, 200);
    assert_eq!(
        again.json()["requestContext"]["authorizer"]["lambda"]["calls"],
        context["calls"]
    );

    // IAM policy responses.
    let policy_allowed = stack
        .request(
            Method::GET,
            "/policy/7",
            &[("authorization", "policy-allow-carol")],
            Bytes::new(),
        )
        .await
        .unwrap();
    assert_eq!(policy_allowed.status, 200, "{}", policy_allowed.text());
    assert_eq!(
        policy_allowed.json()["requestContext"]["authorizer"]["lambda"]["userId"],
        "carol"
    );
    let policy_denied = stack
        .request(
            Method::GET,
            "/policy/7",
            &[("authorization", "policy-deny")],
            Bytes::new(),
        )
        .await
        .unwrap();
    assert_eq!(policy_denied.status, 403);

    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_first_invocation_is_cold_and_the_next_is_warm_on_the_same_instance() {
    let stack = fixture_stack().await;
    let first = invoke(&stack, "EchoFunction", json!({"n": 1})).await;
    let second = invoke(&stack, "EchoFunction", json!({"n": 2})).await;
    assert!(first.cold_start);
    assert!(!second.cold_start);
    assert_eq!(pid(&success(&first)), pid(&success(&second)));
    let env = &success(&first)["env"];
    assert_eq!(env["FIXTURE_GREETING"], "hello");
    assert_eq!(env["AWS_LAMBDA_FUNCTION_NAME"], "test-EchoFunction");
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn template_parameters_reach_the_function_environment() {
    let stack = testing::spawn_with(|options| {
        options.template = local::paths::repo_root().join(FIXTURES);
        options
            .parameter_overrides
            .insert("Greeting".into(), "bonjour".into());
    })
    .await
    .unwrap();
    let body = success(&invoke(&stack, "EchoFunction", json!({"allEnv": true})).await);
    let env = &body["env"];
    assert_eq!(env["FIXTURE_GREETING"], "bonjour");
    assert_eq!(env["AWS_ENDPOINT_URL"], stack.stack().emulator_endpoint());
    assert!(
        env.get("HOME").is_none(),
        "the host environment does not leak in"
    );
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_start_more_instances_up_to_the_reserved_concurrency() {
    let stack = fixture_stack().await;
    let requests = (0..3).map(|_| stack.get("/sleep/700"));
    let responses = futures::future::join_all(requests).await;
    let pids: HashSet<u64> = responses
        .iter()
        .map(|r| {
            let r = r.as_ref().unwrap();
            assert_eq!(r.status, 200, "{}", r.text());
            pid(&r.json())
        })
        .collect();
    assert_eq!(
        pids.len(),
        3,
        "three concurrent requests ran on three instances"
    );

    // A fourth concurrent request waits for a free instance instead of starting a fourth.
    let requests = (0..4).map(|_| stack.get("/sleep/300"));
    let responses = futures::future::join_all(requests).await;
    let more: HashSet<u64> = responses
        .iter()
        .map(|r| pid(&r.as_ref().unwrap().json()))
        .collect();
    assert!(
        more.is_subset(&pids),
        "no instance beyond ReservedConcurrentExecutions: {more:?} vs {pids:?}"
    );
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_instance_that_times_out_is_killed_and_replaced() {
    let stack = fixture_stack().await;
    let warm = stack.get("/slow/sleep/0").await.unwrap();
    assert_eq!(warm.status, 200, "{}", warm.text());
    let before = pid(&warm.json());

    let started = Instant::now();
    let timed_out = stack.get("/slow/sleep/5000").await.unwrap();
    assert_eq!(timed_out.status, 500);
    assert_eq!(
        timed_out.json(),
        json!({"message": "Internal Server Error"})
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "killed at the 1 s timeout"
    );
    assert!(
        !std::path::Path::new(&format!("/proc/{before}")).exists(),
        "the instance was killed"
    );

    let after = stack.get("/slow/sleep/0").await.unwrap();
    assert_eq!(after.status, 200);
    assert_ne!(
        pid(&after.json()),
        before,
        "a fresh instance serves the next request"
    );
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_crashed_instance_is_replaced() {
    let stack = fixture_stack().await;
    let before = pid(&stack.get("/items/1").await.unwrap().json());
    let crashed = stack.get("/crash").await.unwrap();
    assert_eq!(crashed.status, 500);
    assert_eq!(crashed.json(), json!({"message": "Internal Server Error"}));

    let after = stack.get("/items/1").await.unwrap();
    assert_eq!(after.status, 200);
    assert_ne!(pid(&after.json()), before);

    let direct = invoke(&stack, "EchoFunction", json!({"crash": true})).await;
    match direct.outcome {
        Outcome::Error(error) => assert_eq!(error.error_type, "Runtime.ExitError"),
        Outcome::Success(_) => panic!("a crash is an error"),
    }
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn function_errors_keep_their_type_and_gateway_answers_500() {
    let stack = fixture_stack().await;
    let failed = invoke(&stack, "EchoFunction", json!({"fail": "OutOfStock"})).await;
    match failed.outcome {
        Outcome::Error(error) => assert_eq!(error.error_type, "OutOfStock"),
        Outcome::Success(_) => panic!("the function failed"),
    }
    let response = stack.get("/error").await.unwrap();
    assert_eq!(response.status, 500);
    assert_eq!(response.json(), json!({"message": "Internal Server Error"}));
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cors_preflight_and_throttling_are_answered_by_the_gateway() {
    let stack = fixture_stack().await;
    let preflight = stack
        .request(
            Method::OPTIONS,
            "/items/1",
            &[
                ("origin", "https://shop.example.com"),
                ("access-control-request-method", "GET"),
                ("access-control-request-headers", "authorization"),
            ],
            Bytes::new(),
        )
        .await
        .unwrap();
    assert_eq!(preflight.status, 204);
    assert_eq!(
        preflight.header("access-control-allow-origin"),
        Some("https://shop.example.com")
    );
    assert_eq!(preflight.header("access-control-max-age"), Some("300"));

    let simple = stack
        .request(
            Method::GET,
            "/items/1",
            &[("origin", "https://shop.example.com")],
            Bytes::new(),
        )
        .await
        .unwrap();
    assert_eq!(
        simple.header("access-control-allow-origin"),
        Some("https://shop.example.com")
    );

    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(stack.get("/throttled").await.unwrap());
    }
    let throttled: Vec<_> = statuses.iter().filter(|r| r.status == 429).collect();
    assert!(
        !throttled.is_empty(),
        "a burst of 2 at 1 rps throttles six quick requests"
    );
    assert_eq!(throttled[0].json(), json!({"message": "Too Many Requests"}));
    stack.shutdown().await;
}

async fn receive_all(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    want: usize,
    within: Duration,
) -> Vec<String> {
    let deadline = Instant::now() + within;
    let mut bodies = Vec::new();
    while bodies.len() < want && Instant::now() < deadline {
        let output = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        for message in output.messages() {
            bodies.push(message.body().unwrap_or_default().to_owned());
            sqs.delete_message()
                .queue_url(url)
                .receipt_handle(message.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
    bodies
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failed_queue_messages_are_redelivered_then_moved_to_the_dead_letter_queue() {
    let stack = fixture_stack().await;
    let model = stack.stack().model();
    let work = model.queue("WorkQueue").unwrap().url.clone();
    let dead = model.queue("WorkDeadLetters").unwrap().url.clone();
    let topic = model
        .topics
        .iter()
        .find(|t| t.logical_id == "Events")
        .unwrap()
        .arn
        .clone();
    let sqs = aws_sdk_sqs::Client::new(stack.stack().sdk_config());
    let sns = aws_sdk_sns::Client::new(stack.stack().sdk_config());

    for body in ["ok-1", "fail-1", "ok-2"] {
        sqs.send_message()
            .queue_url(&work)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }
    // Through the topic: the filter policy lets only OrderPlaced reach the queue, and raw
    // delivery puts the message itself in the body.
    let attribute = |value: &str| {
        aws_sdk_sns::types::MessageAttributeValue::builder()
            .data_type("String")
            .string_value(value)
            .build()
            .unwrap()
    };
    sns.publish()
        .topic_arn(&topic)
        .message("fail-placed")
        .message_attributes("type", attribute("OrderPlaced"))
        .send()
        .await
        .unwrap();
    sns.publish()
        .topic_arn(&topic)
        .message("fail-shipped")
        .message_attributes("type", attribute("OrderShipped"))
        .send()
        .await
        .unwrap();

    let mut dead_letters = receive_all(&sqs, &dead, 2, Duration::from_secs(30)).await;
    dead_letters.sort();
    assert_eq!(dead_letters, ["fail-1", "fail-placed"]);

    let attributes = sqs
        .get_queue_attributes()
        .queue_url(&work)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
        .send()
        .await
        .unwrap();
    let count = |name: aws_sdk_sqs::types::QueueAttributeName| {
        attributes
            .attributes()
            .and_then(|a| a.get(&name))
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(
        count(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages),
        "0"
    );
    assert_eq!(
        count(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        "0",
        "the successful messages were deleted"
    );
    stack.shutdown().await;
}
