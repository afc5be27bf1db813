//! One helper for every crate's integration tests: a running local stack on free ports,
//! with its own emulator, so no two tests share state.
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
        let mut request = Request::builder().method(method).uri(self.url(path));
        for (name, value) in headers {
            request = request.header(HeaderName::try_from(*name)?, HeaderValue::try_from(*value)?);
        }
        let request = request.body(Full::new(body.into()))?;
        let response = self.client.request(request).await.context("send request")?;
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
