//! Notifications through the local stack: what each order and payment event sends (read back
//! from the emulator's mailbox), the account emails of the identity events (verification,
//! registration attempt, password reset and change), the contact projection the identity events
//! keep, deduplication per event and channel, poison messages, and `GET /v1/notifications`. The
//! tests share one stack whose queues run 20 times faster (visibility timeouts), so retries and
//! dead-lettering take seconds.

// Helpers outside the test functions fail the test on a setup error too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../orders/tests/support/mod.rs"]
mod support;

use std::time::Duration;

use aws_sdk_sns::types::MessageAttributeValue;
use http::Method;
use local::{
    mailbox,
    testing::{Account, SharedStack, eventually},
};
use notifications::store::{Contact, Store};
use serde_json::{Value, json};
use support::{Shop, customer, order_of, place_ok, send, send_with, settled, stocked};
use tokio::sync::OnceCell;
use uuid::Uuid;

static SHOP: OnceCell<Shop> = OnceCell::const_new();

/// Queues' visibility timeouts run 20 times faster: a failed message comes back within seconds
/// (the notification queue's 180 s become 9 s).
const QUEUE_TIME_SCALE: f64 = 0.05;

async fn shop() -> &'static Shop {
    SHOP.get_or_init(|| {
        support::open_with(
            &[("ShopName", "Test Shop")],
            |options| options.queue_time_scale = QUEUE_TIME_SCALE,
            "notified",
        )
    })
    .await
}

const WAIT: Duration = Duration::from_secs(90);

fn store(stack: &SharedStack) -> Store {
    let table = stack
        .model()
        .table("NotificationsTable")
        .unwrap()
        .name
        .clone();
    Store::new(aws_sdk_dynamodb::Client::new(stack.sdk_config()), table)
}

fn queue_url(stack: &SharedStack, logical_id: &str) -> String {
    stack.model().queue(logical_id).unwrap().url.clone()
}

/// Changes `account`'s profile and waits until the notification service's projection has the
/// change (its revision).
async fn change_profile(stack: &SharedStack, account: &Account, patch: Value) -> Contact {
    let changed = send(
        stack,
        Method::PATCH,
        "/v1/users/me",
        Some(&account.token),
        Some(patch),
    )
    .await;
    assert_eq!(changed.status, 200, "{}", changed.text());
    let user: Uuid = account.id.parse().unwrap();
    let store = store(stack);
    let profile = changed.json();
    eventually(WAIT, "the projection to have the change", || {
        let store = store.clone();
        let profile = profile.clone();
        async move {
            let contact = store.contact(user).await.unwrap()?;
            (contact.phone.as_deref() == profile["phone"].as_str()
                && contact.sms_opt_in == profile["smsOptIn"].as_bool().unwrap_or(false))
            .then_some(contact)
        }
    })
    .await
    .unwrap()
}

/// Waits for the projection to know `account` at all.
async fn known(stack: &SharedStack, account: &Account) -> Contact {
    let user: Uuid = account.id.parse().unwrap();
    let store = store(stack);
    eventually(WAIT, "the projection to know the user", || {
        let store = store.clone();
        async move { store.contact(user).await.unwrap() }
    })
    .await
    .unwrap()
}

/// An email as the mailbox recorded it, both parts present.
#[derive(Debug)]
struct Mail {
    message_id: String,
    subject: String,
    text: String,
    html: String,
}

/// The emails sent to `to` that mention `needle` (an order id), once there are `count`.
async fn emails(stack: &SharedStack, to: &str, needle: &str, count: usize) -> Vec<Mail> {
    eventually(
        WAIT,
        &format!("{count} email(s) to {to} about {needle}"),
        || async {
            let found = emails_now(stack, to, needle).await;
            (found.len() >= count).then_some(found)
        },
    )
    .await
    .unwrap()
}

/// Every email sent to `to` about `needle` so far, in the order they were sent.
async fn emails_now(stack: &SharedStack, to: &str, needle: &str) -> Vec<Mail> {
    mailbox::emails(stack.emulator_endpoint())
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.to.iter().any(|t| t == to))
        .map(|e| Mail {
            message_id: e.message_id,
            subject: e.subject,
            text: e.text.expect("every email has a text part"),
            html: e.html.expect("every email has an HTML part"),
        })
        .filter(|e| e.text.contains(needle))
        .collect()
}

/// Every SMS sent to `phone` so far.
async fn sms_now(stack: &SharedStack, phone: &str) -> Vec<mailbox::Sms> {
    mailbox::sms(stack.emulator_endpoint())
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.phone_number == phone)
        .collect()
}

/// The caller's delivery log (first page).
async fn deliveries(stack: &SharedStack, account: &Account) -> Vec<Value> {
    let answer = send(
        stack,
        Method::GET,
        "/v1/notifications?limit=100",
        Some(&account.token),
        None,
    )
    .await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    answer.json()["items"].as_array().unwrap().clone()
}

/// The delivery log entries of one event, once its email is recorded as sent.
async fn delivered(stack: &SharedStack, account: &Account, event_id: &str) -> Vec<Value> {
    eventually(WAIT, "the delivery to be recorded", || async {
        let entries: Vec<Value> = deliveries(stack, account)
            .await
            .into_iter()
            .filter(|d| d["eventId"] == event_id)
            .collect();
        entries
            .iter()
            .any(|d| d["channel"] == "EMAIL" && d["status"] == "SENT")
            .then_some(entries)
    })
    .await
    .unwrap()
}

/// An `OrderDelivered` envelope for `user` about a fresh order id.
fn order_delivered(user: &str) -> Value {
    json!({"id": Uuid::now_v7(), "type": "OrderDelivered", "version": 1,
           "occurredAt": shared::time::now_rfc3339(), "correlationId": "notify-test",
           "data": {"orderId": Uuid::now_v7(), "userId": user}})
}

/// Publishes `event` to the domain-events topic, as an outbox publisher does.
async fn publish(stack: &SharedStack, event: &Value) {
    let topic = stack
        .model()
        .topics
        .iter()
        .find(|t| t.logical_id == "DomainEventsTopic")
        .unwrap()
        .arn
        .clone();
    let event_type = event["type"].as_str().unwrap();
    aws_sdk_sns::Client::new(stack.sdk_config())
        .publish()
        .topic_arn(topic)
        .message(event.to_string())
        .message_attributes(
            "type",
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value(event_type)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

/// An opted-in customer with a name and phone, known to the projection.
async fn opted_in(shop: &Shop, phone: &str) -> Account {
    let buyer = customer(shop).await;
    known(shop.stack, &buyer).await;
    let contact = change_profile(
        shop.stack,
        &buyer,
        json!({"name": "Ada <Lovelace>", "phone": phone, "smsOptIn": true}),
    )
    .await;
    assert_eq!(contact.name.as_deref(), Some("Ada <Lovelace>"));
    buyer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_confirmed_order_sends_its_email_with_lines_and_totals_and_the_sms() {
    let shop = shop().await;
    let buyer = opted_in(shop, "+14155550101").await;
    let lamp = stocked(shop, 2_499, 5).await;
    let id = place_ok(shop, &buyer.token, &order_of(&[(&lamp, 2)], "pm_card_visa")).await;
    assert_eq!(
        settled(shop, &buyer.token, &id).await["status"],
        "CONFIRMED"
    );

    let email = emails(shop.stack, &buyer.email, &id, 1).await.remove(0);
    assert_eq!(email.subject, "Your Test Shop order is confirmed");
    assert!(
        email.text.contains("Hello Ada <Lovelace>,"),
        "{}",
        email.text
    );
    assert!(
        email
            .text
            .contains("2 x Checkout Item at 24.99 USD = 49.98 USD"),
        "{}",
        email.text
    );
    assert!(email.text.contains("Total: 49.98 USD"), "{}", email.text);
    assert!(
        email.html.contains("Hello Ada &lt;Lovelace&gt;,"),
        "{}",
        email.html
    );
    assert!(email.html.contains("<strong>49.98 USD</strong>"));
    assert!(!email.html.contains("<Lovelace>"), "HTML escapes the name");

    let short = notifications::domain::short_id(id.parse().unwrap());
    let texts = eventually(WAIT, "the confirmation SMS", || async {
        let texts = sms_now(shop.stack, "+14155550101").await;
        texts
            .iter()
            .any(|m| m.message.contains(&short))
            .then_some(texts)
    })
    .await
    .unwrap();
    let sms = texts.iter().find(|m| m.message.contains(&short)).unwrap();
    assert_eq!(
        sms.message,
        format!(
            "Test Shop: order {short} is confirmed, total 49.98 USD. We will tell you when it ships."
        )
    );

    // The log shows both, sent, with the provider's ids and the request's correlation id.
    let log: Vec<Value> = eventually(WAIT, "both deliveries in the log", || async {
        let log: Vec<Value> = deliveries(shop.stack, &buyer)
            .await
            .into_iter()
            .filter(|d| d["orderId"] == id.as_str() && d["status"] == "SENT")
            .collect();
        (log.len() == 2).then_some(log)
    })
    .await
    .unwrap();
    let by_channel = |channel: &str| log.iter().find(|d| d["channel"] == channel).unwrap();
    assert_eq!(by_channel("EMAIL")["recipient"], buyer.email.as_str());
    assert_eq!(
        by_channel("EMAIL")["providerMessageId"],
        email.message_id.as_str()
    );
    assert_eq!(by_channel("EMAIL")["subject"], email.subject.as_str());
    assert_eq!(by_channel("EMAIL")["template"], "order_confirmed");
    assert_eq!(by_channel("SMS")["recipient"], "+14155550101");
    assert_eq!(
        by_channel("SMS")["providerMessageId"],
        sms.message_id.as_str()
    );
    assert_eq!(by_channel("EMAIL")["eventType"], "OrderConfirmed");
    let placed = shop
        .stack
        .events()
        .events()
        .into_iter()
        .find(|e| e.event_type() == "OrderConfirmed" && e.event["data"]["orderId"] == id.as_str())
        .unwrap();
    assert_eq!(
        by_channel("EMAIL")["correlationId"],
        placed.event["correlationId"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn shipping_delivery_a_refund_and_a_cancellation_each_send_their_email() {
    let shop = shop().await;
    let buyer = opted_in(shop, "+14155550102").await;
    let rug = stocked(shop, 12_000, 5).await;
    let id = place_ok(shop, &buyer.token, &order_of(&[(&rug, 1)], "pm_card_visa")).await;
    assert_eq!(
        settled(shop, &buyer.token, &id).await["status"],
        "CONFIRMED"
    );
    let status = format!("/v1/orders/{id}/status");
    let tracked = send(
        shop.stack,
        Method::PUT,
        &format!("/v1/orders/{id}/tracking"),
        Some(&shop.seller.token),
        Some(json!({"carrier": "UPS", "trackingNumber": "1Z999AA10123456784"})),
    )
    .await;
    assert_eq!(tracked.status, 200, "{}", tracked.text());
    for next in ["SHIPPED", "DELIVERED"] {
        let moved = send(
            shop.stack,
            Method::PUT,
            &status,
            Some(&shop.seller.token),
            Some(json!({ "status": next })),
        )
        .await;
        assert_eq!(moved.status, 200, "{}", moved.text());
    }
    let mail = emails(shop.stack, &buyer.email, &id, 3).await;
    let subject = |s: &str| {
        mail.iter()
            .find(|e| e.subject == s)
            .unwrap_or_else(|| panic!("no {s:?} in {mail:?}"))
    };
    let shipped = subject("Your Test Shop order is on its way");
    assert!(shipped.text.contains("Carrier: UPS"), "{}", shipped.text);
    assert!(shipped.text.contains("Tracking number: 1Z999AA10123456784"));
    assert!(shipped.html.contains("<strong>1Z999AA10123456784</strong>"));
    let delivered = subject("Your Test Shop order was delivered");
    assert!(
        delivered
            .text
            .contains(&format!("Your order {id} was delivered"))
    );
    let short = notifications::domain::short_id(id.parse().unwrap());
    eventually(WAIT, "the shipping SMS with its tracking", || async {
        sms_now(shop.stack, "+14155550102")
            .await
            .iter()
            .any(|m| {
                m.message
                    == format!(
                        "Test Shop: order {short} has shipped. UPS tracking 1Z999AA10123456784."
                    )
            })
            .then_some(())
    })
    .await
    .unwrap();

    // An admin's partial refund.
    let payment = support::payment(shop, &buyer.token, &id).await.unwrap();
    let refunded = send_with(
        shop.stack,
        Method::POST,
        &format!(
            "/v1/payments/{}/refund",
            payment["paymentId"].as_str().unwrap()
        ),
        Some(&shop.admin.token),
        Some(json!({"amount": {"amount": 2_500, "currency": "USD"}, "reason": "Scratched"})),
        &[("idempotency-key", "notify-refund")],
    )
    .await;
    assert_eq!(refunded.status, 200, "{}", refunded.text());
    let mail = emails(shop.stack, &buyer.email, &id, 4).await;
    let refund = mail
        .iter()
        .find(|e| e.subject == "Test Shop refunded 25.00 USD")
        .unwrap_or_else(|| panic!("no refund email in {mail:?}"));
    assert!(
        refund
            .text
            .contains(&format!("We refunded 25.00 USD for your order {id}.")),
        "{}",
        refund.text
    );

    // A cancelled order: refunded and restocked by the saga's compensation.
    let second = place_ok(shop, &buyer.token, &order_of(&[(&rug, 2)], "pm_card_visa")).await;
    assert_eq!(
        settled(shop, &buyer.token, &second).await["status"],
        "CONFIRMED"
    );
    let cancel = send(
        shop.stack,
        Method::POST,
        &format!("/v1/orders/{second}/cancel"),
        Some(&buyer.token),
        None,
    )
    .await;
    assert_eq!(cancel.status, 202, "{}", cancel.text());
    assert_eq!(
        settled(shop, &buyer.token, &second).await["status"],
        "CANCELLED"
    );
    let mail = emails(shop.stack, &buyer.email, &second, 2).await;
    let cancelled = mail
        .iter()
        .find(|e| e.subject == "Your Test Shop order was cancelled")
        .unwrap_or_else(|| panic!("no cancellation email in {mail:?}"));
    assert!(
        cancelled.text.contains("We refunded 240.00 USD"),
        "{}",
        cancelled.text
    );
    assert!(
        cancelled
            .text
            .contains("2 x Checkout Item at 120.00 USD = 240.00 USD")
    );

    // Every one of those six notices went out by SMS too, once.
    let second_short = notifications::domain::short_id(second.parse().unwrap());
    let mut texts = eventually(WAIT, "the six SMS", || async {
        let texts: Vec<String> = sms_now(shop.stack, "+14155550102")
            .await
            .into_iter()
            .map(|m| m.message)
            .collect();
        (texts.len() >= 6).then_some(texts)
    })
    .await
    .unwrap();
    let mut expected = [
        format!(
            "Test Shop: order {short} is confirmed, total 120.00 USD. We will tell you when it ships."
        ),
        format!("Test Shop: order {short} has shipped. UPS tracking 1Z999AA10123456784."),
        format!("Test Shop: order {short} was delivered."),
        format!("Test Shop: we refunded 25.00 USD for order {short}."),
        format!(
            "Test Shop: order {second_short} is confirmed, total 240.00 USD. We will tell you when it ships."
        ),
        format!("Test Shop: order {second_short} was cancelled. 240.00 USD refunded."),
    ];
    texts.sort();
    expected.sort();
    assert_eq!(texts, expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_order_sends_its_email_and_no_sms_without_the_opt_in() {
    let shop = shop().await;
    let buyer = customer(shop).await;
    let contact = known(shop.stack, &buyer).await;
    assert_eq!((contact.revision, contact.sms_opt_in), (1, false));
    let cup = stocked(shop, 800, 5).await;
    let id = place_ok(
        shop,
        &buyer.token,
        &order_of(&[(&cup, 1)], "pm_card_chargeDeclined"),
    )
    .await;
    assert_eq!(settled(shop, &buyer.token, &id).await["status"], "FAILED");
    let email = emails(shop.stack, &buyer.email, &id, 1).await.remove(0);
    assert_eq!(email.subject, "We could not complete your Test Shop order");
    assert!(email.text.starts_with("Hello,"), "{}", email.text);
    assert!(
        email.text.contains(&format!(
            "We could not complete your order {id}: your payment was declined."
        )),
        "{}",
        email.text
    );
    assert!(email.text.contains("Nothing was charged"));
    let log: Vec<Value> = deliveries(shop.stack, &buyer)
        .await
        .into_iter()
        .filter(|d| d["orderId"] == id.as_str())
        .collect();
    assert_eq!(log.len(), 1, "email only: {log:?}");
    assert_eq!(log[0]["channel"], "EMAIL");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_phone_change_and_an_sms_opt_out_hold_for_the_next_notification() {
    let shop = shop().await;
    let buyer = opted_in(shop, "+14155550103").await;
    let moved = change_profile(shop.stack, &buyer, json!({"phone": "+14155550104"})).await;
    assert_eq!(moved.phone.as_deref(), Some("+14155550104"));
    assert!(moved.sms_opt_in);

    let first = order_delivered(&buyer.id);
    publish(shop.stack, &first).await;
    let log = delivered(shop.stack, &buyer, first["id"].as_str().unwrap()).await;
    let sms = eventually(WAIT, "the SMS", || async {
        deliveries(shop.stack, &buyer)
            .await
            .into_iter()
            .find(|d| d["eventId"] == first["id"] && d["channel"] == "SMS" && d["status"] == "SENT")
    })
    .await
    .unwrap();
    assert_eq!(sms["recipient"], "+14155550104", "{log:?}");
    assert!(
        sms_now(shop.stack, "+14155550103").await.is_empty(),
        "the old phone gets nothing"
    );

    let out = change_profile(shop.stack, &buyer, json!({"smsOptIn": false})).await;
    assert!(!out.sms_opt_in);
    assert!(out.revision > moved.revision);
    let second = order_delivered(&buyer.id);
    publish(shop.stack, &second).await;
    let log = delivered(shop.stack, &buyer, second["id"].as_str().unwrap()).await;
    assert_eq!(log.len(), 1, "no SMS after the opt-out: {log:?}");
    let texts = sms_now(shop.stack, "+14155550104").await;
    assert_eq!(texts.len(), 1, "{texts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_event_delivered_twice_or_at_once_sends_one_email() {
    let shop = shop().await;
    let buyer = customer(shop).await;
    known(shop.stack, &buyer).await;
    let event = order_delivered(&buyer.id);
    let order = event["data"]["orderId"].as_str().unwrap().to_owned();
    // Three copies at once, then one more after the first was sent.
    futures::future::join_all((0..3).map(|_| publish(shop.stack, &event))).await;
    delivered(shop.stack, &buyer, event["id"].as_str().unwrap()).await;
    publish(shop.stack, &event).await;
    let queue = queue_url(shop.stack, "NotificationEventsQueue");
    drained(shop.stack, &queue).await;
    assert_eq!(emails_now(shop.stack, &buyer.email, &order).await.len(), 1);
    let log: Vec<Value> = deliveries(shop.stack, &buyer)
        .await
        .into_iter()
        .filter(|d| d["orderId"] == order.as_str())
        .collect();
    assert_eq!(log.len(), 1, "{log:?}");
}

/// Waits until `queue` has no message left, visible or in flight.
async fn drained(stack: &SharedStack, queue: &str) {
    let sqs = aws_sdk_sqs::Client::new(stack.sdk_config());
    eventually(WAIT, "the queue to drain", || {
        let sqs = sqs.clone();
        async move {
            let attributes = sqs
                .get_queue_attributes()
                .queue_url(queue)
                .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
                .send()
                .await
                .unwrap();
            let count = |name: aws_sdk_sqs::types::QueueAttributeName| {
                attributes
                    .attributes()
                    .and_then(|a| a.get(&name))
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0)
            };
            use aws_sdk_sqs::types::QueueAttributeName as A;
            (count(A::ApproximateNumberOfMessages) == 0
                && count(A::ApproximateNumberOfMessagesNotVisible) == 0
                && count(A::ApproximateNumberOfMessagesDelayed) == 0)
                .then_some(())
        }
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn poison_messages_reach_the_dead_letter_queue_and_the_good_ones_of_their_batch_are_sent() {
    let shop = shop().await;
    let buyer = customer(shop).await;
    known(shop.stack, &buyer).await;
    let good = order_delivered(&buyer.id);
    let mut unknown = order_delivered(&buyer.id);
    unknown["type"] = json!("OrderMisplaced");
    let mut future = order_delivered(&buyer.id);
    future["version"] = json!(2);
    let mut missing = order_delivered(&buyer.id);
    missing["data"] = json!({"orderId": Uuid::now_v7()});
    let tokenless = account_event(
        "PasswordResetRequested",
        json!({"userId": buyer.id, "email": buyer.email, "expiresAt": in_minutes(30)}),
    );
    let marker = format!("poison-{}", Uuid::new_v4().simple());
    let bodies = [
        format!("{{\"not json\": {marker}"),
        unknown.to_string(),
        future.to_string(),
        missing.to_string(),
        tokenless.to_string(),
        good.to_string(),
    ];
    let poison_ids: Vec<String> = [&unknown, &future, &missing, &tokenless]
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    let sqs = aws_sdk_sqs::Client::new(shop.stack.sdk_config());
    let mut batch = sqs
        .send_message_batch()
        .queue_url(queue_url(shop.stack, "NotificationEventsQueue"));
    for (i, body) in bodies.iter().enumerate() {
        batch = batch.entries(
            aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                .id(format!("m{i}"))
                .message_body(body)
                .build()
                .unwrap(),
        );
    }
    batch.send().await.unwrap();

    // The good message is sent at once, whatever its neighbours.
    delivered(shop.stack, &buyer, good["id"].as_str().unwrap()).await;
    let order = good["data"]["orderId"].as_str().unwrap();
    assert_eq!(emails_now(shop.stack, &buyer.email, order).await.len(), 1);

    // The five poison messages end in the dead-letter queue after five deliveries each.
    let dead_letters = queue_url(shop.stack, "NotificationEventsDeadLetters");
    let found = std::sync::Mutex::new(Vec::<String>::new());
    eventually(
        Duration::from_secs(150),
        "the poison messages in the DLQ",
        || async {
            let received = sqs
                .receive_message()
                .queue_url(&dead_letters)
                .max_number_of_messages(10)
                .visibility_timeout(600)
                .send()
                .await
                .unwrap();
            let mut found = found.lock().unwrap();
            for message in received.messages() {
                let body = message.body().unwrap_or_default();
                if body.contains(&marker) || poison_ids.iter().any(|id| body.contains(id.as_str()))
                {
                    found.push(body.to_owned());
                }
            }
            (found.len() == 5).then_some(())
        },
    )
    .await
    .unwrap();
    // None of them sent anything, and the good one was sent once.
    assert_eq!(emails_now(shop.stack, &buyer.email, order).await.len(), 1);
    let log = deliveries(shop.stack, &buyer).await;
    assert!(
        log.iter()
            .all(|d| !poison_ids.iter().any(|id| d["eventId"] == id.as_str())),
        "{log:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_delivery_log_is_the_callers_own_newest_first_and_paginated() {
    let shop = shop().await;
    let buyer = customer(shop).await;
    let other = customer(shop).await;
    known(shop.stack, &buyer).await;
    let events: Vec<Value> = (0..3).map(|_| order_delivered(&buyer.id)).collect();
    for event in &events {
        publish(shop.stack, event).await;
        delivered(shop.stack, &buyer, event["id"].as_str().unwrap()).await;
    }
    let first = send(
        shop.stack,
        Method::GET,
        "/v1/notifications?limit=2",
        Some(&buyer.token),
        None,
    )
    .await;
    assert_eq!(first.status, 200);
    assert_eq!(first.header("cache-control"), Some("private, no-store"));
    let page = first.json();
    let ids: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["eventId"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            events[2]["id"].as_str().unwrap(),
            events[1]["id"].as_str().unwrap()
        ]
    );
    let cursor = page["nextCursor"].as_str().unwrap();
    let next = send(
        shop.stack,
        Method::GET,
        &format!("/v1/notifications?limit=2&cursor={cursor}"),
        Some(&buyer.token),
        None,
    )
    .await;
    assert_eq!(next.json()["items"][0]["eventId"], events[0]["id"]);
    // Another user's list is their own (their account emails at most), and the buyer's cursor
    // means nothing to them.
    let theirs = deliveries(shop.stack, &other).await;
    assert!(
        theirs.iter().all(|d| d["recipient"] == other.email.as_str()
            && events.iter().all(|e| d["eventId"] != e["id"])),
        "{theirs:?}"
    );
    let stolen = send(
        shop.stack,
        Method::GET,
        &format!("/v1/notifications?cursor={cursor}"),
        Some(&other.token),
        None,
    )
    .await;
    assert_eq!(stolen.status, 400);
    for bad in ["limit=0", "limit=abc", "cursor=forged"] {
        let answer = send(
            shop.stack,
            Method::GET,
            &format!("/v1/notifications?{bad}"),
            Some(&buyer.token),
            None,
        )
        .await;
        assert_eq!(answer.status, 400, "{bad}: {}", answer.text());
        assert_eq!(
            answer.header("content-type"),
            Some("application/problem+json")
        );
    }
    let anonymous = send(shop.stack, Method::GET, "/v1/notifications", None, None).await;
    assert_eq!(anonymous.status, 401);
}

/// The shop's web address the stack gives the consumer (the template's default `ShopUrl`).
const SHOP_URL: &str = "https://shop.example";

/// A fresh 43-character base64url token, like the identity service's.
fn fresh_token() -> String {
    let random = format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple());
    format!("Tk-_{}", &random[..39])
}

/// A fresh address no account has.
fn fresh_address(what: &str) -> String {
    format!("{what}-{}@storefront.test", Uuid::new_v4().simple())
}

/// RFC 3339 `minutes` from now (in the past when negative).
fn in_minutes(minutes: i64) -> String {
    shared::time::to_rfc3339(shared::time::now() + time::Duration::minutes(minutes))
}

/// An identity event envelope of `event_type` with `data`, occurring now.
fn account_event(event_type: &str, data: Value) -> Value {
    json!({"id": Uuid::now_v7(), "type": event_type, "version": 1,
           "occurredAt": shared::time::now_rfc3339(), "correlationId": "account-test",
           "data": data})
}

/// Publishes `event` and checks that the topic saw it valid against its schema.
async fn publish_valid(stack: &SharedStack, event: &Value) {
    publish(stack, event).await;
    let problems = eventually(WAIT, "the topic to see the event", || async {
        stack
            .events()
            .events()
            .into_iter()
            .find(|seen| seen.event["id"] == event["id"])
            .map(|seen| seen.problems)
    })
    .await
    .unwrap();
    assert!(problems.is_empty(), "{}: {problems:?}", event["type"]);
}

/// The delivery log entries of `user` for `event_id`, read from the table, once one is settled
/// (no longer `SENDING`).
async fn settled_deliveries(
    stack: &SharedStack,
    user: &str,
    event_id: &str,
) -> Vec<notifications::store::Delivery> {
    let store = store(stack);
    let user: Uuid = user.parse().unwrap();
    let event_id: Uuid = event_id.parse().unwrap();
    eventually(WAIT, "the delivery to be settled", || {
        let store = store.clone();
        async move {
            let found: Vec<_> = store
                .deliveries(user, 100, None)
                .await
                .unwrap()
                .items
                .into_iter()
                .filter(|d| d.event_id == event_id)
                .collect();
            found
                .iter()
                .any(|d| d.status != notifications::domain::DeliveryStatus::Sending)
                .then_some(found)
        }
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_verification_email_goes_to_the_address_in_the_event_with_its_link_and_expiry() {
    let shop = shop().await;
    // A user the contact projection does not know: the email goes to the event's address.
    let user = Uuid::now_v7().to_string();
    let address = fresh_address("verify");
    let token = fresh_token();
    let expires = in_minutes(24 * 60);
    let event = account_event(
        "EmailVerificationRequested",
        json!({"userId": user, "email": address, "name": "<script>alert('x')</script> & Co",
               "token": token, "expiresAt": expires}),
    );
    publish_valid(shop.stack, &event).await;

    let email = emails(shop.stack, &address, &token, 1).await.remove(0);
    assert_eq!(email.subject, "Confirm your email address for Test Shop");
    let link = format!("{SHOP_URL}/account/verify-email?token={token}");
    assert!(email.text.contains(&link), "{}", email.text);
    let expiry =
        notifications::domain::account::human_time(shared::time::parse_rfc3339(&expires).unwrap());
    assert!(
        email.text.contains(&format!("it expires on {expiry}.")),
        "{}",
        email.text
    );
    assert!(
        email
            .text
            .contains("If you did not create an account at Test Shop, ignore this email.")
    );
    assert!(
        email
            .text
            .starts_with("Hello <script>alert('x')</script> & Co,"),
        "{}",
        email.text
    );
    assert!(!email.html.contains("<script>"), "{}", email.html);
    assert!(
        email
            .html
            .contains("Hello &lt;script&gt;alert(&#x27;x&#x27;)&lt;&#x2f;script&gt; &amp; Co,"),
        "{}",
        email.html
    );
    assert!(
        email
            .html
            .contains(&format!("account&#x2f;verify-email?token={token}\"")),
        "{}",
        email.html
    );

    let log = settled_deliveries(shop.stack, &user, event["id"].as_str().unwrap()).await;
    assert_eq!(log.len(), 1, "{log:?}");
    let delivery = &log[0];
    assert_eq!(delivery.status, notifications::domain::DeliveryStatus::Sent);
    assert_eq!(delivery.channel, notifications::domain::Channel::Email);
    assert_eq!(delivery.recipient, address);
    assert_eq!(delivery.template, "verify_email");
    assert_eq!(delivery.subject.as_deref(), Some(email.subject.as_str()));
    assert_eq!(delivery.order_id, None);
    assert_eq!(
        delivery.provider_message_id.as_deref(),
        Some(email.message_id.as_str())
    );
    assert!(
        !serde_json::to_string(delivery).unwrap().contains(&token),
        "the log never keeps the token"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_attempt_to_register_a_taken_address_tells_its_owner_with_no_link_to_verify() {
    let shop = shop().await;
    let user = Uuid::now_v7().to_string();
    let address = fresh_address("taken");
    let event = account_event(
        "RegistrationAttempted",
        json!({"userId": user, "email": address, "name": "Grace"}),
    );
    publish_valid(shop.stack, &event).await;

    let email = emails(shop.stack, &address, "forgot-password", 1)
        .await
        .remove(0);
    assert_eq!(
        email.subject,
        "Someone tried to create a Test Shop account with your email address"
    );
    assert!(email.text.starts_with("Hello Grace,"), "{}", email.text);
    assert!(
        email.text.contains(&format!(
            "Someone tried to create a Test Shop account with this email address ({address}). You already have an account with it"
        )),
        "{}",
        email.text
    );
    assert!(
        email
            .text
            .contains(&format!("{SHOP_URL}/account/forgot-password")),
        "{}",
        email.text
    );
    for part in [&email.text, &email.html] {
        assert!(!part.contains("token="), "{part}");
        assert!(!part.contains("verify-email"), "{part}");
    }
    let log = settled_deliveries(shop.stack, &user, event["id"].as_str().unwrap()).await;
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0].template, "account_exists");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_password_reset_is_emailed_with_its_link_and_never_texted_to_an_opted_in_user() {
    let shop = shop().await;
    let phone = "+14155550131";
    let user = opted_in(shop, phone).await;
    let token = fresh_token();
    let expires = in_minutes(30);
    let event = account_event(
        "PasswordResetRequested",
        json!({"userId": user.id, "email": user.email, "name": "Ada <Lovelace>",
               "token": token, "expiresAt": expires}),
    );
    publish_valid(shop.stack, &event).await;

    let email = emails(shop.stack, &user.email, &token, 1).await.remove(0);
    assert_eq!(email.subject, "Reset your Test Shop password");
    assert!(
        email
            .text
            .contains(&format!("{SHOP_URL}/account/reset-password?token={token}")),
        "{}",
        email.text
    );
    let expiry =
        notifications::domain::account::human_time(shared::time::parse_rfc3339(&expires).unwrap());
    assert!(
        email.text.contains(&format!(
            "The link works once, for 30 minutes: it expires on {expiry}."
        )),
        "{}",
        email.text
    );
    assert!(email.text.contains(
        "If you did not ask for a password reset, ignore this email: your password stays as it is."
    ));
    assert!(email.html.contains("Hello Ada &lt;Lovelace&gt;,"));

    // The caller's list shows it, without an order and without the token; email only.
    let id = event["id"].as_str().unwrap();
    let log = delivered(shop.stack, &user, id).await;
    assert_eq!(log.len(), 1, "no SMS: {log:?}");
    let entry = &log[0];
    assert_eq!(entry["eventType"], "PasswordResetRequested");
    assert_eq!(entry["template"], "password_reset");
    assert_eq!(entry["channel"], "EMAIL");
    assert_eq!(entry["recipient"], user.email.as_str());
    assert_eq!(entry["subject"], email.subject.as_str());
    assert_eq!(entry["correlationId"], "account-test");
    assert!(entry.get("orderId").is_none(), "{entry}");
    assert!(!entry.to_string().contains(&token), "{entry}");
    assert!(
        sms_now(shop.stack, phone).await.is_empty(),
        "an account email never goes by SMS"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_password_change_is_told_with_when_and_how_and_a_way_to_reset() {
    let shop = shop().await;
    let phone = "+14155550132";
    let user = opted_in(shop, phone).await;
    let event = account_event(
        "PasswordChanged",
        json!({"userId": user.id, "email": user.email, "how": "RESET",
               "at": "2026-11-30T09:05:00.000Z"}),
    );
    publish_valid(shop.stack, &event).await;

    let email = emails(shop.stack, &user.email, "was reset with a link", 1)
        .await
        .remove(0);
    assert_eq!(email.subject, "Your Test Shop password was changed");
    assert!(
        email.text.contains(&format!(
            "The password of your Test Shop account ({}) was reset with a link sent to this email address on 30 November 2026, 09:05 UTC.",
            user.email
        )),
        "{}",
        email.text
    );
    assert!(
        email.text.contains(&format!(
            "If this was not you, reset your password now:\n\n{SHOP_URL}/account/forgot-password"
        )),
        "{}",
        email.text
    );
    let log = delivered(shop.stack, &user, event["id"].as_str().unwrap()).await;
    assert_eq!(log.len(), 1, "no SMS: {log:?}");
    assert_eq!(log[0]["template"], "password_changed");
    assert!(sms_now(shop.stack, phone).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_account_event_delivered_twice_sends_one_email() {
    let shop = shop().await;
    let user = Uuid::now_v7().to_string();
    let address = fresh_address("twice");
    let token = fresh_token();
    let event = account_event(
        "PasswordResetRequested",
        json!({"userId": user, "email": address, "token": token, "expiresAt": in_minutes(30)}),
    );
    // Two copies at once, then one more after the first was sent.
    futures::future::join_all((0..2).map(|_| publish(shop.stack, &event))).await;
    emails(shop.stack, &address, &token, 1).await;
    settled_deliveries(shop.stack, &user, event["id"].as_str().unwrap()).await;
    publish(shop.stack, &event).await;
    drained(
        shop.stack,
        &queue_url(shop.stack, "NotificationEventsQueue"),
    )
    .await;
    assert_eq!(emails_now(shop.stack, &address, &token).await.len(), 1);
    let log = settled_deliveries(shop.stack, &user, event["id"].as_str().unwrap()).await;
    assert_eq!(log.len(), 1, "{log:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reset_link_that_expired_before_sending_is_not_sent_and_the_log_says_why() {
    let shop = shop().await;
    let user = customer(shop).await;
    let token = fresh_token();
    let mut event = account_event(
        "PasswordResetRequested",
        json!({"userId": user.id, "email": user.email, "token": token,
               "expiresAt": in_minutes(-1)}),
    );
    // Asked 31 minutes ago; the queue was stuck until now.
    event["occurredAt"] = json!(in_minutes(-31));
    publish_valid(shop.stack, &event).await;

    let id = event["id"].as_str().unwrap();
    let entry = eventually(WAIT, "the expired delivery in the log", || async {
        deliveries(shop.stack, &user)
            .await
            .into_iter()
            .find(|d| d["eventId"] == id && d["status"] == "FAILED")
    })
    .await
    .unwrap();
    assert_eq!(
        entry["error"],
        notifications::handlers::order_events::EXPIRED,
        "{entry}"
    );
    assert_eq!(entry["template"], "password_reset");
    drained(
        shop.stack,
        &queue_url(shop.stack, "NotificationEventsQueue"),
    )
    .await;
    assert!(emails_now(shop.stack, &user.email, &token).await.is_empty());
}
