//! Payments through the local stack: the webhook's signature checks and deduplication, the
//! simulator's idempotency and limits through its HTTP route, authorizations against the
//! simulator (succeeding, declined, asynchronous, unavailable, after the compensation), a
//! compensation that meets an authorization under way, a payment that succeeds after the
//! compensation, admins' refunds (their `PaymentRefunded` events, against the compensation), and
//! who may see an order's payment. The saga tasks are driven in-process against the stack's
//! emulator and simulator. The tests share one stack.

// Helpers outside the test functions fail the test on a setup error too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use bytes::Bytes;
use http::Method;
use local::testing::{self, Account, SharedStack, TestResponse, call, eventually};
use payments::{
    Payments, ProviderKeys,
    domain::{CompensationAction, Payment, PaymentStatus},
    handlers::{authorize_payment, cancel_or_refund_payment},
    provider::{self, CONFIRM, IntentStatus, Provider, ProviderError, order_key},
    signature,
    store::{Begun, Store},
};
use serde_json::{Value, json};
use shared::{
    checkout::errors,
    money::{Currency, Money},
};
use tokio::sync::OnceCell;
use uuid::Uuid;

struct Shop {
    stack: &'static SharedStack,
    admin: Account,
    keys: ProviderKeys,
    table: String,
}

static SHOP: OnceCell<Shop> = OnceCell::const_new();

async fn shop() -> &'static Shop {
    SHOP.get_or_init(|| async {
        let (stack, admin) = testing::shared_shop(&[]).await.unwrap();
        let model = stack.model();
        let secret = &model
            .secrets
            .iter()
            .find(|s| s.logical_id == "PaymentProviderKeys")
            .unwrap()
            .name;
        let table = &model.table("PaymentsTable").unwrap().name;
        let config = stack.sdk_config();
        let keys = ProviderKeys::load(&aws_sdk_secretsmanager::Client::new(config), secret)
            .await
            .unwrap();
        Shop {
            stack,
            admin,
            keys,
            table: table.clone(),
        }
    })
    .await
}

/// The state of the payment functions, with clients of the calling test's runtime (a client
/// outlives no runtime).
fn payments(shop: &Shop) -> Payments {
    let config = shop.stack.sdk_config();
    Payments {
        store: Store::new(aws_sdk_dynamodb::Client::new(config), shop.table.clone()),
        provider: Provider::new(
            provider::http_client().unwrap(),
            shop.stack.url("/simulator"),
            shop.keys.api_key.clone(),
        ),
        keys: shop.keys.clone(),
        sfn: aws_sdk_sfn::Client::new(config),
    }
}

fn usd(amount: i64) -> Money {
    Money::new(amount, Currency::USD)
}

/// Authorizes a new order of `user` for `amount` with `method`, as the saga does.
async fn authorize(
    shop: &Shop,
    order: Uuid,
    user: &str,
    amount: i64,
    method: Option<&str>,
) -> Result<authorize_payment::Authorized, shared::task::TaskFailure> {
    let input: authorize_payment::Input = serde_json::from_value(json!({
        "orderId": order, "userId": user, "correlationId": format!("test-{order}"), "attempt": 0,
        "amount": usd(amount), "paymentMethod": method,
    }))
    .unwrap();
    authorize_payment::handle(&payments(shop), input).await
}

async fn compensate(shop: &Shop, order: Uuid) -> payments::domain::Compensation {
    let input: cancel_or_refund_payment::Input =
        serde_json::from_value(json!({"orderId": order, "correlationId": "test", "attempt": 0}))
            .unwrap();
    cancel_or_refund_payment::handle(&payments(shop), input)
        .await
        .unwrap()
}

async fn post_webhook(stack: &SharedStack, body: &str, signature: Option<&str>) -> TestResponse {
    let mut headers = vec![("content-type", "application/json")];
    if let Some(signature) = signature {
        headers.push(("stripe-signature", signature));
    }
    stack
        .request(
            Method::POST,
            "/v1/payments/webhook",
            &headers,
            Bytes::from(body.to_owned()),
        )
        .await
        .unwrap()
}

fn now() -> i64 {
    shared::time::now().unix_timestamp()
}

fn intent_event(event_id: &str, kind: &str, order: Uuid) -> String {
    json!({
        "id": event_id, "object": "event", "type": kind, "created": now(),
        "data": {"object": {
            "id": format!("pi_{}", Uuid::new_v4().simple()), "object": "payment_intent",
            "amount": 100, "currency": "usd", "status": "succeeded",
            "metadata": {"order_id": order.to_string()}
        }}
    })
    .to_string()
}

async fn simulator(
    stack: &SharedStack,
    api_key: &str,
    path: &str,
    form: &str,
    key: Option<&str>,
) -> TestResponse {
    let auth = format!("Bearer {api_key}");
    let mut headers = vec![
        ("content-type", "application/x-www-form-urlencoded"),
        ("authorization", auth.as_str()),
    ];
    if let Some(key) = key {
        headers.push(("idempotency-key", key));
    }
    stack
        .request(
            Method::POST,
            &format!("/simulator{path}"),
            &headers,
            Bytes::from(form.to_owned()),
        )
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_forged_stale_or_missing_webhook_signature_is_a_400() {
    let shop = shop().await;
    let body = intent_event(
        &format!("evt_{}", Uuid::new_v4().simple()),
        "payment_intent.succeeded",
        Uuid::new_v4(),
    );
    let forged = signature::header(&["whsec_not_the_secret"], now(), body.as_bytes());
    let answer = post_webhook(shop.stack, &body, Some(&forged)).await;
    assert_eq!(answer.status, 400, "{}", answer.text());
    assert_eq!(answer.json()["code"], "INVALID_SIGNATURE");
    assert_eq!(
        answer.header("content-type"),
        Some("application/problem+json")
    );

    let secret = shop.keys.webhook_secret.as_str();
    let stale = signature::header(&[secret], now() - 301, body.as_bytes());
    let answer = post_webhook(shop.stack, &body, Some(&stale)).await;
    assert_eq!(answer.status, 400);
    assert_eq!(answer.json()["code"], "INVALID_SIGNATURE");

    let answer = post_webhook(shop.stack, &body, None).await;
    assert_eq!(answer.status, 400);

    let tampered = signature::header(&[secret], now(), body.as_bytes());
    let answer = post_webhook(shop.stack, &body.replace("100", "1"), Some(&tampered)).await;
    assert_eq!(answer.status, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_duplicate_webhook_event_is_answered_2xx_once_processed() {
    let shop = shop().await;
    let secret = shop.keys.webhook_secret.as_str();
    let event_id = format!("evt_{}", Uuid::new_v4().simple());
    let body = intent_event(&event_id, "payment_intent.succeeded", Uuid::new_v4());
    let signed = signature::header(&["whsec_previous_or_other", secret], now(), body.as_bytes());
    let first = post_webhook(shop.stack, &body, Some(&signed)).await;
    assert_eq!(first.status, 200, "{}", first.text());
    assert_eq!(first.json()["received"], true);
    let again = post_webhook(shop.stack, &body, Some(&signed)).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.json()["outcome"], "duplicate");

    let other = intent_event(
        &format!("evt_{}", Uuid::new_v4().simple()),
        "charge.refunded",
        Uuid::new_v4(),
    );
    let signed = signature::header(&[secret], now(), other.as_bytes());
    let ignored = post_webhook(shop.stack, &other, Some(&signed)).await;
    assert_eq!(
        (ignored.status, ignored.json()["outcome"].clone()),
        (200, json!("ignored"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_simulator_answers_a_repeated_key_with_the_first_answer_and_other_parameters_with_a_400()
 {
    let shop = shop().await;
    let api_key = shop.keys.api_key.as_str();
    let key = format!("test-{}", Uuid::new_v4());
    let form = "amount=1200&currency=usd&payment_method=pm_card_visa&confirm=true";
    let first = simulator(shop.stack, api_key, "/v1/payment_intents", form, Some(&key)).await;
    assert_eq!(first.status, 200, "{}", first.text());
    assert_eq!(first.json()["object"], "payment_intent");
    assert_eq!(first.json()["status"], "succeeded");
    assert!(first.json()["id"].as_str().unwrap().starts_with("pi_"));

    let again = simulator(shop.stack, api_key, "/v1/payment_intents", form, Some(&key)).await;
    assert_eq!(again.status, 200);
    assert_eq!(again.json(), first.json());
    assert_eq!(again.header("idempotent-replayed"), Some("true"));

    let other = "amount=1300&currency=usd&payment_method=pm_card_visa&confirm=true";
    let refused = simulator(
        shop.stack,
        api_key,
        "/v1/payment_intents",
        other,
        Some(&key),
    )
    .await;
    assert_eq!(refused.status, 400);
    assert_eq!(refused.json()["error"]["type"], "idempotency_error");

    let unauthorized = simulator(
        shop.stack,
        "sk_test_wrong",
        "/v1/payment_intents",
        form,
        None,
    )
    .await;
    assert_eq!(unauthorized.status, 401);
    assert_eq!(
        unauthorized.json()["error"]["type"],
        "invalid_request_error"
    );

    let declined = simulator(
        shop.stack,
        api_key,
        "/v1/payment_intents",
        "amount=500&currency=usd&payment_method=pm_card_chargeDeclinedInsufficientFunds&confirm=true",
        None,
    )
    .await;
    assert_eq!(declined.status, 402);
    assert_eq!(
        declined.json()["error"]["decline_code"],
        "insufficient_funds"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_authorization_is_charged_once_and_a_declined_card_stays_declined() {
    let shop = shop().await;
    let user = Uuid::new_v4().to_string();
    let order = Uuid::new_v4();
    let first = authorize(shop, order, &user, 2_500, Some("pm_card_visa"))
        .await
        .unwrap();
    assert_eq!(first.status.as_str(), "succeeded");
    let retried = authorize(shop, order, &user, 2_500, Some("pm_card_visa"))
        .await
        .unwrap();
    assert_eq!(
        retried, first,
        "a retry answers the same payment and intent"
    );

    let declined_order = Uuid::new_v4();
    let failure = authorize(
        shop,
        declined_order,
        &user,
        900,
        Some("pm_card_chargeDeclined"),
    )
    .await
    .unwrap_err();
    assert_eq!(failure.error, errors::PAYMENT_DECLINED);
    let cause: Value = serde_json::from_str(&failure.cause).unwrap();
    assert_eq!(cause["code"], "card_declined");
    assert_eq!(cause["declineCode"], "generic_decline");
    let again = authorize(
        shop,
        declined_order,
        &user,
        900,
        Some("pm_card_chargeDeclined"),
    )
    .await
    .unwrap_err();
    assert_eq!(again, failure);
    let compensation = compensate(shop, declined_order).await;
    assert_ne!(compensation.action, CompensationAction::Refunded);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unavailable_provider_is_transient_until_it_answers() {
    let shop = shop().await;
    let order = Uuid::new_v4();
    let user = Uuid::new_v4().to_string();
    for _ in 0..2 {
        let failure = authorize(shop, order, &user, 700, Some("pm_card_unavailable_2"))
            .await
            .unwrap_err();
        assert_eq!(failure.error, shared::task::TRANSIENT);
    }
    let paid = authorize(shop, order, &user, 700, Some("pm_card_unavailable_2"))
        .await
        .unwrap();
    assert_eq!(paid.status.as_str(), "succeeded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn after_the_compensation_an_authorization_refuses_to_charge() {
    let shop = shop().await;
    let order = Uuid::new_v4();
    assert_eq!(
        compensate(shop, order).await.action,
        CompensationAction::None
    );
    let failure = authorize(
        shop,
        order,
        &Uuid::new_v4().to_string(),
        1_000,
        Some("pm_card_visa"),
    )
    .await
    .unwrap_err();
    assert_eq!(failure.error, errors::PAYMENT_REJECTED);

    let charged = Uuid::new_v4();
    authorize(
        shop,
        charged,
        &Uuid::new_v4().to_string(),
        1_000,
        Some("pm_card_visa"),
    )
    .await
    .unwrap();
    let refunded = compensate(shop, charged).await;
    assert_eq!(refunded.action, CompensationAction::Refunded);
    assert_eq!(refunded.amount, Some(usd(1_000)));
    assert_eq!(
        compensate(shop, charged).await,
        refunded,
        "a retried compensation answers the same"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_asynchronous_payment_is_settled_by_the_signed_webhook() {
    let shop = shop().await;
    let customer = testing::account(shop.stack, &shop.admin, "customer")
        .await
        .unwrap();
    let order = Uuid::new_v4();
    let started = authorize(
        shop,
        order,
        &customer.id,
        3_000,
        Some("pm_card_async_success"),
    )
    .await
    .unwrap();
    // The customer must act; the webhook tells when they did.
    assert_eq!(started.status.as_str(), "requires_action");
    assert!(!started.client_secret.is_empty());
    let path = format!("/v1/payments/order/{order}");
    eventually(
        Duration::from_secs(30),
        "the webhook to settle the payment",
        || async {
            let answer = call(
                shop.stack,
                Method::GET,
                &path,
                Some(&customer.token),
                None,
                &[],
            )
            .await
            .unwrap();
            (answer.json()["status"] == "succeeded").then_some(())
        },
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_orders_payment_is_visible_to_its_owner_and_admins_only() {
    let shop = shop().await;
    let owner = testing::account(shop.stack, &shop.admin, "customer")
        .await
        .unwrap();
    let other = testing::account(shop.stack, &shop.admin, "customer")
        .await
        .unwrap();
    let order = Uuid::new_v4();
    let paid = authorize(shop, order, &owner.id, 1_500, Some("pm_card_visa"))
        .await
        .unwrap();
    let path = format!("/v1/payments/order/{order}");
    let mine = call(
        shop.stack,
        Method::GET,
        &path,
        Some(&owner.token),
        None,
        &[],
    )
    .await
    .unwrap();
    assert_eq!(mine.status, 200, "{}", mine.text());
    assert_eq!(mine.json()["paymentId"], json!(paid.payment_id));
    assert_eq!(mine.json()["amount"], json!(usd(1_500)));
    let theirs = call(
        shop.stack,
        Method::GET,
        &path,
        Some(&other.token),
        None,
        &[],
    )
    .await
    .unwrap();
    assert_eq!(theirs.status, 404);
    let admin = call(
        shop.stack,
        Method::GET,
        &path,
        Some(&shop.admin.token),
        None,
        &[],
    )
    .await
    .unwrap();
    assert_eq!(admin.status, 200);
    let unknown = format!("/v1/payments/order/{}", Uuid::new_v4());
    let none = call(
        shop.stack,
        Method::GET,
        &unknown,
        Some(&owner.token),
        None,
        &[],
    )
    .await
    .unwrap();
    assert_eq!(none.status, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_admin_refund_is_idempotent_bounded_and_emits_payment_refunded() {
    let shop = shop().await;
    let customer = testing::account(shop.stack, &shop.admin, "customer")
        .await
        .unwrap();
    let order = Uuid::new_v4();
    let paid = authorize(shop, order, &customer.id, 5_000, Some("pm_card_visa"))
        .await
        .unwrap();
    let path = format!("/v1/payments/{}/refund", paid.payment_id);
    let refund = |body: Value, key: &'static str, token: String| {
        let path = path.clone();
        async move {
            call(
                shop.stack,
                Method::POST,
                &path,
                Some(&token),
                Some(&body),
                &[("idempotency-key", key)],
            )
            .await
            .unwrap()
        }
    };
    let admin = shop.admin.token.clone();
    let forbidden = refund(json!({}), "k-customer", customer.token.clone()).await;
    assert_eq!(forbidden.status, 403);
    let no_key = call(
        shop.stack,
        Method::POST,
        &path,
        Some(&admin),
        Some(&json!({})),
        &[],
    )
    .await
    .unwrap();
    assert_eq!(
        (no_key.status, no_key.json()["code"].clone()),
        (400, json!("IDEMPOTENCY_KEY_REQUIRED"))
    );

    let partial = json!({"amount": usd(2_000), "reason": "Scratched"});
    let first = refund(partial.clone(), "k-partial", admin.clone()).await;
    assert_eq!(first.status, 200, "{}", first.text());
    assert_eq!(first.json()["full"], false);
    assert_eq!(first.json()["remaining"], json!(usd(3_000)));
    let replay = refund(partial, "k-partial", admin.clone()).await;
    assert_eq!(
        replay.json(),
        first.json(),
        "same key and body, same answer"
    );
    let reused = refund(json!({"amount": usd(1)}), "k-partial", admin.clone()).await;
    assert_eq!(
        (reused.status, reused.json()["code"].clone()),
        (422, json!("IDEMPOTENCY_KEY_REUSED"))
    );
    let too_much = refund(json!({"amount": usd(3_001)}), "k-too-much", admin.clone()).await;
    assert_eq!(
        (too_much.status, too_much.json()["code"].clone()),
        (422, json!("REFUND_EXCEEDS_REMAINING"))
    );

    let rest = refund(json!({"restock": false}), "k-rest", admin.clone()).await;
    assert_eq!(rest.status, 200, "{}", rest.text());
    assert_eq!(rest.json()["full"], true);
    assert_eq!(rest.json()["amount"], json!(usd(3_000)));
    let nothing = refund(json!({}), "k-nothing", admin.clone()).await;
    assert_eq!(
        (nothing.status, nothing.json()["code"].clone()),
        (409, json!("NOTHING_TO_REFUND"))
    );

    let refund_id = rest.json()["refundId"].as_str().unwrap().to_owned();
    let events = eventually(
        Duration::from_secs(30),
        "PaymentRefunded events",
        || async {
            let seen: Vec<Value> = shop
                .stack
                .events()
                .events()
                .into_iter()
                .filter(|e| {
                    e.event_type() == "PaymentRefunded"
                        && e.event["data"]["paymentId"] == json!(paid.payment_id)
                })
                .map(|e| e.event)
                .collect();
            (seen.len() == 2).then_some(seen)
        },
    )
    .await
    .unwrap();
    let full = events
        .iter()
        .find(|e| e["data"]["refundId"] == json!(refund_id))
        .unwrap();
    assert_eq!(full["data"]["full"], true);
    assert_eq!(full["data"]["restock"], false);
    assert_eq!(full["data"]["orderId"], json!(order));
    assert_eq!(full["data"]["userId"], json!(customer.id));
    let broken = shop.stack.events().problems();
    assert!(
        broken.is_empty(),
        "events that break their schema: {broken:?}"
    );
}

async fn payment_of(shop: &Shop, order: Uuid) -> Payment {
    payments(shop)
        .store
        .payment_of_order(order)
        .await
        .unwrap()
        .unwrap()
}

async fn admin_refund(shop: &Shop, payment: Uuid, body: Value, key: &str) -> TestResponse {
    call(
        shop.stack,
        Method::POST,
        &format!("/v1/payments/{payment}/refund"),
        Some(&shop.admin.token),
        Some(&body),
        &[("idempotency-key", key)],
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_simulator_keeps_the_providers_amount_limits() {
    let shop = shop().await;
    let api_key = shop.keys.api_key.as_str();
    for (form, code) in [
        ("amount=49&currency=usd", "amount_too_small"),
        ("amount=100000000&currency=usd", "amount_too_large"),
    ] {
        let refused = simulator(shop.stack, api_key, "/v1/payment_intents", form, None).await;
        assert_eq!(refused.status, 400, "{}", refused.text());
        assert_eq!(refused.json()["error"]["type"], "invalid_request_error");
        assert_eq!(refused.json()["error"]["code"], code);
    }
    let failure = authorize(
        shop,
        Uuid::new_v4(),
        &Uuid::new_v4().to_string(),
        30,
        Some("pm_card_visa"),
    )
    .await
    .unwrap_err();
    assert_eq!(failure.error, errors::PAYMENT_REJECTED);
    let cause: Value = serde_json::from_str(&failure.cause).unwrap();
    assert_eq!(cause["code"], "amount_too_small");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_compensation_of_an_authorization_under_way_never_charges() {
    let shop = shop().await;
    let payments = payments(shop);
    // An authorization recorded its payment and died before the provider heard of it.
    let order = Uuid::new_v4();
    let now = shared::time::now_rfc3339();
    let payment = Payment {
        payment_id: Uuid::new_v4(),
        order_id: order,
        user_id: Uuid::new_v4(),
        amount: usd(2_200),
        payment_method: Some("pm_card_visa".into()),
        status: PaymentStatus::Creating,
        intent_id: None,
        client_secret: None,
        failure: None,
        refunded_amount: 0,
        voided: false,
        voided_at: None,
        compensation: None,
        late_refund_id: None,
        task_token: None,
        correlation_id: "test".into(),
        created_at: now.clone(),
        updated_at: now,
    };
    assert_eq!(
        payments.store.begin(&payment).await.unwrap(),
        Begun::Created
    );
    // The compensation replays the creation (which does not confirm) and cancels the intent.
    let compensation = compensate(shop, order).await;
    assert_eq!(compensation.action, CompensationAction::Canceled);
    let recorded = payment_of(shop, order).await;
    assert_eq!(recorded.status, PaymentStatus::Canceled);
    let intent_id = recorded.intent_id.unwrap();
    let intent = payments.provider.retrieve_intent(&intent_id).await.unwrap();
    assert_eq!(intent.status, IntentStatus::Canceled);
    // The authorization's confirmation, arriving late, is refused: nothing is charged.
    let late = payments
        .provider
        .confirm_intent(&intent_id, Some("pm_card_visa"), &order_key(order, CONFIRM))
        .await
        .unwrap_err();
    assert!(
        matches!(&late, ProviderError::Rejected { code: Some(code), .. } if code == "payment_intent_unexpected_state"),
        "{late:?}"
    );
    // And a retried authorization refuses to charge.
    let retried = authorize(
        shop,
        order,
        &Uuid::new_v4().to_string(),
        2_200,
        Some("pm_card_visa"),
    )
    .await
    .unwrap_err();
    assert_eq!(retried.error, errors::PAYMENT_REJECTED);
    assert_eq!(
        payments
            .provider
            .retrieve_intent(&intent_id)
            .await
            .unwrap()
            .status,
        IntentStatus::Canceled
    );

    // An intent waiting for the customer is canceled too.
    let waiting = Uuid::new_v4();
    let started = authorize(
        shop,
        waiting,
        &Uuid::new_v4().to_string(),
        1_100,
        Some("pm_card_async_never"),
    )
    .await
    .unwrap();
    assert_eq!(started.status.as_str(), "requires_action");
    assert_eq!(
        compensate(shop, waiting).await.action,
        CompensationAction::Canceled
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_payment_that_succeeds_after_the_compensation_is_refunded_once() {
    let shop = shop().await;
    let payments = payments(shop);
    let order = Uuid::new_v4();
    let paid = authorize(
        shop,
        order,
        &Uuid::new_v4().to_string(),
        3_300,
        Some("pm_card_visa"),
    )
    .await
    .unwrap();
    // The order gave up (its compensation voided the payment, and has not refunded it), and the
    // provider's news of the charge comes only now.
    payments.store.void(order).await.unwrap();
    let intent = payments
        .provider
        .retrieve_intent(&paid.intent_id)
        .await
        .unwrap();
    let secret = shop.keys.webhook_secret.as_str();
    let deliver = |event_id: String| {
        let body = json!({
            "id": event_id, "object": "event", "type": "payment_intent.succeeded", "created": now(),
            "data": {"object": intent.clone()}
        })
        .to_string();
        async move {
            let signed = signature::header(&[secret], now(), body.as_bytes());
            post_webhook(shop.stack, &body, Some(&signed)).await
        }
    };
    let first = deliver(format!("evt_{}", Uuid::new_v4().simple())).await;
    assert_eq!(first.status, 200, "{}", first.text());
    let refunded = payment_of(shop, order).await;
    assert_eq!(refunded.status, PaymentStatus::Refunded);
    assert_eq!(refunded.refunded_amount, 3_300);
    assert!(refunded.late_refund_id.is_some());
    // Another event of the same charge replays the same refund, recorded once.
    let again = deliver(format!("evt_{}", Uuid::new_v4().simple())).await;
    assert_eq!(again.status, 200, "{}", again.text());
    assert_eq!(payment_of(shop, order).await.refunded_amount, 3_300);
    // The compensation, finishing, finds nothing left to refund.
    let compensation = compensate(shop, order).await;
    assert_eq!(compensation.action, CompensationAction::Refunded);
    let done = payment_of(shop, order).await;
    assert_eq!(
        (done.status, done.refunded_amount),
        (PaymentStatus::Refunded, 3_300)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn admin_refunds_and_the_compensation_add_up_and_wait_for_each_other() {
    let shop = shop().await;
    let payments = payments(shop);
    let order = Uuid::new_v4();
    let paid = authorize(
        shop,
        order,
        &Uuid::new_v4().to_string(),
        5_000,
        Some("pm_card_visa"),
    )
    .await
    .unwrap();
    let first = admin_refund(
        shop,
        paid.payment_id,
        json!({"amount": usd(1_000)}),
        "k-before",
    )
    .await;
    assert_eq!(first.status, 200, "{}", first.text());
    // While the compensation runs, admins wait.
    payments.store.void(order).await.unwrap();
    let refused = admin_refund(
        shop,
        paid.payment_id,
        json!({"amount": usd(500)}),
        "k-during",
    )
    .await;
    assert_eq!(
        (refused.status, refused.json()["code"].clone()),
        (409, json!("PAYMENT_BEING_CANCELLED"))
    );
    let compensation = compensate(shop, order).await;
    assert_eq!(compensation.action, CompensationAction::Refunded);
    assert_eq!(compensation.amount, Some(usd(4_000)));
    let done = payment_of(shop, order).await;
    assert_eq!(
        (done.status, done.refunded_amount),
        (PaymentStatus::Refunded, 5_000)
    );
    let after = admin_refund(shop, paid.payment_id, json!({}), "k-after").await;
    assert_eq!(
        (after.status, after.json()["code"].clone()),
        (409, json!("NOTHING_TO_REFUND"))
    );

    // An admin's refund racing the compensation: whatever the provider accepted is in the books.
    for round in 0..3 {
        let order = Uuid::new_v4();
        let paid = authorize(
            shop,
            order,
            &Uuid::new_v4().to_string(),
            4_000,
            Some("pm_card_visa"),
        )
        .await
        .unwrap();
        let key = format!("k-race-{round}");
        let (admin, compensation) = tokio::join!(
            admin_refund(shop, paid.payment_id, json!({"amount": usd(1_500)}), &key),
            compensate(shop, order)
        );
        assert!(
            admin.status == 200 || admin.status == 409,
            "{} {}",
            admin.status,
            admin.text()
        );
        assert_eq!(compensation.action, CompensationAction::Refunded);
        let done = payment_of(shop, order).await;
        assert_eq!(
            (done.status, done.refunded_amount),
            (PaymentStatus::Refunded, 4_000),
            "round {round}: admin {} {}",
            admin.status,
            admin.text()
        );
    }
}
