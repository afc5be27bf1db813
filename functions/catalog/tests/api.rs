//! Changing the catalog through the local stack, as sellers, admins and attackers do: products
//! with versions, ownership, categories, idempotent creation, pagination while products are added,
//! the events it publishes (checked against their schemas), and what survives a publisher crash.
//! The tests share one stack; each works with its own users, categories and products.

// Helpers outside the test functions fail the test on a setup error too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bytes::Bytes;
use http::Method;
use local::testing::{self, Account, SharedStack, TestResponse, call, eventually};
use serde_json::{Value, json};
use tokio::sync::OnceCell;

struct Shop {
    stack: &'static SharedStack,
    admin: Account,
}

static SHOP: OnceCell<Shop> = OnceCell::const_new();

async fn shop() -> &'static Shop {
    SHOP.get_or_init(|| async {
        let (stack, admin) = testing::shared_shop(&[]).await.unwrap();
        Shop { stack, admin }
    })
    .await
}

/// A JSON request; and every event the stack has published so far (these tests' own among them)
/// matches its schema.
async fn send(
    stack: &SharedStack,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> TestResponse {
    let answer = call(stack, method, path, token, body.as_ref(), &[])
        .await
        .unwrap();
    let broken = stack.events().problems();
    assert!(
        broken.is_empty(),
        "events that break their schema: {broken:?}"
    );
    answer
}

async fn category(shop: &Shop) -> String {
    let slug = format!("c-{}", uuid::Uuid::new_v4().simple());
    let created = send(
        shop.stack,
        Method::POST,
        "/v1/categories",
        Some(&shop.admin.token),
        Some(json!({"slug": slug, "name": "Test category"})),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.text());
    created.json()["id"].as_str().unwrap().to_owned()
}

fn product_body(name: &str, category: &str, price: i64) -> Value {
    json!({"name": name, "description": "A test product.", "categoryId": category,
           "price": {"amount": price, "currency": "USD"}, "images": ["https://cdn.example.com/t.jpg"]})
}

async fn create_product(
    shop: &Shop,
    seller: &Account,
    category: &str,
    name: &str,
    price: i64,
) -> Value {
    let created = send(
        shop.stack,
        Method::POST,
        "/v1/products",
        Some(&seller.token),
        Some(product_body(name, category, price)),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.text());
    created.json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_seller_creates_changes_and_archives_a_product_with_versions() {
    let shop = shop().await;
    let stack = shop.stack;
    let seller = testing::account(stack, &shop.admin, "seller")
        .await
        .unwrap();
    let category = category(shop).await;
    let created = send(
        stack,
        Method::POST,
        "/v1/products",
        Some(&seller.token),
        Some(product_body("Walnut Desk", &category, 25_000)),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.text());
    assert_eq!(created.header("etag"), Some("\"v1\""));
    let product = created.json();
    let id = product["id"].as_str().unwrap().to_owned();
    assert_eq!(
        created.header("location"),
        Some(format!("/v1/products/{id}").as_str())
    );
    assert_eq!(product["sellerId"], seller.id.as_str());
    assert_eq!(product["status"], "active");

    let public = send(
        stack,
        Method::GET,
        &format!("/v1/products/{id}"),
        None,
        None,
    )
    .await;
    assert_eq!(public.status, 200);
    assert_eq!(public.json(), product);

    // If-Match with the current version changes it; with a stale one it is a 412.
    let path = format!("/v1/products/{id}");
    let patched = call(
        stack,
        Method::PATCH,
        &path,
        Some(&seller.token),
        Some(&json!({"price": {"amount": 19_900, "currency": "USD"}})),
        &[("if-match", "\"v1\"")],
    )
    .await
    .unwrap();
    assert_eq!(patched.status, 200, "{}", patched.text());
    assert_eq!(patched.header("etag"), Some("\"v2\""));
    assert_eq!(patched.json()["price"]["amount"], 19_900);
    let stale = call(
        stack,
        Method::PATCH,
        &path,
        Some(&seller.token),
        Some(&json!({"name": "Oak Desk"})),
        &[("if-match", "\"v1\"")],
    )
    .await
    .unwrap();
    assert_eq!(stale.status, 412, "{}", stale.text());
    assert_eq!(stale.json()["code"], "VERSION_MISMATCH");
    assert_eq!(
        send(stack, Method::GET, &path, None, None).await.json()["name"],
        "Walnut Desk",
        "the stale change did nothing"
    );

    // Moving it to a category that does not exist is refused; the count follows real moves.
    let nowhere = send(
        stack,
        Method::PATCH,
        &path,
        Some(&seller.token),
        Some(json!({"categoryId": uuid::Uuid::now_v7()})),
    )
    .await;
    assert_eq!(
        (nowhere.status, nowhere.json()["code"].clone()),
        (422, json!("CATEGORY_NOT_FOUND"))
    );

    // Delete archives: the public no longer sees it, its seller still does; deleting again is fine.
    assert_eq!(
        send(stack, Method::DELETE, &path, Some(&seller.token), None)
            .await
            .status,
        204
    );
    assert_eq!(
        send(stack, Method::GET, &path, None, None).await.status,
        404
    );
    assert_eq!(
        send(stack, Method::DELETE, &path, Some(&seller.token), None)
            .await
            .status,
        204
    );
    let mine = send(
        stack,
        Method::GET,
        "/v1/seller/products?status=archived",
        Some(&seller.token),
        None,
    )
    .await;
    assert_eq!(mine.status, 200, "{}", mine.text());
    let items = mine.json()["items"].as_array().unwrap().clone();
    assert_eq!(items.len(), 1);
    assert_eq!(
        (
            items[0]["id"].as_str(),
            items[0]["status"].as_str(),
            items[0]["version"].as_u64()
        ),
        (Some(id.as_str()), Some("archived"), Some(3))
    );
    assert!(mine.header("cache-control").unwrap().starts_with("private"));
    let listed = send(
        stack,
        Method::GET,
        &format!("/v1/products?category={category}"),
        None,
        None,
    )
    .await;
    assert!(
        listed.json()["items"].as_array().unwrap().is_empty(),
        "archived products leave the public lists"
    );

    // Restoring it brings it back.
    let restored = send(
        stack,
        Method::PATCH,
        &path,
        Some(&seller.token),
        Some(json!({"status": "active"})),
    )
    .await;
    assert_eq!(restored.status, 200, "{}", restored.text());
    assert_eq!(
        send(stack, Method::GET, &path, None, None).await.status,
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn only_the_owning_seller_or_an_admin_changes_a_product() {
    let shop = shop().await;
    let stack = shop.stack;
    let alice = testing::account(stack, &shop.admin, "seller")
        .await
        .unwrap();
    let bob = testing::account(stack, &shop.admin, "seller")
        .await
        .unwrap();
    let carol = testing::account(stack, &shop.admin, "customer")
        .await
        .unwrap();
    let category = category(shop).await;
    let product = create_product(shop, &bob, &category, "Bob's Lamp", 4_500).await;
    let path = format!("/v1/products/{}", product["id"].as_str().unwrap());

    for token in [&alice.token, &carol.token] {
        let patched = send(
            stack,
            Method::PATCH,
            &path,
            Some(token),
            Some(json!({"name": "Stolen"})),
        )
        .await;
        assert_eq!(patched.status, 403, "{}", patched.text());
        assert_eq!(
            send(stack, Method::DELETE, &path, Some(token), None)
                .await
                .status,
            403
        );
    }
    let as_customer = send(
        stack,
        Method::POST,
        "/v1/products",
        Some(&carol.token),
        Some(product_body("Nope", &category, 100)),
    )
    .await;
    assert_eq!(as_customer.status, 403);
    let other_list = send(
        stack,
        Method::GET,
        &format!("/v1/seller/products?sellerId={}", bob.id),
        Some(&alice.token),
        None,
    )
    .await;
    assert_eq!(
        other_list.status, 403,
        "a seller cannot list another seller's products"
    );
    assert_eq!(
        send(
            stack,
            Method::GET,
            "/v1/seller/products",
            Some(&carol.token),
            None
        )
        .await
        .status,
        403
    );
    assert_eq!(
        send(stack, Method::GET, &path, None, None).await.json()["name"],
        "Bob's Lamp"
    );

    let by_admin = send(
        stack,
        Method::PATCH,
        &path,
        Some(&shop.admin.token),
        Some(json!({"name": "Bob's Brass Lamp"})),
    )
    .await;
    assert_eq!(by_admin.status, 200, "{}", by_admin.text());
    let admin_list = send(
        stack,
        Method::GET,
        &format!("/v1/seller/products?sellerId={}", bob.id),
        Some(&shop.admin.token),
        None,
    )
    .await;
    assert_eq!(admin_list.json()["items"].as_array().unwrap().len(), 1);
    // Without a token the gateway answers (no function runs).
    assert_eq!(
        send(
            stack,
            Method::PATCH,
            &path,
            None,
            Some(json!({"name": "x"}))
        )
        .await
        .status,
        401
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn category_slugs_stay_unique_and_a_category_with_products_cannot_be_deleted() {
    let shop = shop().await;
    let stack = shop.stack;
    let slug = format!("lamps-{}", uuid::Uuid::new_v4().simple());
    let attempts = futures::future::join_all((0..6).map(|i| {
        let body = json!({"slug": slug, "name": format!("Lamps {i}")});
        async move {
            send(
                stack,
                Method::POST,
                "/v1/categories",
                Some(&shop.admin.token),
                Some(body),
            )
            .await
        }
    }))
    .await;
    let created: Vec<&TestResponse> = attempts.iter().filter(|a| a.status == 201).collect();
    assert_eq!(
        created.len(),
        1,
        "exactly one of six concurrent creations wins"
    );
    for loser in attempts.iter().filter(|a| a.status != 201) {
        assert_eq!(
            (loser.status, loser.json()["code"].clone()),
            (409, json!("SLUG_TAKEN"))
        );
    }
    let lamps = created[0].json()["id"].as_str().unwrap().to_owned();

    // Renaming another category to the taken slug is refused too.
    let other = category(shop).await;
    let renamed = send(
        stack,
        Method::PATCH,
        &format!("/v1/categories/{other}"),
        Some(&shop.admin.token),
        Some(json!({"slug": slug})),
    )
    .await;
    assert_eq!(
        (renamed.status, renamed.json()["code"].clone()),
        (409, json!("SLUG_TAKEN"))
    );

    let seller = testing::account(stack, &shop.admin, "seller")
        .await
        .unwrap();
    let product = create_product(shop, &seller, &lamps, "Arc Lamp", 9_900).await;
    let listed = send(stack, Method::GET, "/v1/categories?limit=100", None, None)
        .await
        .json();
    let entry = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == lamps.as_str())
        .unwrap()
        .clone();
    assert_eq!(entry["productCount"], 1);
    let path = format!("/v1/categories/{lamps}");
    let refused = send(stack, Method::DELETE, &path, Some(&shop.admin.token), None).await;
    assert_eq!(
        (refused.status, refused.json()["code"].clone()),
        (409, json!("CATEGORY_NOT_EMPTY"))
    );

    // Once its product is archived it can go, and its slug is free again.
    let product_path = format!("/v1/products/{}", product["id"].as_str().unwrap());
    assert_eq!(
        send(
            stack,
            Method::DELETE,
            &product_path,
            Some(&seller.token),
            None
        )
        .await
        .status,
        204
    );
    assert_eq!(
        send(stack, Method::DELETE, &path, Some(&shop.admin.token), None)
            .await
            .status,
        204
    );
    assert_eq!(
        send(stack, Method::DELETE, &path, Some(&shop.admin.token), None)
            .await
            .status,
        404
    );
    let again = send(
        stack,
        Method::POST,
        "/v1/categories",
        Some(&shop.admin.token),
        Some(json!({"slug": slug, "name": "Lamps again"})),
    )
    .await;
    assert_eq!(again.status, 201, "{}", again.text());
    // Only admins manage categories.
    let by_seller = send(
        stack,
        Method::POST,
        "/v1/categories",
        Some(&seller.token),
        Some(json!({"slug": "mine", "name": "Mine"})),
    )
    .await;
    assert_eq!(by_seller.status, 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_repeated_creation_with_one_idempotency_key_makes_one_product() {
    let shop = shop().await;
    let stack = shop.stack;
    let seller = testing::account(stack, &shop.admin, "seller")
        .await
        .unwrap();
    let category = category(shop).await;
    let body = product_body("Idempotent Kettle", &category, 3_000);
    let key = format!("kettle-{}", uuid::Uuid::new_v4());
    let attempts = futures::future::join_all((0..4).map(|_| {
        let (body, key, token) = (body.clone(), key.clone(), seller.token.clone());
        async move {
            call(
                stack,
                Method::POST,
                "/v1/products",
                Some(&token),
                Some(&body),
                &[("idempotency-key", &key)],
            )
            .await
            .unwrap()
        }
    }))
    .await;
    let ids: BTreeSet<String> = attempts
        .iter()
        .map(|a| {
            assert_eq!(a.status, 201, "{}", a.text());
            a.json()["id"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(
        ids.len(),
        1,
        "four concurrent creations with one key make one product"
    );
    let other = call(
        stack,
        Method::POST,
        "/v1/products",
        Some(&seller.token),
        Some(&product_body("Another Kettle", &category, 3_000)),
        &[("idempotency-key", &key)],
    )
    .await
    .unwrap();
    assert_eq!(
        (other.status, other.json()["code"].clone()),
        (422, json!("IDEMPOTENCY_KEY_REUSED"))
    );
    let mine = send(
        stack,
        Method::GET,
        "/v1/seller/products",
        Some(&seller.token),
        None,
    )
    .await
    .json();
    assert_eq!(mine["items"].as_array().unwrap().len(), 1);
}

/// Walks every page of `query` while `during` runs once, after the first page.
async fn walk_while(
    stack: &SharedStack,
    query: &str,
    limit: u32,
    during: impl std::future::Future<Output = ()>,
) -> Vec<String> {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    let mut during = Some(during);
    for _ in 0..200 {
        let mut path = format!("/v1/products?limit={limit}&{query}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let page = send(stack, Method::GET, &path, None, None).await;
        assert_eq!(page.status, 200, "{}", page.text());
        let body = page.json();
        ids.extend(
            body["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["id"].as_str().unwrap().to_owned()),
        );
        if let Some(during) = during.take() {
            during.await;
        }
        match body["nextCursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return ids,
        }
    }
    panic!("too many pages");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pagination_returns_every_product_exactly_once_while_products_are_added() {
    let shop = shop().await;
    let stack = shop.stack;
    let seller = testing::account(stack, &shop.admin, "seller")
        .await
        .unwrap();
    let category = category(shop).await;
    let mut before = BTreeSet::new();
    for i in 0..30 {
        let product = create_product(
            shop,
            &seller,
            &category,
            &format!("Page Item {i}"),
            1_000 + (i * 37 % 11) * 100,
        )
        .await;
        before.insert(product["id"].as_str().unwrap().to_owned());
    }
    for sort in ["newest", "price_asc", "price_desc"] {
        let added = std::sync::Mutex::new(Vec::new());
        let adding = async {
            for i in 0..8 {
                let product = create_product(
                    shop,
                    &seller,
                    &category,
                    &format!("Late Item {sort} {i}"),
                    500 + i * 250,
                )
                .await;
                added
                    .lock()
                    .unwrap()
                    .push(product["id"].as_str().unwrap().to_owned());
            }
        };
        let served = walk_while(
            stack,
            &format!("category={category}&sort={sort}"),
            7,
            adding,
        )
        .await;
        let distinct: BTreeSet<String> = served.iter().cloned().collect();
        assert_eq!(distinct.len(), served.len(), "{sort}: no product twice");
        assert!(
            distinct.is_superset(&before),
            "{sort}: every product that existed before the walk"
        );
        let known: BTreeSet<String> = before
            .iter()
            .chain(added.lock().unwrap().iter())
            .cloned()
            .collect();
        assert!(distinct.is_subset(&known), "{sort}: nothing else");
        before = known;
    }
}

/// The events the tap saw with `correlation_id`, once `count` of them arrived.
async fn events(
    stack: &SharedStack,
    correlation_id: &str,
    count: usize,
) -> Vec<local::events::ObservedEvent> {
    eventually(
        Duration::from_secs(30),
        "the events on the topic",
        || async {
            let seen = stack.events().by_correlation(correlation_id);
            (seen.len() >= count).then_some(seen)
        },
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_event_the_catalog_publishes_matches_its_schema() {
    let shop = shop().await;
    let stack = shop.stack;
    let seller = testing::account(stack, &shop.admin, "seller")
        .await
        .unwrap();
    let category = category(shop).await;
    let correlation = format!("catalog-events-{}", uuid::Uuid::new_v4().simple());
    let headers = [("x-correlation-id", correlation.as_str())];
    let created = call(
        stack,
        Method::POST,
        "/v1/products",
        Some(&seller.token),
        Some(&product_body("Schema Vase", &category, 1_500)),
        &headers,
    )
    .await
    .unwrap();
    assert_eq!(created.status, 201);
    assert_eq!(
        created.header("x-correlation-id"),
        Some(correlation.as_str())
    );
    let path = format!("/v1/products/{}", created.json()["id"].as_str().unwrap());
    let patched = call(
        stack,
        Method::PATCH,
        &path,
        Some(&seller.token),
        Some(&json!({"images": []})),
        &headers,
    )
    .await
    .unwrap();
    assert_eq!(patched.status, 200);
    assert_eq!(
        call(
            stack,
            Method::DELETE,
            &path,
            Some(&seller.token),
            None,
            &headers
        )
        .await
        .unwrap()
        .status,
        204
    );

    let seen = events(stack, &correlation, 3).await;
    let mut versions = Vec::new();
    for event in &seen {
        assert!(
            event.problems.is_empty(),
            "{:?}: {}",
            event.problems,
            event.event
        );
        assert_eq!(event.event_type(), "ProductChanged");
        versions.push(event.event["data"]["version"].as_u64().unwrap());
    }
    versions.sort_unstable();
    assert_eq!(versions, [1, 2, 3]);
    let last = seen
        .iter()
        .find(|e| e.event["data"]["version"] == 3)
        .unwrap();
    assert_eq!(last.event["data"]["status"], "archived");
    assert!(
        last.event["data"].get("image").is_none(),
        "the removed image is gone"
    );
    // Nothing the tap has seen so far (from any test) breaks its schema.
    let broken: Vec<_> = stack
        .events()
        .events()
        .into_iter()
        .filter(|e| !e.problems.is_empty())
        .collect();
    assert!(broken.is_empty(), "{broken:?}");
}

/// Kills every process of `binary` (the stack starts new instances as they are needed).
fn kill_all(binary: &str) -> usize {
    let mut killed = 0;
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let exe = std::fs::read_link(entry.path().join("exe")).unwrap_or_default();
        if exe.file_name().is_some_and(|name| name == binary) {
            let _ = std::process::Command::new("kill")
                .args(["-9", &pid.to_string()])
                .status();
            killed += 1;
        }
    }
    killed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_event_is_lost_when_the_publisher_crashes_mid_batch() {
    let shop = shop().await;
    let stack = shop.stack;
    let seller = testing::account(stack, &shop.admin, "seller")
        .await
        .unwrap();
    let category = category(shop).await;
    let correlation = format!("publisher-crash-{}", uuid::Uuid::new_v4().simple());
    let headers = [("x-correlation-id", correlation.as_str())];
    let creating = async {
        let mut ids = BTreeSet::new();
        for i in 0..30 {
            let body = product_body(&format!("Crash Item {i}"), &category, 100 + i);
            let created = call(
                stack,
                Method::POST,
                "/v1/products",
                Some(&seller.token),
                Some(&body),
                &headers,
            )
            .await
            .unwrap();
            assert_eq!(created.status, 201);
            ids.insert(created.json()["id"].as_str().unwrap().to_owned());
        }
        ids
    };
    let crashing = async {
        let mut killed = 0;
        for _ in 0..25 {
            tokio::time::sleep(Duration::from_millis(150)).await;
            killed += kill_all("catalog-publisher");
        }
        killed
    };
    let (ids, killed) = tokio::join!(creating, crashing);
    assert!(killed > 0, "the publisher was killed while it worked");

    // Every product's event still reaches the topic (some perhaps twice: at least once).
    let seen = eventually(
        Duration::from_secs(60),
        "an event for every product",
        || async {
            let published: BTreeSet<String> = stack
                .events()
                .by_correlation(&correlation)
                .iter()
                .map(|e| {
                    e.event["data"]["productId"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned()
                })
                .collect();
            (published == ids).then_some(published)
        },
    )
    .await
    .unwrap();
    assert_eq!(seen.len(), 30);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn malformed_requests_get_a_problem_json_4xx_never_a_5xx() {
    let shop = shop().await;
    let stack = shop.stack;
    let seller = testing::account(stack, &shop.admin, "seller")
        .await
        .unwrap();
    let category = category(shop).await;
    let product = create_product(shop, &seller, &category, "Sturdy Box", 700).await;
    let product_path = format!("/v1/products/{}", product["id"].as_str().unwrap());
    let category_path = format!("/v1/categories/{category}");
    let bodies: Vec<(&str, Bytes)> = vec![
        ("application/json", Bytes::from_static(b"")),
        ("application/json", Bytes::from_static(b"{")),
        ("application/json", Bytes::from_static(b"[]")),
        ("application/json", Bytes::from_static(b"null")),
        ("application/json", Bytes::from_static(b"\"text\"")),
        ("application/json", Bytes::from_static(b"{\"name\": 5}")),
        (
            "application/json",
            Bytes::from_static(b"{\"price\": {\"amount\": 1.5, \"currency\": \"USD\"}}"),
        ),
        (
            "application/json",
            Bytes::from_static(b"{\"price\": {\"amount\": 10, \"currency\": \"usd\"}}"),
        ),
        (
            "application/json",
            Bytes::from_static(b"{\"categoryId\": \"not-a-uuid\"}"),
        ),
        (
            "application/json",
            Bytes::from_static(b"{\"unknown\": true}"),
        ),
        (
            "application/json",
            Bytes::from_static(b"{\"status\": \"deleted\"}"),
        ),
        (
            "application/json",
            Bytes::from_static(b"{\"slug\": \"Bad Slug\", \"name\": \"\"}"),
        ),
        (
            "application/json",
            Bytes::from(format!("{{\"name\": \"{}\"}}", "x".repeat(70_000))),
        ),
        ("text/plain", Bytes::from_static(b"{\"name\": \"x\"}")),
        (
            "application/json",
            Bytes::from_static(
                b"{\"name\": \"\\u0000\", \"price\": {\"amount\": -1, \"currency\": \"USD\"}}",
            ),
        ),
    ];
    let routes = [
        (Method::POST, "/v1/products".to_owned(), &seller.token),
        (Method::PATCH, product_path.clone(), &seller.token),
        (Method::POST, "/v1/categories".to_owned(), &shop.admin.token),
        (Method::PATCH, category_path.clone(), &shop.admin.token),
    ];
    for (method, path, token) in &routes {
        for (content_type, body) in &bodies {
            let auth = format!("Bearer {token}");
            let answer = stack
                .request(
                    method.clone(),
                    path,
                    &[("content-type", *content_type), ("authorization", &auth)],
                    body.clone(),
                )
                .await
                .unwrap();
            assert!(
                (400..500).contains(&answer.status),
                "{method} {path} {body:?}: {} {}",
                answer.status,
                answer.text()
            );
            assert_eq!(
                answer.header("content-type"),
                Some("application/problem+json"),
                "{method} {path}"
            );
        }
    }
    let long_query = format!("q={}", "a".repeat(300));
    for query in [
        "minPrice=-5",
        "maxPrice=1e3",
        "minPrice=9&maxPrice=1",
        "sort=popular",
        "sellerId=me",
        "category=%F0%9F%98%80",
        "limit=-1",
        "limit=abc",
        "cursor=%00",
        long_query.as_str(),
    ] {
        let answer = send(
            stack,
            Method::GET,
            &format!("/v1/products?{query}"),
            None,
            None,
        )
        .await;
        assert_eq!(answer.status, 400, "{query}: {}", answer.text());
        assert_eq!(
            answer.header("content-type"),
            Some("application/problem+json")
        );
    }
    for path in [
        "/v1/products/not-an-id",
        "/v1/products/00000000-0000-0000-0000-000000000000",
    ] {
        assert_eq!(
            send(stack, Method::GET, path, None, None).await.status,
            404,
            "{path}"
        );
    }
    assert_eq!(
        send(
            stack,
            Method::PATCH,
            "/v1/categories/nope",
            Some(&shop.admin.token),
            Some(json!({"name": "x"}))
        )
        .await
        .status,
        404
    );
    let bad_key = call(
        stack,
        Method::POST,
        "/v1/products",
        Some(&seller.token),
        Some(&product_body("K", &category, 1)),
        &[("idempotency-key", "has spaces")],
    )
    .await
    .unwrap();
    assert_eq!(bad_key.status, 400);
    // Nothing was changed by any of it.
    let after = send(stack, Method::GET, &product_path, None, None)
        .await
        .json();
    assert_eq!(after, product);
    let mine: BTreeMap<String, Value> = send(
        stack,
        Method::GET,
        "/v1/seller/products",
        Some(&seller.token),
        None,
    )
    .await
    .json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap().to_owned(), p.clone()))
        .collect();
    assert_eq!(mine.len(), 1);
}
