//! The cart through the local stack: filling, changing and clearing it, its limits, concurrent
//! adds, idempotent adds, and its copy of the catalog following price changes and archives end to
//! end (table stream, publisher, topic, queue, consumer). The tests share one stack.

// Helpers outside the test functions fail the test on a setup error too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::time::Duration;

use bytes::Bytes;
use http::Method;
use local::testing::{self, Account, SharedStack, TestResponse, call, eventually};
use serde_json::{Value, json};
use tokio::sync::OnceCell;

struct Shop {
    stack: &'static SharedStack,
    admin: Account,
    seller: Account,
    category: String,
}

static SHOP: OnceCell<Shop> = OnceCell::const_new();

async fn shop() -> &'static Shop {
    SHOP.get_or_init(|| async {
        let (stack, admin) = testing::shared_shop(&[]).await.unwrap();
        let seller = testing::account(stack, &admin, "seller").await.unwrap();
        let created = send(
            stack,
            Method::POST,
            "/v1/categories",
            Some(&admin.token),
            Some(json!({"slug": "carted", "name": "Carted"})),
        )
        .await;
        assert_eq!(created.status, 201, "{}", created.text());
        let category = created.json()["id"].as_str().unwrap().to_owned();
        Shop {
            stack,
            admin,
            seller,
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

/// A product of the shop's seller, once the cart knows it (its copy follows the catalog's events).
async fn product(shop: &Shop, name: &str, price: i64) -> String {
    let body = json!({"name": name, "categoryId": shop.category, "price": {"amount": price, "currency": "USD"}});
    let created = send(
        shop.stack,
        Method::POST,
        "/v1/products",
        Some(&shop.seller.token),
        Some(body),
    )
    .await;
    assert_eq!(created.status, 201, "{}", created.text());
    let id = created.json()["id"].as_str().unwrap().to_owned();
    wait_for_copy(shop, &id, |p| p.is_some()).await;
    id
}

/// Waits until the cart's copy of `product` satisfies `check`.
async fn wait_for_copy(shop: &Shop, product: &str, check: impl Fn(Option<&Value>) -> bool) {
    let table = shop.stack.model().table("CartTable").unwrap().name.clone();
    let dynamodb = aws_sdk_dynamodb::Client::new(shop.stack.sdk_config());
    eventually(
        Duration::from_secs(30),
        "the cart's copy of the product",
        || async {
            let item = dynamodb
                .get_item()
                .table_name(&table)
                .key(
                    "pk",
                    aws_sdk_dynamodb::types::AttributeValue::S(format!("PRODUCT#{product}")),
                )
                .key(
                    "sk",
                    aws_sdk_dynamodb::types::AttributeValue::S("PRODUCT".into()),
                )
                .send()
                .await
                .unwrap()
                .item;
            let copy: Option<Value> = item.map(|i| shared::dynamo::from_item(i).unwrap());
            check(copy.as_ref()).then_some(())
        },
    )
    .await
    .unwrap();
}

async fn add(stack: &SharedStack, token: &str, product: &str, quantity: u32) -> TestResponse {
    send(
        stack,
        Method::POST,
        "/v1/cart/items",
        Some(token),
        Some(json!({"productId": product, "quantity": quantity})),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_customer_fills_changes_and_clears_the_cart() {
    let shop = shop().await;
    let stack = shop.stack;
    let customer = testing::account(stack, &shop.admin, "customer")
        .await
        .unwrap();
    let mug = product(shop, "Cart Mug", 1_250).await;
    let lamp = product(shop, "Cart Lamp", 4_000).await;

    let empty = send(stack, Method::GET, "/v1/cart", Some(&customer.token), None).await;
    assert_eq!(empty.status, 200);
    assert_eq!(
        empty.json()["subtotal"],
        json!({"amount": 0, "currency": "USD"})
    );
    assert_eq!(empty.header("cache-control"), Some("private, no-store"));

    assert_eq!(add(stack, &customer.token, &mug, 2).await.status, 200);
    let cart = add(stack, &customer.token, &lamp, 1).await.json();
    assert_eq!(cart["subtotal"]["amount"], 2 * 1_250 + 4_000);
    assert_eq!(cart["itemCount"], 3);
    let cart = add(stack, &customer.token, &mug, 3).await.json();
    assert_eq!(
        cart["lines"].as_array().unwrap().len(),
        2,
        "adding again grows the line"
    );
    assert_eq!(cart["lines"][0]["quantity"], 5);
    assert_eq!(cart["lines"][0]["name"], "Cart Mug");
    assert_eq!(cart["lines"][0]["lineTotal"]["amount"], 6_250);

    let set = send(
        stack,
        Method::PATCH,
        &format!("/v1/cart/items/{mug}"),
        Some(&customer.token),
        Some(json!({"quantity": 1})),
    )
    .await;
    assert_eq!(set.status, 200, "{}", set.text());
    assert_eq!(set.json()["subtotal"]["amount"], 1_250 + 4_000);
    assert_eq!(
        send(
            stack,
            Method::DELETE,
            &format!("/v1/cart/items/{lamp}"),
            Some(&customer.token),
            None
        )
        .await
        .status,
        204
    );
    assert_eq!(
        send(
            stack,
            Method::DELETE,
            &format!("/v1/cart/items/{lamp}"),
            Some(&customer.token),
            None
        )
        .await
        .status,
        204,
        "removing twice is fine"
    );
    let missing = send(
        stack,
        Method::PATCH,
        &format!("/v1/cart/items/{lamp}"),
        Some(&customer.token),
        Some(json!({"quantity": 2})),
    )
    .await;
    assert_eq!(missing.status, 404);
    let cart = send(stack, Method::GET, "/v1/cart", Some(&customer.token), None)
        .await
        .json();
    assert_eq!(cart["lines"].as_array().unwrap().len(), 1);

    // Another customer's cart is theirs alone.
    let other = testing::account(stack, &shop.admin, "customer")
        .await
        .unwrap();
    assert!(
        send(stack, Method::GET, "/v1/cart", Some(&other.token), None)
            .await
            .json()["lines"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    assert_eq!(
        send(
            stack,
            Method::DELETE,
            "/v1/cart",
            Some(&customer.token),
            None
        )
        .await
        .status,
        204
    );
    assert!(
        send(stack, Method::GET, "/v1/cart", Some(&customer.token), None)
            .await
            .json()["lines"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        send(stack, Method::GET, "/v1/cart", None, None)
            .await
            .status,
        401
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_copy_follows_a_price_change_and_an_archive_end_to_end() {
    let shop = shop().await;
    let stack = shop.stack;
    let customer = testing::account(stack, &shop.admin, "customer")
        .await
        .unwrap();
    let kettle = product(shop, "Cart Kettle", 3_000).await;
    let toaster = product(shop, "Cart Toaster", 2_000).await;
    add(stack, &customer.token, &kettle, 1).await;
    add(stack, &customer.token, &toaster, 2).await;

    // The seller changes the price: the cart shows the new one and marks the change.
    let path = format!("/v1/products/{kettle}");
    let patched = send(
        stack,
        Method::PATCH,
        &path,
        Some(&shop.seller.token),
        Some(json!({"price": {"amount": 2_500, "currency": "USD"}})),
    )
    .await;
    assert_eq!(patched.status, 200);
    wait_for_copy(shop, &kettle, |p| {
        p.is_some_and(|p| p["price"]["amount"] == 2_500)
    })
    .await;
    let cart = send(stack, Method::GET, "/v1/cart", Some(&customer.token), None)
        .await
        .json();
    let line = cart["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["productId"] == kettle.as_str())
        .unwrap()
        .clone();
    assert_eq!(line["unitPrice"]["amount"], 2_500);
    assert_eq!(line["addedPrice"]["amount"], 3_000);
    assert_eq!(line["priceChanged"], true);
    assert_eq!(cart["subtotal"]["amount"], 2_500 + 2 * 2_000);

    // Archived: the line stays, marked unavailable and left out of the subtotal; it cannot be
    // added again.
    assert_eq!(
        send(
            stack,
            Method::DELETE,
            &format!("/v1/products/{toaster}"),
            Some(&shop.seller.token),
            None
        )
        .await
        .status,
        204
    );
    wait_for_copy(shop, &toaster, |p| {
        p.is_some_and(|p| p["status"] == "archived")
    })
    .await;
    let cart = send(stack, Method::GET, "/v1/cart", Some(&customer.token), None)
        .await
        .json();
    let line = cart["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["productId"] == toaster.as_str())
        .unwrap()
        .clone();
    assert_eq!(line["available"], false);
    assert_eq!(cart["subtotal"]["amount"], 2_500);
    let again = add(stack, &customer.token, &toaster, 1).await;
    assert_eq!(
        (again.status, again.json()["code"].clone()),
        (422, json!("PRODUCT_UNAVAILABLE"))
    );
    let unknown = add(stack, &customer.token, &uuid::Uuid::now_v7().to_string(), 1).await;
    assert_eq!(
        (unknown.status, unknown.json()["code"].clone()),
        (422, json!("PRODUCT_UNAVAILABLE"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_adds_of_different_products_lose_no_line() {
    let shop = shop().await;
    let stack = shop.stack;
    let customer = testing::account(stack, &shop.admin, "customer")
        .await
        .unwrap();
    let mut products = Vec::new();
    for i in 0..12 {
        products.push(product(shop, &format!("Race Item {i}"), 100 + i).await);
    }
    let answers =
        futures::future::join_all(products.iter().map(|p| add(stack, &customer.token, p, 1))).await;
    for answer in &answers {
        assert_eq!(answer.status, 200, "{}", answer.text());
    }
    let cart = send(stack, Method::GET, "/v1/cart", Some(&customer.token), None)
        .await
        .json();
    let in_cart: BTreeSet<String> = cart["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["productId"].as_str().unwrap().to_owned())
        .collect();
    let added: BTreeSet<String> = products.into_iter().collect();
    assert_eq!(in_cart, added, "every concurrent add is in the cart");
    assert_eq!(cart["version"], 12, "twelve changes, one after the other");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_cart_holds_at_most_ninety_nine_of_a_product_and_fifty_products() {
    let shop = shop().await;
    let stack = shop.stack;
    let customer = testing::account(stack, &shop.admin, "customer")
        .await
        .unwrap();
    let first = product(shop, "Limit Item", 10).await;
    assert_eq!(add(stack, &customer.token, &first, 100).await.status, 400);
    assert_eq!(add(stack, &customer.token, &first, 0).await.status, 400);
    assert_eq!(add(stack, &customer.token, &first, 95).await.status, 200);
    let over = add(stack, &customer.token, &first, 5).await;
    assert_eq!(
        (over.status, over.json()["code"].clone()),
        (422, json!("QUANTITY_LIMIT"))
    );
    let mut others = Vec::new();
    for i in 0..50 {
        let body = json!({"name": format!("Filler {i}"), "categoryId": shop.category, "price": {"amount": 10, "currency": "USD"}});
        let created = send(
            stack,
            Method::POST,
            "/v1/products",
            Some(&shop.seller.token),
            Some(body),
        )
        .await;
        others.push(created.json()["id"].as_str().unwrap().to_owned());
    }
    wait_for_copy(shop, others.last().unwrap(), |p| p.is_some()).await;
    for other in &others[..49] {
        wait_for_copy(shop, other, |p| p.is_some()).await;
        let added = add(stack, &customer.token, other, 1).await;
        assert_eq!(added.status, 200, "{}", added.text());
    }
    let full = add(stack, &customer.token, &others[49], 1).await;
    assert_eq!(
        (full.status, full.json()["code"].clone()),
        (422, json!("CART_FULL"))
    );
    let cart = send(stack, Method::GET, "/v1/cart", Some(&customer.token), None)
        .await
        .json();
    assert_eq!(cart["lines"].as_array().unwrap().len(), 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_repeated_add_with_one_idempotency_key_adds_once() {
    let shop = shop().await;
    let stack = shop.stack;
    let customer = testing::account(stack, &shop.admin, "customer")
        .await
        .unwrap();
    let vase = product(shop, "Idempotent Vase", 900).await;
    let key = format!("add-{}", uuid::Uuid::new_v4());
    let body = json!({"productId": vase, "quantity": 2});
    for _ in 0..3 {
        let answer = call(
            stack,
            Method::POST,
            "/v1/cart/items",
            Some(&customer.token),
            Some(&body),
            &[("idempotency-key", &key)],
        )
        .await
        .unwrap();
        assert_eq!(answer.status, 200, "{}", answer.text());
        assert_eq!(answer.json()["lines"][0]["quantity"], 2);
    }
    let other = call(
        stack,
        Method::POST,
        "/v1/cart/items",
        Some(&customer.token),
        Some(&json!({"productId": vase, "quantity": 5})),
        &[("idempotency-key", &key)],
    )
    .await
    .unwrap();
    assert_eq!(
        (other.status, other.json()["code"].clone()),
        (422, json!("IDEMPOTENCY_KEY_REUSED"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_product_event_delivered_twice_is_applied_once() {
    let shop = shop().await;
    let stack = shop.stack;
    let id = product(shop, "Twice Told", 500).await;
    // The tap reads the topic through a queue of its own: the cart's copy can come first.
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
    let table = stack.model().table("CartTable").unwrap().name.clone();
    let store = cart::store::Store::new(aws_sdk_dynamodb::Client::new(stack.sdk_config()), table);
    assert_eq!(
        store.learn_product(event_id, &data).await.unwrap(),
        shared::consumer::Applied::Duplicate
    );

    // A newer state, then the old event delivered again through the queue: the copy keeps the
    // newer state.
    let patched = send(
        stack,
        Method::PATCH,
        &format!("/v1/products/{id}"),
        Some(&shop.seller.token),
        Some(json!({"name": "Twice Told Tale"})),
    )
    .await;
    assert_eq!(patched.status, 200);
    wait_for_copy(shop, &id, |p| {
        p.is_some_and(|p| p["name"] == "Twice Told Tale")
    })
    .await;
    let queue = stack
        .model()
        .queue("CartProductEventsQueue")
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
    wait_for_copy(shop, &id, |p| {
        p.is_some_and(|p| p["name"] == "Twice Told Tale" && p["productVersion"] == 2)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn malformed_requests_get_a_problem_json_4xx_never_a_5xx() {
    let shop = shop().await;
    let stack = shop.stack;
    let customer = testing::account(stack, &shop.admin, "customer")
        .await
        .unwrap();
    let pen = product(shop, "Malformed Pen", 300).await;
    add(stack, &customer.token, &pen, 1).await;
    let bodies: Vec<Bytes> = vec![
        Bytes::from_static(b""),
        Bytes::from_static(b"{"),
        Bytes::from_static(b"[]"),
        Bytes::from_static(b"{\"productId\": \"x\", \"quantity\": 1}"),
        Bytes::from_static(b"{\"quantity\": -1}"),
        Bytes::from_static(b"{\"quantity\": 1.5}"),
        Bytes::from_static(b"{\"quantity\": 4294967296}"),
        Bytes::from_static(b"{\"quantity\": \"2\"}"),
        Bytes::from_static(b"{\"quantity\": 2, \"price\": 1}"),
    ];
    let auth = format!("Bearer {}", customer.token);
    for (method, path) in [
        (Method::POST, "/v1/cart/items".to_owned()),
        (Method::PATCH, format!("/v1/cart/items/{pen}")),
    ] {
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
    assert_eq!(
        send(
            stack,
            Method::PATCH,
            "/v1/cart/items/nope",
            Some(&customer.token),
            Some(json!({"quantity": 1}))
        )
        .await
        .status,
        404
    );
    assert_eq!(
        send(
            stack,
            Method::DELETE,
            "/v1/cart/items/nope",
            Some(&customer.token),
            None
        )
        .await
        .status,
        204
    );
    let cart = send(stack, Method::GET, "/v1/cart", Some(&customer.token), None)
        .await
        .json();
    assert_eq!(cart["lines"].as_array().unwrap().len(), 1);
    assert_eq!(cart["lines"][0]["quantity"], 1, "nothing changed");
}
