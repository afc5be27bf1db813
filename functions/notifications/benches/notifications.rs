//! The notification consumer through the local stack: `bench/notifications.sh`
//! (`cargo bench -p notifications --bench notifications`).
//!
//! Builds the functions in release and starts the local stack on free ports (API throttling
//! lifted). Registers `USERS` (default 50) customers and waits until the contact projection knows
//! them, then:
//! - **throughput**: sends `EVENTS` (default 1,000) `OrderConfirmed` events of two lines, for
//!   users picked in turn, straight to the consumer's queue (batches of 10), and times them from
//!   the first send until the emulator's mailbox has accepted all their emails (its count, polled
//!   every 50 ms); prints events per second and checks that each event sent exactly one email;
//! - **confirmation to delivery**: places `ORDERS` (default 100) real orders, `CONCURRENCY`
//!   (default 10) at a time, and for each confirmed order measures the time from its
//!   `OrderConfirmed` (the event's `occurredAt`, written in the same transaction as the
//!   confirmation) to its email delivery recorded as `SENT` in the delivery log (the record's
//!   `updatedAt`): outbox, stream, publisher, topic, queue, consumer, SES and the log's write.
//!   Prints p50/p90/p99/max.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use futures::stream::{self, StreamExt as _};
use http::Method;
use local::{
    mailbox,
    metrics::percentile,
    testing::{self, Account, TestStack},
};
use notifications::store::Store;
use serde_json::{Value, json};
use shared::config::Env;
use uuid::Uuid;

const ADMIN_EMAIL: &str = "bench-admin@storefront.test";
const ADMIN_PASSWORD: &str = "benchmark-admin-password";
/// How long a phase may take before the benchmark gives up.
const PATIENCE: Duration = Duration::from_secs(600);
/// Events sent before the measured run, so every consumer instance has started.
const WARM_EVENTS: usize = 50;

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .try_init();
    let env = Env::from_process();
    let users: usize = env.parse_or("USERS", 50)?;
    let events: usize = env.parse_or("EVENTS", 1_000)?;
    let orders: usize = env.parse_or("ORDERS", 100)?;
    let concurrency: usize = env.parse_or("CONCURRENCY", 10)?;
    anyhow::ensure!(
        users > 0 && events > 0 && orders > 0 && concurrency > 0,
        "USERS, EVENTS, ORDERS and CONCURRENCY must be positive"
    );
    let stack = testing::spawn_for_bench(ADMIN_EMAIL, ADMIN_PASSWORD).await?;
    let outcome = bench(&stack, users, events, orders, concurrency).await;
    stack.shutdown().await;
    outcome
}

async fn bench(
    stack: &TestStack,
    users: usize,
    events: usize,
    orders: usize,
    concurrency: usize,
) -> anyhow::Result<()> {
    let admin = testing::login(stack, ADMIN_EMAIL, ADMIN_PASSWORD).await?;
    let store = store(stack)?;
    eprintln!("registering {users} customers...");
    let customers: Vec<Account> = stream::iter(0..users)
        .map(|_| testing::account(stack, &admin, "customer"))
        .buffer_unordered(concurrency)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;
    for customer in &customers {
        let user: Uuid = customer.id.parse()?;
        wait_for("the contact projection", || async {
            Ok(store.contact(user).await?.is_some())
        })
        .await?;
    }

    // Throughput of the consumer alone.
    let endpoint = stack.stack().emulator_endpoint().to_owned();
    let queue = queue_url(stack, "NotificationEventsQueue")?;
    let sqs = aws_sdk_sqs::Client::new(stack.stack().sdk_config());
    eprintln!("warming up with {WARM_EVENTS} events...");
    let before = mailbox::email_count(&endpoint).await?;
    send_events(&sqs, &queue, &customers, WARM_EVENTS).await?;
    wait_for_emails(&endpoint, before + WARM_EVENTS as u64).await?;
    eprintln!("sending {events} events...");
    let before = mailbox::email_count(&endpoint).await?;
    let kept_before = mailbox::emails(&endpoint).await?.len();
    let started = Instant::now();
    let markers = send_events(&sqs, &queue, &customers, events).await?;
    wait_for_emails(&endpoint, before + events as u64).await?;
    let elapsed = started.elapsed();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let sent = mailbox::emails(&endpoint).await?;
    anyhow::ensure!(
        sent.len() == kept_before + events,
        "{} emails for {events} events",
        sent.len() - kept_before
    );
    let mut unique: Vec<&str> = Vec::new();
    for email in &sent[kept_before..] {
        let text = email.text.as_deref().unwrap_or_default();
        if let Some(marker) = markers.iter().find(|m| text.contains(m.as_str())) {
            unique.push(marker);
        }
    }
    unique.sort_unstable();
    unique.dedup();
    anyhow::ensure!(unique.len() == events, "each event sends exactly one email");

    // Confirmation to recorded delivery, through real checkouts.
    eprintln!("placing {orders} orders, {concurrency} at a time...");
    let product = stocked_product(stack, &admin).await?;
    let placed: Vec<(Account, String)> = stream::iter(0..orders)
        .map(|i| {
            let buyer = customers[i % customers.len()].clone();
            let product = product.clone();
            async move {
                let id = place(stack, &buyer, &product).await?;
                anyhow::Ok((buyer, id))
            }
        })
        .buffer_unordered(concurrency)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<anyhow::Result<_>>()?;
    let mut delays = Vec::with_capacity(orders);
    for (buyer, order) in &placed {
        let confirmed = wait_for_value("the order's OrderConfirmed", || async {
            Ok(stack
                .stack()
                .events()
                .events()
                .into_iter()
                .find(|e| {
                    e.event_type() == "OrderConfirmed"
                        && e.event["data"]["orderId"] == order.as_str()
                })
                .map(|e| e.event))
        })
        .await?;
        let user: Uuid = buyer.id.parse()?;
        let event_id: Uuid = confirmed["id"].as_str().context("an event id")?.parse()?;
        let delivery = wait_for_value("the order's email delivery", || async {
            let page = store.deliveries(user, 100, None).await?;
            Ok(page.items.into_iter().find(|d| {
                d.event_id == event_id
                    && d.channel == notifications::domain::Channel::Email
                    && d.status == notifications::domain::DeliveryStatus::Sent
            }))
        })
        .await?;
        let occurred = shared::time::parse_rfc3339(confirmed["occurredAt"].as_str().unwrap_or(""))?;
        let recorded = shared::time::parse_rfc3339(&delivery.updated_at)?;
        delays.push((recorded - occurred).as_seconds_f64() * 1000.0);
    }
    delays.sort_by(f64::total_cmp);

    println!();
    println!("Notifications through the local stack (release build, this machine)");
    println!(
        "  consumer throughput: {events} OrderConfirmed events in {:.2} s = {:.1} events/s (each one email; {} users)",
        elapsed.as_secs_f64(),
        events as f64 / elapsed.as_secs_f64(),
        users
    );
    println!(
        "  confirmation -> recorded delivery, {orders} checkouts ({concurrency} at a time): p50 {:.0} ms, p90 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        percentile(&delays, 0.50),
        percentile(&delays, 0.90),
        percentile(&delays, 0.99),
        delays.last().copied().unwrap_or(0.0)
    );
    Ok(())
}

fn store(stack: &TestStack) -> anyhow::Result<Store> {
    let table = stack
        .stack()
        .model()
        .table("NotificationsTable")
        .context("no NotificationsTable")?
        .name
        .clone();
    Ok(Store::new(
        aws_sdk_dynamodb::Client::new(stack.stack().sdk_config()),
        table,
    ))
}

fn queue_url(stack: &TestStack, logical_id: &str) -> anyhow::Result<String> {
    Ok(stack
        .stack()
        .model()
        .queue(logical_id)
        .with_context(|| format!("no {logical_id}"))?
        .url
        .clone())
}

/// Sends `count` `OrderConfirmed` events for `customers` in turn; answers their order ids.
async fn send_events(
    sqs: &aws_sdk_sqs::Client,
    queue: &str,
    customers: &[Account],
    count: usize,
) -> anyhow::Result<Vec<String>> {
    let events: Vec<Value> = (0..count)
        .map(|i| {
            let line = |name: &str, amount: i64, quantity: i64| {
                json!({"productId": Uuid::now_v7(), "sellerId": Uuid::now_v7(), "name": name,
                       "quantity": quantity, "unitPrice": {"amount": amount, "currency": "USD"},
                       "lineTotal": {"amount": amount * quantity, "currency": "USD"}})
            };
            json!({"id": Uuid::now_v7(), "type": "OrderConfirmed", "version": 1,
                   "occurredAt": shared::time::now_rfc3339(), "correlationId": "bench",
                   "data": {"orderId": Uuid::now_v7(), "userId": customers[i % customers.len()].id,
                            "lines": [line("Blue Oxford Shirt", 4_999, 2), line("Linen Scarf", 1_950, 1)],
                            "total": {"amount": 11_948, "currency": "USD"}, "fromCart": false}})
        })
        .collect();
    let batches: Vec<Vec<Value>> = events.chunks(10).map(<[Value]>::to_vec).collect();
    let sent: Vec<anyhow::Result<()>> = stream::iter(batches)
        .map(|batch| async move {
            let mut request = sqs.send_message_batch().queue_url(queue);
            for (i, event) in batch.iter().enumerate() {
                request = request.entries(
                    SendMessageBatchRequestEntry::builder()
                        .id(format!("e{i}"))
                        .message_body(event.to_string())
                        .build()?,
                );
            }
            request.send().await?;
            Ok(())
        })
        .buffer_unordered(8)
        .collect()
        .await;
    sent.into_iter().collect::<anyhow::Result<()>>()?;
    Ok(events
        .iter()
        .filter_map(|e| e["data"]["orderId"].as_str().map(str::to_owned))
        .collect())
}

async fn wait_for_emails(endpoint: &str, total: u64) -> anyhow::Result<()> {
    wait_for("the emails", || async {
        Ok(mailbox::email_count(endpoint).await? >= total)
    })
    .await
}

async fn wait_for<F, Fut>(what: &str, mut check: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<bool>>,
{
    wait_for_value(what, || {
        let done = check();
        async move { Ok(done.await?.then_some(())) }
    })
    .await
}

async fn wait_for_value<T, F, Fut>(what: &str, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(value) = check().await? {
            return Ok(value);
        }
        anyhow::ensure!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A product of a new seller, with plenty of stock, once inventory knows it.
async fn stocked_product(stack: &TestStack, admin: &Account) -> anyhow::Result<String> {
    let seller = testing::account(stack, admin, "seller").await?;
    let category = testing::call(
        stack,
        Method::POST,
        "/v1/categories",
        Some(&admin.token),
        Some(&json!({"slug": "bench", "name": "Bench"})),
        &[],
    )
    .await?;
    anyhow::ensure!(
        category.status == 201,
        "create a category: {}",
        category.text()
    );
    let created = testing::call(
        stack,
        Method::POST,
        "/v1/products",
        Some(&seller.token),
        Some(
            &json!({"name": "Bench Lamp", "categoryId": category.json()["id"],
                     "price": {"amount": 2_499, "currency": "USD"}}),
        ),
        &[],
    )
    .await?;
    anyhow::ensure!(
        created.status == 201,
        "create a product: {}",
        created.text()
    );
    let id = created.json()["id"]
        .as_str()
        .context("a product id")?
        .to_owned();
    wait_for("inventory to learn the product", || async {
        let set = testing::call(
            stack,
            Method::PUT,
            &format!("/v1/inventory/{id}"),
            Some(&seller.token),
            Some(&json!({"available": 1_000_000, "reason": "bench"})),
            &[],
        )
        .await?;
        Ok(set.status == 200)
    })
    .await?;
    Ok(id)
}

async fn place(stack: &TestStack, buyer: &Account, product: &str) -> anyhow::Result<String> {
    let body = json!({"lines": [{"productId": product, "quantity": 1}], "paymentMethod": "pm_card_visa",
        "shippingAddress": {"recipient": "Ada Lovelace", "line1": "12 Analytical Row", "city": "London",
                            "postalCode": "N1 9GU", "country": "GB"}});
    let key = Uuid::new_v4().to_string();
    let placed = testing::call(
        stack,
        Method::POST,
        "/v1/orders",
        Some(&buyer.token),
        Some(&body),
        &[("idempotency-key", key.as_str())],
    )
    .await?;
    anyhow::ensure!(placed.status == 202, "place an order: {}", placed.text());
    Ok(placed.json()["orderId"]
        .as_str()
        .context("an order id")?
        .to_owned())
}
