//! One helper for every crate's integration tests: a running local stack on free ports,
//! with its own emulator, so no two tests share state.
//!
//! Tests that can share a stack (each works on its own users and products) use
//! [`shared_stack`] instead: one stack per test binary, started by the first test that asks.
//!
//! ```no_run
//! # async fn example() -> anyhow::Result<()> {
//! let stack = local::testing::spawn().await?;
//! let response = stack.get("/v1/health").await?;
//! assert_eq!(response.status, 200);
//! stack.shutdown().await;
//! # Ok(()) }
//! ```

use std::path::Path;

use anyhow::Context;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request};
use http_body_util::{BodyExt as _, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::paths;
use crate::stack::{Stack, StackOptions};

/// A stack started for one test.
pub struct TestStack {
    stack: Stack,
    base_url: String,
    client: Client<HttpConnector, Full<Bytes>>,
}

/// A response as a test sees it.
#[derive(Debug, Clone)]
pub struct TestResponse {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl TestResponse {
    /// The body as JSON (`Value::Null` if it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Starts the repository's own `template.yaml`.
pub async fn spawn() -> anyhow::Result<TestStack> {
    spawn_with(|_| {}).await
}

/// Starts `template` (relative paths are taken from the repository root).
pub async fn spawn_template(template: impl AsRef<Path>) -> anyhow::Result<TestStack> {
    let template = paths::repo_root().join(template);
    spawn_with(move |options| options.template = template).await
}

/// Starts the repository's template with options adjusted by `configure`.
pub async fn spawn_with(configure: impl FnOnce(&mut StackOptions)) -> anyhow::Result<TestStack> {
    crate::logging::init_for_tests();
    let mut options = StackOptions::new(paths::repo_root());
    options.stack_name = "test".into();
    configure(&mut options);
    let stack = Stack::start(options).await?;
    let base_url = stack.api_url().unwrap_or_default();
    let client = Client::builder(TokioExecutor::new()).build_http();
    Ok(TestStack {
        stack,
        base_url,
        client,
    })
}

async fn send(
    client: &Client<HttpConnector, Full<Bytes>>,
    url: &str,
    method: Method,
    headers: &[(&str, &str)],
    body: Bytes,
) -> anyhow::Result<TestResponse> {
    let mut request = Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(HeaderName::try_from(*name)?, HeaderValue::try_from(*value)?);
    }
    let request = request.body(Full::new(body))?;
    let response = client.request(request).await.context("send request")?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .context("read response")?
        .to_bytes();
    Ok(TestResponse {
        status,
        headers,
        body,
    })
}

/// A stack for a benchmark: functions built in release, API Gateway's throttling lifted (so the
/// benchmark measures the stack, not the template's rate limits), and a first admin with
/// `admin_email` and `admin_password`.
///
/// # Errors
/// When the stack cannot start.
pub async fn spawn_for_bench(admin_email: &str, admin_password: &str) -> anyhow::Result<TestStack> {
    let (email, password) = (admin_email.to_owned(), admin_password.to_owned());
    spawn_with(move |options| {
        options.profile = crate::build::Profile::Release;
        let overrides = &mut options.parameter_overrides;
        overrides.insert("AdminEmail".into(), email);
        overrides.insert("AdminPassword".into(), password);
        for limit in [
            "ApiRateLimit",
            "ApiBurstLimit",
            "AuthRateLimit",
            "AuthBurstLimit",
        ] {
            overrides.insert(limit.into(), "100000".into());
        }
    })
    .await
}

/// A stack shared by the tests of one test binary (see [`shared_stack`]). It runs on its own
/// runtime and thread until the process exits, so it outlives each test's runtime.
pub struct SharedStack {
    base_url: String,
    sdk_config: aws_config::SdkConfig,
    model: local_template::Model,
    emulator_endpoint: String,
    sfn_endpoint: String,
    events: std::sync::Arc<crate::events::EventTap>,
    metrics: std::sync::Arc<crate::metrics::MetricsBoard>,
}

static SHARED: tokio::sync::OnceCell<SharedStack> = tokio::sync::OnceCell::const_new();

/// The stack shared by every test of this test binary, started (with `configure` applied to the
/// options) by the first caller; later callers get the same one, whatever `configure` they pass.
///
/// Its processes end with the test process: the emulator exits when its standard input closes,
/// and function processes die with the thread that started them.
///
/// # Errors
/// When the stack cannot start (every caller gets the error of its own attempt).
pub async fn shared_stack(
    configure: impl FnOnce(&mut StackOptions) + Send + 'static,
) -> anyhow::Result<&'static SharedStack> {
    SHARED
        .get_or_try_init(|| async move {
            let (ready, started) = tokio::sync::oneshot::channel();
            std::thread::Builder::new()
                .name("shared-stack".into())
                .spawn(move || {
                    let runtime = match tokio::runtime::Builder::new_multi_thread()
                        .worker_threads(4)
                        .enable_all()
                        .build()
                    {
                        Ok(runtime) => runtime,
                        Err(error) => {
                            let _ = ready.send(Err(anyhow::Error::from(error)));
                            return;
                        }
                    };
                    runtime.block_on(async move {
                        match spawn_with(configure).await {
                            Ok(stack) => {
                                let shared = SharedStack {
                                    base_url: stack.base_url.clone(),
                                    sdk_config: stack.stack.sdk_config().clone(),
                                    model: stack.stack.model().clone(),
                                    emulator_endpoint: stack.stack.emulator_endpoint().to_owned(),
                                    sfn_endpoint: stack.stack.sfn_endpoint(),
                                    events: stack.stack.events().clone(),
                                    metrics: stack.stack.metrics().clone(),
                                };
                                if ready.send(Ok(shared)).is_ok() {
                                    // Serve until the process exits.
                                    std::future::pending::<()>().await;
                                }
                                drop(stack);
                            }
                            Err(error) => {
                                let _ = ready.send(Err(error));
                            }
                        }
                    });
                })
                .context("start the shared stack's thread")?;
            started.await.context("the shared stack's thread ended")?
        })
        .await
}

impl SharedStack {
    /// The first HTTP API's base URL.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    /// SDK configuration that reaches the stack's emulator.
    pub fn sdk_config(&self) -> &aws_config::SdkConfig {
        &self.sdk_config
    }

    /// A Step Functions client of the stack's local Step Functions.
    pub fn sfn(&self) -> aws_sdk_sfn::Client {
        aws_sdk_sfn::Client::from_conf(
            aws_sdk_sfn::config::Builder::from(&self.sdk_config)
                .endpoint_url(&self.sfn_endpoint)
                .build(),
        )
    }

    /// The stack's resolved template.
    pub fn model(&self) -> &local_template::Model {
        &self.model
    }

    /// The emulator's endpoint.
    pub fn emulator_endpoint(&self) -> &str {
        &self.emulator_endpoint
    }

    /// Every event published to the stack's topics, checked against `events/schemas`.
    pub fn events(&self) -> &crate::events::EventTap {
        &self.events
    }

    /// The metrics the stack's functions reported.
    pub fn metrics(&self) -> &crate::metrics::MetricsBoard {
        &self.metrics
    }

    /// Sends a request to the first HTTP API (with a client of the caller's runtime).
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> anyhow::Result<TestResponse> {
        let client = Client::builder(TokioExecutor::new()).build_http();
        send(&client, &self.url(path), method, headers, body.into()).await
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> anyhow::Result<TestResponse> {
        self.request(Method::GET, path, &[], Bytes::new()).await
    }
}

impl TestStack {
    /// The running stack.
    pub fn stack(&self) -> &Stack {
        &self.stack
    }

    /// The first HTTP API's base URL.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base_url, path)
    }

    /// Sends a request to the first HTTP API.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> anyhow::Result<TestResponse> {
        send(&self.client, &self.url(path), method, headers, body.into()).await
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> anyhow::Result<TestResponse> {
        self.request(Method::GET, path, &[], Bytes::new()).await
    }

    /// `POST path` with a JSON body.
    pub async fn post_json(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> anyhow::Result<TestResponse> {
        self.request(
            Method::POST,
            path,
            &[("content-type", "application/json")],
            serde_json::to_vec(body)?,
        )
        .await
    }

    /// Stops the stack and everything it started.
    pub async fn shutdown(self) {
        self.stack.shutdown().await;
    }
}

/// Something tests send API requests to: a [`TestStack`] or the [`SharedStack`].
pub trait Api: Sync {
    /// Sends a request to the stack's first HTTP API.
    fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> impl std::future::Future<Output = anyhow::Result<TestResponse>> + Send;
}

impl Api for TestStack {
    async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> anyhow::Result<TestResponse> {
        self.request(method, path, headers, body).await
    }
}

impl Api for SharedStack {
    async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Bytes,
    ) -> anyhow::Result<TestResponse> {
        self.request(method, path, headers, body).await
    }
}

/// A JSON API call: `token` as a bearer token, `body` as JSON, `extra` headers (an
/// `x-correlation-id`, an `idempotency-key`, ...).
///
/// # Errors
/// When the request cannot be sent (not for 4xx or 5xx answers).
pub async fn call(
    api: &impl Api,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<&serde_json::Value>,
    extra: &[(&str, &str)],
) -> anyhow::Result<TestResponse> {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("content-type", "application/json")];
    if let Some(auth) = &auth {
        headers.push(("authorization", auth));
    }
    headers.extend_from_slice(extra);
    let body = body.map_or_else(Bytes::new, |b| Bytes::from(b.to_string()));
    api.send(method, path, &headers, body).await
}

/// A signed-in user of a test.
#[derive(Debug, Clone)]
pub struct Account {
    /// The user id.
    pub id: String,
    /// The email.
    pub email: String,
    /// An access token carrying the user's role.
    pub token: String,
}

/// Email of the first admin of [`shared_shop`].
pub const ADMIN_EMAIL: &str = "root@storefront.test";
/// Password of the first admin of [`shared_shop`].
pub const ADMIN_PASSWORD: &str = "correct-horse-battery-staple";

/// The [`shared_stack`] of the repository's template with its first admin ([`ADMIN_EMAIL`]) and
/// the given template `parameters`, and that admin signed in.
///
/// # Errors
/// When the stack cannot start or the admin cannot log in.
pub async fn shared_shop(
    parameters: &[(&str, &str)],
) -> anyhow::Result<(&'static SharedStack, Account)> {
    shared_shop_with(parameters, |_| {}).await
}

/// [`shared_shop`] with more options set by `configure` (e.g. `sfn_time_scale`, which shrinks
/// the state machines' waits, retry intervals and task timeouts).
///
/// # Errors
/// As [`shared_shop`].
pub async fn shared_shop_with(
    parameters: &[(&str, &str)],
    configure: impl FnOnce(&mut StackOptions) + Send + 'static,
) -> anyhow::Result<(&'static SharedStack, Account)> {
    let parameters: Vec<(String, String)> = parameters
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let stack = shared_stack(move |options| {
        let overrides = &mut options.parameter_overrides;
        overrides.insert("AdminEmail".into(), ADMIN_EMAIL.into());
        overrides.insert("AdminPassword".into(), ADMIN_PASSWORD.into());
        overrides.extend(parameters);
        configure(options);
    })
    .await?;
    let admin = login(stack, ADMIN_EMAIL, ADMIN_PASSWORD).await?;
    Ok((stack, admin))
}

/// Password of every account [`account`] makes.
pub const TEST_PASSWORD: &str = "a perfectly fine passphrase";

/// Logs `email` in.
///
/// # Errors
/// When the login is refused.
pub async fn login(api: &impl Api, email: &str, password: &str) -> anyhow::Result<Account> {
    let body = serde_json::json!({"email": email, "password": password});
    let answer = call(api, Method::POST, "/v1/auth/login", None, Some(&body), &[]).await?;
    anyhow::ensure!(
        answer.status == 200,
        "log in as {email}: {} {}",
        answer.status,
        answer.text()
    );
    let json = answer.json();
    Ok(Account {
        id: json["user"]["id"]
            .as_str()
            .context("no user id")?
            .to_owned(),
        email: email.to_owned(),
        token: json["accessToken"]
            .as_str()
            .context("no access token")?
            .to_owned(),
    })
}

/// Registers a fresh account, makes it `role` (with `admin`'s token) unless that is `customer`,
/// and logs it in.
///
/// # Errors
/// When a step is refused.
pub async fn account(api: &impl Api, admin: &Account, role: &str) -> anyhow::Result<Account> {
    let email = format!("{role}-{}@storefront.test", uuid::Uuid::new_v4().simple());
    let body = serde_json::json!({"email": email, "password": TEST_PASSWORD});
    let registered = call(
        api,
        Method::POST,
        "/v1/auth/register",
        None,
        Some(&body),
        &[],
    )
    .await?;
    anyhow::ensure!(
        registered.status == 202,
        "register {email}: {} {}",
        registered.status,
        registered.text()
    );
    let customer = login(api, &email, TEST_PASSWORD).await?;
    if role == "customer" {
        return Ok(customer);
    }
    let id = customer.id;
    let promoted = call(
        api,
        Method::PUT,
        &format!("/v1/admin/users/{id}/role"),
        Some(&admin.token),
        Some(&serde_json::json!({ "role": role })),
        &[],
    )
    .await?;
    anyhow::ensure!(
        promoted.status == 200,
        "make {email} {role}: {} {}",
        promoted.status,
        promoted.text()
    );
    login(api, &email, TEST_PASSWORD).await
}

/// Polls `check` every 100 ms until it gives a value or `within` passes.
///
/// # Errors
/// When time runs out (the error names `what`).
pub async fn eventually<T, F>(
    within: std::time::Duration,
    what: &str,
    mut check: impl FnMut() -> F,
) -> anyhow::Result<T>
where
    F: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return Ok(value);
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
