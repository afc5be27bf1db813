//! `GET /v1/health`: reports that the function runs, without calling AWS.

use lambda_http::{
    Body, Request, Response,
    http::{HeaderValue, header},
};
use serde::Serialize;
use shared::{ApiError, RequestContext, http};

use crate::Config;

/// The health document.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Health<'a> {
    /// Always `ok`: answering at all is the signal.
    pub status: &'static str,
    /// The service name.
    pub service: &'a str,
    /// The crate version.
    pub version: &'a str,
    /// The current time, RFC 3339 UTC.
    pub time: String,
    /// The AWS region, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<&'a str>,
}

/// Answers 200 with the [`Health`] document; never cached.
///
/// # Errors
/// None in practice; the signature is the one every handler has.
#[utoipa::path(
    get,
    path = "/v1/health",
    operation_id = "health",
    summary = "Health check",
    tag = "platform",
    responses((status = 200, description = "The function runs", body = Health)),
)]
#[tracing::instrument(skip_all)]
pub async fn handle(
    config: &Config,
    _req: Request,
    ctx: &RequestContext,
) -> Result<Response<Body>, ApiError> {
    let health = Health {
        status: "ok",
        service: &config.service,
        version: config.version,
        time: shared::time::now_rfc3339(),
        region: config.region.as_deref(),
    };
    let mut response = http::ok(ctx, &health)?;
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::samples;
    use lambda_http::http::HeaderValue;
    use serde_json::Value;
    use shared::{config::Env, http::run_http};

    fn config() -> Config {
        Config::from_env(&Env::from_pairs([("AWS_REGION", "us-east-1")])).unwrap()
    }

    fn body(response: &Response<Body>) -> Value {
        serde_json::from_slice(response.body().as_ref()).unwrap()
    }

    #[tokio::test]
    async fn health_answers_200_json_with_status_ok() {
        let response = run_http(&config(), samples::health(), handle)
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "application/json");
        assert_eq!(response.headers()["cache-control"], "no-store");
        let body = body(&response);
        assert_eq!(body["status"], "ok");
        assert_eq!(body["service"], "platform");
        assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(body["region"], "us-east-1");
        let time = body["time"].as_str().unwrap();
        assert!(shared::time::parse_rfc3339(time).is_ok(), "{time}");
    }

    #[tokio::test]
    async fn health_omits_the_region_when_unknown() {
        let config = Config::from_env(&Env::from_pairs::<&str, &str>([])).unwrap();
        let response = run_http(&config, samples::health(), handle).await.unwrap();
        assert!(body(&response).get("region").is_none());
    }

    #[tokio::test]
    async fn without_a_correlation_id_the_request_id_is_echoed() {
        let response = run_http(&config(), samples::health(), handle)
            .await
            .unwrap();
        assert_eq!(response.headers()["x-correlation-id"], "Hx3kXjZ2IAMEbQw=");
    }

    #[tokio::test]
    async fn a_supplied_correlation_id_is_echoed() {
        let mut req = samples::health();
        req.headers_mut().insert(
            "x-correlation-id",
            HeaderValue::from_static("checkout-42.retry:1"),
        );
        let response = run_http(&config(), req, handle).await.unwrap();
        assert_eq!(
            response.headers()["x-correlation-id"],
            "checkout-42.retry:1"
        );
    }
}
