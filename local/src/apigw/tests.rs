//! The whole request path of the gateway, with a stand-in function runner.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use local_template::model::{Authorizer, Cors, HttpApi, Route, Throttle};
use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::*;

/// What the stand-in runner answers for one invocation.
struct Reply {
    delay: Option<Duration>,
    result: Result<InvokeOutput, GatewayInvokeError>,
}

fn success(value: Value) -> Reply {
    Reply {
        delay: None,
        result: Ok(InvokeOutput {
            outcome: InvokeOutcome::Success(Bytes::from(value.to_string())),
            cold_start: false,
        }),
    }
}

fn failure() -> Reply {
    Reply {
        delay: None,
        result: Ok(InvokeOutput {
            outcome: InvokeOutcome::Error {
                error_type: "Runtime.ExitError".into(),
                error_message: "boom".into(),
            },
            cold_start: true,
        }),
    }
}

type Handler = dyn Fn(&str, &Value) -> Reply + Send + Sync;

/// Runs "functions" as closures and records every invocation.
struct StandIn {
    handler: Box<Handler>,
    calls: Mutex<Vec<(String, Value)>>,
}

impl StandIn {
    fn new(handler: impl Fn(&str, &Value) -> Reply + Send + Sync + 'static) -> Arc<Self> {
        Arc::new(Self {
            handler: Box::new(handler),
            calls: Mutex::new(Vec::new()),
        })
    }

    fn calls(&self) -> Vec<(String, Value)> {
        self.calls.lock().unwrap().clone()
    }

    fn calls_to(&self, function: &str) -> Vec<Value> {
        self.calls()
            .into_iter()
            .filter(|(f, _)| f == function)
            .map(|(_, e)| e)
            .collect()
    }
}

impl Invoke for StandIn {
    fn invoke<'a>(
        &'a self,
        function: &'a str,
        input: InvokeInput,
    ) -> BoxFuture<'a, Result<InvokeOutput, GatewayInvokeError>> {
        Box::pin(async move {
            let event: Value = serde_json::from_slice(&input.payload).unwrap();
            self.calls
                .lock()
                .unwrap()
                .push((function.to_string(), event.clone()));
            let reply = (self.handler)(function, &event);
            if let Some(delay) = reply.delay {
                tokio::time::sleep(delay).await;
            }
            reply.result
        })
    }
}

/// Answers with the event it got, as a 200 JSON body.
fn echo(_function: &str, event: &Value) -> Reply {
    success(json!({
        "statusCode": 200,
        "headers": {"content-type": "application/json"},
        "body": event.to_string(),
    }))
}

fn route(key: &str, function: &str) -> Route {
    let (method, path) = if key == "$default" {
        (None, None)
    } else {
        let (m, p) = key.split_once(' ').unwrap();
        ((m != "ANY").then(|| m.to_string()), Some(p.to_string()))
    };
    Route {
        route_key: key.into(),
        method,
        path,
        function: function.into(),
        authorizer: None,
        payload_format_version: "2.0".into(),
        timeout: Duration::from_secs(30),
    }
}

fn api(routes: Vec<Route>) -> HttpApi {
    HttpApi {
        logical_id: "ServerlessHttpApi".into(),
        api_id: "abcde12345".into(),
        stage: "$default".into(),
        cors: None,
        authorizers: BTreeMap::new(),
        default_authorizer: None,
        routes,
        default_throttle: None,
        route_throttles: BTreeMap::new(),
    }
}

fn gateway(api: &HttpApi, invoker: Arc<StandIn>) -> Gateway {
    let mut functions: BTreeMap<String, String> = api
        .routes
        .iter()
        .map(|r| (r.function.clone(), format!("local-{}", r.function)))
        .collect();
    for a in api.authorizers.values() {
        functions.insert(a.function.clone(), format!("local-{}", a.function));
    }
    Gateway::new(
        api,
        functions,
        invoker,
        GatewayOptions {
            region: "us-east-1".into(),
            account_id: "123456789012".into(),
            port: 3000,
        },
    )
    .unwrap()
}

fn peer() -> SocketAddr {
    "127.0.0.1:50000".parse().unwrap()
}

fn request(method: &str, uri: &str, headers: &[(&str, &str)], body: &[u8]) -> http::Request<Bytes> {
    let mut builder = http::Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    builder.body(Bytes::copy_from_slice(body)).unwrap()
}

async fn send(
    g: &Gateway,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
) -> http::Response<Bytes> {
    g.handle(request(method, uri, headers, b""), peer()).await
}

fn body_json(r: &http::Response<Bytes>) -> Value {
    serde_json::from_slice(r.body()).unwrap()
}

#[tokio::test]
async fn a_route_gets_the_v2_event_and_its_response_is_mapped() {
    let invoker = StandIn::new(echo);
    let g = gateway(
        &api(vec![route("GET /v1/items/{id}", "GetItem")]),
        invoker.clone(),
    );
    let r = send(
        &g,
        "GET",
        "/v1/items/a%20b?x=1&x=2",
        &[
            ("host", "localhost:3000"),
            ("cookie", "a=1; b=2"),
            ("x-multi", "1"),
            ("x-multi", "2"),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "application/json");
    let request_id = r.headers()["apigw-requestid"].to_str().unwrap().to_string();
    assert_eq!(request_id.len(), 16);

    let calls = invoker.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].0, "local-GetItem");
    let event = &calls[0].1;
    assert_eq!(body_json(&r), *event);
    assert_eq!(event["version"], "2.0");
    assert_eq!(event["routeKey"], "GET /v1/items/{id}");
    assert_eq!(event["rawPath"], "/v1/items/a b");
    assert_eq!(event["requestContext"]["http"]["path"], "/v1/items/a b");
    assert_eq!(event["rawQueryString"], "x=1&x=2");
    assert_eq!(event["queryStringParameters"]["x"], "1,2");
    assert_eq!(event["pathParameters"]["id"], "a b");
    assert_eq!(event["cookies"], json!(["a=1", "b=2"]));
    assert!(event["headers"].get("cookie").is_none());
    assert_eq!(event["headers"]["x-multi"], "1,2");
    assert_eq!(event["headers"]["x-forwarded-for"], "127.0.0.1");
    assert_eq!(event["headers"]["x-forwarded-proto"], "http");
    assert!(
        event["headers"]["x-amzn-trace-id"]
            .as_str()
            .unwrap()
            .starts_with("Root=1-")
    );
    let ctx = &event["requestContext"];
    assert_eq!(ctx["requestId"], request_id.as_str());
    assert_eq!(ctx["apiId"], "abcde12345");
    assert_eq!(ctx["accountId"], "123456789012");
    assert_eq!(ctx["domainName"], "localhost:3000");
    assert_eq!(ctx["domainPrefix"], "localhost");
    assert_eq!(ctx["stage"], "$default");
    assert_eq!(ctx["http"]["sourceIp"], "127.0.0.1");
    assert_eq!(ctx["http"]["method"], "GET");
    assert!(ctx["timeEpoch"].as_i64().unwrap() > 1_700_000_000_000);
    assert!(event.get("body").is_none());
    assert_eq!(event["isBase64Encoded"], false);
}

#[tokio::test]
async fn the_path_reaches_the_function_percent_decoded_in_both_formats() {
    let invoker = StandIn::new(echo);
    let mut legacy = route("GET /legacy/{proxy+}", "Legacy");
    legacy.payload_format_version = "1.0".into();
    let g = gateway(
        &api(vec![route("GET /files/{name}", "Files"), legacy]),
        invoker.clone(),
    );
    send(&g, "GET", "/files/caf%C3%A9%20menu%2Fv2?x=%20", &[]).await;
    send(&g, "GET", "/legacy/a%40b", &[]).await;
    let calls = invoker.calls();
    let v2 = &calls[0].1;
    assert_eq!(v2["rawPath"], "/files/café menu/v2");
    assert_eq!(v2["requestContext"]["http"]["path"], "/files/café menu/v2");
    assert_eq!(v2["pathParameters"]["name"], "café menu/v2");
    // The query string stays as it was sent.
    assert_eq!(v2["rawQueryString"], "x=%20");
    let v1 = &calls[1].1;
    assert_eq!(v1["path"], "/legacy/a@b");
    assert_eq!(v1["requestContext"]["path"], "/legacy/a@b");
}

#[tokio::test]
async fn a_full_match_on_any_wins_over_a_greedy_route_with_the_method() {
    let invoker = StandIn::new(echo);
    let g = gateway(
        &api(vec![
            route("ANY /users/{id}", "User"),
            route("GET /{proxy+}", "Proxy"),
        ]),
        invoker.clone(),
    );
    assert_eq!(send(&g, "GET", "/users/1", &[]).await.status(), 200);
    assert_eq!(send(&g, "GET", "/carts/1", &[]).await.status(), 200);
    let functions: Vec<String> = invoker.calls().into_iter().map(|(f, _)| f).collect();
    assert_eq!(functions, ["local-User", "local-Proxy"]);
}

#[tokio::test]
async fn a_status_code_given_as_a_string_of_digits_is_honoured() {
    let g = gateway(
        &api(vec![route("POST /x", "Fn")]),
        StandIn::new(|_, _| success(json!({"statusCode": "201", "body": "made"}))),
    );
    let r = send(&g, "POST", "/x", &[]).await;
    assert_eq!(r.status(), 201);
    assert_eq!(r.body(), "made");
}

#[tokio::test]
async fn a_request_line_and_header_values_over_10240_bytes_are_refused() {
    let invoker = StandIn::new(echo);
    let g = gateway(&api(vec![route("GET /x", "Fn")]), invoker.clone());
    // "GET /x HTTP/1.1" is 15 bytes; the header values make up the rest.
    let fits = "a".repeat(MAX_REQUEST_HEAD_BYTES - 15);
    let r = send(&g, "GET", "/x", &[("x-big", &fits)]).await;
    assert_eq!(r.status(), 200);
    let over = "a".repeat(MAX_REQUEST_HEAD_BYTES - 14);
    let r = send(&g, "GET", "/x", &[("x-big", &over)]).await;
    assert_eq!(r.status(), 431);
    assert_eq!(r.body(), r#"{"message":"Request Header Fields Too Large"}"#);
    assert!(r.headers().contains_key("apigw-requestid"));
    // The query string is part of the request line.
    let long_query = format!("/x?q={}", "a".repeat(MAX_REQUEST_HEAD_BYTES));
    assert_eq!(send(&g, "GET", &long_query, &[]).await.status(), 431);
    assert_eq!(invoker.calls().len(), 1);
}

#[tokio::test]
async fn an_event_over_lambdas_6_mb_limit_is_refused_without_invoking() {
    let invoker = StandIn::new(|_, _| success(json!({"statusCode": 204})));
    let g = gateway(&api(vec![route("POST /upload", "Up")]), invoker.clone());
    // 5 MB of text fits; the same 5 MB as binary grows by a third in base64 and does not.
    let body = vec![b'a'; 5_000_000];
    let r = g
        .handle(
            request("POST", "/upload", &[("content-type", "text/plain")], &body),
            peer(),
        )
        .await;
    assert_eq!(r.status(), 204);
    let r = g
        .handle(
            request(
                "POST",
                "/upload",
                &[("content-type", "application/octet-stream")],
                &body,
            ),
            peer(),
        )
        .await;
    assert_eq!(r.status(), 413);
    assert_eq!(r.body(), r#"{"message":"Request Entity Too Large"}"#);
    assert_eq!(invoker.calls().len(), 1);
}

#[tokio::test]
async fn without_a_host_the_domain_is_the_loopback_address_and_port() {
    let invoker = StandIn::new(echo);
    let g = gateway(&api(vec![route("GET /x", "Fn")]), invoker.clone());
    send(&g, "GET", "/x", &[]).await;
    let event = &invoker.calls()[0].1;
    assert_eq!(event["requestContext"]["domainName"], "127.0.0.1:3000");
    assert_eq!(event["requestContext"]["domainPrefix"], "abcde12345");
}

#[tokio::test]
async fn an_unknown_path_is_not_found_unless_there_is_a_default_route() {
    let invoker = StandIn::new(echo);
    let g = gateway(
        &api(vec![route("GET /v1/health", "Health")]),
        invoker.clone(),
    );
    let r = send(&g, "GET", "/v1/nope", &[]).await;
    assert_eq!(r.status(), 404);
    assert_eq!(r.body(), r#"{"message":"Not Found"}"#);
    assert!(r.headers().contains_key("apigw-requestid"));
    assert!(invoker.calls().is_empty());

    let g = gateway(
        &api(vec![
            route("GET /v1/health", "Health"),
            route("$default", "NotFound"),
        ]),
        invoker.clone(),
    );
    let r = send(&g, "DELETE", "/v1/health", &[]).await;
    assert_eq!(r.status(), 200);
    let event = &invoker.calls()[0].1;
    assert_eq!(event["routeKey"], "$default");
    assert_eq!(event["requestContext"]["routeKey"], "$default");
}

#[tokio::test]
async fn a_failing_function_is_an_internal_server_error() {
    let g = gateway(
        &api(vec![route("GET /x", "Fn")]),
        StandIn::new(|_, _| failure()),
    );
    let r = send(&g, "GET", "/x", &[]).await;
    assert_eq!(r.status(), 500);
    assert_eq!(r.body(), r#"{"message":"Internal Server Error"}"#);
    assert_eq!(r.headers()["content-type"], "application/json");
}

#[tokio::test]
async fn a_runner_that_cannot_invoke_is_an_internal_server_error() {
    let g = gateway(
        &api(vec![route("GET /x", "Fn")]),
        StandIn::new(|_, _| Reply {
            delay: None,
            result: Err(GatewayInvokeError::ShuttingDown),
        }),
    );
    assert_eq!(send(&g, "GET", "/x", &[]).await.status(), 500);
}

#[tokio::test]
async fn a_malformed_result_is_an_internal_server_error() {
    let g = gateway(
        &api(vec![route("GET /x", "Fn")]),
        StandIn::new(|_, _| success(json!({"statusCode": "two hundred"}))),
    );
    let r = send(&g, "GET", "/x", &[]).await;
    assert_eq!(r.status(), 500);
    assert_eq!(r.body(), r#"{"message":"Internal Server Error"}"#);
}

#[tokio::test]
async fn an_integration_slower_than_the_route_timeout_is_service_unavailable() {
    let mut slow = route("GET /slow", "Slow");
    slow.timeout = Duration::from_millis(50);
    let g = gateway(
        &api(vec![slow]),
        StandIn::new(|_, _| Reply {
            delay: Some(Duration::from_secs(5)),
            result: Ok(InvokeOutput {
                outcome: InvokeOutcome::Success(Bytes::from_static(b"\"late\"")),
                cold_start: false,
            }),
        }),
    );
    let started = Instant::now();
    let r = send(&g, "GET", "/slow", &[]).await;
    assert_eq!(r.status(), 503);
    assert_eq!(r.body(), r#"{"message":"Service Unavailable"}"#);
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn the_plain_body_shortcuts_reach_the_client() {
    let g = gateway(
        &api(vec![route("GET /s", "S"), route("GET /o", "O")]),
        StandIn::new(|f, _| {
            if f == "local-S" {
                success(json!("just text"))
            } else {
                success(json!({"message": "hi"}))
            }
        }),
    );
    let r = send(&g, "GET", "/s", &[]).await;
    assert_eq!(
        (r.status().as_u16(), r.body().as_ref()),
        (200, &b"just text"[..])
    );
    let r = send(&g, "GET", "/o", &[]).await;
    assert_eq!(r.headers()["content-type"], "application/json");
    assert_eq!(body_json(&r), json!({"message": "hi"}));
}

#[tokio::test]
async fn cookies_and_binary_bodies_are_mapped_back() {
    let g = gateway(
        &api(vec![route("POST /upload", "Up")]),
        StandIn::new(|_, event| {
            success(json!({
                "statusCode": 201,
                "headers": {"content-type": "application/octet-stream"},
                "cookies": ["session=abc; HttpOnly", "theme=dark"],
                "isBase64Encoded": true,
                "body": event["body"],
            }))
        }),
    );
    let bytes = [0u8, 1, 2, 255];
    let r = g
        .handle(
            request(
                "POST",
                "/upload",
                &[("content-type", "application/octet-stream")],
                &bytes,
            ),
            peer(),
        )
        .await;
    assert_eq!(r.status(), 201);
    assert_eq!(r.body().as_ref(), &bytes);
    let cookies: Vec<_> = r.headers().get_all("set-cookie").iter().collect();
    assert_eq!(cookies, ["session=abc; HttpOnly", "theme=dark"]);
}

#[tokio::test]
async fn json_bodies_reach_the_function_as_text() {
    let invoker = StandIn::new(echo);
    let g = gateway(
        &api(vec![route("POST /v1/cart/items", "Add")]),
        invoker.clone(),
    );
    g.handle(
        request(
            "POST",
            "/v1/cart/items",
            &[("content-type", "application/json")],
            br#"{"productId":"p1","quantity":2}"#,
        ),
        peer(),
    )
    .await;
    let event = &invoker.calls()[0].1;
    assert_eq!(event["body"], r#"{"productId":"p1","quantity":2}"#);
    assert_eq!(event["isBase64Encoded"], false);
}

#[tokio::test]
async fn a_body_over_ten_megabytes_is_refused() {
    let invoker = StandIn::new(echo);
    let g = gateway(&api(vec![route("POST /x", "Fn")]), invoker.clone());
    let big = vec![b'a'; MAX_BODY_BYTES + 1];
    let r = g
        .handle(
            request("POST", "/x", &[("content-type", "text/plain")], &big),
            peer(),
        )
        .await;
    assert_eq!(r.status(), 413);
    assert_eq!(r.body(), r#"{"message":"Request Entity Too Large"}"#);
    assert!(invoker.calls().is_empty());
}

#[tokio::test]
async fn requests_over_the_route_limit_are_throttled() {
    let mut a = api(vec![route("GET /a", "A"), route("GET /b", "B")]);
    a.route_throttles.insert(
        "GET /a".into(),
        Throttle {
            burst_limit: 1,
            rate_limit: 0.0,
        },
    );
    let invoker = StandIn::new(echo);
    let g = gateway(&a, invoker.clone());
    assert_eq!(send(&g, "GET", "/a", &[]).await.status(), 200);
    let r = send(&g, "GET", "/a", &[]).await;
    assert_eq!(r.status(), 429);
    assert_eq!(r.body(), r#"{"message":"Too Many Requests"}"#);
    assert_eq!(send(&g, "GET", "/b", &[]).await.status(), 200);
    assert_eq!(invoker.calls().len(), 2);
}

#[tokio::test]
async fn a_v1_route_gets_the_rest_shaped_event_and_needs_a_status_code() {
    let mut r1 = route("GET /legacy/{id}", "Legacy");
    r1.payload_format_version = "1.0".into();
    let invoker = StandIn::new(|_, _| {
        success(json!({"statusCode": 200, "multiValueHeaders": {"x-a": ["1", "2"]}, "body": "ok"}))
    });
    let g = gateway(&api(vec![r1]), invoker.clone());
    let r = send(&g, "GET", "/legacy/7?q=a", &[]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers().get_all("x-a").iter().count(), 2);
    let event = &invoker.calls()[0].1;
    assert_eq!(event["version"], "1.0");
    assert_eq!(event["resource"], "/legacy/{id}");
    assert_eq!(event["pathParameters"]["id"], "7");
    assert_eq!(event["multiValueQueryStringParameters"]["q"], json!(["a"]));
}

// ---- authorizer ----

fn authorized_api(simple: bool, ttl: Duration) -> HttpApi {
    let mut cart = route("GET /v1/cart", "GetCart");
    cart.authorizer = Some("TokenAuth".into());
    let mut orders = route("GET /v1/orders", "ListOrders");
    orders.authorizer = Some("TokenAuth".into());
    let mut a = api(vec![cart, orders, route("GET /v1/health", "Health")]);
    a.authorizers.insert(
        "TokenAuth".into(),
        Authorizer {
            name: "TokenAuth".into(),
            function: "Authorizer".into(),
            payload_format_version: "2.0".into(),
            simple_responses: simple,
            identity_headers: vec!["Authorization".into()],
            identity_query_strings: vec![],
            identity_context: vec![],
            ttl,
        },
    );
    a
}

/// An authorizer that allows the token `good` (and `cart-only` for the cart
/// route, with a policy), then echoes for the routes.
fn auth_and_echo(function: &str, event: &Value) -> Reply {
    if function != "local-Authorizer" {
        return echo(function, event);
    }
    let token = event["identitySource"][0].as_str().unwrap_or("");
    match token {
        "good" => {
            success(json!({"isAuthorized": true, "context": {"userId": "u1", "role": "customer"}}))
        }
        "broken" => success(json!({"isAuthorized": "yes"})),
        "crash" => failure(),
        _ => success(json!({"isAuthorized": false})),
    }
}

#[tokio::test]
async fn a_request_without_the_identity_source_is_unauthorized_without_invoking() {
    let invoker = StandIn::new(auth_and_echo);
    let g = gateway(&authorized_api(true, Duration::ZERO), invoker.clone());
    let r = send(&g, "GET", "/v1/cart", &[]).await;
    assert_eq!(r.status(), 401);
    assert_eq!(r.body(), r#"{"message":"Unauthorized"}"#);
    assert!(invoker.calls().is_empty());
    // Routes without the authorizer stay open.
    assert_eq!(send(&g, "GET", "/v1/health", &[]).await.status(), 200);
}

#[tokio::test]
async fn a_denied_request_is_forbidden() {
    let invoker = StandIn::new(auth_and_echo);
    let g = gateway(&authorized_api(true, Duration::ZERO), invoker.clone());
    let r = send(&g, "GET", "/v1/cart", &[("authorization", "bad")]).await;
    assert_eq!(r.status(), 403);
    assert_eq!(r.body(), r#"{"message":"Forbidden"}"#);
    assert!(invoker.calls_to("local-GetCart").is_empty());
}

#[tokio::test]
async fn an_authorizer_that_fails_or_answers_nonsense_is_an_internal_server_error() {
    let invoker = StandIn::new(auth_and_echo);
    let g = gateway(
        &authorized_api(true, Duration::from_secs(300)),
        invoker.clone(),
    );
    for token in ["crash", "broken"] {
        let r = send(&g, "GET", "/v1/cart", &[("authorization", token)]).await;
        assert_eq!(r.status(), 500, "token {token}");
        assert_eq!(r.body(), r#"{"message":"Internal Server Error"}"#);
    }
    // Failures are not cached.
    send(&g, "GET", "/v1/cart", &[("authorization", "crash")]).await;
    assert_eq!(invoker.calls_to("local-Authorizer").len(), 3);
}

#[tokio::test]
async fn an_allowed_request_carries_the_authorizer_context() {
    let invoker = StandIn::new(auth_and_echo);
    let g = gateway(&authorized_api(true, Duration::ZERO), invoker.clone());
    let r = send(&g, "GET", "/v1/cart?x=1", &[("authorization", "good")]).await;
    assert_eq!(r.status(), 200);
    let event = body_json(&r);
    assert_eq!(
        event["requestContext"]["authorizer"],
        json!({"lambda": {"userId": "u1", "role": "customer"}})
    );
    let auth_event = &invoker.calls_to("local-Authorizer")[0];
    assert_eq!(auth_event["type"], "REQUEST");
    assert_eq!(auth_event["identitySource"], json!(["good"]));
    assert_eq!(auth_event["routeKey"], "GET /v1/cart");
    assert_eq!(
        auth_event["routeArn"],
        "arn:aws:execute-api:us-east-1:123456789012:abcde12345/$default/GET/v1/cart"
    );
    assert_eq!(auth_event["headers"]["authorization"], "good");
    assert_eq!(auth_event["rawQueryString"], "x=1");
}

#[tokio::test]
async fn authorizer_results_are_cached_per_identity_for_the_ttl() {
    let invoker = StandIn::new(auth_and_echo);
    let g = gateway(
        &authorized_api(true, Duration::from_secs(300)),
        invoker.clone(),
    );
    for _ in 0..3 {
        assert_eq!(
            send(&g, "GET", "/v1/cart", &[("authorization", "good")])
                .await
                .status(),
            200
        );
    }
    // The cached result serves the other routes of the authorizer too.
    assert_eq!(
        send(&g, "GET", "/v1/orders", &[("authorization", "good")])
            .await
            .status(),
        200
    );
    assert_eq!(invoker.calls_to("local-Authorizer").len(), 1);
    // A denial is cached as well.
    for _ in 0..2 {
        assert_eq!(
            send(&g, "GET", "/v1/cart", &[("authorization", "bad")])
                .await
                .status(),
            403
        );
    }
    assert_eq!(invoker.calls_to("local-Authorizer").len(), 2);
}

#[tokio::test]
async fn without_a_ttl_the_authorizer_runs_every_time() {
    let invoker = StandIn::new(auth_and_echo);
    let g = gateway(&authorized_api(true, Duration::ZERO), invoker.clone());
    for _ in 0..3 {
        send(&g, "GET", "/v1/cart", &[("authorization", "good")]).await;
    }
    assert_eq!(invoker.calls_to("local-Authorizer").len(), 3);
}

#[tokio::test]
async fn an_authorizer_slower_than_ten_seconds_is_an_internal_server_error() {
    let invoker = StandIn::new(|function, event| {
        if function == "local-Authorizer" {
            return Reply {
                delay: Some(Duration::from_secs(5)),
                result: auth_and_echo(function, event).result,
            };
        }
        echo(function, event)
    });
    let mut g = gateway(
        &authorized_api(true, Duration::from_secs(300)),
        invoker.clone(),
    );
    assert_eq!(g.authorizer_timeout, authorizer::AUTHORIZER_TIMEOUT);
    assert_eq!(authorizer::AUTHORIZER_TIMEOUT, Duration::from_secs(10));
    g.authorizer_timeout = Duration::from_millis(50);
    let started = Instant::now();
    for _ in 0..2 {
        let r = send(&g, "GET", "/v1/cart", &[("authorization", "good")]).await;
        assert_eq!(r.status(), 500);
        assert_eq!(r.body(), r#"{"message":"Internal Server Error"}"#);
    }
    assert!(started.elapsed() < Duration::from_secs(2));
    // A timed-out answer is not cached, and the route's function never runs.
    assert_eq!(invoker.calls_to("local-Authorizer").len(), 2);
    assert!(invoker.calls_to("local-GetCart").is_empty());
}

#[tokio::test]
async fn a_route_key_identity_source_caches_per_route() {
    let mut a = authorized_api(true, Duration::from_secs(300));
    if let Some(auth) = a.authorizers.get_mut("TokenAuth") {
        auth.identity_context = vec!["routeKey".into()];
    }
    let invoker = StandIn::new(auth_and_echo);
    let g = gateway(&a, invoker.clone());
    for path in ["/v1/cart", "/v1/orders", "/v1/cart", "/v1/orders"] {
        let r = send(&g, "GET", path, &[("authorization", "good")]).await;
        assert_eq!(r.status(), 200, "{path}");
    }
    let calls = invoker.calls_to("local-Authorizer");
    assert_eq!(calls.len(), 2, "one authorizer call per route");
    assert_eq!(calls[0]["identitySource"], json!(["good", "GET /v1/cart"]));
    assert_eq!(
        calls[1]["identitySource"],
        json!(["good", "GET /v1/orders"])
    );
}

#[test]
fn an_unknown_context_identity_source_is_refused() {
    let mut a = authorized_api(true, Duration::ZERO);
    if let Some(auth) = a.authorizers.get_mut("TokenAuth") {
        auth.identity_context = vec!["authorizer.claims".into()];
    }
    let result = Gateway::new(
        &a,
        BTreeMap::from([
            ("GetCart".to_string(), "local-GetCart".to_string()),
            ("ListOrders".to_string(), "local-ListOrders".to_string()),
            ("Health".to_string(), "local-Health".to_string()),
            ("Authorizer".to_string(), "local-Authorizer".to_string()),
        ]),
        StandIn::new(echo),
        GatewayOptions {
            region: "us-east-1".into(),
            account_id: "123456789012".into(),
            port: 0,
        },
    );
    let error = result.unwrap_err().to_string();
    assert!(error.contains("$context.authorizer.claims"), "{error}");
}

#[tokio::test]
async fn a_cached_policy_is_evaluated_against_each_route() {
    let invoker = StandIn::new(|function, event| {
        if function != "local-Authorizer" {
            return echo(function, event);
        }
        success(json!({
            "principalId": "user-9",
            "policyDocument": {"Version": "2012-10-17", "Statement": [{
                "Action": "execute-api:Invoke",
                "Effect": "Allow",
                "Resource": event["routeArn"],
            }]},
            "context": {"tier": "gold"}
        }))
    });
    let g = gateway(
        &authorized_api(false, Duration::from_secs(300)),
        invoker.clone(),
    );
    let r = send(&g, "GET", "/v1/cart", &[("authorization", "t")]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        body_json(&r)["requestContext"]["authorizer"]["lambda"],
        json!({"tier": "gold", "principalId": "user-9"})
    );
    // The cached policy allows only the cart route's ARN.
    let r = send(&g, "GET", "/v1/orders", &[("authorization", "t")]).await;
    assert_eq!(r.status(), 403);
    assert_eq!(invoker.calls_to("local-Authorizer").len(), 1);
}

// ---- CORS ----

fn cors_api(routes: Vec<Route>) -> HttpApi {
    let mut a = api(routes);
    a.cors = Some(Cors {
        allow_origins: vec!["https://shop.test".into()],
        allow_methods: vec!["GET".into(), "POST".into()],
        allow_headers: vec!["authorization".into(), "content-type".into()],
        expose_headers: vec!["x-correlation-id".into()],
        max_age: Some(600),
        allow_credentials: false,
    });
    a
}

#[tokio::test]
async fn api_gateway_answers_preflights_no_route_catches() {
    let invoker = StandIn::new(echo);
    let g = gateway(
        &cors_api(vec![route("GET /v1/products", "List")]),
        invoker.clone(),
    );
    let r = send(
        &g,
        "OPTIONS",
        "/v1/products",
        &[
            ("origin", "https://shop.test"),
            ("access-control-request-method", "GET"),
            ("access-control-request-headers", "authorization"),
        ],
    )
    .await;
    assert_eq!(r.status(), 204);
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://shop.test"
    );
    assert_eq!(r.headers()["access-control-allow-methods"], "GET,POST");
    assert_eq!(
        r.headers()["access-control-allow-headers"],
        "authorization,content-type"
    );
    assert_eq!(r.headers()["access-control-max-age"], "600");
    assert!(r.headers().contains_key("apigw-requestid"));
    assert!(r.body().is_empty());
    assert!(invoker.calls().is_empty());

    // An OPTIONS without the preflight headers is an ordinary request.
    let r = send(
        &g,
        "OPTIONS",
        "/v1/products",
        &[("origin", "https://shop.test")],
    )
    .await;
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn a_route_that_catches_options_gets_the_preflight() {
    let invoker = StandIn::new(echo);
    let g = gateway(
        &cors_api(vec![route("ANY /{proxy+}", "Proxy")]),
        invoker.clone(),
    );
    let r = send(
        &g,
        "OPTIONS",
        "/v1/products",
        &[
            ("origin", "https://shop.test"),
            ("access-control-request-method", "GET"),
        ],
    )
    .await;
    assert_eq!(r.status(), 200);
    assert_eq!(invoker.calls().len(), 1);
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://shop.test"
    );
}

#[tokio::test]
async fn responses_to_allowed_origins_get_the_configured_cors_headers_only() {
    let invoker = StandIn::new(|_, _| {
        success(
            json!({"statusCode": 200, "headers": {"access-control-allow-origin": "*", "x-correlation-id": "c-1"}, "body": "x"}),
        )
    });
    let g = gateway(&cors_api(vec![route("GET /x", "Fn")]), invoker);
    let r = send(&g, "GET", "/x", &[("origin", "https://shop.test")]).await;
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://shop.test"
    );
    assert_eq!(
        r.headers()["access-control-expose-headers"],
        "x-correlation-id"
    );
    let r = send(&g, "GET", "/x", &[("origin", "https://evil.test")]).await;
    assert!(r.headers().get("access-control-allow-origin").is_none());
    // Gateway answers get them too.
    let r = send(&g, "GET", "/missing", &[("origin", "https://shop.test")]).await;
    assert_eq!(r.status(), 404);
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://shop.test"
    );
}

#[test]
fn credentials_with_a_wildcard_origin_are_refused() {
    let mut a = cors_api(vec![route("GET /x", "Fn")]);
    if let Some(cors) = a.cors.as_mut() {
        cors.allow_origins = vec!["*".into()];
        cors.allow_credentials = true;
    }
    let result = Gateway::new(
        &a,
        BTreeMap::from([("Fn".to_string(), "local-Fn".to_string())]),
        StandIn::new(echo),
        GatewayOptions {
            region: "us-east-1".into(),
            account_id: "123456789012".into(),
            port: 0,
        },
    );
    let error = result.unwrap_err().to_string();
    assert!(error.contains("AllowCredentials"), "{error}");
}

// ---- construction and serving ----

#[test]
fn a_route_to_an_unknown_function_is_refused() {
    let a = api(vec![route("GET /x", "Missing")]);
    let result = Gateway::new(
        &a,
        BTreeMap::new(),
        StandIn::new(echo),
        GatewayOptions {
            region: "us-east-1".into(),
            account_id: "123456789012".into(),
            port: 0,
        },
    );
    assert!(result.unwrap_err().to_string().contains("Missing"));
}

#[test]
fn the_correlation_id_comes_from_the_function_then_the_client_then_the_request_id() {
    let mut response = http::HeaderMap::new();
    let mut request = http::HeaderMap::new();
    assert_eq!(correlation_id(&response, &request, "rid="), "rid=");
    request.insert("x-correlation-id", HeaderValue::from_static("from-client"));
    assert_eq!(correlation_id(&response, &request, "rid="), "from-client");
    response.insert(
        "x-correlation-id",
        HeaderValue::from_static("from-function"),
    );
    assert_eq!(correlation_id(&response, &request, "rid="), "from-function");
}

#[tokio::test]
async fn a_v1_authorizer_gets_the_rest_shaped_event_and_answers_with_a_policy() {
    let mut a = authorized_api(true, Duration::ZERO);
    if let Some(auth) = a.authorizers.get_mut("TokenAuth") {
        auth.payload_format_version = "1.0".into();
    }
    let invoker = StandIn::new(|function, event| {
        if function != "local-Authorizer" {
            return echo(function, event);
        }
        let effect = if event["authorizationToken"] == "good" {
            "Allow"
        } else {
            "Deny"
        };
        success(json!({
            "principalId": "p1",
            "policyDocument": {"Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": event["methodArn"]}]},
        }))
    });
    let g = gateway(&a, invoker.clone());
    let r = send(&g, "GET", "/v1/cart", &[("authorization", "good")]).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        body_json(&r)["requestContext"]["authorizer"]["lambda"]["principalId"],
        "p1"
    );
    let auth_event = &invoker.calls_to("local-Authorizer")[0];
    assert_eq!(auth_event["version"], "1.0");
    assert_eq!(auth_event["identitySource"], "good");
    assert_eq!(auth_event["httpMethod"], "GET");
    assert_eq!(
        send(&g, "GET", "/v1/cart", &[("authorization", "bad")])
            .await
            .status(),
        403
    );
}

#[test]
fn request_ids_look_like_api_gateway_ids() {
    let id = new_request_id();
    assert_eq!(id.len(), 16);
    assert!(id.ends_with('='));
    assert_ne!(id, new_request_id());
}

async fn read_response(stream: &mut tokio::net::TcpStream) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed early");
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(str::to_string)
                })
                .and_then(|l| l.trim().parse::<usize>().ok())
                .unwrap_or(0);
            if body.len() >= length {
                return text;
            }
        }
    }
}

#[tokio::test]
async fn serve_answers_over_http_with_keep_alive_and_stops_on_shutdown() {
    let invoker = StandIn::new(|_, event| {
        success(json!({"path": event["rawPath"], "domain": event["requestContext"]["domainName"]}))
    });
    let g = Arc::new(gateway(&api(vec![route("GET /{proxy+}", "Fn")]), invoker));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = CancellationToken::new();
    let server = tokio::spawn(g.serve(listener, shutdown.clone()));

    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    for path in ["/one", "/two"] {
        stream
            .write_all(
                format!(
                    "GET {path} HTTP/1.1\r\nhost: 127.0.0.1:{}\r\n\r\n",
                    addr.port()
                )
                .as_bytes(),
            )
            .await
            .unwrap();
        let text = read_response(&mut stream).await;
        assert!(text.starts_with("HTTP/1.1 200"), "{text}");
        assert!(text.contains(&format!("\"path\":\"{path}\"")), "{text}");
        assert!(
            text.to_ascii_lowercase().contains("apigw-requestid: "),
            "{text}"
        );
    }

    let mut big = tokio::net::TcpStream::connect(addr).await.unwrap();
    big.write_all(
        format!(
            "POST /x HTTP/1.1\r\nhost: h\r\ncontent-length: {}\r\n\r\n",
            MAX_BODY_BYTES + 1
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let text = read_response(&mut big).await;
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}
