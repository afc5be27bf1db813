//! CloudFormation custom resources backed by a function ([`super::bootstrap_admin`],
//! [`super::jwt_keys`]): the request, the answer at its `ResponseURL`, and the client that
//! delivers it. Delete requests are answered `SUCCESS` without work: what these resources make
//! (an account, keys) outlives the stack's resource.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper_rustls::ConfigBuilderExt as _;
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The client that answers CloudFormation.
pub type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// An HTTPS (and, for local stacks, HTTP) client trusting the system's roots.
///
/// # Errors
/// When the system has no usable root certificates.
pub fn https_client() -> Result<HttpsClient, std::io::Error> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(std::io::Error::other)?
        .with_native_roots()?
        .with_no_client_auth();
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .build();
    Ok(Client::builder(TokioExecutor::new()).build(connector))
}

/// A custom resource request (the fields these handlers read).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CustomResourceRequest {
    /// `Create`, `Update` or `Delete`.
    pub request_type: String,
    /// Where the answer goes (a presigned S3 URL on AWS).
    #[serde(rename = "ResponseURL")]
    pub response_url: String,
    /// The stack.
    pub stack_id: String,
    /// This request.
    pub request_id: String,
    /// The resource's logical id.
    pub logical_resource_id: String,
    /// Set on Update and Delete.
    #[serde(default)]
    pub physical_resource_id: Option<String>,
    /// The resource's properties.
    #[serde(default)]
    pub resource_properties: Value,
    /// The properties before an Update.
    #[serde(default)]
    pub old_resource_properties: Option<Value>,
}

/// The answer CloudFormation expects at `ResponseURL`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct CustomResourceResponse {
    /// `SUCCESS` or `FAILED`.
    pub status: &'static str,
    /// Why it failed (shown in the stack events).
    pub reason: String,
    /// The resource's physical id.
    pub physical_resource_id: String,
    /// Echoed.
    pub stack_id: String,
    /// Echoed.
    pub request_id: String,
    /// Echoed.
    pub logical_resource_id: String,
    /// Attributes for `!GetAtt`.
    pub data: Value,
}

/// Why a request could not be answered at all.
#[derive(Debug, thiserror::Error)]
pub enum CustomResourceError {
    /// The event is not a custom resource request; there is nowhere to answer.
    #[error("not a CloudFormation custom resource request: {0}")]
    NotARequest(String),
    /// The answer could not be delivered.
    #[error("could not answer CloudFormation: {0}")]
    Answer(String),
}

/// What a Create or Update made: the physical id and the attributes.
#[derive(Debug, Clone, PartialEq)]
pub struct Made {
    /// The resource's physical id.
    pub physical_id: String,
    /// Attributes for `!GetAtt`.
    pub data: Value,
}

/// Runs `work` for a Create or Update request (a Delete succeeds as it is) and answers
/// CloudFormation: `SUCCESS`, or `FAILED` with the reason `work` gave. Returns the status sent.
///
/// # Errors
/// Only when the event is not a request or the answer cannot be delivered.
pub async fn run<F>(
    http: &HttpsClient,
    event: Value,
    default_id: &str,
    work: F,
) -> Result<&'static str, CustomResourceError>
where
    F: AsyncFnOnce(&CustomResourceRequest) -> Result<Made, String>,
{
    let request: CustomResourceRequest = serde_json::from_value(event)
        .map_err(|e| CustomResourceError::NotARequest(e.to_string()))?;
    let existing_id = || {
        request
            .physical_resource_id
            .clone()
            .unwrap_or_else(|| default_id.to_owned())
    };
    let outcome = match request.request_type.as_str() {
        "Create" | "Update" => work(&request).await,
        "Delete" => Ok(Made {
            physical_id: existing_id(),
            data: Value::Object(serde_json::Map::new()),
        }),
        other => Err(format!("unknown request type {other}")),
    };
    let (status, reason, made) = match outcome {
        Ok(made) => ("SUCCESS", String::new(), made),
        Err(reason) => {
            tracing::error!(%reason, resource = %request.logical_resource_id, "custom resource failed");
            let made = Made {
                physical_id: existing_id(),
                data: Value::Object(serde_json::Map::new()),
            };
            ("FAILED", reason, made)
        }
    };
    let answer = CustomResourceResponse {
        status,
        reason,
        physical_resource_id: made.physical_id,
        stack_id: request.stack_id.clone(),
        request_id: request.request_id.clone(),
        logical_resource_id: request.logical_resource_id.clone(),
        data: made.data,
    };
    send_answer(http, &request.response_url, &answer).await?;
    Ok(status)
}

async fn send_answer(
    http: &HttpsClient,
    url: &str,
    answer: &CustomResourceResponse,
) -> Result<(), CustomResourceError> {
    let body =
        serde_json::to_vec(answer).map_err(|e| CustomResourceError::Answer(e.to_string()))?;
    // The presigned URL is signed without a content type: sending one would break the signature.
    let request = hyper::Request::put(url)
        .header(hyper::header::CONTENT_LENGTH, body.len())
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| CustomResourceError::Answer(e.to_string()))?;
    let response = http
        .request(request)
        .await
        .map_err(|e| CustomResourceError::Answer(shared::error::cause_chain(&e)))?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(CustomResourceError::Answer(format!(
            "the response URL answered {}",
            response.status()
        )))
    }
}
