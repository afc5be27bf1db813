//! The platform routes through the local stack, as a client sees them.

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
    assert_eq!(response.header("content-type"), Some("application/problem+json"));
    assert_eq!(response.header("x-correlation-id"), Some("checkout-42"));
    let problem = response.json();
    assert_eq!(problem["status"], 404);
    assert_eq!(problem["code"], "ROUTE_NOT_FOUND");
    assert!(problem["requestId"].as_str().is_some_and(|id| !id.is_empty()));
    assert!(problem["detail"].as_str().unwrap().contains("DELETE /v1/nothing/here"));
    stack.shutdown().await;
}
