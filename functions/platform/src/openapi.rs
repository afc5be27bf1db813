//! The API's OpenAPI 3.1 document, assembled from every service's routes.
//!
//! Each service describes its operations with `#[utoipa::path]` on its handlers (an `ApiDoc` in its
//! `api` module), with request and response schemas derived from the Rust types the handlers parse
//! and answer. This module merges them, adds what the services share (the bearer scheme, the
//! problem responses) and takes each request body's example from the route's sample event in
//! `events/`. `openapi.json` at the repository root is this document, written by
//! `cargo run -p platform --example openapi`; a test fails when the two differ, or when the
//! document's operations and the template's routes do.

use serde_json::Value;
use utoipa::OpenApi;

use shared::openapi::BearerAuth;

use crate::handlers::{get_openapi, health};

mod samples {
    include!(concat!(env!("OUT_DIR"), "/sample_events.rs"));
}

/// The platform's own operations and everything the services share.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Storefront API",
        description = "Accounts, catalog and search, inventory, carts, orders and their checkout, payments, and the notifications sent. Errors are RFC 9457 problem \
details (`application/problem+json`) with a stable `code`; lists are cursor-paginated; money is \
`{\"amount\": minor units, \"currency\"}`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(health::handle, get_openapi::handle),
    components(
        schemas(shared::error::Problem, shared::openapi::GatewayMessage),
        responses(
            shared::openapi::BadRequest,
            shared::openapi::Unauthorized,
            shared::openapi::Forbidden,
            shared::openapi::NotFound,
            shared::openapi::Conflict,
            shared::openapi::PreconditionFailed,
            shared::openapi::PayloadTooLarge,
            shared::openapi::UnsupportedMediaType,
            shared::openapi::Unprocessable,
            shared::openapi::TooManyRequests,
        ),
    ),
    modifiers(&BearerAuth),
    tags((name = "platform", description = "Health and this document"))
)]
struct PlatformDoc;

/// The whole document, as JSON.
#[must_use]
pub fn document() -> Value {
    let mut doc = PlatformDoc::openapi();
    doc.merge(identity::api::ApiDoc::openapi());
    doc.merge(catalog::api::ApiDoc::openapi());
    doc.merge(inventory::api::ApiDoc::openapi());
    doc.merge(cart::api::ApiDoc::openapi());
    doc.merge(orders::api::ApiDoc::openapi());
    doc.merge(payments::api::ApiDoc::openapi());
    doc.merge(notifications::api::ApiDoc::openapi());
    doc.info.version = env!("CARGO_PKG_VERSION").to_owned();
    let mut value = serde_json::to_value(&doc).unwrap_or(Value::Null);
    for (_, text) in samples::SAMPLE_EVENTS {
        add_example(&mut value, text);
    }
    plain_descriptions(&mut value);
    value
}

/// Operation descriptions come from the handlers' doc comments, whose `# Errors` heading reads
/// better as a plain label in a rendered reference.
fn plain_descriptions(doc: &mut Value) {
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for operation in paths
        .values_mut()
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut())
    {
        if let Some(text) = operation.get("description").and_then(Value::as_str) {
            let plain = text.replace("# Errors\n", "Errors: ");
            operation["description"] = Value::String(plain);
        }
    }
}

/// The document as the repository keeps it: pretty JSON and a final newline.
#[must_use]
pub fn document_text() -> String {
    let mut text = serde_json::to_string_pretty(&document()).unwrap_or_default();
    text.push('\n');
    text
}

/// When `sample` is an API Gateway event with a JSON body, makes that body the example of its
/// route's request body.
fn add_example(doc: &mut Value, sample: &str) {
    let Ok(event) = serde_json::from_str::<Value>(sample) else {
        return;
    };
    let (Some(route), Some(body)) = (event["routeKey"].as_str(), event["body"].as_str()) else {
        return;
    };
    let Some((method, path)) = route.split_once(' ') else {
        return;
    };
    let Ok(example) = serde_json::from_str::<Value>(body) else {
        return;
    };
    let operation = &mut doc["paths"][path][method.to_ascii_lowercase()];
    if let Some(content) = operation
        .pointer_mut("/requestBody/content/application~1json")
        .and_then(Value::as_object_mut)
    {
        content.insert("example".to_owned(), example);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sample_body_lands_in_its_operation() {
        let doc = document();
        let example = &doc["paths"]["/v1/products"]["post"]["requestBody"]["content"]["application/json"]
            ["example"];
        assert_eq!(example["price"]["currency"], "USD");
    }

    #[test]
    fn a_sample_without_a_route_or_body_changes_nothing() {
        let mut doc = serde_json::json!({"paths": {}});
        let before = doc.clone();
        add_example(&mut doc, r#"{"Records": []}"#);
        add_example(&mut doc, r#"{"routeKey": "GET /v1/cart"}"#);
        add_example(&mut doc, "not json");
        assert_eq!(doc, before);
    }
}
