//! The first admin, created at deployment: a CloudFormation custom resource handler.
//!
//! The template declares `Custom::FirstAdmin` when the `AdminEmail` parameter is set. On Create and
//! Update this function reads the initial password from the secret named by the resource's
//! `PasswordSecretArn` (a plain string, or JSON with a `password` key), creates the account as an
//! admin (once: later runs find it), and reports to CloudFormation through the request's
//! `ResponseURL`. An account someone registered with that email is never promoted: the resource
//! fails instead. Delete keeps the account: people's data outlives stacks.

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

use crate::{
    domain::{Email, Password},
    password::Hasher,
    store::{FirstAdmin, Store},
};

type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// What the function needs.
#[derive(Debug, Clone)]
pub struct Bootstrap {
    /// The identity table.
    pub store: Store,
    /// Password hashing.
    pub hasher: Hasher,
    /// Reads the initial password.
    pub secrets: aws_sdk_secretsmanager::Client,
    /// Answers CloudFormation.
    pub http: HttpsClient,
}

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

/// The custom resource request (the fields this handler reads).
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
    pub resource_properties: Properties,
}

/// The resource's properties.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Properties {
    /// The admin's email.
    #[serde(default)]
    pub email: Option<String>,
    /// The secret holding the initial password.
    #[serde(default)]
    pub password_secret_arn: Option<String>,
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

/// Why bootstrapping failed: the reason CloudFormation shows.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    /// The event is not a custom resource request; there is nowhere to answer.
    #[error("not a CloudFormation custom resource request: {0}")]
    NotARequest(String),
    /// The answer could not be delivered.
    #[error("could not answer CloudFormation: {0}")]
    Answer(String),
}

/// Handles one request and answers CloudFormation. Returns the answer's status.
///
/// # Errors
/// Only when the event is not a request or the answer cannot be delivered; every other failure is
/// reported to CloudFormation as `FAILED` with its reason.
pub async fn handle(state: &Bootstrap, event: Value) -> Result<&'static str, BootstrapError> {
    let request: CustomResourceRequest =
        serde_json::from_value(event).map_err(|e| BootstrapError::NotARequest(e.to_string()))?;
    let outcome = match request.request_type.as_str() {
        "Create" | "Update" => create_admin(state, &request.resource_properties).await,
        "Delete" => Ok(request
            .physical_resource_id
            .clone()
            .unwrap_or_else(|| "first-admin".to_owned())),
        other => Err(format!("unknown request type {other}")),
    };
    let (status, reason, physical_id) = match outcome {
        Ok(id) => ("SUCCESS", String::new(), id),
        Err(reason) => {
            tracing::error!(%reason, "first admin not created");
            let id = request
                .physical_resource_id
                .clone()
                .unwrap_or_else(|| "first-admin".to_owned());
            ("FAILED", reason, id)
        }
    };
    let answer = CustomResourceResponse {
        status,
        reason,
        physical_resource_id: physical_id,
        stack_id: request.stack_id,
        request_id: request.request_id,
        logical_resource_id: request.logical_resource_id,
        data: Value::Object(serde_json::Map::new()),
    };
    send_answer(&state.http, &request.response_url, &answer).await?;
    Ok(status)
}

async fn create_admin(state: &Bootstrap, properties: &Properties) -> Result<String, String> {
    let email = properties
        .email
        .as_deref()
        .ok_or("the Email property is required")
        .and_then(|raw| Email::parse(raw).map_err(|_| "the Email property is not an email"))?;
    let secret_arn = properties
        .password_secret_arn
        .as_deref()
        .ok_or("the PasswordSecretArn property is required")?;
    let secret = state
        .secrets
        .get_secret_value()
        .secret_id(secret_arn)
        .send()
        .await
        .map_err(|e| {
            format!(
                "read the initial password: {}",
                shared::error::cause_chain(&e)
            )
        })?;
    let raw = secret.secret_string().unwrap_or_default();
    let password = match serde_json::from_str::<Value>(raw) {
        Ok(Value::Object(map)) => map
            .get("password")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        _ => raw.to_owned(),
    };
    let password =
        Password::parse(&password).map_err(|e| format!("the initial password {}", e.message))?;
    let hasher = state.hasher.clone();
    let hash = tokio::task::spawn_blocking(move || hasher.hash(password.expose()))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let outcome = state
        .store
        .ensure_first_admin(email.as_str(), &hash, &shared::time::now_rfc3339())
        .await
        .map_err(|e| format!("create the admin: {}", shared::error::cause_chain(&e)))?;
    let FirstAdmin::Ready(user_id) = outcome else {
        return Err(format!(
            "{} already has an account that was registered, not provisioned; it is not made an \
             admin. Choose another AdminEmail, or have an admin change that account's role.",
            email.as_str()
        ));
    };
    tracing::info!(%user_id, "first admin ready");
    Ok(format!("first-admin/{}", email.as_str()))
}

async fn send_answer(
    http: &HttpsClient,
    url: &str,
    answer: &CustomResourceResponse,
) -> Result<(), BootstrapError> {
    let body = serde_json::to_vec(answer).map_err(|e| BootstrapError::Answer(e.to_string()))?;
    // The presigned URL is signed without a content type: sending one would break the signature.
    let request = hyper::Request::put(url)
        .header(hyper::header::CONTENT_LENGTH, body.len())
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| BootstrapError::Answer(e.to_string()))?;
    let response = http
        .request(request)
        .await
        .map_err(|e| BootstrapError::Answer(shared::error::cause_chain(&e)))?;
    if response.status().is_success() {
        Ok(())
    } else {
        Err(BootstrapError::Answer(format!(
            "the response URL answered {}",
            response.status()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sample_event_is_a_create_request() {
        let request: CustomResourceRequest =
            serde_json::from_str(include_str!("../../../../events/bootstrap-admin.json")).unwrap();
        assert_eq!(request.request_type, "Create");
        assert!(request.resource_properties.email.is_some());
        assert!(request.resource_properties.password_secret_arn.is_some());
    }
}
