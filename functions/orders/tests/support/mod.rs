//! What the checkout tests share: a shop with a seller, customers and stocked products, placing
//! orders, waiting for their checkout to end, and the invariants every test checks at its end.

// Helpers outside the test functions fail the test on a setup error too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, dead_code)]

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use http::Method;
use local::testing::{self, Account, SharedStack, TestResponse, call, eventually};
use serde_json::{Value, json};

/// A shop: its stack, admin, one seller and a category.
pub struct Shop {
    pub stack: &'static SharedStack,
    pub admin: Account,
    pub seller: Account,
    pub category: String,
}

/// A product and the units it was stocked with.
#[derive(Debug, Clone)]
pub struct Stocked {
    pub id: String,
    pub price: i64,
    pub initial: i64,
}

/// Starts the shop with these template parameters.
pub async fn open(parameters: &[(&str, &str)], slug: &str) -> Shop {
    open_scaled(parameters, 1.0, slug).await
}

/// [`open`] with the state machines' waits, retry intervals and task timeouts multiplied by
/// `time_scale`.
pub async fn open_scaled(parameters: &[(&str, &str)], time_scale: f64, slug: &str) -> Shop {
    open_with(
        parameters,
        move |options| options.sfn_time_scale = time_scale,
        slug,
    )
    .await
}

/// [`open`] with more stack options set by `configure`.
pub async fn open_with(
    parameters: &[(&str, &str)],
    configure: impl FnOnce(&mut local::stack::StackOptions) + Send + 'static,
    slug: &str,
) -> Shop {
    let (stack, admin) = testing::shared_shop_with(parameters, configure)
        .await
        .unwrap();
    let seller = testing::account(stack, &admin, "seller").await.unwrap();
    let created = send(
        stack,
        Method::POST,
        "/v1/categories",
        Some(&admin.token),
        Some(json!({"slug": slug, "name": "Checkout"})),
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
}

/// A JSON request; and every event the stack has published so far matches its schema.
pub async fn send(
    stack: &SharedStack,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> TestResponse {
    send_with(stack, method, path, token, body, &[]).await
}

/// [`send`] with extra headers.
pub async fn send_with(
    stack: &SharedStack,
    method: Method,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> TestResponse {
    let answer = call(stack, method, path, token, body.as_ref(), headers)
        .await
        .unwrap();
    let broken = stack.events().problems();
    assert!(
        broken.is_empty(),
        "events that break their schema: {broken:?}"
    );
    answer
}

/// A new customer.
pub async fn customer(shop: &Shop) -> Account {
    testing::account(shop.stack, &shop.admin, "customer")
        .await
        .unwrap()
}

/// A product of the shop's seller at `price`, stocked with `units`, once inventory and the cart
/// know it.
pub async fn stocked(shop: &Shop, price: i64, units: i64) -> Stocked {
    let body = json!({"name": "Checkout Item", "categoryId": shop.category,
                      "price": {"amount": price, "currency": "USD"}});
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
    let path = format!("/v1/inventory/{id}");
    eventually(
        Duration::from_secs(30),
        "inventory to learn the product",
        || async {
            let set = send(
                shop.stack,
                Method::PUT,
                &path,
                Some(&shop.seller.token),
                Some(json!({"available": units, "reason": "opening count"})),
            )
            .await;
            (set.status == 200).then_some(())
        },
    )
    .await
    .unwrap();
    Stocked {
        id,
        price,
        initial: units,
    }
}

/// A shipping address.
pub fn address() -> Value {
    json!({"recipient": "Ada Lovelace", "line1": "12 Analytical Row", "city": "London",
           "postalCode": "N1 9GU", "country": "GB"})
}

/// The body of an order of `lines` (product, quantity) paid with `method`.
pub fn order_of(lines: &[(&Stocked, u32)], method: &str) -> Value {
    let lines: Vec<Value> = lines
        .iter()
        .map(|(p, q)| json!({"productId": p.id, "quantity": q}))
        .collect();
    json!({"shippingAddress": address(), "lines": lines, "paymentMethod": method})
}

/// `POST /v1/orders` with `key`.
pub async fn place(shop: &Shop, token: &str, body: &Value, key: &str) -> TestResponse {
    send_with(
        shop.stack,
        Method::POST,
        "/v1/orders",
        Some(token),
        Some(body.clone()),
        &[("idempotency-key", key)],
    )
    .await
}

/// Places an order with a fresh key and answers its id (202 expected).
pub async fn place_ok(shop: &Shop, token: &str, body: &Value) -> String {
    let key = uuid::Uuid::new_v4().to_string();
    let placed = place(shop, token, body, &key).await;
    assert_eq!(placed.status, 202, "{}", placed.text());
    placed.json()["orderId"].as_str().unwrap().to_owned()
}

/// The order as its owner sees it.
pub async fn order(shop: &Shop, token: &str, id: &str) -> Value {
    let answer = send(
        shop.stack,
        Method::GET,
        &format!("/v1/orders/{id}"),
        Some(token),
        None,
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    answer.json()
}

const TERMINAL: [&str; 6] = [
    "CONFIRMED",
    "FAILED",
    "CANCELLED",
    "REFUNDED",
    "NEEDS_ATTENTION",
    "DELIVERED",
];

/// Waits until every execution of order `id` has ended, then answers the order: its status is
/// then settled (no execution is left to change it).
pub async fn settled(shop: &Shop, token: &str, id: &str) -> Value {
    let sfn = shop.stack.sfn();
    let machine = machine_arn(shop);
    eventually(
        Duration::from_secs(120),
        "the order's checkout to end",
        || {
            let sfn = sfn.clone();
            let machine = machine.clone();
            async move {
                for name in [id.to_owned(), format!("{id}-cancel")] {
                    let arn = format!(
                        "{}:{name}",
                        machine.replace(":stateMachine:", ":execution:")
                    );
                    match sfn.describe_execution().execution_arn(&arn).send().await {
                        Ok(execution) => {
                            if execution.status().as_str() == "RUNNING" {
                                return None;
                            }
                        }
                        Err(_) if name.ends_with("-cancel") => {}
                        Err(_) => return None,
                    }
                }
                Some(())
            }
        },
    )
    .await
    .unwrap();
    let order = order(shop, token, id).await;
    let status = order["status"].as_str().unwrap();
    assert!(
        TERMINAL.contains(&status) && order["cancelRequested"] == false,
        "order {id} is left {status} after its executions ended: {order}"
    );
    order
}

/// The checkout state machine's ARN.
pub fn machine_arn(shop: &Shop) -> String {
    shop.stack
        .model()
        .state_machine("CheckoutStateMachine")
        .unwrap()
        .arn
        .clone()
}

/// The stock of `product`: available, reserved, sold.
pub async fn stock(shop: &Shop, product: &str) -> (i64, i64, i64) {
    let answer = send(
        shop.stack,
        Method::GET,
        &format!("/v1/inventory/{product}"),
        None,
        None,
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    let json = answer.json();
    (
        json["available"].as_i64().unwrap(),
        json["reserved"].as_i64().unwrap(),
        json["sold"].as_i64().unwrap(),
    )
}

/// Waits until the stock of `product` reads `expected` (available, reserved, sold): a confirmed
/// order's units move from `reserved` to `sold` shortly after the confirmation, when inventory
/// applies its `OrderConfirmed` event.
pub async fn stock_becomes(shop: &Shop, product: &str, expected: (i64, i64, i64)) {
    let reached = eventually(Duration::from_secs(60), "the stock levels", || async {
        (stock(shop, product).await == expected).then_some(())
    })
    .await;
    assert!(
        reached.is_ok(),
        "the stock of {product} stays {:?}, not {expected:?}",
        stock(shop, product).await
    );
}

fn table(shop: &Shop, logical_id: &str) -> String {
    shop.stack.model().table(logical_id).unwrap().name.clone()
}

/// The status of `order`'s reservation in the inventory table, if it has one.
pub async fn reservation(shop: &Shop, order: &str) -> Option<String> {
    let dynamodb = aws_sdk_dynamodb::Client::new(shop.stack.sdk_config());
    dynamodb
        .get_item()
        .table_name(table(shop, "InventoryTable"))
        .key("pk", AttributeValue::S(format!("RESERVATION#{order}")))
        .key("sk", AttributeValue::S("RESERVATION".into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .and_then(|item| item.get("status").and_then(|s| s.as_s().ok()).cloned())
}

/// The order's payment as the payments service shows it to `token` (`None`: it has none).
pub async fn payment(shop: &Shop, token: &str, order: &str) -> Option<Value> {
    let answer = send(
        shop.stack,
        Method::GET,
        &format!("/v1/payments/order/{order}"),
        Some(token),
        None,
    )
    .await;
    match answer.status {
        200 => Some(answer.json()),
        404 => None,
        other => panic!("payment of {order}: {other} {}", answer.text()),
    }
}

/// The invariants of the checkout, checked at the end of every test:
/// - for every product, `available + reserved + sold` is what it was stocked with;
/// - every CONFIRMED order has its payment captured (succeeded) and its units reserved, or sold
///   once inventory has applied its `OrderConfirmed`;
/// - no FAILED or CANCELLED order keeps a charge or a reservation;
/// - (every order is settled: [`settled`] checked it.)
pub async fn check_invariants(shop: &Shop, products: &[&Stocked], orders: &[(&Account, &str)]) {
    for product in products {
        let (available, reserved, sold) = stock(shop, &product.id).await;
        assert!(available >= 0 && reserved >= 0 && sold >= 0);
        assert_eq!(
            available + reserved + sold,
            product.initial,
            "units of {} appeared or vanished",
            product.id
        );
    }
    for (owner, id) in orders {
        let order = settled(shop, &owner.token, id).await;
        let status = order["status"].as_str().unwrap();
        let payment = payment(shop, &shop.admin.token, id).await;
        let payment_status = payment
            .as_ref()
            .and_then(|p| p["status"].as_str().map(str::to_owned));
        let held = reservation(shop, id).await;
        match status {
            "CONFIRMED" | "SHIPPED" | "DELIVERED" => {
                assert_eq!(
                    payment_status.as_deref(),
                    Some("succeeded"),
                    "confirmed order {id} without a captured payment: {payment:?}"
                );
                assert!(
                    matches!(held.as_deref(), Some("RESERVED" | "SOLD")),
                    "confirmed order {id} holds no stock: {held:?}"
                );
            }
            "FAILED" | "CANCELLED" => {
                assert_ne!(
                    payment_status.as_deref(),
                    Some("succeeded"),
                    "{status} order {id} keeps a charge: {payment:?}"
                );
                assert!(
                    matches!(held.as_deref(), None | Some("RELEASED" | "RETURNED")),
                    "{status} order {id} keeps a reservation: {held:?}"
                );
            }
            _ => {}
        }
    }
}
