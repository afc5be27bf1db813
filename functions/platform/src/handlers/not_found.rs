//! The API's `$default` route: every path no other route matches gets a problem+json 404.
//!
//! `$default` also catches browsers' CORS preflights (`OPTIONS` with
//! `Access-Control-Request-Method`), which API Gateway only answers itself when no route
//! matches. Those get an empty 204, on which API Gateway puts the configured CORS headers.

use lambda_http::{Body, Request, Response, http::Method};
use shared::{ApiError, RequestContext};

use crate::Config;

/// Longest path quoted back in the problem's detail.
const MAX_QUOTED_PATH: usize = 200;

/// Answers 404 `ROUTE_NOT_FOUND` naming the method and path, or 204 to a CORS preflight.
///
/// # Errors
/// Every request but a preflight: the 404 is the answer.
#[tracing::instrument(skip_all)]
pub async fn handle(
    _config: &Config,
    req: Request,
    ctx: &RequestContext,
) -> Result<Response<Body>, ApiError> {
    if is_preflight(&req) {
        return Ok(shared::http::no_content(ctx));
    }
    Err(route_not_found(req.method(), req.uri().path()))
}

/// A browser's CORS preflight: `OPTIONS` naming the method it wants to send.
fn is_preflight(req: &Request) -> bool {
    req.method() == Method::OPTIONS && req.headers().contains_key("access-control-request-method")
}

/// The 404 for a request no route matches.
#[must_use]
pub fn route_not_found(method: &Method, path: &str) -> ApiError {
    let quoted = match path.char_indices().nth(MAX_QUOTED_PATH) {
        Some((end, _)) => format!("{}...", &path[..end]),
        None => path.to_owned(),
    };
    tracing::info!(%method, path = %quoted, "no route matches");
    ApiError::NotFound {
        code: "ROUTE_NOT_FOUND".into(),
        detail: format!("No route matches {method} {quoted}."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::samples;
    use lambda_http::http::HeaderValue;
    use serde_json::Value;
    use shared::{config::Env, http::run_http};

    fn config() -> Config {
        Config::from_env(&Env::from_pairs::<&str, &str>([])).unwrap()
    }

    async fn call(req: Request) -> (Response<Body>, Value) {
        let response = run_http(&config(), req, handle).await.unwrap();
        let body = serde_json::from_slice(response.body().as_ref()).unwrap();
        (response, body)
    }

    #[tokio::test]
    async fn a_cors_preflight_gets_an_empty_204() {
        let mut req = samples::not_found();
        *req.method_mut() = Method::OPTIONS;
        req.headers_mut().insert(
            "access-control-request-method",
            HeaderValue::from_static("POST"),
        );
        let response = run_http(&config(), req, handle).await.unwrap();
        assert_eq!(response.status(), 204);
        assert!(response.body().is_empty());
    }

    #[tokio::test]
    async fn a_plain_options_request_is_still_a_404() {
        let mut req = samples::not_found();
        *req.method_mut() = Method::OPTIONS;
        let (response, body) = call(req).await;
        assert_eq!(response.status(), 404);
        assert_eq!(body["code"], "ROUTE_NOT_FOUND");
    }

    #[tokio::test]
    async fn an_unknown_path_gets_a_404_problem_with_code_and_request_id() {
        let (response, body) = call(samples::not_found()).await;
        assert_eq!(response.status(), 404);
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
        assert_eq!(body["status"], 404);
        assert_eq!(body["title"], "Not Found");
        assert_eq!(body["code"], "ROUTE_NOT_FOUND");
        assert_eq!(
            body["type"],
            "https://errors.example.com/problems/route-not-found"
        );
        assert_eq!(body["detail"], "No route matches GET /v1/nowhere.");
        assert_eq!(body["requestId"], "Hx3kYhQvoAMEbWg=");
    }

    #[tokio::test]
    async fn the_supplied_correlation_id_is_echoed() {
        let (response, _) = call(samples::not_found()).await;
        assert_eq!(response.headers()["x-correlation-id"], "checkout-7f3a9c");
    }

    #[tokio::test]
    async fn a_hostile_correlation_id_is_replaced_by_the_request_id() {
        let long = "a".repeat(129);
        for hostile in ["<script>alert(1)</script>", "a b", "x\"y", long.as_str()] {
            let mut req = samples::not_found();
            req.headers_mut()
                .insert("x-correlation-id", HeaderValue::from_str(hostile).unwrap());
            let (response, body) = call(req).await;
            assert_eq!(
                response.headers()["x-correlation-id"],
                "Hx3kYhQvoAMEbWg=",
                "{hostile}"
            );
            assert_eq!(body["requestId"], "Hx3kYhQvoAMEbWg=");
        }
    }

    #[test]
    fn very_long_paths_are_shortened_in_the_detail() {
        let path = format!("/{}", "x".repeat(5000));
        let error = route_not_found(&Method::POST, &path);
        assert!(error.detail().len() < 300);
        assert!(error.detail().starts_with("No route matches POST /xxx"));
    }
}
