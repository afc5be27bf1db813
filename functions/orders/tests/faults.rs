//! The checkout saga with every task crashing once, right after its work and before its answer
//! (the template's `FaultInjection` switch set to `all`): each step is retried, and a retried
//! step must have one effect. Every path still ends in a terminal, consistent order. The tests
//! share one stack.

// Helpers outside the test functions fail the test on a setup error too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use http::Method;
use support::{
    Shop, check_invariants, customer, order_of, place_ok, send, settled, stock, stock_becomes,
    stocked,
};
use tokio::sync::OnceCell;

static SHOP: OnceCell<Shop> = OnceCell::const_new();

async fn shop() -> &'static Shop {
    SHOP.get_or_init(|| {
        support::open(
            &[
                ("FaultInjection", "all"),
                ("PaymentTimeoutSeconds", "20"),
                ("SimulatorWebhookDelaySeconds", "1"),
            ],
            "faults",
        )
    })
    .await
}

/// How many of the execution's task attempts crashed (the retries that followed them).
async fn crashes(shop: &Shop, execution: &str) -> usize {
    let arn = format!(
        "{}:{execution}",
        support::machine_arn(shop).replace(":stateMachine:", ":execution:")
    );
    let history = shop
        .stack
        .sfn()
        .get_execution_history()
        .execution_arn(arn)
        .max_results(1000)
        .send()
        .await
        .unwrap();
    history
        .events()
        .iter()
        .filter(|e| {
            e.task_failed_event_details()
                .and_then(|d| d.error())
                .or_else(|| {
                    e.lambda_function_failed_event_details()
                        .and_then(|d| d.error())
                })
                .is_some_and(|error| error == "Lambda.Unknown" || error == "Runtime.ExitError")
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_step_crashing_once_still_confirms_a_good_order_once() {
    let shop = shop().await;
    let buyer = customer(shop).await;
    let book = stocked(shop, 1500, 4).await;
    let id = place_ok(shop, &buyer.token, &order_of(&[(&book, 2)], "pm_card_visa")).await;
    let confirmed = settled(shop, &buyer.token, &id).await;
    assert_eq!(confirmed["status"], "CONFIRMED", "{confirmed}");
    stock_becomes(shop, &book.id, (2, 0, 2)).await;
    // PriceOrder, ReserveStock, AuthorizePayment and ConfirmOrder each crashed once.
    assert!(
        crashes(shop, &id).await >= 4,
        "the fault switch did not fire"
    );
    let history = send(
        shop.stack,
        Method::GET,
        &format!("/v1/orders/{id}/history"),
        Some(&buyer.token),
        None,
    )
    .await;
    assert_eq!(history.json()["items"].as_array().unwrap().len(), 2);
    check_invariants(shop, &[&book], &[(&buyer, &id)]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_compensation_crashing_once_still_fails_an_order_cleanly() {
    let shop = shop().await;
    let buyer = customer(shop).await;
    let pen = stocked(shop, 300, 3).await;
    let declined = place_ok(
        shop,
        &buyer.token,
        &order_of(&[(&pen, 1)], "pm_card_chargeDeclined"),
    )
    .await;
    let too_many = place_ok(shop, &buyer.token, &order_of(&[(&pen, 5)], "pm_card_visa")).await;
    for (id, code) in [(&declined, "PAYMENT_DECLINED"), (&too_many, "OUT_OF_STOCK")] {
        let failed = settled(shop, &buyer.token, id).await;
        assert_eq!(failed["status"], "FAILED", "{failed}");
        assert_eq!(failed["failure"]["code"], code);
    }
    assert_eq!(stock(shop, &pen.id).await, (3, 0, 0));
    check_invariants(shop, &[&pen], &[(&buyer, &declined), (&buyer, &too_many)]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_asynchronous_payment_and_a_cancellation_survive_crashes() {
    let shop = shop().await;
    let buyer = customer(shop).await;
    let lamp = stocked(shop, 4200, 2).await;
    let id = place_ok(
        shop,
        &buyer.token,
        &order_of(&[(&lamp, 1)], "pm_card_async_success"),
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
    assert_eq!(cancelling.status, 202, "{}", cancelling.text());
    let cancelled = settled(shop, &buyer.token, &id).await;
    assert_eq!(cancelled["status"], "CANCELLED", "{cancelled}");
    assert_eq!(stock(shop, &lamp.id).await, (2, 0, 0));
    assert!(crashes(shop, &format!("{id}-cancel")).await >= 3);
    check_invariants(shop, &[&lamp], &[(&buyer, &id)]).await;
}
