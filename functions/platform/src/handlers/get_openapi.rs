//! `GET /v1/openapi.json`: the API's OpenAPI document. Public and cacheable.

use lambda_http::{Body, Request, Response};
use shared::{ApiError, RequestContext, http::FixedJson};

/// The document, serialized once per cold start.
#[derive(Debug, Clone)]
pub struct Document(FixedJson);

impl Document {
    /// Builds the document ([`crate::openapi::document`]).
    #[must_use]
    pub fn load() -> Self {
        Self(FixedJson::new(crate::openapi::document_text()))
    }
}

/// Seconds caches may keep the document: it changes only with a deployment.
const MAX_AGE_SECS: u32 = 300;

/// Answers 200 with the document, its `ETag` and `Cache-Control: public`; 304 when `If-None-Match`
/// names it.
///
/// # Errors
/// None in practice; the signature is the one every handler has.
#[utoipa::path(
    get,
    path = "/v1/openapi.json",
    operation_id = "getOpenApi",
    summary = "This OpenAPI document",
    tag = "platform",
    params(("If-None-Match" = Option<String>, Header, description = "An `ETag` from an earlier answer")),
    responses(
        (status = 200, description = "This document", content_type = "application/json", body = Object, headers(
            ("ETag" = String, description = "Strong entity tag of the answer"),
            ("Cache-Control" = String, description = "`public, max-age=300`"),
        )),
        (status = 304, description = "The document is as `If-None-Match` names it"),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn handle(
    document: &Document,
    req: Request,
    ctx: &RequestContext,
) -> Result<Response<Body>, ApiError> {
    document.0.answer(ctx, &req, MAX_AGE_SECS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::samples;
    use lambda_http::http::{HeaderValue, StatusCode, header};
    use shared::http::run_http;

    #[tokio::test]
    async fn serves_the_document_and_revalidates_it() {
        let document = Document::load();
        let response = run_http(&document, samples::get_openapi(), handle)
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let etag = response.headers()[header::ETAG].clone();
        let Body::Text(text) = response.body() else {
            panic!("a text body")
        };
        let doc: serde_json::Value = serde_json::from_str(text).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");

        let mut again = samples::get_openapi();
        again.headers_mut().insert(header::IF_NONE_MATCH, etag);
        let response = run_http(&document, again, handle).await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(
            response.headers()[header::CACHE_CONTROL],
            HeaderValue::from_static("public, max-age=300")
        );
    }
}
