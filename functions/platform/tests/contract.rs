//! The API against its OpenAPI document, through the local stack: Schemathesis (pinned in
//! `local/python/contract.txt`, installed on first use) generates valid and invalid requests for
//! every operation, as a customer and as an admin, and fails on any 5xx, any response the document
//! does not describe (status, content type, schema), and any 4xx that is not problem+json
//! (`tests/contract/checks.py`). `bench/contract.sh` runs the same at depth.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::{
    path::{Path, PathBuf},
    process::Stdio,
};

use http::Method;
use local::testing::{self, Account, SharedStack, call};
use serde_json::{Value, json};
use tokio::process::Command;

/// Generated cases per operation and phase in the test command; `bench/contract.sh` goes deeper
/// through `CONTRACT_MAX_EXAMPLES`.
const MAX_EXAMPLES: &str = "12";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Sends a request that must succeed and returns its JSON.
async fn created(
    stack: &SharedStack,
    method: Method,
    path: &str,
    token: &str,
    body: Value,
) -> Value {
    let answer = call(stack, method, path, Some(token), Some(&body), &[])
        .await
        .unwrap();
    assert!(
        answer.status < 300,
        "{path}: {} {}",
        answer.status,
        answer.text()
    );
    answer.json()
}

/// Real ids for the path and body parameters, so that part of the generated requests reach a
/// product, a category, an address and a user that exist (the rest keep random ids). Written as
/// a Schemathesis configuration file.
async fn known_ids(stack: &SharedStack, admin: &Account, user: &Account, dir: &Path) -> PathBuf {
    let category = created(
        stack,
        Method::POST,
        "/v1/categories",
        &admin.token,
        json!({"slug": format!("fuzz-{}", &user.id[user.id.len() - 12..]), "name": "Fuzzed"}),
    )
    .await;
    let product = created(
        stack,
        Method::POST,
        "/v1/products",
        &admin.token,
        json!({"name": "Fuzzed lamp", "categoryId": category["id"],
               "price": {"amount": 1500, "currency": "USD"}}),
    )
    .await;
    let address = created(
        stack,
        Method::POST,
        "/v1/users/me/addresses",
        &user.token,
        json!({"recipient": "Ada", "line1": "1 Main St", "city": "Springfield",
               "postalCode": "12345", "country": "US"}),
    )
    .await;
    let dictionary =
        |name: &str, value: &Value| format!("[dictionaries.{name}]\nvalues = [{value}]\n");
    let config = format!(
        "{}{}{}{}\
         [parameters]\n\
         \"path.productId\" = {{ dictionary = \"products\", probability = 0.5 }}\n\
         \"body.productId\" = {{ dictionary = \"products\", probability = 0.5 }}\n\
         \"path.categoryId\" = {{ dictionary = \"categories\", probability = 0.5 }}\n\
         \"body.categoryId\" = {{ dictionary = \"categories\", probability = 0.5 }}\n\
         \"path.addressId\" = {{ dictionary = \"addresses\", probability = 0.5 }}\n\
         \"path.userId\" = {{ dictionary = \"users\", probability = 0.5 }}\n",
        dictionary("products", &product["id"]),
        dictionary("categories", &category["id"]),
        dictionary("addresses", &address["id"]),
        dictionary("users", &json!(user.id)),
    );
    let path = dir.join(format!("schemathesis-{}.toml", user.id));
    std::fs::write(&path, config).unwrap();
    path
}

/// Runs Schemathesis against `stack` with `token`, returning its output.
async fn fuzz(stack: &SharedStack, token: &str, config: &Path) -> (bool, String) {
    let root = repo_root();
    let venv = local::emulator::install_tools(&root, "contract")
        .await
        .unwrap();
    let max_examples =
        std::env::var("CONTRACT_MAX_EXAMPLES").unwrap_or_else(|_| MAX_EXAMPLES.to_owned());
    // Schemathesis keeps a cache in its working directory: one fresh directory per run.
    let work = config.with_extension("d");
    std::fs::create_dir_all(&work).unwrap();
    let output = Command::new(venv.join("bin/schemathesis"))
        .current_dir(&work)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("SCHEMATHESIS_HOOKS", "checks")
        .env("PYTHONPATH", root.join("functions/platform/tests/contract"))
        .env("NO_COLOR", "1")
        .arg("--config-file")
        .arg(config)
        .arg("run")
        .arg(root.join("openapi.json"))
        .arg("--url")
        .arg(stack.url(""))
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,\
             response_schema_conformance,client_errors_are_problems",
            "--phases",
            "examples,coverage,fuzzing",
            "--max-examples",
            &max_examples,
            // One worker: Schemathesis's threads can trip a CPython 3.11 error in `ast`
            // ("AST constructor recursion depth mismatch") that fails a run at random.
            "--workers",
            "1",
            "--generation-deterministic",
            "--suppress-health-check",
            "all",
        ])
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[tokio::test(flavor = "multi_thread")]
async fn generated_requests_get_documented_answers_as_a_customer_and_as_an_admin() {
    let (stack, admin) = testing::shared_shop(&[]).await.unwrap();
    let customer = testing::account(stack, &admin, "customer").await.unwrap();
    let dir = std::env::temp_dir().join(format!("contract-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (who, user) in [("customer", &customer), ("admin", &admin)] {
        let config = known_ids(stack, &admin, user, &dir).await;
        let (passed, output) = fuzz(stack, &user.token, &config).await;
        println!("--- Schemathesis as {who} ---\n{output}");
        assert!(passed, "Schemathesis found problems as {who}:\n{output}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_stack_serves_the_document() {
    let (stack, _admin) = testing::shared_shop(&[]).await.unwrap();
    let answer = stack.get("/v1/openapi.json").await.unwrap();
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.json(), platform::openapi::document());
    assert!(answer.header("etag").is_some());
}

#[tokio::test(flavor = "multi_thread")]
async fn answers_are_nosniff_and_personal_ones_are_never_stored() {
    let (stack, admin) = testing::shared_shop(&[]).await.unwrap();
    let me = call(
        stack,
        Method::GET,
        "/v1/users/me",
        Some(&admin.token),
        None,
        &[],
    )
    .await
    .unwrap();
    assert_eq!(me.status, 200, "{}", me.text());
    assert_eq!(me.header("cache-control"), Some("no-store"));
    assert_eq!(me.header("x-content-type-options"), Some("nosniff"));
    let login = call(
        stack,
        Method::POST,
        "/v1/auth/login",
        None,
        Some(&json!({"email": testing::ADMIN_EMAIL, "password": testing::ADMIN_PASSWORD})),
        &[],
    )
    .await
    .unwrap();
    assert_eq!(login.status, 200, "{}", login.text());
    assert_eq!(login.header("cache-control"), Some("no-store"));
    let products = stack.get("/v1/products").await.unwrap();
    assert!(
        products
            .header("cache-control")
            .is_some_and(|c| c.starts_with("public, max-age=")),
        "{:?}",
        products.header("cache-control")
    );
    assert_eq!(products.header("x-content-type-options"), Some("nosniff"));
}

#[tokio::test(flavor = "multi_thread")]
async fn each_route_bounds_its_body() {
    let (stack, admin) = testing::shared_shop(&[]).await.unwrap();
    // A login body far over what credentials need.
    let padding = "x".repeat(5 * 1024);
    let login = call(
        stack,
        Method::POST,
        "/v1/auth/login",
        None,
        Some(&json!({"email": "a@example.com", "password": padding})),
        &[],
    )
    .await
    .unwrap();
    assert_eq!(login.status, 413, "{}", login.text());
    assert_eq!(login.json()["code"], "PAYLOAD_TOO_LARGE");
    // The same size is fine for a product, whose description alone may be 5,000 characters.
    let category = created(
        stack,
        Method::POST,
        "/v1/categories",
        &admin.token,
        json!({"slug": "bounded", "name": "Bounded"}),
    )
    .await;
    let product = call(
        stack,
        Method::POST,
        "/v1/products",
        Some(&admin.token),
        Some(
            &json!({"name": "Long story", "description": "y".repeat(4_900),
                     "categoryId": category["id"], "price": {"amount": 100, "currency": "USD"}}),
        ),
        &[],
    )
    .await
    .unwrap();
    assert_eq!(product.status, 201, "{}", product.text());
}

#[tokio::test(flavor = "multi_thread")]
async fn functions_report_route_and_business_metrics_that_the_stack_reads() {
    let (stack, _admin) = testing::shared_shop(&[]).await.unwrap();
    assert_eq!(stack.get("/v1/health").await.unwrap().status, 200);
    let refused = call(
        stack,
        Method::POST,
        "/v1/auth/login",
        None,
        Some(&json!({"email": "nobody@storefront.test", "password": "not the password"})),
        &[],
    )
    .await
    .unwrap();
    assert_eq!(refused.status, 401);
    let find = |name: &str, route: Option<&str>| {
        stack.metrics().snapshot().into_iter().find(|row| {
            row.namespace.starts_with("Storefront")
                && row.name == name
                && route
                    .is_none_or(|route| row.dimensions == [("Route".to_owned(), route.to_owned())])
        })
    };
    testing::eventually(
        std::time::Duration::from_secs(10),
        "the metrics",
        || async {
            let requests = find("Requests", Some("GET /v1/health"))?;
            let latency = find("Latency", Some("GET /v1/health"))?;
            let client_errors = find("ClientErrors", Some("POST /v1/auth/login"))?;
            let failed = find("LoginsFailed", None)?;
            (requests.sum >= 1.0
                && latency.samples >= 1
                && latency.unit.as_deref() == Some("Milliseconds")
                && client_errors.sum >= 1.0
                && failed.sum >= 1.0)
                .then_some(())
        },
    )
    .await
    .unwrap();
}
