//! The checkout saga through the local stack: every path from the public API (the provider
//! simulator's test payment methods drive the payment's outcome), each test ending with the
//! invariants of [`support::check_invariants`]. The tests share one stack.

// Helpers outside the test functions fail the test on a setup error too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::time::Duration;

use futures::future::join_all;
use http::Method;
use local::testing::eventually;
use serde_json::{Value, json};
use support::{
    Shop, check_invariants, customer, order, order_of, place, place_ok, send, settled, stock,
    stock_becomes, stocked,
};
use tokio::sync::OnceCell;

static SHOP: OnceCell<Shop> = OnceCell::const_new();

/// The state machine's time runs 20 times faster (retry intervals, the payment timeout of 120 s
/// becomes 6 s), so that a webhook that never comes, or a compensation that keeps failing, ends
/// its order quickly; the simulator's webhooks come after a real second.
async fn shop() -> &'static Shop {
    SHOP.get_or_init(|| {
        support::open_scaled(
            &[
                ("PaymentTimeoutSeconds", "120"),
                ("SimulatorWebhookDelaySeconds", "1"),
            ],
            0.05,
            "checkout",
        )
    })
    .await
}

fn failure_code(order: &Value) -> &str {
    order["failure"]["code"].as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_order_from_the_cart_is_priced_reserved_paid_and_confirmed() {
    let shop = shop().await;
    let buyer = customer(shop).await;
    let mug = stocked(shop, 1250, 10).await;
    let pen = stocked(shop, 199, 10).await;
    for (product, quantity) in [(&mug, 2), (&pen, 3)] {
        eventually(
            Duration::from_secs(30),
            "the cart to know the product",
            || async {
                let added = send(
                    shop.stack,
                    Method::POST,
                    "/v1/cart/items",
                    Some(&buyer.token),
                    Some(json!({"productId": product.id, "quantity": quantity})),
                )
                .await;
                (added.status == 200 || added.status == 201).then_some(())
            },
        )
        .await
        .unwrap();
    }
    let body = json!({"shippingAddress": support::address(), "fromCart": true, "paymentMethod": "pm_card_visa"});
    let key = uuid::Uuid::new_v4().to_string();
    let placed = place(shop, &buyer.token, &body, &key).await;
    assert_eq!(placed.status, 202, "{}", placed.text());
    let id = placed.json()["orderId"].as_str().unwrap().to_owned();
    assert_eq!(
        placed.header("location"),
        Some(format!("/v1/orders/{id}").as_str())
    );
    assert_eq!(placed.json()["status"], "PENDING");

    let confirmed = settled(shop, &buyer.token, &id).await;
    assert_eq!(confirmed["status"], "CONFIRMED", "{confirmed}");
    assert_eq!(
        confirmed["total"],
        json!({"amount": 2 * 1250 + 3 * 199, "currency": "USD"})
    );
    let lines = confirmed["lines"].as_array().unwrap();
    assert_eq!(lines.len(), 2);
    assert!(
        lines
            .iter()
            .all(|l| l["sellerId"] == shop.seller.id.as_str())
    );
    assert_eq!(confirmed["payment"]["status"], "succeeded");
    // Inventory sells the reserved units when it sees OrderConfirmed.
    stock_becomes(shop, &mug.id, (8, 0, 2)).await;
    stock_becomes(shop, &pen.id, (7, 0, 3)).await;

    let history = send(
        shop.stack,
        Method::GET,
        &format!("/v1/orders/{id}/history"),
        Some(&buyer.token),
        None,
    )
    .await;
    assert_eq!(history.status, 200);
    let statuses: Vec<Value> = history.json()["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["to"].clone())
        .collect();
    assert_eq!(statuses, [json!("PENDING"), json!("CONFIRMED")]);

    // The cart service takes the ordered lines out of the cart when it sees OrderConfirmed.
    eventually(
        Duration::from_secs(30),
        "the cart to be emptied",
        || async {
            let cart = send(
                shop.stack,
                Method::GET,
                "/v1/cart",
                Some(&buyer.token),
                None,
            )
            .await;
            cart.json()["lines"]
                .as_array()
                .unwrap()
                .is_empty()
                .then_some(())
        },
    )
    .await
    .unwrap();

    // Another customer cannot see it.
    let stranger = customer(shop).await;
    let hidden = send(
        shop.stack,
        Method::GET,
        &format!("/v1/orders/{id}"),
        Some(&stranger.token),
        None,
    )
    .await;
    assert_eq!(hidden.status, 404);
    check_invariants(shop, &[&mug, &pen], &[(&buyer, &id)]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_order_beyond_the_stock_fails_out_of_stock_with_no_charge() {
    let shop = shop().await;
    let buyer = customer(shop).await;
    let scarce = stocked(shop, 500, 1).await;
    let id = place_ok(
        shop,
        &buyer.token,
        &order_of(&[(&scarce, 2)], "pm_card_visa"),
    )
    .await;
    let failed = settled(shop, &buyer.token, &id).await;
    assert_eq!(failed["status"], "FAILED");
    assert_eq!(failure_code(&failed), "OUT_OF_STOCK");
    assert_eq!(support::payment(shop, &buyer.token, &id).await, None);
    assert_eq!(stock(shop, &scarce.id).await, (1, 0, 0));
    check_invariants(shop, &[&scarce], &[(&buyer, &id)]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_declined_card_releases_the_stock() {
    let shop = shop().await;
    let buyer = customer(shop).await;
    let shirt = stocked(shop, 4999, 5).await;
    let declined = place_ok(
        shop,
        &buyer.token,
        &order_of(&[(&shirt, 2)], "pm_card_chargeDeclined"),
    )
    .await;
    let poor = place_ok(
        shop,
        &buyer.token,
        &order_of(&[(&shirt, 1)], "pm_card_chargeDeclinedInsufficientFunds"),
    )
    .await;
    for id in [&declined, &poor] {
        let failed = settled(shop, &buyer.token, id).await;
        assert_eq!(failed["status"], "FAILED");
        assert_eq!(failure_code(&failed), "PAYMENT_DECLINED", "{failed}");
    }
    assert_eq!(stock(shop, &shirt.id).await, (5, 0, 0));
    check_invariants(shop, &[&shirt], &[(&buyer, &declined), (&buyer, &poor)]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_asynchronous_payment_waits_for_its_signed_webhook() {
    let shop = shop().await;
    let buyer = customer(shop).await;
    let lamp = stocked(shop, 3000, 4).await;
    let good = place_ok(
        shop,
        &buyer.token,
        &order_of(&[(&lamp, 1)], "pm_card_async_success"),
    )
    .await;
    let bad = place_ok(
        shop,
        &buyer.token,
        &order_of(&[(&lamp, 1)], "pm_card_async_failure"),
    )
    .await;
    // While it waits, the owner sees what confirms the payment.
    let waiting = eventually(
        Duration::from_secs(30),
        "the order to await its payment",
        || async {
            let seen = order(shop, &buyer.token, &good).await;
            match seen["status"].as_str() {
                Some("AWAITING_PAYMENT") => Some(Some(seen)),
                Some("CONFIRMED") => Some(None),
                _ => None,
            }
        },
    )
    .await
    .unwrap();
    if let Some(waiting) = waiting {
        assert!(
            waiting["payment"]["clientSecret"].as_str().is_some(),
            "{waiting}"
        );
    }
    let confirmed = settled(shop, &buyer.token, &good).await;
    assert_eq!(confirmed["status"], "CONFIRMED", "{confirmed}");
    assert!(confirmed["payment"].get("clientSecret").is_none());
    let failed = settled(shop, &buyer.token, &bad).await;
    assert_eq!(failed["status"], "FAILED");
    assert_eq!(failure_code(&failed), "PAYMENT_DECLINED", "{failed}");
    stock_becomes(shop, &lamp.id, (3, 0, 1)).await;
    check_invariants(shop, &[&lamp], &[(&buyer, &good), (&buyer, &bad)]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_webhook_that_never_comes_times_the_payment_out() {
    let shop = shop().await;
    let buyer = customer(shop).await;
    let chair = stocked(shop, 8000, 2).await;
    let id = place_ok(
        shop,
        &buyer.token,
        &order_of(&[(&chair, 1)], "pm_card_async_never"),
    )
    .await;
    let failed = settled(shop, &buyer.token, &id).await;
    assert_eq!(failed["status"], "FAILED");
    assert_eq!(failure_code(&failed), "PAYMENT_TIMEOUT", "{failed}");
    assert_eq!(stock(shop, &chair.id).await, (2, 0, 0));
    check_invariants(shop, &[&chair], &[(&buyer, &id)]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_provider_outage_is_retried_until_the_payment_goes_through() {
    let shop = shop().await;
    let buyer = customer(shop).await;
    let desk = stocked(shop, 15000, 3).await;
    let id = place_ok(
        shop,
        &buyer.token,
        &order_of(&[(&desk, 1)], "pm_card_unavailable_2"),
    )
    .await;
    let confirmed = settled(shop, &buyer.token, &id).await;
    assert_eq!(confirmed["status"], "CONFIRMED", "{confirmed}");
    check_invariants(shop, &[&desk], &[(&buyer, &id)]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_key_places_one_order_even_concurrently() {
    let shop = shop().await;
    let buyer = customer(shop).await;
    let cup = stocked(shop, 900, 20).await;
    let body = order_of(&[(&cup, 1)], "pm_card_visa");

    let missing = send(
        shop.stack,
        Method::POST,
        "/v1/orders",
        Some(&buyer.token),
        Some(body.clone()),
    )
    .await;
    assert_eq!(missing.status, 400);
    assert_eq!(missing.json()["code"], "IDEMPOTENCY_KEY_REQUIRED");

    let key = uuid::Uuid::new_v4().to_string();
    let answers = join_all((0..6).map(|_| place(shop, &buyer.token, &body, &key))).await;
    let ids: std::collections::BTreeSet<String> = answers
        .iter()
        .map(|a| {
            assert_eq!(a.status, 202, "{}", a.text());
            a.json()["orderId"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(ids.len(), 1, "one key placed {ids:?}");
    let id = ids.into_iter().next().unwrap();
    let again = place(shop, &buyer.token, &body, &key).await;
    assert_eq!(again.status, 202);
    assert_eq!(again.json()["orderId"], id.as_str());

    let other = place(
        shop,
        &buyer.token,
        &order_of(&[(&cup, 2)], "pm_card_visa"),
        &key,
    )
    .await;
    assert_eq!(other.status, 422);
    assert_eq!(other.json()["code"], "IDEMPOTENCY_KEY_REUSED");

    let confirmed = settled(shop, &buyer.token, &id).await;
    assert_eq!(confirmed["status"], "CONFIRMED");
    let listed = send(
        shop.stack,
        Method::GET,
        "/v1/orders",
        Some(&buyer.token),
        None,
    )
    .await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.json()["items"].as_array().unwrap().len(), 1);
    stock_becomes(shop, &cup.id, (19, 0, 1)).await;
    check_invariants(shop, &[&cup], &[(&buyer, &id)]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cancelled_order_is_refunded_and_restocked() {
    let shop = shop().await;
    let buyer = customer(shop).await;
    let vase = stocked(shop, 2500, 3).await;
    let id = place_ok(shop, &buyer.token, &order_of(&[(&vase, 2)], "pm_card_visa")).await;
    assert_eq!(
        settled(shop, &buyer.token, &id).await["status"],
        "CONFIRMED"
    );

    let stranger = customer(shop).await;
    let path = format!("/v1/orders/{id}/cancel");
    let refused = send(shop.stack, Method::POST, &path, Some(&stranger.token), None).await;
    assert_eq!(refused.status, 404);

    let cancelling = send(shop.stack, Method::POST, &path, Some(&buyer.token), None).await;
    assert_eq!(cancelling.status, 202, "{}", cancelling.text());
    let cancelled = settled(shop, &buyer.token, &id).await;
    assert_eq!(cancelled["status"], "CANCELLED", "{cancelled}");
    assert_eq!(cancelled["payment"]["status"], "refunded");
    assert_eq!(stock(shop, &vase.id).await, (3, 0, 0));
    let payment = support::payment(shop, &buyer.token, &id).await.unwrap();
    assert_ne!(payment["status"], "succeeded", "{payment}");

    let twice = send(shop.stack, Method::POST, &path, Some(&buyer.token), None).await;
    assert_eq!(twice.status, 409);
    assert_eq!(twice.json()["code"], "ORDER_NOT_CANCELLABLE");
    check_invariants(shop, &[&vase], &[(&buyer, &id)]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sellers_ship_and_deliver_in_order_and_customers_cannot() {
    let shop = shop().await;
    let buyer = customer(shop).await;
    let rug = stocked(shop, 12000, 2).await;
    let id = place_ok(shop, &buyer.token, &order_of(&[(&rug, 1)], "pm_card_visa")).await;
    assert_eq!(
        settled(shop, &buyer.token, &id).await["status"],
        "CONFIRMED"
    );
    let status = format!("/v1/orders/{id}/status");
    let tracking = format!("/v1/orders/{id}/tracking");

    let by_customer = send(
        shop.stack,
        Method::PUT,
        &status,
        Some(&buyer.token),
        Some(json!({"status": "SHIPPED"})),
    )
    .await;
    assert_eq!(by_customer.status, 403);
    let other_seller = local::testing::account(shop.stack, &shop.admin, "seller")
        .await
        .unwrap();
    let not_theirs = send(
        shop.stack,
        Method::PUT,
        &status,
        Some(&other_seller.token),
        Some(json!({"status": "SHIPPED"})),
    )
    .await;
    assert_eq!(not_theirs.status, 404);
    let too_early = send(
        shop.stack,
        Method::PUT,
        &status,
        Some(&shop.seller.token),
        Some(json!({"status": "DELIVERED"})),
    )
    .await;
    assert_eq!(too_early.status, 409);
    assert_eq!(too_early.json()["code"], "INVALID_TRANSITION");
    let backwards = send(
        shop.stack,
        Method::PUT,
        &status,
        Some(&shop.seller.token),
        Some(json!({"status": "PENDING"})),
    )
    .await;
    assert_eq!(backwards.status, 400);

    let tracked = send(
        shop.stack,
        Method::PUT,
        &tracking,
        Some(&shop.seller.token),
        Some(json!({"carrier": "UPS", "trackingNumber": "1Z999AA10123456784"})),
    )
    .await;
    assert_eq!(tracked.status, 200, "{}", tracked.text());
    let shipped = send(
        shop.stack,
        Method::PUT,
        &status,
        Some(&shop.seller.token),
        Some(json!({"status": "SHIPPED"})),
    )
    .await;
    assert_eq!(shipped.status, 200, "{}", shipped.text());
    assert_eq!(shipped.json()["tracking"]["carrier"], "UPS");
    let cancel = send(
        shop.stack,
        Method::POST,
        &format!("/v1/orders/{id}/cancel"),
        Some(&buyer.token),
        None,
    )
    .await;
    assert_eq!(cancel.status, 409);
    let delivered = send(
        shop.stack,
        Method::PUT,
        &status,
        Some(&shop.admin.token),
        Some(json!({"status": "DELIVERED"})),
    )
    .await;
    assert_eq!(delivered.status, 200);

    let seen = order(shop, &buyer.token, &id).await;
    assert_eq!(seen["status"], "DELIVERED");
    assert_eq!(seen["tracking"]["trackingNumber"], "1Z999AA10123456784");
    let history = send(
        shop.stack,
        Method::GET,
        &format!("/v1/orders/{id}/history"),
        Some(&buyer.token),
        None,
    )
    .await;
    let entries = history.json()["items"].as_array().unwrap().clone();
    let statuses: Vec<&str> = entries.iter().map(|e| e["to"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["PENDING", "CONFIRMED", "SHIPPED", "DELIVERED"]);
    assert_eq!(entries[2]["actor"]["kind"], "seller");
    assert_eq!(entries[3]["actor"]["kind"], "admin");

    // An admin lists every order of a status; a customer may not.
    let all = send(
        shop.stack,
        Method::GET,
        "/v1/orders?scope=all&status=DELIVERED",
        Some(&shop.admin.token),
        None,
    )
    .await;
    assert_eq!(all.status, 200);
    assert!(
        all.json()["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["orderId"] == id.as_str())
    );
    let forbidden = send(
        shop.stack,
        Method::GET,
        "/v1/orders?scope=all",
        Some(&buyer.token),
        None,
    )
    .await;
    assert_eq!(forbidden.status, 403);
    check_invariants(shop, &[&rug], &[(&buyer, &id)]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hot_product_sells_exactly_its_stock_to_concurrent_checkouts() {
    const UNITS: i64 = 50;
    const ORDERS: usize = 200;
    let shop = shop().await;
    let buyers = join_all((0..8).map(|_| customer(shop))).await;
    let hot = stocked(shop, 1999, UNITS).await;
    let body = order_of(&[(&hot, 1)], "pm_card_visa");
    let placed = join_all((0..ORDERS).map(|i| {
        let buyer = &buyers[i % buyers.len()];
        let body = &body;
        async move { (buyer, place_ok(shop, &buyer.token, body).await) }
    }))
    .await;
    let mut confirmed = 0;
    let mut out_of_stock = 0;
    for (buyer, id) in &placed {
        let order = settled(shop, &buyer.token, id).await;
        match (order["status"].as_str().unwrap(), failure_code(&order)) {
            ("CONFIRMED", _) => confirmed += 1,
            ("FAILED", "OUT_OF_STOCK") => out_of_stock += 1,
            other => panic!("order {id} ended {other:?}: {order}"),
        }
    }
    assert_eq!(confirmed, UNITS);
    assert_eq!(out_of_stock, ORDERS as i64 - UNITS);
    stock_becomes(shop, &hot.id, (0, 0, UNITS)).await;
    let orders: Vec<(&local::testing::Account, &str)> =
        placed.iter().map(|(b, id)| (*b, id.as_str())).collect();
    check_invariants(shop, &[&hot], &orders).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_admins_full_refund_makes_the_order_refunded() {
    let shop = shop().await;
    let buyer = customer(shop).await;
    let hat = stocked(shop, 2200, 2).await;
    let id = place_ok(shop, &buyer.token, &order_of(&[(&hat, 2)], "pm_card_visa")).await;
    assert_eq!(
        settled(shop, &buyer.token, &id).await["status"],
        "CONFIRMED"
    );
    let payment = support::payment(shop, &buyer.token, &id).await.unwrap();
    let payment_id = payment["paymentId"].as_str().unwrap().to_owned();
    let path = format!("/v1/payments/{payment_id}/refund");
    let key = uuid::Uuid::new_v4().to_string();

    let partial = support::send_with(
        shop.stack,
        Method::POST,
        &path,
        Some(&shop.admin.token),
        Some(json!({"amount": {"amount": 1000, "currency": "USD"}, "restock": false})),
        &[("idempotency-key", &key)],
    )
    .await;
    assert!(
        partial.status == 200 || partial.status == 201,
        "{}",
        partial.text()
    );
    let rest = support::send_with(
        shop.stack,
        Method::POST,
        &path,
        Some(&shop.admin.token),
        Some(json!({"reason": "damaged in transit"})),
        &[("idempotency-key", &format!("{key}-rest"))],
    )
    .await;
    assert!(rest.status == 200 || rest.status == 201, "{}", rest.text());

    let refunded = eventually(
        Duration::from_secs(30),
        "the order to be refunded",
        || async {
            // The two refunds' events may reach the order in either order: wait for both.
            let seen = order(shop, &buyer.token, &id).await;
            (seen["status"] == "REFUNDED"
                && seen["payment"]["refunded"] == json!({"amount": 4400, "currency": "USD"}))
            .then_some(seen)
        },
    )
    .await
    .unwrap();
    assert_eq!(
        refunded["payment"]["refunded"],
        json!({"amount": 4400, "currency": "USD"})
    );
    let history = send(
        shop.stack,
        Method::GET,
        &format!("/v1/orders/{id}/history"),
        Some(&buyer.token),
        None,
    )
    .await;
    let last = history.json()["items"]
        .as_array()
        .unwrap()
        .last()
        .cloned()
        .unwrap();
    assert_eq!(last["to"], "REFUNDED");
    assert_eq!(last["actor"]["kind"], "payments");
    // Stock levels are not touched by the orders service: inventory restocks the sold units when
    // it sees the full refund's PaymentRefunded (restock is the default).
    stock_becomes(shop, &hat.id, (2, 0, 0)).await;
    check_invariants(shop, &[&hat], &[]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_compensation_that_keeps_failing_flags_the_order_and_alerts() {
    let shop = shop().await;
    let buyer = customer(shop).await;
    let clock = stocked(shop, 5400, 2).await;
    // The simulator charges this card but refuses every refund of it.
    let id = place_ok(
        shop,
        &buyer.token,
        &order_of(&[(&clock, 1)], "pm_card_refundFail"),
    )
    .await;
    assert_eq!(
        settled(shop, &buyer.token, &id).await["status"],
        "CONFIRMED"
    );
    let cancelling = send(
        shop.stack,
        Method::POST,
        &format!("/v1/orders/{id}/cancel"),
        Some(&buyer.token),
        None,
    )
    .await;
    assert_eq!(cancelling.status, 202);
    let flagged = settled(shop, &buyer.token, &id).await;
    assert_eq!(flagged["status"], "NEEDS_ATTENTION", "{flagged}");
    assert_eq!(flagged["failure"]["code"], "COMPENSATION_FAILED");
    let execution = shop
        .stack
        .sfn()
        .describe_execution()
        .execution_arn(format!(
            "{}:{id}-cancel",
            support::machine_arn(shop).replace(":stateMachine:", ":execution:")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(execution.status().as_str(), "FAILED");
    assert_eq!(execution.error(), Some("CompensationFailed"));
    // The operators hear of it.
    let alert = eventually(Duration::from_secs(30), "the alert", || async {
        shop.stack.events().events().into_iter().find(|message| {
            message.topic.ends_with("-checkout-alerts") && message.event["orderId"] == id.as_str()
        })
    })
    .await
    .unwrap();
    assert!(
        alert.event["error"]["Error"].is_string(),
        "{:?}",
        alert.event
    );
    // Admins find it.
    let listed = send(
        shop.stack,
        Method::GET,
        "/v1/orders?scope=all&status=NEEDS_ATTENTION",
        Some(&shop.admin.token),
        None,
    )
    .await;
    assert!(
        listed.json()["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["orderId"] == id.as_str()),
        "{}",
        listed.text()
    );
}
