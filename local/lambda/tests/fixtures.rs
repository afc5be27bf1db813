//! The fixture functions other parts of the local stack test against, run through the runtime.

mod common;

use std::time::Duration;

use common::*;
use local_lambda::{FunctionConfig, FunctionErrorKind, InvokeRequest, Lambda};
use serde_json::{Value, json};

fn event(value: Value) -> InvokeRequest {
    InvokeRequest::new(value.to_string())
}

fn http_event(method: &str, path: &str, body: Option<&str>) -> Value {
    json!({
        "version": "2.0",
        "routeKey": format!("{method} /items/{{id}}"),
        "rawPath": path,
        "rawQueryString": "a=1&b=2",
        "cookies": ["session=abc", "theme=dark"],
        "headers": { "x-test": "yes", "content-type": "text/plain" },
        "queryStringParameters": { "a": "1", "b": "2" },
        "pathParameters": { "id": "42" },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": "127.0.0.1",
            "domainPrefix": "127",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "test"
            },
            "authorizer": { "lambda": { "userId": "u1", "role": "customer" } },
            "requestId": "req-1",
            "routeKey": format!("{method} /items/{{id}}"),
            "stage": "$default",
            "time": "22/Nov/2026:01:00:00 +0000",
            "timeEpoch": 1_795_000_000_000u64
        },
        "body": body,
        "isBase64Encoded": false
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixture_http_echoes_the_request_and_serves_its_special_routes() {
    let lambda = Lambda::new(vec![function("http", "fixture-http")], options());

    let echoed = success(
        &lambda
            .invoke(
                "http",
                event(http_event("POST", "/items/42", Some("hello"))),
            )
            .await
            .unwrap(),
    );
    assert_eq!(echoed["statusCode"], 200);
    assert_eq!(echoed["cookies"], json!(["fixture=1; Path=/"]));
    assert_eq!(echoed["headers"]["x-fixture"], "http");
    let body: Value = serde_json::from_str(echoed["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["method"], "POST");
    assert_eq!(body["path"], "/items/42");
    assert_eq!(body["pathParameters"], json!({ "id": "42" }));
    assert_eq!(body["query"], json!({ "a": "1", "b": "2" }));
    assert_eq!(body["headers"]["x-test"], "yes");
    assert_eq!(body["cookies"], json!(["session=abc", "theme=dark"]));
    assert_eq!(body["body"], "hello");
    assert_eq!(
        body["requestContext"]["authorizer"]["lambda"]["userId"],
        "u1"
    );

    let binary = success(
        &lambda
            .invoke("http", event(http_event("GET", "/binary", None)))
            .await
            .unwrap(),
    );
    assert_eq!(binary["isBase64Encoded"], true);
    assert_eq!(
        binary["headers"]["content-type"],
        "application/octet-stream"
    );

    let plain = success(
        &lambda
            .invoke("http", event(http_event("GET", "/plain", None)))
            .await
            .unwrap(),
    );
    assert_eq!(plain["plain"], true);
    assert!(plain.get("statusCode").is_none());

    let status = success(
        &lambda
            .invoke("http", event(http_event("GET", "/status/418", None)))
            .await
            .unwrap(),
    );
    assert_eq!(status["statusCode"], 418);

    let failed = lambda
        .invoke("http", event(http_event("GET", "/error", None)))
        .await
        .unwrap();
    assert_eq!(failure(&failed).error_type, "Fixture.HttpError");

    let crashed = lambda
        .invoke("http", event(http_event("GET", "/crash", None)))
        .await
        .unwrap();
    assert_eq!(failure(&crashed).kind, FunctionErrorKind::Crash);
    lambda.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixture_http_sleep_route_runs_into_the_timeout() {
    let lambda = Lambda::new(
        vec![FunctionConfig {
            timeout: Duration::from_millis(500),
            ..function("http", "fixture-http")
        }],
        options(),
    );
    let slept = lambda
        .invoke("http", event(http_event("GET", "/sleep/5000", None)))
        .await
        .unwrap();
    assert_eq!(failure(&slept).kind, FunctionErrorKind::Timeout);
    lambda.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixture_authorizer_answers_simple_and_policy_responses_and_counts_calls() {
    let lambda = Lambda::new(
        vec![FunctionConfig {
            max_instances: 1,
            ..function("authorizer", "fixture-authorizer")
        }],
        options(),
    );
    let authorize = |token: &str| {
        event(json!({
            "version": "2.0",
            "type": "REQUEST",
            "routeArn": "arn:aws:execute-api:us-east-1:123456789012:local/$default/GET/items",
            "identitySource": [token],
            "headers": { "authorization": token }
        }))
    };

    let allowed = success(
        &lambda
            .invoke("authorizer", authorize("allow-ann"))
            .await
            .unwrap(),
    );
    assert_eq!(
        allowed,
        json!({ "isAuthorized": true, "context": { "userId": "ann", "role": "customer", "calls": 1 } })
    );
    let denied = success(
        &lambda
            .invoke("authorizer", authorize("deny"))
            .await
            .unwrap(),
    );
    assert_eq!(denied["isAuthorized"], false);
    assert_eq!(denied["context"]["calls"], 2);

    let policy = success(
        &lambda
            .invoke("authorizer", authorize("policy-allow-bob"))
            .await
            .unwrap(),
    );
    assert_eq!(policy["principalId"], "bob");
    assert_eq!(policy["policyDocument"]["Statement"][0]["Effect"], "Allow");
    assert_eq!(
        policy["policyDocument"]["Statement"][0]["Resource"],
        "arn:aws:execute-api:us-east-1:123456789012:local/$default/GET/items"
    );
    assert_eq!(policy["context"]["userId"], "bob");
    assert_eq!(policy["context"]["calls"], 3);
    let policy_denied = success(
        &lambda
            .invoke("authorizer", authorize("policy-deny"))
            .await
            .unwrap(),
    );
    assert_eq!(
        policy_denied["policyDocument"]["Statement"][0]["Effect"],
        "Deny"
    );
    lambda.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixture_sqs_reports_partial_batch_failures() {
    let lambda = Lambda::new(vec![function("sqs", "fixture-sqs")], options());
    let record = |id: &str, body: &str| {
        json!({
            "messageId": id,
            "receiptHandle": format!("rh-{id}"),
            "body": body,
            "attributes": {},
            "messageAttributes": {},
            "md5OfBody": "",
            "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:orders",
            "awsRegion": "us-east-1"
        })
    };

    let batch = success(
        &lambda
            .invoke(
                "sqs",
                event(json!({ "Records": [record("m1", "ok"), record("m2", "please fail"), record("m3", "fine")] })),
            )
            .await
            .unwrap(),
    );
    assert_eq!(
        batch,
        json!({ "batchItemFailures": [{ "itemIdentifier": "m2" }] })
    );

    let crashed = lambda
        .invoke(
            "sqs",
            event(json!({ "Records": [record("m1", "ok"), record("m2", "crash-batch")] })),
        )
        .await
        .unwrap();
    assert_eq!(failure(&crashed).error_type, "Fixture.BatchFailed");
    lambda.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streaming_http_function_is_answered_as_a_gateway_response() {
    let lambda = Lambda::new(vec![function("stream", "fixture-stream")], options());
    let streamed = success(
        &lambda
            .invoke("stream", event(http_event("GET", "/items/7", None)))
            .await
            .unwrap(),
    );
    assert_eq!(streamed["statusCode"], 201);
    assert_eq!(streamed["body"], "streamed /items/7");
    assert_eq!(streamed["isBase64Encoded"], false);
    assert_eq!(streamed["headers"]["x-fixture"], "stream");
    lambda.shutdown().await;
}
