//! The notification consumer crashing mid-batch (the template's `FaultInjection` switch names
//! `notification-events`: it dies after the first message of every batch delivered for the first
//! time, before answering). The whole batch comes back after the visibility timeout, and every
//! event still sends exactly one email. This test has its own stack, since the switch is the
//! stack's.

// Helpers outside the test functions fail the test on a setup error too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use http::Method;
use local::{
    mailbox,
    testing::{self, eventually},
};
use notifications::store::Store;
use serde_json::{Value, json};
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(120);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_crash_mid_batch_brings_the_batch_back_and_each_event_sends_one_email() {
    let (stack, admin) =
        testing::shared_shop_with(&[("FaultInjection", "notification-events")], |options| {
            options.queue_time_scale = 0.05
        })
        .await
        .unwrap();
    let buyer = testing::account(stack, &admin, "customer").await.unwrap();
    let user: Uuid = buyer.id.parse().unwrap();
    let table = stack
        .model()
        .table("NotificationsTable")
        .unwrap()
        .name
        .clone();
    let store = Store::new(aws_sdk_dynamodb::Client::new(stack.sdk_config()), table);
    eventually(WAIT, "the projection to know the buyer", || {
        let store = store.clone();
        async move { store.contact(user).await.unwrap() }
    })
    .await
    .unwrap();

    let events: Vec<Value> = (0..4)
        .map(|_| {
            json!({"id": Uuid::now_v7(), "type": "OrderDelivered", "version": 1,
                   "occurredAt": shared::time::now_rfc3339(), "correlationId": "crash-test",
                   "data": {"orderId": Uuid::now_v7(), "userId": buyer.id}})
        })
        .collect();
    let queue = stack
        .model()
        .queue("NotificationEventsQueue")
        .unwrap()
        .url
        .clone();
    let mut batch = aws_sdk_sqs::Client::new(stack.sdk_config())
        .send_message_batch()
        .queue_url(&queue);
    for (i, event) in events.iter().enumerate() {
        batch = batch.entries(
            SendMessageBatchRequestEntry::builder()
                .id(format!("m{i}"))
                .message_body(event.to_string())
                .build()
                .unwrap(),
        );
    }
    batch.send().await.unwrap();

    // Every event ends up delivered...
    let log = eventually(
        WAIT,
        "every event's email to be recorded as sent",
        || async {
            let answer = testing::call(
                stack,
                Method::GET,
                "/v1/notifications?limit=100",
                Some(&buyer.token),
                None,
                &[],
            )
            .await
            .unwrap();
            let items = answer.json()["items"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let sent = events.iter().all(|e| {
                items
                    .iter()
                    .any(|d| d["eventId"] == e["id"] && d["status"] == "SENT")
            });
            sent.then_some(items)
        },
    )
    .await
    .unwrap();
    // (The buyer's log also holds the verification email of their registration.)
    let deliveries: Vec<_> = log
        .iter()
        .filter(|d| events.iter().any(|e| d["eventId"] == e["id"]))
        .collect();
    assert_eq!(
        deliveries.len(),
        events.len(),
        "one delivery per event: {log:?}"
    );

    // ...after at least one crash: a redelivered event found its email already sent...
    let duplicates = eventually(WAIT, "a redelivery after the crash", || async {
        let seen: f64 = stack
            .metrics()
            .snapshot()
            .iter()
            .filter(|row| row.name == "DuplicateEvents")
            .map(|row| row.sum)
            .sum();
        (seen >= 1.0).then_some(seen)
    })
    .await
    .unwrap();
    assert!(duplicates >= 1.0);

    // ...and each sent exactly one email.
    let mail = mailbox::emails(stack.emulator_endpoint()).await.unwrap();
    for event in &events {
        let order = event["data"]["orderId"].as_str().unwrap();
        let about: Vec<_> = mail
            .iter()
            .filter(|e| e.text.as_deref().is_some_and(|t| t.contains(order)))
            .collect();
        assert_eq!(about.len(), 1, "order {order}: {about:?}");
        assert_eq!(about[0].to, std::slice::from_ref(&buyer.email));
    }
}
