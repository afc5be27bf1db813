//! Stock through the local stack: learned from the catalog's events, set and adjusted by the
//! product's seller with an audit trail, never negative, idempotent adjustments, and `StockLow`
//! through the outbox. The tests share one stack; each works with its own sellers and products.

// Helpers outside the test functions fail the test on a setup error too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use bytes::Bytes;
use http::Method;
use local::testing::{self, Account, SharedStack, TestResponse, call, eventually};
use serde_json::{Value, json};
use tokio::sync::OnceCell;

struct Shop {
    stack: &'static SharedStack,
    admin: Account,
    category: String,
}

static SHOP: OnceCell<Shop> = OnceCell::const_new();

async fn shop() -> &'static Shop {
    SHOP.get_or_init(|| async {
        let (stack, admin) = testing::shared_shop(&[("StockLowThreshold", "5")])
            .await
            .unwrap();
        let created = send(
            stack,
            Method::POST,
            "/v1/categories",
            Some(&admin.token),
            Some(json!({"slug": "stocked", "name": "Stocked"})),
        )
        .await;
        assert_eq!(created.status, 201, "{}", created.text());
        let category = created.json()["id"].as_str().unwrap().to_owned();
        Shop {
            stack,
            admin,
            category,
        }
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

/// A product of `seller`, once inventory has learned it from the catalog's event.
async fn product(shop: &Shop, seller: &Account) -> String {
    let body = json!({"name": "Stock Item", "categoryId": shop.category, "price": {"amount": 1_000, "currency": "USD"}});
    let created = send(
        shop.stack,
        Method::POST,
        "/v1/products",
        Some(&seller.token),
        Some(body),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.text());
    let id = created.json()["id"].as_str().unwrap().to_owned();
    let path = format!("/v1/inventory/{id}");
    eventually(
        Duration::from_secs(30),
        "inventory to learn the product",
        || async {
            (send(shop.stack, Method::GET, &path, None, None)
                .await
                .status
                == 200)
                .then_some(())
        },
    )
    .await
    .unwrap();
    id
}

async fn adjust(
    stack: &SharedStack,
    token: &str,
    product: &str,
    delta: i64,
    key: Option<&str>,
) -> TestResponse {
    let mut headers = Vec::new();
    if let Some(key) = key {
        headers.push(("idempotency-key", key));
    }
    call(
        stack,
        Method::POST,
        &format!("/v1/inventory/{product}/adjust"),
        Some(token),
        Some(&json!({"delta": delta, "reason": "test"})),
        &headers,
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_seller_sets_and_adjusts_stock_and_every_change_is_audited() {
    let shop = shop().await;
    let stack = shop.stack;
    let seller = testing::account(stack, &shop.admin, "seller")
        .await
        .unwrap();
    let id = product(shop, &seller).await;
    let path = format!("/v1/inventory/{id}");
    let fresh = send(stack, Method::GET, &path, None, None).await.json();
    assert_eq!(
        (
            fresh["available"].clone(),
            fresh["reserved"].clone(),
            fresh["sold"].clone(),
            fresh["inStock"].clone()
        ),
        (json!(0), json!(0), json!(0), json!(false))
    );

    let set = send(
        stack,
        Method::PUT,
        &path,
        Some(&seller.token),
        Some(json!({"available": 40, "reason": "opening count"})),
    )
    .await;
    assert_eq!(set.status, 200, "{}", set.text());
    assert_eq!(set.json()["available"], 40);
    let adjusted = adjust(stack, &seller.token, &id, -3, None).await;
    assert_eq!(adjusted.status, 200, "{}", adjusted.text());
    assert_eq!(adjusted.json()["available"], 37);
    let by_admin = adjust(stack, &shop.admin.token, &id, 5, None).await;
    assert_eq!(by_admin.json()["available"], 42);

    let public = send(stack, Method::GET, &path, None, None).await;
    assert_eq!(public.json()["available"], 42);
    assert_eq!(public.json()["inStock"], true);
    assert_eq!(public.header("cache-control"), Some("public, max-age=0"));

    let audit = send(
        stack,
        Method::GET,
        &format!("{path}/audit"),
        Some(&seller.token),
        None,
    )
    .await;
    assert_eq!(audit.status, 200, "{}", audit.text());
    let records = audit.json()["items"].as_array().unwrap().clone();
    let summary: Vec<(i64, u64, &str, &str)> = records
        .iter()
        .map(|r| {
            (
                r["delta"].as_i64().unwrap(),
                r["available"].as_u64().unwrap(),
                r["kind"].as_str().unwrap(),
                r["actorRole"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (5, 42, "adjust", "admin"),
            (-3, 37, "adjust", "seller"),
            (40, 40, "set", "seller")
        ],
        "newest first"
    );
    assert_eq!(records[2]["reason"], "opening count");
    assert_eq!(records[1]["actorId"], seller.id.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn another_seller_or_a_customer_cannot_touch_a_products_stock() {
    let shop = shop().await;
    let stack = shop.stack;
    let owner = testing::account(stack, &shop.admin, "seller")
        .await
        .unwrap();
    let rival = testing::account(stack, &shop.admin, "seller")
        .await
        .unwrap();
    let customer = testing::account(stack, &shop.admin, "customer")
        .await
        .unwrap();
    let id = product(shop, &owner).await;
    let path = format!("/v1/inventory/{id}");
    for token in [&rival.token, &customer.token] {
        assert_eq!(
            send(
                stack,
                Method::PUT,
                &path,
                Some(token),
                Some(json!({"available": 99}))
            )
            .await
            .status,
            403
        );
        assert_eq!(adjust(stack, token, &id, 10, None).await.status, 403);
        assert_eq!(
            send(
                stack,
                Method::GET,
                &format!("{path}/audit"),
                Some(token),
                None
            )
            .await
            .status,
            403
        );
    }
    assert_eq!(
        send(stack, Method::GET, &path, None, None).await.json()["available"],
        0,
        "nothing changed"
    );
    // A product inventory does not know is a 404 for everyone.
    let unknown = format!("/v1/inventory/{}", uuid::Uuid::now_v7());
    assert_eq!(
        send(
            stack,
            Method::PUT,
            &unknown,
            Some(&shop.admin.token),
            Some(json!({"available": 1}))
        )
        .await
        .status,
        404
    );
    assert_eq!(
        send(stack, Method::GET, &unknown, None, None).await.status,
        404
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stock_never_goes_negative_even_under_concurrent_adjustments() {
    let shop = shop().await;
    let stack = shop.stack;
    let seller = testing::account(stack, &shop.admin, "seller")
        .await
        .unwrap();
    let id = product(shop, &seller).await;
    let path = format!("/v1/inventory/{id}");
    send(
        stack,
        Method::PUT,
        &path,
        Some(&seller.token),
        Some(json!({"available": 10})),
    )
    .await;

    let too_much = adjust(stack, &seller.token, &id, -11, None).await;
    assert_eq!(
        (too_much.status, too_much.json()["code"].clone()),
        (409, json!("INSUFFICIENT_STOCK"))
    );
    assert_eq!(
        send(stack, Method::GET, &path, None, None).await.json()["available"],
        10
    );

    let results =
        futures::future::join_all((0..16).map(|_| adjust(stack, &seller.token, &id, -1, None)))
            .await;
    let ok = results.iter().filter(|r| r.status == 200).count();
    let refused = results
        .iter()
        .filter(|r| r.status == 409 && r.json()["code"] == "INSUFFICIENT_STOCK")
        .count();
    assert_eq!(
        (ok, refused),
        (10, 6),
        "{:?}",
        results.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    let stock = send(stack, Method::GET, &path, None, None).await.json();
    assert_eq!(stock["available"], 0);
    let audit = send(
        stack,
        Method::GET,
        &format!("{path}/audit?limit=100"),
        Some(&seller.token),
        None,
    )
    .await
    .json();
    let total: i64 = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["delta"].as_i64().unwrap())
        .sum();
    assert_eq!(
        total, 0,
        "the audit trail adds up to the level: +10, then ten times -1"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_repeated_adjustment_with_one_idempotency_key_applies_once() {
    let shop = shop().await;
    let stack = shop.stack;
    let seller = testing::account(stack, &shop.admin, "seller")
        .await
        .unwrap();
    let id = product(shop, &seller).await;
    let key = format!("restock-{}", uuid::Uuid::new_v4());
    let answers = futures::future::join_all(
        (0..4).map(|_| adjust(stack, &seller.token, &id, 25, Some(&key))),
    )
    .await;
    for answer in &answers {
        assert_eq!(answer.status, 200, "{}", answer.text());
        assert_eq!(
            answer.json()["available"],
            25,
            "every retry answers the first result"
        );
    }
    assert_eq!(
        send(
            stack,
            Method::GET,
            &format!("/v1/inventory/{id}"),
            None,
            None
        )
        .await
        .json()["available"],
        25
    );
    let other = adjust(stack, &seller.token, &id, 7, Some(&key)).await;
    assert_eq!(
        (other.status, other.json()["code"].clone()),
        (422, json!("IDEMPOTENCY_KEY_REUSED"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stock_low_is_published_once_when_available_crosses_the_threshold() {
    let shop = shop().await;
    let stack = shop.stack;
    let seller = testing::account(stack, &shop.admin, "seller")
        .await
        .unwrap();
    let id = product(shop, &seller).await;
    let path = format!("/v1/inventory/{id}");
    let correlation = format!("stock-low-{}", uuid::Uuid::new_v4().simple());
    let headers = [("x-correlation-id", correlation.as_str())];
    let set = |available: u32| {
        let path = path.clone();
        let token = seller.token.clone();
        async move {
            call(
                stack,
                Method::PUT,
                &path,
                Some(&token),
                Some(&json!({"available": available})),
                &headers,
            )
            .await
            .unwrap()
        }
    };
    assert_eq!(set(20).await.status, 200);
    assert_eq!(set(6).await.status, 200, "still at or above 5");
    assert_eq!(set(4).await.status, 200, "crosses under 5: StockLow");
    assert_eq!(set(1).await.status, 200, "already low: nothing");
    assert_eq!(set(30).await.status, 200);
    assert_eq!(set(2).await.status, 200, "crosses again: StockLow");

    let seen = eventually(Duration::from_secs(30), "two StockLow events", || async {
        let seen = stack.events().by_correlation(&correlation);
        (seen.len() >= 2).then_some(seen)
    })
    .await
    .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let seen_later = stack.events().by_correlation(&correlation);
    assert_eq!(seen_later.len(), 2, "exactly two: {seen_later:?}");
    for event in &seen {
        assert!(event.problems.is_empty(), "{:?}", event.problems);
        assert_eq!(event.event_type(), "StockLow");
        assert_eq!(event.event["data"]["productId"], id.as_str());
        assert_eq!(event.event["data"]["sellerId"], seller.id.as_str());
        assert_eq!(event.event["data"]["threshold"], 5);
    }
    let mut levels: Vec<u64> = seen
        .iter()
        .map(|e| e.event["data"]["available"].as_u64().unwrap())
        .collect();
    levels.sort_unstable();
    assert_eq!(levels, [2, 4]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_product_event_delivered_twice_is_applied_once() {
    let shop = shop().await;
    let stack = shop.stack;
    let seller = testing::account(stack, &shop.admin, "seller")
        .await
        .unwrap();
    let id = product(shop, &seller).await;
    let event = stack
        .events()
        .events()
        .into_iter()
        .find(|e| e.event["data"]["productId"] == id.as_str())
        .unwrap()
        .event;
    let event_id: uuid::Uuid = event["id"].as_str().unwrap().parse().unwrap();
    let data: shared::events::catalog::ProductChanged =
        serde_json::from_value(event["data"].clone()).unwrap();
    let table = stack
        .model()
        .tables
        .iter()
        .find(|t| t.logical_id == "InventoryTable")
        .unwrap()
        .name
        .clone();
    let store =
        inventory::store::Store::new(aws_sdk_dynamodb::Client::new(stack.sdk_config()), table);
    // The consumer already applied it through its queue: a second delivery changes nothing.
    assert_eq!(
        store.learn_product(event_id, &data).await.unwrap(),
        shared::consumer::Applied::Duplicate
    );
    // An older state of the product that arrives late is ignored, and recorded as seen.
    let mut older = data.clone();
    older.version = 0;
    assert_eq!(
        store
            .learn_product(uuid::Uuid::now_v7(), &older)
            .await
            .unwrap(),
        shared::consumer::Applied::Ignored
    );

    // And through the queue itself: the same message again leaves the stock as it is.
    send(
        stack,
        Method::PUT,
        &format!("/v1/inventory/{id}"),
        Some(&seller.token),
        Some(json!({"available": 8})),
    )
    .await;
    let queue = stack
        .model()
        .queues
        .iter()
        .find(|q| q.logical_id == "InventoryProductEventsQueue")
        .unwrap()
        .url
        .clone();
    aws_sdk_sqs::Client::new(stack.sdk_config())
        .send_message()
        .queue_url(&queue)
        .message_body(event.to_string())
        .send()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let stock = send(
        stack,
        Method::GET,
        &format!("/v1/inventory/{id}"),
        None,
        None,
    )
    .await
    .json();
    assert_eq!(stock["available"], 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn malformed_requests_get_a_problem_json_4xx_never_a_5xx() {
    let shop = shop().await;
    let stack = shop.stack;
    let seller = testing::account(stack, &shop.admin, "seller")
        .await
        .unwrap();
    let id = product(shop, &seller).await;
    let bodies: Vec<Bytes> = vec![
        Bytes::from_static(b""),
        Bytes::from_static(b"{"),
        Bytes::from_static(b"[]"),
        Bytes::from_static(b"{\"available\": -1}"),
        Bytes::from_static(b"{\"available\": 1.5}"),
        Bytes::from_static(b"{\"available\": 99999999999}"),
        Bytes::from_static(b"{\"available\": 2000000000}"),
        Bytes::from_static(b"{\"delta\": 0, \"reason\": \"x\"}"),
        Bytes::from_static(b"{\"delta\": 5}"),
        Bytes::from_static(b"{\"delta\": 5, \"reason\": \"\"}"),
        Bytes::from_static(b"{\"delta\": 9223372036854775807, \"reason\": \"x\"}"),
        Bytes::from_static(b"{\"delta\": \"5\", \"reason\": \"x\"}"),
        Bytes::from_static(b"{\"extra\": 1}"),
    ];
    let auth = format!("Bearer {}", seller.token);
    for path in [
        format!("/v1/inventory/{id}"),
        format!("/v1/inventory/{id}/adjust"),
    ] {
        let method = if path.ends_with("adjust") {
            Method::POST
        } else {
            Method::PUT
        };
        for body in &bodies {
            let answer = stack
                .request(
                    method.clone(),
                    &path,
                    &[
                        ("content-type", "application/json"),
                        ("authorization", &auth),
                    ],
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
                Some("application/problem+json")
            );
        }
    }
    for path in ["/v1/inventory/nope", "/v1/inventory/nope/audit"] {
        let answer = send(stack, Method::GET, path, Some(&seller.token), None).await;
        assert_eq!(answer.status, 404, "{path}");
    }
    let page = send(
        stack,
        Method::GET,
        &format!("/v1/inventory/{id}/audit?cursor=forged"),
        Some(&seller.token),
        None,
    )
    .await;
    assert_eq!(page.status, 400);
    assert_eq!(
        send(
            stack,
            Method::GET,
            &format!("/v1/inventory/{id}"),
            None,
            None
        )
        .await
        .json()["available"],
        0
    );
}
