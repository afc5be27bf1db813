//! The platform routes through the local stack, as a client sees them.

// Helpers outside the test functions fail the test on a setup error too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use local::testing;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_answers_200_json_through_the_api() {
    let stack = testing::spawn().await.unwrap();
    let response = stack.get("/v1/health").await.unwrap();
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.header("content-type"), Some("application/json"));
    let body = response.json();
    assert_eq!(body["status"], "ok");
    assert_eq!(body["service"], "storefront");
    assert_eq!(body["region"], "us-east-1");
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_paths_get_a_problem_json_404_with_the_correlation_id() {
    let stack = testing::spawn().await.unwrap();
    let response = stack
        .request(
            http::Method::DELETE,
            "/v1/nothing/here?x=1",
            &[("x-correlation-id", "checkout-42")],
            bytes::Bytes::new(),
        )
        .await
        .unwrap();
    assert_eq!(response.status, 404, "{}", response.text());
    assert_eq!(
        response.header("content-type"),
        Some("application/problem+json")
    );
    assert_eq!(response.header("x-correlation-id"), Some("checkout-42"));
    let problem = response.json();
    assert_eq!(problem["status"], 404);
    assert_eq!(problem["code"], "ROUTE_NOT_FOUND");
    assert!(
        problem["requestId"]
            .as_str()
            .is_some_and(|id| !id.is_empty())
    );
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("DELETE /v1/nothing/here")
    );
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_preflights_get_the_configured_cors_headers() {
    let stack = testing::spawn().await.unwrap();
    let response = stack
        .request(
            http::Method::OPTIONS,
            "/v1/orders",
            &[
                ("origin", "https://shop.example.com"),
                ("access-control-request-method", "POST"),
                (
                    "access-control-request-headers",
                    "authorization,content-type,idempotency-key",
                ),
            ],
            bytes::Bytes::new(),
        )
        .await
        .unwrap();
    assert_eq!(response.status, 204, "{}", response.text());
    assert_eq!(response.header("access-control-allow-origin"), Some("*"));
    let methods = response
        .header("access-control-allow-methods")
        .unwrap_or_default();
    assert!(methods.contains("POST"), "{methods}");
    let headers = response
        .header("access-control-allow-headers")
        .unwrap_or_default();
    assert!(headers.contains("idempotency-key"), "{headers}");
    assert_eq!(response.header("access-control-max-age"), Some("600"));
    stack.shutdown().await;
}
