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
    // The tap reads the topic through a queue of its own: the consumer can apply it first.
    let event = eventually(Duration::from_secs(30), "the product's event", || async {
        stack
            .events()
            .events()
            .into_iter()
            .find(|e| e.event["data"]["productId"] == id.as_str())
    })
    .await
    .unwrap()
    .event;
    let event_id: uuid::Uuid = event["id"].as_str().unwrap().parse().unwrap();
    let data: shared::events::catalog::ProductChanged =
        serde_json::from_value(event["data"].clone()).unwrap();
    let table = stack.model().table("InventoryTable").unwrap().name.clone();
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
        .queue("InventoryProductEventsQueue")
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

/// The product's levels: available, reserved, sold.
async fn levels(stack: &SharedStack, product: &str) -> (u64, u64, u64) {
    let stock = send(
        stack,
        Method::GET,
        &format!("/v1/inventory/{product}"),
        None,
        None,
    )
    .await;
    assert_eq!(stock.status, 200, "{}", stock.text());
    let stock = stock.json();
    (
        stock["available"].as_u64().unwrap(),
        stock["reserved"].as_u64().unwrap(),
        stock["sold"].as_u64().unwrap(),
    )
}

/// Waits until the product's levels read `expected`.
async fn levels_become(stack: &SharedStack, product: &str, expected: (u64, u64, u64)) {
    let reached = eventually(Duration::from_secs(60), "the stock levels", || async {
        (levels(stack, product).await == expected).then_some(())
    })
    .await;
    assert!(
        reached.is_ok(),
        "levels of {product} stay {:?}, not {expected:?}",
        levels(stack, product).await
    );
}

/// A product of a new seller with `units` available, and the seller.
async fn stocked(shop: &Shop, units: u32) -> (Account, String) {
    let seller = testing::account(shop.stack, &shop.admin, "seller")
        .await
        .unwrap();
    let id = product(shop, &seller).await;
    let set = send(
        shop.stack,
        Method::PUT,
        &format!("/v1/inventory/{id}"),
        Some(&seller.token),
        Some(json!({"available": units, "reason": "opening count"})),
    )
    .await;
    assert_eq!(set.status, 200, "{}", set.text());
    (seller, id)
}

/// Places an order of `quantity` units of `product`, paid by card, and answers its id.
async fn place_order(stack: &SharedStack, buyer: &Account, product: &str, quantity: u32) -> String {
    let key = uuid::Uuid::new_v4().to_string();
    let body = json!({
        "shippingAddress": {"recipient": "A", "line1": "1 St", "city": "C", "postalCode": "1", "country": "US"},
        "lines": [{"productId": product, "quantity": quantity}],
        "paymentMethod": "pm_card_visa",
    });
    let placed = call(
        stack,
        Method::POST,
        "/v1/orders",
        Some(&buyer.token),
        Some(&body),
        &[("idempotency-key", &key)],
    )
    .await
    .unwrap();
    assert_eq!(placed.status, 202, "{}", placed.text());
    placed.json()["orderId"].as_str().unwrap().to_owned()
}

/// The order's status, as its owner sees it.
async fn order_status(stack: &SharedStack, buyer: &Account, order: &str) -> String {
    let seen = send(
        stack,
        Method::GET,
        &format!("/v1/orders/{order}"),
        Some(&buyer.token),
        None,
    )
    .await;
    assert_eq!(seen.status, 200, "{}", seen.text());
    seen.json()["status"].as_str().unwrap().to_owned()
}

/// The first published event of `event_type` about `order`, once the topic has seen it.
async fn published(stack: &SharedStack, event_type: &str, order: &str) -> Value {
    eventually(
        Duration::from_secs(60),
        "the event to be published",
        || async {
            stack
                .events()
                .events()
                .into_iter()
                .find(|e| e.event_type() == event_type && e.event["data"]["orderId"] == order)
                .map(|e| e.event)
        },
    )
    .await
    .unwrap()
}

/// Delivers `event` once more to the inventory's order-events queue, as SQS may.
async fn redeliver(stack: &SharedStack, event: &Value) {
    let queue = stack
        .model()
        .queue("InventoryOrderEventsQueue")
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
}

/// The inventory as its functions see it, over the stack's emulator.
fn inventory(stack: &SharedStack) -> inventory::Inventory {
    let table = stack.model().table("InventoryTable").unwrap().name.clone();
    inventory::Inventory {
        store: inventory::store::Store::new(
            aws_sdk_dynamodb::Client::new(stack.sdk_config()),
            table,
        ),
        low_threshold: 5,
        reservation_hold_secs: 3600,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_confirmed_orders_units_are_sold_once_even_when_its_event_comes_twice() {
    let shop = shop().await;
    let stack = shop.stack;
    let (_seller, id) = stocked(shop, 10).await;
    let buyer = testing::account(stack, &shop.admin, "customer")
        .await
        .unwrap();
    let order = place_order(stack, &buyer, &id, 2).await;
    levels_become(stack, &id, (8, 0, 2)).await;
    assert_eq!(order_status(stack, &buyer, &order).await, "CONFIRMED");
    let store = inventory(stack).store;
    let order_id: uuid::Uuid = order.parse().unwrap();
    assert_eq!(
        store.reservation(order_id).await.unwrap().unwrap().status,
        inventory::reservations::ReservationStatus::Sold
    );

    let confirmed = published(stack, "OrderConfirmed", &order).await;
    redeliver(stack, &confirmed).await;
    let event_id: uuid::Uuid = confirmed["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        store.commit_for_event(event_id, order_id).await.unwrap(),
        shared::consumer::Applied::Duplicate
    );
    // Another event confirming the same order finds nothing left to sell.
    assert_eq!(
        store
            .commit_for_event(uuid::Uuid::now_v7(), order_id)
            .await
            .unwrap(),
        shared::consumer::Applied::Ignored
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(levels(stack, &id).await, (8, 0, 2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cancelled_orders_units_come_back_once() {
    let shop = shop().await;
    let stack = shop.stack;
    let (_seller, id) = stocked(shop, 10).await;
    let buyer = testing::account(stack, &shop.admin, "customer")
        .await
        .unwrap();
    let order = place_order(stack, &buyer, &id, 2).await;
    levels_become(stack, &id, (8, 0, 2)).await;

    let cancelling = send(
        stack,
        Method::POST,
        &format!("/v1/orders/{order}/cancel"),
        Some(&buyer.token),
        None,
    )
    .await;
    assert_eq!(cancelling.status, 202, "{}", cancelling.text());
    let cancelled = published(stack, "OrderCancelled", &order).await;
    levels_become(stack, &id, (10, 0, 0)).await;
    assert_eq!(order_status(stack, &buyer, &order).await, "CANCELLED");

    // The event again, and the confirmation once more: the units came back once.
    redeliver(stack, &cancelled).await;
    redeliver(stack, &published(stack, "OrderConfirmed", &order).await).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(levels(stack, &id).await, (10, 0, 0));
    let order_id: uuid::Uuid = order.parse().unwrap();
    assert_eq!(
        inventory(stack)
            .store
            .reservation(order_id)
            .await
            .unwrap()
            .unwrap()
            .status,
        inventory::reservations::ReservationStatus::Returned
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_admins_full_refund_with_restock_returns_the_units_and_a_partial_one_does_not() {
    let shop = shop().await;
    let stack = shop.stack;
    let (_seller, id) = stocked(shop, 10).await;
    let buyer = testing::account(stack, &shop.admin, "customer")
        .await
        .unwrap();
    let order = place_order(stack, &buyer, &id, 2).await;
    levels_become(stack, &id, (8, 0, 2)).await;
    let payment = send(
        stack,
        Method::GET,
        &format!("/v1/payments/order/{order}"),
        Some(&shop.admin.token),
        None,
    )
    .await;
    assert_eq!(payment.status, 200, "{}", payment.text());
    let refund = format!(
        "/v1/payments/{}/refund",
        payment.json()["paymentId"].as_str().unwrap()
    );
    let refund_with = |body: Value| {
        let refund = refund.clone();
        let token = shop.admin.token.clone();
        async move {
            let key = uuid::Uuid::new_v4().to_string();
            let answer = call(
                stack,
                Method::POST,
                &refund,
                Some(&token),
                Some(&body),
                &[("idempotency-key", &key)],
            )
            .await
            .unwrap();
            assert!(
                answer.status == 200 || answer.status == 201,
                "{}",
                answer.text()
            );
        }
    };

    // A partial refund restocks nothing, whatever it says.
    refund_with(json!({"amount": {"amount": 500, "currency": "USD"}, "restock": true})).await;
    published(stack, "PaymentRefunded", &order).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(levels(stack, &id).await, (8, 0, 2));

    // The rest, with restock: the units go back.
    refund_with(json!({"restock": true, "reason": "returned unopened"})).await;
    levels_become(stack, &id, (10, 0, 0)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_sweeper_releases_an_expired_hold_but_never_a_sold_or_a_current_one() {
    use inventory::{
        handlers::release_expired_reservations,
        reservations::{Committed, ReservationStatus, Reserved},
    };
    use shared::checkout::OrderLine;

    let shop = shop().await;
    let stack = shop.stack;
    let (_seller, id) = stocked(shop, 10).await;
    let product: uuid::Uuid = id.parse().unwrap();
    let inventory = inventory(stack);
    let store = &inventory.store;
    let lines = [OrderLine {
        product_id: product,
        quantity: 2,
    }];
    let now = shared::time::now();
    let past = shared::time::to_rfc3339(now - Duration::from_secs(60));
    let later = shared::time::to_rfc3339(now + Duration::from_secs(3600));
    let (abandoned, confirmed, current) = (
        uuid::Uuid::now_v7(),
        uuid::Uuid::now_v7(),
        uuid::Uuid::now_v7(),
    );
    for (order, hold) in [(abandoned, &past), (confirmed, &later), (current, &later)] {
        assert!(matches!(
            store.reserve(order, &lines, hold).await.unwrap(),
            Reserved::Held(_)
        ));
    }
    assert_eq!(store.commit(confirmed).await.unwrap(), Committed::Sold);
    assert_eq!(store.commit(confirmed).await.unwrap(), Committed::Already);

    let swept = release_expired_reservations::handle(&inventory, &shared::time::now_rfc3339())
        .await
        .unwrap();
    assert_eq!(swept.failed, 0);
    assert_eq!(levels(stack, &id).await, (6, 2, 2));
    let status = |order| async move { store.reservation(order).await.unwrap().unwrap().status };
    assert_eq!(status(abandoned).await, ReservationStatus::Released);
    assert_eq!(status(confirmed).await, ReservationStatus::Sold);
    assert_eq!(status(current).await, ReservationStatus::Reserved);

    // Even read from a stale index long after its hold, a sold reservation is never released; nor
    // is one still within its hold.
    let much_later = shared::time::to_rfc3339(now + Duration::from_secs(7200));
    assert!(!store.release_expired(confirmed, &much_later).await.unwrap());
    assert!(
        !store
            .release_expired(current, &shared::time::now_rfc3339())
            .await
            .unwrap()
    );
    // Nothing more the next time; and a confirmation that comes after the release sells nothing.
    release_expired_reservations::handle(&inventory, &shared::time::now_rfc3339())
        .await
        .unwrap();
    assert_eq!(store.commit(abandoned).await.unwrap(), Committed::Released);
    assert_eq!(levels(stack, &id).await, (6, 2, 2));
    assert_eq!(status(confirmed).await, ReservationStatus::Sold);
    let (expired, _) = store
        .expired_holds(&shared::time::now_rfc3339(), 100, None)
        .await
        .unwrap();
    assert!(
        !expired.contains(&abandoned)
            && !expired.contains(&confirmed)
            && !expired.contains(&current),
        "{expired:?}"
    );
}
