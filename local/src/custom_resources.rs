//! CloudFormation custom resources backed by the template's functions.
//!
//! Once everything else runs, each custom resource is created as CloudFormation creates it:
//! its function gets the `Create` request, and answers by sending its response with an HTTP
//! `PUT` to the request's `ResponseURL`. On AWS that is a presigned S3 URL; here it is a
//! loopback listener served while the custom resources are created, one path per request:
//!
//! ```text
//! http://127.0.0.1:<port>/<LogicalResourceId>/<RequestId>
//! ```
//!
//! Resources are created one at a time in the model's order (each after the custom
//! resources it depends on), and the template is resolved again after each one, so a later
//! resource's properties, and the outputs, see an earlier one's `PhysicalResourceId` as its
//! `Ref` and its `Data` as its attributes. A `FAILED` response, a malformed one, a function
//! error or no response at all fails the start.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow, bail};
use bytes::Bytes;
use http::{Method, StatusCode};
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use local_lambda::{InvokeRequest, Lambda, Outcome};
use local_template::value::as_string;
use local_template::{
    CustomResource, Function, LoadOptions, Model, PhysicalId, PhysicalIds, Template,
};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::server;
use crate::sync::lock;

const LOG_TARGET: &str = "local::cfn";

/// How long after its function returns a response may still arrive. A function sends it
/// before returning, so this only covers the last bytes in flight.
pub const RESPONSE_GRACE: Duration = Duration::from_secs(2);

/// The largest response body CloudFormation accepts.
pub const MAX_RESPONSE_BYTES: usize = 4096;

/// The longest `PhysicalResourceId` CloudFormation accepts.
const MAX_PHYSICAL_ID_BYTES: usize = 1024;

/// Creates every custom resource of `model`, in order, and returns the template resolved
/// again with what they answered.
pub async fn create_all(
    template: &Template,
    load: &LoadOptions,
    mut physical: PhysicalIds,
    model: &Model,
    lambda: &Lambda,
) -> anyhow::Result<Model> {
    let listener = TcpListener::bind(("127.0.0.1", 0))
        .await
        .context("listen on 127.0.0.1 for custom resource responses")?;
    let responses = ResponseUrls {
        address: listener.local_addr()?,
        waiting: Arc::default(),
    };
    let stop = CancellationToken::new();
    let server = {
        let waiting = responses.waiting.clone();
        tokio::spawn(server::serve(listener, stop.clone(), move |request, _| {
            receive(waiting.clone(), request)
        }))
    };

    let result = async {
        for id in model.custom_resources.iter().map(|c| &c.logical_id) {
            // Resolved again for each one: its properties may use the ones created before.
            let current = template
                .resolve(load, &physical)
                .context("resolve the template with the custom resources created so far")?;
            let resource = current
                .custom_resource(id)
                .with_context(|| format!("custom resource {id} is gone from the template"))?;
            let function = current
                .function(&resource.function)
                .with_context(|| format!("no function {}", resource.function))?;
            let created = create(&responses, &current, resource, function, lambda)
                .await
                .with_context(|| format!("create custom resource {id} ({})", resource.kind))?;
            physical.insert(id.clone(), created);
        }
        template
            .resolve(load, &physical)
            .context("resolve the template with the custom resources")
    }
    .await;

    stop.cancel();
    if let Err(error) = server.await {
        tracing::debug!(target: LOG_TARGET, %error, "the response listener ended abnormally");
    }
    result
}

/// The loopback listener that stands in for the presigned S3 URLs.
struct ResponseUrls {
    address: SocketAddr,
    /// Who waits for a `PUT` to which path.
    waiting: Arc<Mutex<HashMap<String, oneshot::Sender<anyhow::Result<Bytes>>>>>,
}

impl ResponseUrls {
    /// A new response URL, and what will be `PUT` to it.
    fn expect(
        &self,
        logical_id: &str,
        request_id: &str,
    ) -> (String, String, oneshot::Receiver<anyhow::Result<Bytes>>) {
        let path = format!("/{logical_id}/{request_id}");
        let (sender, receiver) = oneshot::channel();
        lock(&self.waiting).insert(path.clone(), sender);
        (format!("http://{}{path}", self.address), path, receiver)
    }

    fn forget(&self, path: &str) {
        lock(&self.waiting).remove(path);
    }
}

/// Answers like S3 does to a presigned `PUT` (200 and no body), and hands the body on.
async fn receive(
    waiting: Arc<Mutex<HashMap<String, oneshot::Sender<anyhow::Result<Bytes>>>>>,
    request: http::Request<Incoming>,
) -> http::Response<Full<Bytes>> {
    let Some(waiter) = lock(&waiting).remove(request.uri().path()) else {
        return reply(StatusCode::NOT_FOUND);
    };
    let (body, status) = if request.method() == Method::PUT {
        match Limited::new(request.into_body(), MAX_RESPONSE_BYTES)
            .collect()
            .await
        {
            Ok(body) => (Ok(body.to_bytes()), StatusCode::OK),
            Err(error) => (
                Err(anyhow!(
                    "the response could not be read or is over {MAX_RESPONSE_BYTES} bytes, \
                     the most CloudFormation accepts: {error}"
                )),
                StatusCode::BAD_REQUEST,
            ),
        }
    } else {
        (
            Err(anyhow!(
                "the function sent {} to the ResponseURL, which takes PUT",
                request.method()
            )),
            StatusCode::METHOD_NOT_ALLOWED,
        )
    };
    // The creator may have stopped waiting already; then nobody needs the body.
    let _ = waiter.send(body);
    reply(status)
}

fn reply(status: StatusCode) -> http::Response<Full<Bytes>> {
    let mut response = http::Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    response
}

/// The response object a custom resource's function sends.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Response {
    status: Option<String>,
    reason: Option<String>,
    physical_resource_id: Option<String>,
    stack_id: Option<String>,
    request_id: Option<String>,
    logical_resource_id: Option<String>,
    #[serde(default)]
    data: Map<String, Value>,
}

/// Sends one `Create` request and waits for its response; logs one line either way.
async fn create(
    urls: &ResponseUrls,
    model: &Model,
    resource: &CustomResource,
    function: &Function,
    lambda: &Lambda,
) -> anyhow::Result<PhysicalId> {
    let started = Instant::now();
    let request_id = uuid::Uuid::new_v4().to_string();
    let (response_url, path, response) = urls.expect(&resource.logical_id, &request_id);
    let event = json!({
        "RequestType": "Create",
        "ServiceToken": resource.service_token,
        "ResponseURL": response_url,
        "StackId": model.stack_id(),
        "RequestId": request_id,
        "ResourceType": resource.kind,
        "LogicalResourceId": resource.logical_id,
        "ResourceProperties": resource.request_properties(),
    });
    let result = invoke_and_wait(lambda, &function.name, &event, response).await;
    urls.forget(&path);
    let result = result.and_then(|body| read_response(&body, &event));
    let ms = started.elapsed().as_millis();
    let what = format!(
        "Create {} ({}) by {}",
        resource.logical_id, resource.kind, function.name
    );
    match &result {
        Ok(created) => {
            tracing::info!(target: LOG_TARGET, physical_id = %created.reference, "{what}: SUCCESS {ms}ms");
        }
        Err(error) => {
            tracing::warn!(target: LOG_TARGET, error = format!("{error:#}"), "{what}: failed {ms}ms");
        }
    }
    result
}

/// Invokes the function with the request, then waits for what it sent to the ResponseURL.
async fn invoke_and_wait(
    lambda: &Lambda,
    function: &str,
    event: &Value,
    response: oneshot::Receiver<anyhow::Result<Bytes>>,
) -> anyhow::Result<Bytes> {
    let invocation = lambda
        .invoke(function, InvokeRequest::new(serde_json::to_vec(event)?))
        .await
        .with_context(|| format!("invoke {function}"))?;
    if let Outcome::Error(error) = &invocation.outcome {
        bail!(
            "{function} failed: {}: {}",
            error.error_type,
            error.error_message
        );
    }
    match tokio::time::timeout(RESPONSE_GRACE, response).await {
        Ok(Ok(body)) => body,
        Ok(Err(_)) | Err(_) => {
            bail!("{function} returned without sending a response to the ResponseURL")
        }
    }
}

/// Checks a response against its request: a `SUCCESS` gives the resource's physical id and
/// attributes, a `FAILED` its reason as the error.
fn read_response(body: &[u8], request: &Value) -> anyhow::Result<PhysicalId> {
    let response: Response =
        serde_json::from_slice(body).context("the response is not a JSON response object")?;
    let copied = [
        ("StackId", &response.stack_id),
        ("RequestId", &response.request_id),
        ("LogicalResourceId", &response.logical_resource_id),
    ];
    for (field, value) in copied {
        let expected = request[field].as_str().unwrap_or_default();
        match value {
            Some(value) if value == expected => {}
            Some(value) => {
                bail!("the response's {field} is {value:?}, not the request's {expected:?}")
            }
            None => bail!("the response has no {field} (copy it from the request)"),
        }
    }
    match response.status.as_deref() {
        Some("SUCCESS") => {}
        Some("FAILED") => bail!(
            "FAILED: {}",
            response.reason.as_deref().unwrap_or("(no Reason given)")
        ),
        Some(other) => bail!("the response's Status is {other:?}, not SUCCESS or FAILED"),
        None => bail!("the response has no Status"),
    }
    let reference = response
        .physical_resource_id
        .filter(|id| !id.is_empty())
        .context("the response has no PhysicalResourceId")?;
    if reference.len() > MAX_PHYSICAL_ID_BYTES {
        bail!(
            "the response's PhysicalResourceId is {} bytes, over the {MAX_PHYSICAL_ID_BYTES} CloudFormation accepts",
            reference.len()
        );
    }
    let attributes: BTreeMap<String, String> = response
        .data
        .into_iter()
        .map(|(key, value)| {
            let text = as_string(&value).unwrap_or_else(|| value.to_string());
            (key, text)
        })
        .collect();
    Ok(PhysicalId {
        reference,
        attributes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> Value {
        json!({
            "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/test/0",
            "RequestId": "r-1",
            "LogicalResourceId": "First",
        })
    }

    fn response(fields: Value) -> Vec<u8> {
        let mut body = json!({
            "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/test/0",
            "RequestId": "r-1",
            "LogicalResourceId": "First",
        });
        if let (Some(body), Some(fields)) = (body.as_object_mut(), fields.as_object()) {
            body.extend(fields.clone());
        }
        body.to_string().into_bytes()
    }

    #[test]
    fn a_success_gives_the_physical_id_and_data_as_attributes() {
        let body = response(json!({
            "Status": "SUCCESS",
            "PhysicalResourceId": "first-1",
            "NoEcho": false,
            "Data": {"Name": "x", "Count": 2, "Nested": {"a": 1}},
        }));
        let created = read_response(&body, &request()).unwrap();
        assert_eq!(created.reference, "first-1");
        assert_eq!(
            created.attributes,
            BTreeMap::from([
                ("Count".to_string(), "2".to_string()),
                ("Name".to_string(), "x".to_string()),
                ("Nested".to_string(), r#"{"a":1}"#.to_string()),
            ])
        );
    }

    #[test]
    fn a_failure_gives_its_reason() {
        let body =
            response(json!({"Status": "FAILED", "Reason": "no admin", "PhysicalResourceId": "x"}));
        let error = read_response(&body, &request()).unwrap_err();
        assert_eq!(format!("{error:#}"), "FAILED: no admin");
    }

    #[test]
    fn malformed_responses_say_what_is_wrong() {
        let cases = [
            (
                json!({"Status": "OK", "PhysicalResourceId": "x"}),
                "Status is \"OK\"",
            ),
            (json!({"Status": "SUCCESS"}), "no PhysicalResourceId"),
            (
                json!({"Status": "SUCCESS", "PhysicalResourceId": ""}),
                "no PhysicalResourceId",
            ),
            (
                json!({"Status": "SUCCESS", "PhysicalResourceId": "x", "RequestId": "other"}),
                "RequestId is \"other\", not the request's \"r-1\"",
            ),
            (
                json!({"Status": "SUCCESS", "PhysicalResourceId": "x".repeat(1025)}),
                "over the 1024",
            ),
        ];
        for (fields, expected) in cases {
            let error = read_response(&response(fields.clone()), &request()).unwrap_err();
            assert!(
                format!("{error:#}").contains(expected),
                "{fields}: {error:#}"
            );
        }
        let error = read_response(b"{\"Status\":\"SUCCESS\"}", &request()).unwrap_err();
        assert!(format!("{error:#}").contains("no StackId"), "{error:#}");
        assert!(read_response(b"not json", &request()).is_err());
    }
}
