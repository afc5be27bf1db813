//! The local HTTP API in front of real function binaries on the local Lambda
//! runtime: the fixtures `fixture-http` (an echoing HTTP function) and
//! `fixture-authorizer` (a Lambda authorizer).

// The helpers outside the test functions fail the test on a setup error too.
#![allow(clippy::expect_used)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use local::apigw::{Gateway, GatewayOptions};
use local_lambda::{FunctionConfig, Lambda, LogSink, RuntimeOptions};
use local_template::model::{Authorizer, HttpApi, Route};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;

/// The fixtures crate (the `cargo build` runs in its workspace).
const FIXTURES_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures");

/// Builds the fixture binaries once and returns their paths by name.
async fn fixtures() -> &'static BTreeMap<String, PathBuf> {
    static FIXTURES: OnceCell<BTreeMap<String, PathBuf>> = OnceCell::const_new();
    FIXTURES
        .get_or_init(|| async {
            tokio::task::spawn_blocking(build_fixtures)
                .await
                .expect("fixture build task")
        })
        .await
}

fn build_fixtures() -> BTreeMap<String, PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .args(["build", "-p", "local-fixtures", "--message-format=json"])
        .current_dir(FIXTURES_DIR)
        .output()
        .expect("run cargo build for the fixtures");
    assert!(
        output.status.success(),
        "building the fixtures failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|m| m["reason"] == "compiler-artifact")
        .filter_map(|m| {
            let name = m["target"]["name"].as_str()?.to_string();
            let executable = m["executable"].as_str()?;
            Some((name, PathBuf::from(executable)))
        })
        .collect()
}

fn function(name: &str, executable: &Path, timeout: Duration) -> FunctionConfig {
    FunctionConfig {
        name: name.into(),
        arn: format!("arn:aws:lambda:us-east-1:123456789012:function:{name}"),
        executable: executable.to_path_buf(),
        environment: BTreeMap::from([("AWS_REGION".to_string(), "us-east-1".to_string())]),
        timeout,
        memory_mb: 128,
        max_instances: 4,
    }
}

fn route(key: &str, function: &str, authorizer: Option<&str>, timeout: Duration) -> Route {
    let (method, path) = key.split_once(' ').expect("METHOD /path");
    Route {
        route_key: key.into(),
        method: (method != "ANY").then(|| method.to_string()),
        path: Some(path.into()),
        function: function.into(),
        authorizer: authorizer.map(str::to_string),
        payload_format_version: "2.0".into(),
        timeout,
    }
}

fn authorizer(name: &str, simple: bool, ttl: Duration) -> Authorizer {
    Authorizer {
        name: name.into(),
        function: "AuthFunction".into(),
        payload_format_version: "2.0".into(),
        simple_responses: simple,
        identity_headers: vec!["Authorization".into()],
        identity_query_strings: vec![],
        identity_context: vec![],
        ttl,
    }
}

/// A running API over the fixtures, with a client for it.
struct Api {
    addr: SocketAddr,
    client: Client<HttpConnector, Full<Bytes>>,
    shutdown: CancellationToken,
    server: tokio::task::JoinHandle<anyhow::Result<()>>,
    lambda: Arc<Lambda>,
}

struct Answer {
    status: u16,
    headers: http::HeaderMap,
    body: Bytes,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

impl Api {
    async fn start() -> Api {
        let fixtures = fixtures().await;
        let http = &fixtures["fixture-http"];
        let auth = &fixtures["fixture-authorizer"];
        let lambda = Lambda::new(
            vec![
                function("local-HttpFunction", http, Duration::from_secs(10)),
                function("local-AuthFunction", auth, Duration::from_secs(10)),
            ],
            RuntimeOptions {
                init_timeout: Duration::from_secs(10),
                log_sink: LogSink::discard(),
            },
        );
        let default_timeout = Duration::from_secs(30);
        let api = HttpApi {
            logical_id: "ServerlessHttpApi".into(),
            api_id: "abcde12345".into(),
            stage: "$default".into(),
            cors: None,
            authorizers: BTreeMap::from([
                (
                    "Simple".to_string(),
                    authorizer("Simple", true, Duration::from_secs(300)),
                ),
                (
                    "Policy".to_string(),
                    authorizer("Policy", false, Duration::ZERO),
                ),
            ]),
            default_authorizer: None,
            routes: vec![
                route("GET /items/{id}", "HttpFunction", None, default_timeout),
                route(
                    "GET /sleep/{ms}",
                    "HttpFunction",
                    None,
                    Duration::from_millis(300),
                ),
                route(
                    "GET /secure/{proxy+}",
                    "HttpFunction",
                    Some("Simple"),
                    default_timeout,
                ),
                route(
                    "GET /policy/{proxy+}",
                    "HttpFunction",
                    Some("Policy"),
                    default_timeout,
                ),
                route("ANY /{proxy+}", "HttpFunction", None, default_timeout),
            ],
            default_throttle: None,
            route_throttles: BTreeMap::new(),
        };
        let functions = BTreeMap::from([
            ("HttpFunction".to_string(), "local-HttpFunction".to_string()),
            ("AuthFunction".to_string(), "local-AuthFunction".to_string()),
        ]);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("local address");
        let gateway = Gateway::new(
            &api,
            functions,
            lambda.clone(),
            GatewayOptions {
                region: "us-east-1".into(),
                account_id: "123456789012".into(),
                port: addr.port(),
            },
        )
        .expect("gateway");
        let shutdown = CancellationToken::new();
        let server = tokio::spawn(Arc::new(gateway).serve(listener, shutdown.clone()));
        let client = Client::builder(TokioExecutor::new()).build_http();
        Api {
            addr,
            client,
            shutdown,
            server,
            lambda,
        }
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Answer {
        let mut request = http::Request::builder()
            .method(method)
            .uri(format!("http://{}{path}", self.addr));
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let request = request
            .body(Full::new(Bytes::copy_from_slice(body)))
            .expect("request");
        let response = self.client.request(request).await.expect("response");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        Answer {
            status,
            headers,
            body,
        }
    }

    async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Answer {
        self.send("GET", path, headers, b"").await
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.server
            .await
            .expect("server task")
            .expect("server result");
        self.lambda.shutdown().await;
    }
}

#[tokio::test]
async fn a_real_function_gets_the_request_and_its_answer_reaches_the_client() {
    let api = Api::start().await;
    let r = api
        .get(
            "/items/a%20b?q=red%20shoes&q=blue",
            &[
                ("cookie", "session=s1; theme=dark"),
                ("x-correlation-id", "corr-1"),
            ],
        )
        .await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    assert_eq!(r.headers["content-type"], "application/json");
    assert_eq!(r.headers["x-fixture"], "http");
    assert_eq!(r.headers["set-cookie"], "fixture=1; Path=/");
    assert_eq!(r.headers["apigw-requestid"].len(), 16);
    let echo = r.json();
    assert_eq!(echo["method"], "GET");
    assert_eq!(echo["path"], "/items/a%20b");
    assert_eq!(echo["pathParameters"]["id"], "a b");
    assert_eq!(echo["query"]["q"], "red shoes,blue");
    assert_eq!(
        echo["cookies"],
        serde_json::json!(["session=s1", "theme=dark"])
    );
    assert_eq!(echo["headers"]["x-correlation-id"], "corr-1");
    api.stop().await;
}

#[tokio::test]
async fn bodies_travel_as_text_or_base64_both_ways() {
    let api = Api::start().await;
    let r = api
        .send(
            "POST",
            "/anything",
            &[("content-type", "application/json")],
            br#"{"quantity":2}"#,
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["body"], r#"{"quantity":2}"#);
    assert_eq!(r.json()["isBase64Encoded"], false);

    let r = api
        .send(
            "POST",
            "/anything",
            &[("content-type", "application/octet-stream")],
            &[0, 1, 2, 255],
        )
        .await;
    assert_eq!(r.json()["body"], "AAEC/w==");
    assert_eq!(r.json()["isBase64Encoded"], true);

    let r = api.get("/binary", &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.headers["content-type"], "application/octet-stream");
    assert_eq!(r.body.to_vec(), (0..=255u8).collect::<Vec<_>>());
    api.stop().await;
}

#[tokio::test]
async fn statuses_shortcuts_and_failures_come_back_as_api_gateway_gives_them() {
    let api = Api::start().await;
    assert_eq!(api.get("/status/418", &[]).await.status, 418);

    let r = api.get("/plain", &[]).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.headers["content-type"], "application/json");
    assert_eq!(r.json()["plain"], true);

    for path in ["/error", "/crash"] {
        let r = api.get(path, &[]).await;
        assert_eq!(r.status, 500, "{path}");
        assert_eq!(r.body, r#"{"message":"Internal Server Error"}"#, "{path}");
    }
    // The crashed instance is replaced.
    assert_eq!(api.get("/items/1", &[]).await.status, 200);

    let r = api.get("/sleep/2000", &[]).await;
    assert_eq!(r.status, 503);
    assert_eq!(r.body, r#"{"message":"Service Unavailable"}"#);
    api.stop().await;
}

#[tokio::test]
async fn the_simple_authorizer_guards_its_routes_and_its_answer_is_cached() {
    let api = Api::start().await;
    let r = api.get("/secure/cart", &[]).await;
    assert_eq!(
        (r.status, r.body.as_ref()),
        (401, &br#"{"message":"Unauthorized"}"#[..])
    );
    let r = api.get("/secure/cart", &[("authorization", "deny")]).await;
    assert_eq!(
        (r.status, r.body.as_ref()),
        (403, &br#"{"message":"Forbidden"}"#[..])
    );

    let first = api
        .get("/secure/cart", &[("authorization", "allow-alice")])
        .await;
    assert_eq!(first.status, 200);
    let lambda = &first.json()["requestContext"]["authorizer"]["lambda"];
    assert_eq!(lambda["userId"], "alice");
    let calls = lambda["calls"].clone();
    let second = api
        .get("/secure/orders", &[("authorization", "allow-alice")])
        .await;
    assert_eq!(second.status, 200);
    assert_eq!(
        second.json()["requestContext"]["authorizer"]["lambda"]["calls"],
        calls,
        "the cached result is reused"
    );
    api.stop().await;
}

#[tokio::test]
async fn the_policy_authorizer_allows_with_its_principal_or_forbids() {
    let api = Api::start().await;
    let r = api
        .get("/policy/x", &[("authorization", "policy-allow-bob")])
        .await;
    assert_eq!(r.status, 200);
    let lambda = &r.json()["requestContext"]["authorizer"]["lambda"];
    assert_eq!(lambda["principalId"], "bob");
    assert_eq!(lambda["userId"], "bob");
    let r = api
        .get("/policy/x", &[("authorization", "policy-deny")])
        .await;
    assert_eq!(r.status, 403);
    api.stop().await;
}

#[tokio::test]
async fn oversized_heads_and_events_are_refused_before_the_function_runs() {
    let api = Api::start().await;
    let big = "a".repeat(local::apigw::MAX_REQUEST_HEAD_BYTES);
    let r = api.get("/items/1", &[("x-big", &big)]).await;
    assert_eq!(r.status, 431);
    assert_eq!(r.body, r#"{"message":"Request Header Fields Too Large"}"#);

    // 5 MB of binary is 6.7 MB in base64: over Lambda's 6 MB, under API Gateway's 10 MB.
    let body = vec![7u8; 5_000_000];
    let r = api
        .send(
            "POST",
            "/anything",
            &[("content-type", "application/octet-stream")],
            &body,
        )
        .await;
    assert_eq!(r.status, 413);
    assert_eq!(r.body, r#"{"message":"Request Entity Too Large"}"#);

    // The same bytes as text fit, and reach the function.
    let text = vec![b'a'; 5_000_000];
    let r = api
        .send(
            "POST",
            "/anything",
            &[("content-type", "text/plain")],
            &text,
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["body"].as_str().map(str::len), Some(5_000_000));
    api.stop().await;
}
