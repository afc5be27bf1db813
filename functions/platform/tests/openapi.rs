//! The OpenAPI document (`openapi.json`) is what the code generates, describes exactly the
//! template's routes, and gives every request body an example that its schema accepts.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
};

use local_template::{LoadOptions, Template};
use serde_json::{Value, json};

const METHODS: [&str; 5] = ["get", "put", "post", "patch", "delete"];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn document() -> Value {
    platform::openapi::document()
}

/// `(METHOD /path, secured)` for every operation of `doc`.
fn operations(doc: &Value) -> BTreeSet<(String, bool)> {
    let mut found = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            let operation = &item[method];
            if operation.is_null() {
                continue;
            }
            let secured = operation["security"]
                .as_array()
                .is_some_and(|s| s.iter().any(|r| r.get("bearer").is_some()));
            found.insert((format!("{} {path}", method.to_uppercase()), secured));
        }
    }
    found
}

#[test]
fn the_committed_document_is_what_the_code_generates() {
    let committed = std::fs::read_to_string(repo_root().join("openapi.json"))
        .expect("openapi.json at the repository root");
    let generated = platform::openapi::document_text();
    assert!(
        committed == generated,
        "openapi.json differs from what the code generates: run `cargo run -p platform --example openapi` and commit it"
    );
}

#[test]
fn the_document_has_exactly_the_template_routes_with_their_authorizers() {
    let template = Template::from_file(repo_root().join("template.yaml")).unwrap();
    let model = template
        .resolve(&LoadOptions::default(), &Default::default())
        .unwrap();
    let routes: BTreeSet<(String, bool)> = model
        .http_apis
        .iter()
        .flat_map(|api| &api.routes)
        .filter(|route| route.route_key != "$default")
        // The payment-provider simulator stands in for the provider: its API is the provider's,
        // documented by the provider, not part of this API.
        .filter(|route| !route.route_key.contains(" /simulator/"))
        .map(|route| (route.route_key.clone(), route.authorizer.is_some()))
        .collect();
    let documented = operations(&document());
    let missing: Vec<_> = routes.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&routes).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "(route, needs a token) in the template but not the document: {missing:?}; \
         in the document but not the template: {extra:?}"
    );
    assert!(routes.len() >= 30, "{} routes", routes.len());
}

#[test]
fn operation_ids_are_unique_and_every_operation_is_tagged() {
    let doc = document();
    let mut ids = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            let operation = &item[method];
            if operation.is_null() {
                continue;
            }
            let id = operation["operationId"].as_str().unwrap_or_default();
            assert!(
                !id.is_empty() && id != "handle",
                "{method} {path}: operationId {id:?}"
            );
            assert!(
                ids.insert(id.to_owned()),
                "{method} {path}: operationId {id} repeats"
            );
            assert!(
                operation["tags"].as_array().is_some_and(|t| !t.is_empty()),
                "{method} {path} has no tag"
            );
        }
    }
}

#[test]
fn every_request_body_has_an_example_its_schema_accepts() {
    let doc = document();
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            let Some(content) = item[method]
                .pointer("/requestBody/content/application~1json")
                .cloned()
            else {
                continue;
            };
            let example = content.get("example").unwrap_or_else(|| {
                panic!("{method} {path}: no example (add a body to its sample event in events/)")
            });
            // The whole document is the root, so the schema's `$ref`s to its components resolve.
            let mut root = doc.clone();
            root["allOf"] = json!([content["schema"]]);
            let validator = jsonschema::options()
                .with_draft(jsonschema::Draft::Draft202012)
                .build(&root)
                .unwrap_or_else(|e| panic!("{method} {path}: schema does not compile: {e}"));
            let errors: Vec<String> = validator
                .iter_errors(example)
                .map(|e| format!("{} at {}", e, e.instance_path()))
                .collect();
            assert!(
                errors.is_empty(),
                "{method} {path}: example refused: {errors:?}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 15, "{checked} request bodies");
}

#[test]
fn every_client_error_is_a_problem_or_api_gateways_own_answer() {
    let doc = document();
    let responses = &doc["components"]["responses"];
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            let Some(answers) = item[method]["responses"].as_object() else {
                continue;
            };
            for (status, response) in answers {
                if !status.starts_with('4') {
                    continue;
                }
                let response = match response["$ref"].as_str() {
                    Some(reference) => {
                        &responses[reference.trim_start_matches("#/components/responses/")]
                    }
                    None => response,
                };
                let content = response["content"]
                    .as_object()
                    .unwrap_or_else(|| panic!("{method} {path} {status}: no content"));
                for (media, body) in content {
                    let schema = body["schema"]["$ref"].as_str().unwrap_or_default();
                    let fine = (media == "application/problem+json"
                        && schema == "#/components/schemas/Problem")
                        || (media == "application/json"
                            && schema == "#/components/schemas/GatewayMessage");
                    assert!(fine, "{method} {path} {status}: {media} {schema}");
                }
            }
        }
    }
}

#[test]
fn every_reference_resolves() {
    fn walk(doc: &Value, node: &Value, at: &str, broken: &mut Vec<String>) {
        match node {
            Value::Object(map) => {
                if let Some(reference) = map.get("$ref").and_then(Value::as_str) {
                    let target = reference.strip_prefix('#').and_then(|p| doc.pointer(p));
                    if target.is_none() {
                        broken.push(format!("{at}: {reference}"));
                    }
                }
                for (key, value) in map {
                    walk(doc, value, &format!("{at}/{key}"), broken);
                }
            }
            Value::Array(items) => {
                for (i, value) in items.iter().enumerate() {
                    walk(doc, value, &format!("{at}/{i}"), broken);
                }
            }
            _ => {}
        }
    }
    let doc = document();
    let mut broken = Vec::new();
    walk(&doc, &doc, "", &mut broken);
    assert!(broken.is_empty(), "unresolvable references: {broken:#?}");
}
