//! Checkout latency and throughput through the local stack, the AWS calls and Lambda invocations
//! of one checkout, and what 1,000 orders cost on AWS: `bench/checkout.sh`
//! (`cargo bench -p orders --bench checkout`).
//!
//! Builds the functions in release, starts the local stack on free ports (API throttling lifted),
//! creates a seller, a category, `PRODUCTS` (default 20) products with plenty of stock and
//! `CUSTOMERS` (default 20) customers, warms every function of the checkout with a few orders,
//! then:
//! - places `ORDERS` (default 300) orders of 1–3 lines paid with `pm_card_visa`, at most
//!   `CONCURRENCY` (default 20) at a time, and times each from `POST /v1/orders` to the end of its
//!   Step Functions execution (`DescribeExecution` every 20 ms, on the local Step Functions
//!   endpoint, which does not touch the emulator); prints p50/p90/p99/max and orders per second;
//! - checks that every order is CONFIRMED and that no unit of stock appeared or vanished;
//! - prints the emulator's AWS calls per checkout by operation (less what the same stack does
//!   when idle, measured just before), the state transitions and Lambda invocations per checkout,
//!   where the execution's time goes state by state, and the cost of 1,000 orders at AWS
//!   us-east-1 prices.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use aws_sdk_dynamodb::types::AttributeValue;
use futures::stream::{self, StreamExt as _};
use http::Method;
use local::{
    emulator,
    testing::{self, Account, TestStack},
};
use serde_json::{Value, json};
use shared::config::Env;
use tracing_subscriber::{Layer as _, layer::SubscriberExt as _, util::SubscriberInitExt as _};

const ADMIN_EMAIL: &str = "bench-admin@storefront.test";
const ADMIN_PASSWORD: &str = "benchmark-admin-password";
/// Units each product is stocked with.
const STOCK: i64 = 100_000;
/// How long the stack is watched doing nothing, to tell polling from work.
const IDLE_WINDOW: Duration = Duration::from_secs(5);
/// How long after the last execution the asynchronous work (publishers, consumers) gets to end.
const SETTLE: Duration = Duration::from_secs(3);
/// How often an execution's status is asked.
const POLL: Duration = Duration::from_millis(20);
/// Intents created directly with the payment simulator to measure its own calls.
const SIMULATOR_INTENTS: usize = 20;
/// Functions that stand for the payment provider (Stripe on AWS): not part of the AWS bill.
const PROVIDER_FUNCTIONS: [&str; 2] = ["PaymentSimulatorFunction", "SimulatorWebhooksFunction"];

// AWS us-east-1 prices (USD).
const SFN_PER_TRANSITION: f64 = 0.025 / 1_000.0;
const LAMBDA_PER_REQUEST: f64 = 0.20 / 1_000_000.0;
const LAMBDA_PER_GB_SECOND_ARM: f64 = 0.000_013_333_4;
const DYNAMODB_PER_WRU: f64 = 0.625 / 1_000_000.0;
const DYNAMODB_PER_RRU: f64 = 0.125 / 1_000_000.0;
const SNS_PER_PUBLISH: f64 = 0.50 / 1_000_000.0;
const SQS_PER_REQUEST: f64 = 0.40 / 1_000_000.0;
const APIGW_PER_REQUEST: f64 = 1.00 / 1_000_000.0;
const SECRETS_PER_CALL: f64 = 0.05 / 10_000.0;
/// The goal for 1,000 orders.
const GOAL_PER_1000: f64 = 0.30;
/// Assumed duration of one authorizer invocation (its time is not reported by the stack).
const AUTHORIZER_MS: f64 = 10.0;

// ------------------------------------------------------------------------------------------
// Lambda invocations seen in the stack's own log lines (HTTP requests, SQS and stream batches).

/// Invocations of one function by one kind of source.
#[derive(Debug, Clone, Default)]
struct Seen {
    count: u64,
    /// Sum of the whole milliseconds the stack logged (at least 1 each).
    billed_ms: u64,
}

type SeenKey = (&'static str, String);

fn seen() -> &'static Mutex<BTreeMap<SeenKey, Seen>> {
    static SEEN: OnceLock<Mutex<BTreeMap<SeenKey, Seen>>> = OnceLock::new();
    SEEN.get_or_init(Mutex::default)
}

fn seen_snapshot() -> BTreeMap<SeenKey, Seen> {
    seen().lock().map(|s| s.clone()).unwrap_or_default()
}

/// Reads the stack's `local::http`, `local::sqs` and `local::streams` lines.
struct InvocationTap;

#[derive(Default)]
struct Message(String);

impl tracing::field::Visit for Message {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "message" {
            value.clone_into(&mut self.0);
        }
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

fn millis(token: &str) -> Option<u64> {
    token.strip_suffix("ms")?.parse().ok()
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for InvocationTap {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        let source = match event.metadata().target() {
            "local::http" => "http",
            "local::sqs" => "sqs",
            "local::streams" => "stream",
            _ => return,
        };
        let mut message = Message::default();
        event.record(&mut message);
        let tokens: Vec<&str> = message.0.split_whitespace().collect();
        let parsed = match (source, tokens.as_slice()) {
            // `POST /v1/orders 202 12ms test-CreateOrderFunction warm`
            ("http", [_, _, _, ms, function, _]) => millis(ms).map(|ms| (*function, ms)),
            // `function <- source: 3 records, 0 failed (ok) 12ms warm`
            (_, [function, "<-", .., ms, _]) if source != "http" => {
                millis(ms).map(|ms| (*function, ms))
            }
            _ => None,
        };
        if let Some((function, ms)) = parsed
            && let Ok(mut seen) = seen().lock()
        {
            let entry = seen.entry((source, function.to_owned())).or_default();
            entry.count += 1;
            entry.billed_ms += ms.max(1);
        }
    }
}

fn install_logging() {
    let quiet = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let tap = tracing_subscriber::filter::filter_fn(|metadata| {
        metadata.target().starts_with("local::") && *metadata.level() <= tracing::Level::INFO
    });
    let _ = tracing_subscriber::registry()
        .with(InvocationTap.with_filter(tap))
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_filter(quiet),
        )
        .try_init();
}

// ------------------------------------------------------------------------------------------
// Small helpers.

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn sorted(mut values: Vec<f64>) -> Vec<f64> {
    values.sort_by(f64::total_cmp);
    values
}

fn epoch_secs(at: SystemTime) -> f64 {
    at.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

/// A small deterministic generator, so that two runs place the same orders.
struct XorShift(u64);

impl XorShift {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}

type Counts = BTreeMap<String, u64>;

fn delta(after: &Counts, before: &Counts) -> BTreeMap<String, f64> {
    after
        .iter()
        .map(|(op, n)| {
            let was = before.get(op).copied().unwrap_or_default();
            (op.clone(), n.saturating_sub(was) as f64)
        })
        .filter(|(_, n)| *n > 0.0)
        .collect()
}

/// `DynamoDB_20120810.GetItem` → (`DynamoDB`, `GetItem`).
fn service_and_operation(op: &str) -> (String, String) {
    match op.split_once('.') {
        Some((service, operation)) if !service.contains(' ') => {
            let service = match service {
                s if s.starts_with("DynamoDBStreams") => "DynamoDB Streams",
                s if s.starts_with("DynamoDB") => "DynamoDB",
                s if s.starts_with("AmazonSQS") => "SQS",
                "SNS" => "SNS",
                s if s.to_ascii_lowercase().starts_with("secretsmanager") => "Secrets Manager",
                other => other,
            };
            (service.to_owned(), operation.to_owned())
        }
        _ => ("other".to_owned(), op.to_owned()),
    }
}

fn ops_of<'a>(
    counts: &'a BTreeMap<String, f64>,
    service: &'a str,
) -> impl Iterator<Item = (String, f64)> + 'a {
    counts.iter().filter_map(move |(op, n)| {
        let (s, o) = service_and_operation(op);
        (s == service).then_some((o, *n))
    })
}

fn op(counts: &BTreeMap<String, f64>, service: &str, operation: &str) -> f64 {
    ops_of(counts, service)
        .filter(|(o, _)| o == operation)
        .map(|(_, n)| n)
        .sum()
}

fn ensure_status(answer: &testing::TestResponse, status: u16, what: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        answer.status == status,
        "{what}: {} {}",
        answer.status,
        answer.text()
    );
    Ok(())
}

fn id_of(answer: &testing::TestResponse, field: &str) -> anyhow::Result<String> {
    answer.json()[field]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("no {field} in {}", answer.text()))
}

// ------------------------------------------------------------------------------------------
// The shop.

struct Product {
    id: String,
    ordered: i64,
}

struct Shop<'a> {
    stack: &'a TestStack,
    customers: Vec<Account>,
    products: Vec<Product>,
    machine_arn: String,
    sfn: aws_sdk_sfn::Client,
}

async fn open_shop(
    stack: &TestStack,
    products: usize,
    customers: usize,
) -> anyhow::Result<Shop<'_>> {
    let admin = testing::login(stack, ADMIN_EMAIL, ADMIN_PASSWORD).await?;
    let seller = testing::account(stack, &admin, "seller").await?;
    let category = testing::call(
        stack,
        Method::POST,
        "/v1/categories",
        Some(&admin.token),
        Some(&json!({"slug": "bench-checkout", "name": "Checkout bench"})),
        &[],
    )
    .await?;
    ensure_status(&category, 201, "create the category")?;
    let category = id_of(&category, "id")?;
    eprintln!("creating {products} products and {customers} customers...");
    let created: Vec<anyhow::Result<String>> = stream::iter(0..products)
        .map(|i| {
            let (seller, category) = (&seller, &category);
            async move {
                let body = json!({"name": format!("Bench item {i}"), "categoryId": category,
                                  "price": {"amount": 500 + 125 * i as i64, "currency": "USD"}});
                let created = testing::call(
                    stack,
                    Method::POST,
                    "/v1/products",
                    Some(&seller.token),
                    Some(&body),
                    &[],
                )
                .await?;
                ensure_status(&created, 201, "create a product")?;
                let id = id_of(&created, "id")?;
                let path = format!("/v1/inventory/{id}");
                let stock = json!({"available": STOCK, "reason": "opening count"});
                testing::eventually(
                    Duration::from_secs(60),
                    "inventory to learn the product",
                    || async {
                        let set = testing::call(
                            stack,
                            Method::PUT,
                            &path,
                            Some(&seller.token),
                            Some(&stock),
                            &[],
                        )
                        .await
                        .ok()?;
                        (set.status == 200).then_some(())
                    },
                )
                .await?;
                Ok(id)
            }
        })
        .buffered(8)
        .collect()
        .await;
    let products = created
        .into_iter()
        .map(|id| id.map(|id| Product { id, ordered: 0 }))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let customers: Vec<anyhow::Result<Account>> = stream::iter(0..customers)
        .map(|_| testing::account(stack, &admin, "customer"))
        .buffered(4)
        .collect()
        .await;
    let customers = customers.into_iter().collect::<anyhow::Result<Vec<_>>>()?;
    let machine_arn = stack
        .stack()
        .model()
        .state_machine("CheckoutStateMachine")
        .map(|m| m.arn.clone())
        .context("the template has no CheckoutStateMachine")?;
    let sfn = aws_sdk_sfn::Client::from_conf(
        aws_sdk_sfn::config::Builder::from(stack.stack().sdk_config())
            .endpoint_url(stack.stack().sfn_endpoint())
            .build(),
    );
    Ok(Shop {
        stack,
        customers,
        products,
        machine_arn,
        sfn,
    })
}

/// One order to place: its owner and body.
struct Planned {
    customer: usize,
    body: Value,
    /// Distinct products in it.
    lines: usize,
}

/// `count` orders of 1–3 distinct products, 1–3 units each; the units are added to the products'
/// `ordered`.
fn plan(shop: &mut Shop<'_>, rng: &mut XorShift, count: usize, first: usize) -> Vec<Planned> {
    let address = json!({"recipient": "Ada Lovelace", "line1": "12 Analytical Row",
                         "city": "London", "postalCode": "N1 9GU", "country": "GB"});
    (0..count)
        .map(|k| {
            let wanted = 1 + rng.below(3);
            let mut chosen = BTreeSet::new();
            while chosen.len() < wanted.min(shop.products.len()) {
                chosen.insert(rng.below(shop.products.len()));
            }
            let lines: Vec<Value> = chosen
                .iter()
                .map(|&p| {
                    let quantity = 1 + rng.below(3) as i64;
                    if let Some(product) = shop.products.get_mut(p) {
                        product.ordered += quantity;
                    }
                    let id = shop
                        .products
                        .get(p)
                        .map(|p| p.id.clone())
                        .unwrap_or_default();
                    json!({"productId": id, "quantity": quantity})
                })
                .collect();
            Planned {
                customer: (first + k) % shop.customers.len().max(1),
                lines: lines.len(),
                body: json!({"shippingAddress": address, "lines": lines,
                             "paymentMethod": "pm_card_visa"}),
            }
        })
        .collect()
}

/// A placed order whose execution ended.
struct Done {
    id: String,
    customer: usize,
    sent_at: SystemTime,
    latency_ms: f64,
    status: String,
}

async fn checkout(shop: &Shop<'_>, order: &Planned) -> anyhow::Result<Done> {
    let customer = shop
        .customers
        .get(order.customer)
        .context("no such customer")?;
    let key = uuid::Uuid::new_v4().to_string();
    let sent_at = SystemTime::now();
    let started = Instant::now();
    let placed = testing::call(
        shop.stack,
        Method::POST,
        "/v1/orders",
        Some(&customer.token),
        Some(&order.body),
        &[("idempotency-key", &key)],
    )
    .await?;
    ensure_status(&placed, 202, "place an order")?;
    let id = id_of(&placed, "orderId")?;
    let arn = format!(
        "{}:{id}",
        shop.machine_arn.replace(":stateMachine:", ":execution:")
    );
    loop {
        if let Ok(execution) = shop
            .sfn
            .describe_execution()
            .execution_arn(&arn)
            .send()
            .await
            && execution.status().as_str() != "RUNNING"
        {
            return Ok(Done {
                id,
                customer: order.customer,
                sent_at,
                latency_ms: started.elapsed().as_secs_f64() * 1000.0,
                status: execution.status().as_str().to_owned(),
            });
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(120),
            "order {id}: its execution did not end within 120 s"
        );
        tokio::time::sleep(POLL).await;
    }
}

async fn run_orders(
    shop: &Shop<'_>,
    orders: &[Planned],
    concurrency: usize,
) -> anyhow::Result<Vec<Done>> {
    let done: Vec<anyhow::Result<Done>> = stream::iter(orders)
        .map(|order| checkout(shop, order))
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    done.into_iter().collect()
}

// ------------------------------------------------------------------------------------------
// Execution histories.

#[derive(Default)]
struct Histories {
    executions: usize,
    transitions: usize,
    /// State name → time spent in it (ms), one value per visit.
    states: BTreeMap<String, Vec<f64>>,
    /// Function ARN → task durations (ms), Scheduled → Succeeded/Failed.
    tasks: BTreeMap<String, Vec<f64>>,
    /// POST sent → ExecutionStarted (ms).
    to_start: Vec<f64>,
    /// ExecutionStarted → the execution's end (ms).
    execution: Vec<f64>,
    /// The execution's end → the client saw it (ms).
    to_seen: Vec<f64>,
}

async fn histories(shop: &Shop<'_>, done: &[Done]) -> anyhow::Result<Histories> {
    let mut all = Histories::default();
    let prefix = shop.machine_arn.replace(":stateMachine:", ":execution:");
    for order in done {
        let arn = format!("{prefix}:{}", order.id);
        let mut events = Vec::new();
        let mut token = None;
        loop {
            let page = shop
                .sfn
                .get_execution_history()
                .execution_arn(&arn)
                .max_results(1000)
                .set_next_token(token)
                .send()
                .await
                .with_context(|| format!("the history of {arn}"))?;
            events.extend(page.events().iter().cloned());
            token = page.next_token().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
        all.executions += 1;
        let mut entered: Option<(String, f64)> = None;
        let mut scheduled: Option<(String, f64)> = None;
        let mut started = None;
        for event in &events {
            let at = event.timestamp().as_secs_f64();
            let kind = event.r#type().as_str();
            if kind.ends_with("StateEntered") {
                all.transitions += 1;
                let name = event
                    .state_entered_event_details()
                    .map(|d| d.name().to_owned())
                    .unwrap_or_default();
                entered = Some((name, at));
            } else if kind.ends_with("StateExited") {
                if let Some((name, since)) = entered.take() {
                    all.states
                        .entry(name)
                        .or_default()
                        .push((at - since) * 1000.0);
                }
            } else if kind == "LambdaFunctionScheduled" {
                let resource = event
                    .lambda_function_scheduled_event_details()
                    .map(|d| d.resource().to_owned())
                    .unwrap_or_default();
                scheduled = Some((resource, at));
            } else if kind == "TaskScheduled" {
                let resource = event
                    .task_scheduled_event_details()
                    .map(|d| format!("{}:{}", d.resource_type(), d.resource()))
                    .unwrap_or_default();
                scheduled = Some((resource, at));
            } else if kind.starts_with("LambdaFunction") && !kind.ends_with("Started")
                || kind.starts_with("Task") && !kind.ends_with("Started") && kind != "TaskSubmitted"
            {
                if let Some((resource, since)) = scheduled.take() {
                    all.tasks
                        .entry(resource)
                        .or_default()
                        .push((at - since) * 1000.0);
                }
            } else if kind == "ExecutionStarted" {
                started = Some(at);
                all.to_start.push((at - epoch_secs(order.sent_at)) * 1000.0);
            } else if kind.starts_with("Execution")
                && let Some(since) = started
            {
                all.execution.push((at - since) * 1000.0);
                let seen_at = epoch_secs(order.sent_at) + order.latency_ms / 1000.0;
                all.to_seen.push((seen_at - at) * 1000.0);
            }
        }
    }
    Ok(all)
}

// ------------------------------------------------------------------------------------------
// DynamoDB item sizes, read back from the tables.

fn attribute_size(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => n.len().div_ceil(2) + 1,
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::Ss(v) => v.iter().map(String::len).sum(),
        AttributeValue::Ns(v) => v.iter().map(|n| n.len().div_ceil(2) + 1).sum(),
        AttributeValue::L(items) => 3 + items.iter().map(|i| 1 + attribute_size(i)).sum::<usize>(),
        AttributeValue::M(map) => {
            3 + map
                .iter()
                .map(|(k, v)| 1 + k.len() + attribute_size(v))
                .sum::<usize>()
        }
        _ => 1,
    }
}

fn item_size(item: &std::collections::HashMap<String, AttributeValue>) -> usize {
    item.iter().map(|(k, v)| k.len() + attribute_size(v)).sum()
}

/// The key's leading upper-case word (`ORDER#…` → `ORDER`); `*` for keys that are values.
fn prefix(item: &std::collections::HashMap<String, AttributeValue>, name: &str) -> String {
    let word = item
        .get(name)
        .and_then(|v| v.as_s().ok())
        .map(|s| s.split('#').next().unwrap_or_default().to_owned())
        .unwrap_or_default();
    if !word.is_empty() && word.chars().all(|c| c.is_ascii_uppercase() || c == '_') {
        word
    } else {
        "*".to_owned()
    }
}

/// `Table pk-prefix/sk-prefix` → (items, mean size in bytes, largest).
async fn item_sizes(
    stack: &TestStack,
    tables: &[&str],
) -> anyhow::Result<BTreeMap<String, (usize, f64, usize)>> {
    let dynamodb = aws_sdk_dynamodb::Client::new(stack.stack().sdk_config());
    let mut sizes: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for logical in tables {
        let Some(table) = stack.stack().model().table(logical) else {
            continue;
        };
        let mut start = None;
        loop {
            let page = dynamodb
                .scan()
                .table_name(&table.name)
                .set_exclusive_start_key(start)
                .send()
                .await
                .with_context(|| format!("scan {}", table.name))?;
            for item in page.items() {
                let kind = format!(
                    "{} {}/{}",
                    logical.trim_end_matches("Table"),
                    prefix(item, "pk"),
                    prefix(item, "sk")
                );
                sizes.entry(kind).or_default().push(item_size(item));
            }
            start = page.last_evaluated_key().cloned();
            if start.is_none() {
                break;
            }
        }
    }
    Ok(sizes
        .into_iter()
        .map(|(kind, sizes)| {
            let mean = sizes.iter().sum::<usize>() as f64 / sizes.len().max(1) as f64;
            let max = sizes.iter().copied().max().unwrap_or_default();
            (kind, (sizes.len(), mean, max))
        })
        .collect())
}

// ------------------------------------------------------------------------------------------
// The payment simulator's own AWS calls (it stands for the provider, not for AWS).

async fn simulator_calls(stack: &TestStack) -> anyhow::Result<BTreeMap<String, f64>> {
    let secret = stack
        .stack()
        .model()
        .secrets
        .iter()
        .find(|s| s.logical_id == "PaymentProviderKeys")
        .map(|s| s.name.clone())
        .context("no PaymentProviderKeys secret")?;
    let secrets = aws_sdk_secretsmanager::Client::new(stack.stack().sdk_config());
    let keys: Value = serde_json::from_str(
        secrets
            .get_secret_value()
            .secret_id(&secret)
            .send()
            .await?
            .secret_string()
            .unwrap_or_default(),
    )?;
    let bearer = format!("Bearer {}", keys["apiKey"].as_str().unwrap_or_default());
    let endpoint = stack.stack().emulator_endpoint().to_owned();
    let post = |path: String, body: String| {
        let bearer = bearer.clone();
        async move {
            let key = uuid::Uuid::new_v4().to_string();
            let answer = stack
                .request(
                    Method::POST,
                    &path,
                    &[
                        ("authorization", &bearer),
                        ("content-type", "application/x-www-form-urlencoded"),
                        ("idempotency-key", &key),
                    ],
                    body,
                )
                .await?;
            ensure_status(&answer, 200, &format!("POST {path} to the simulator"))?;
            id_of(&answer, "id")
        }
    };
    let before = emulator::call_counts(&endpoint).await?;
    // As the payments adapter does: create the intent, then confirm it with the card.
    for _ in 0..SIMULATOR_INTENTS {
        let body = format!(
            "amount=2500&currency=usd&capture_method=automatic&metadata%5Border_id%5D={}\
             &metadata%5Bpayment_id%5D={}",
            uuid::Uuid::new_v4(),
            uuid::Uuid::new_v4()
        );
        let intent = post("/simulator/v1/payment_intents".to_owned(), body).await?;
        post(
            format!("/simulator/v1/payment_intents/{intent}/confirm"),
            "payment_method=pm_card_visa".to_owned(),
        )
        .await?;
    }
    let after = emulator::call_counts(&endpoint).await?;
    // Per simulator request; the pollers' calls are left to the idle baseline.
    Ok(delta(&after, &before)
        .into_iter()
        .filter(|(op, _)| {
            ![
                "ReceiveMessage",
                "DeleteMessage",
                "GetRecords",
                "GetShardIterator",
                "DescribeStream",
            ]
            .iter()
            .any(|polling| op.ends_with(&format!(".{polling}")))
        })
        .map(|(op, n)| (op, n / (2 * SIMULATOR_INTENTS) as f64))
        .collect())
}

// ------------------------------------------------------------------------------------------

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    install_logging();
    let env = Env::from_process();
    let products: usize = env.parse_or("PRODUCTS", 20)?;
    let customers: usize = env.parse_or("CUSTOMERS", 20)?;
    let orders: usize = env.parse_or("ORDERS", 300)?;
    let concurrency: usize = env.parse_or("CONCURRENCY", 20)?;
    anyhow::ensure!(
        products > 0 && customers > 0 && orders > 0,
        "PRODUCTS, CUSTOMERS and ORDERS must be positive"
    );
    let stack = testing::spawn_for_bench(ADMIN_EMAIL, ADMIN_PASSWORD).await?;
    let outcome = bench(&stack, products, customers, orders, concurrency).await;
    stack.shutdown().await;
    outcome
}

#[allow(clippy::too_many_lines)]
async fn bench(
    stack: &TestStack,
    products: usize,
    customers: usize,
    orders: usize,
    concurrency: usize,
) -> anyhow::Result<()> {
    let mut shop = open_shop(stack, products, customers).await?;
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let endpoint = stack.stack().emulator_endpoint().to_owned();

    // Warm-up: enough orders at once to start an instance of each function per order in flight.
    let warm_count = concurrency.max(10) * 2;
    eprintln!("warming up with {warm_count} orders...");
    let warm = plan(&mut shop, &mut rng, warm_count, 0);
    let warmed = run_orders(&shop, &warm, concurrency).await?;
    tokio::time::sleep(SETTLE).await;

    // What the stack does when nothing happens (pollers).
    let idle_before = emulator::call_counts(&endpoint).await?;
    let idle_seen_before = seen_snapshot();
    tokio::time::sleep(IDLE_WINDOW).await;
    let idle = delta(&emulator::call_counts(&endpoint).await?, &idle_before);
    let idle_deliveries: u64 = seen_snapshot()
        .iter()
        .map(|(k, s)| s.count - idle_seen_before.get(k).map_or(0, |b| b.count))
        .sum();
    let idle_secs = IDLE_WINDOW.as_secs_f64();

    // The measured run.
    eprintln!("placing {orders} orders, {concurrency} at a time...");
    let measured = plan(&mut shop, &mut rng, orders, warm_count);
    let lines_per_order = measured.iter().map(|o| o.lines).sum::<usize>() as f64 / orders as f64;
    let calls_before = emulator::call_counts(&endpoint).await?;
    let seen_before = seen_snapshot();
    let started = Instant::now();
    let done = run_orders(&shop, &measured, concurrency).await?;
    let wall = started.elapsed();
    tokio::time::sleep(SETTLE).await;
    let calls_after = emulator::call_counts(&endpoint).await?;
    let seen_after = seen_snapshot();
    let window = (wall + SETTLE).as_secs_f64();
    let raw = delta(&calls_after, &calls_before);

    // Invariants.
    eprintln!("checking the orders and the stock...");
    let mut statuses: BTreeMap<String, usize> = BTreeMap::new();
    let mut execution_statuses: BTreeMap<String, usize> = BTreeMap::new();
    let all: Vec<&Done> = warmed.iter().chain(done.iter()).collect();
    let seen_orders: Vec<anyhow::Result<String>> = stream::iter(all.iter())
        .map(|order| {
            let shop = &shop;
            async move {
                let owner = shop
                    .customers
                    .get(order.customer)
                    .context("no such customer")?;
                let answer = testing::call(
                    shop.stack,
                    Method::GET,
                    &format!("/v1/orders/{}", order.id),
                    Some(&owner.token),
                    None,
                    &[],
                )
                .await?;
                ensure_status(&answer, 200, "get an order")?;
                Ok(answer.json()["status"].as_str().unwrap_or("?").to_owned())
            }
        })
        .buffered(concurrency.max(1))
        .collect()
        .await;
    for status in seen_orders {
        *statuses.entry(status?).or_default() += 1;
    }
    for order in &done {
        *execution_statuses.entry(order.status.clone()).or_default() += 1;
    }
    let mut stock_problems = Vec::new();
    // Units reserved, sold and ordered, over every product.
    let mut units = (0_i64, 0_i64, 0_i64);
    for product in &shop.products {
        let answer = stack.get(&format!("/v1/inventory/{}", product.id)).await?;
        ensure_status(&answer, 200, "get the stock")?;
        let json = answer.json();
        let count = |name: &str| json[name].as_i64().unwrap_or(i64::MIN);
        let (available, reserved, sold) = (count("available"), count("reserved"), count("sold"));
        units.0 += reserved;
        units.1 += sold;
        units.2 += product.ordered;
        if available + reserved + sold != STOCK || reserved + sold != product.ordered {
            stock_problems.push(format!(
                "{}: available {available} + reserved {reserved} + sold {sold} (stocked {STOCK}, ordered {})",
                product.id, product.ordered
            ));
        }
    }
    let schema_problems = stack.stack().events().problems().len();

    eprintln!("reading the execution histories...");
    let history = histories(&shop, &done).await?;
    eprintln!("measuring the payment simulator alone...");
    let simulator = simulator_calls(stack).await?;
    let sizes = item_sizes(
        stack,
        &[
            "OrdersTable",
            "InventoryTable",
            "PaymentsTable",
            "CatalogTable",
            "CartTable",
        ],
    )
    .await?;

    // ---------------------------------------------------------------- report
    let n = orders as f64;
    let mut out = String::new();
    let latencies = sorted(done.iter().map(|d| d.latency_ms).collect());
    let _ = writeln!(
        out,
        "## Checkout: {orders} orders ({lines_per_order:.2} products per order, pm_card_visa), {concurrency} in flight, release build"
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "POST /v1/orders → execution ended (DescribeExecution every {} ms):",
        POLL.as_millis()
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "| p50 | p90 | p99 | max | orders/s (wall clock) |");
    let _ = writeln!(out, "|---|---|---|---|---|");
    let _ = writeln!(
        out,
        "| {:.0} ms | {:.0} ms | {:.0} ms | {:.0} ms | {:.1} ({orders} in {:.1} s) |",
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.90),
        percentile(&latencies, 0.99),
        percentile(&latencies, 1.0),
        n / wall.as_secs_f64(),
        wall.as_secs_f64()
    );
    let _ = writeln!(out);

    // Invariants.
    let confirmed = statuses.get("CONFIRMED").copied().unwrap_or_default();
    let _ = writeln!(
        out,
        "Invariants ({} orders with the warm-up's {}): executions {:?}; orders {:?} → {}; stock of {} products: {}; events breaking their schema: {schema_problems}",
        all.len(),
        warmed.len(),
        execution_statuses,
        statuses,
        if confirmed == all.len() {
            "every order CONFIRMED"
        } else {
            "NOT every order CONFIRMED"
        },
        shop.products.len(),
        if stock_problems.is_empty() {
            format!(
                "available + reserved + sold = stocked, reserved + sold = units ordered ({} reserved, {} sold of {} ordered)",
                units.0, units.1, units.2
            )
        } else {
            format!("BROKEN: {}", stock_problems.join("; "))
        }
    );
    let _ = writeln!(out);

    // Where the time goes.
    let _ = writeln!(
        out,
        "Where the time goes (execution histories of all {} executions, mean and p99 per visit):",
        history.executions
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "| step | visits per execution | mean | p99 |");
    let _ = writeln!(out, "|---|---|---|---|");
    let row = |out: &mut String, name: &str, values: &[f64]| {
        let values = sorted(values.to_vec());
        let mean = values.iter().sum::<f64>() / values.len().max(1) as f64;
        let _ = writeln!(
            out,
            "| {name} | {:.2} | {mean:.1} ms | {:.1} ms |",
            values.len() as f64 / history.executions.max(1) as f64,
            percentile(&values, 0.99)
        );
        mean
    };
    let to_start = row(
        &mut out,
        "POST sent → ExecutionStarted (API, authorizer, create-order, StartExecution)",
        &history.to_start,
    );
    let mut slowest = ("POST → ExecutionStarted".to_owned(), to_start);
    let mut states: Vec<(&String, &Vec<f64>)> = history.states.iter().collect();
    states.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(b.0)));
    for (name, values) in states {
        let mean = row(&mut out, &format!("state {name}"), values);
        if mean > slowest.1 {
            slowest = (format!("state {name}"), mean);
        }
    }
    row(
        &mut out,
        "ExecutionStarted → execution ended",
        &history.execution,
    );
    row(
        &mut out,
        "execution ended → seen by the client (polling)",
        &history.to_seen,
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "Slowest step: {} ({:.1} ms of a {:.1} ms mean latency).",
        slowest.0,
        slowest.1,
        latencies.iter().sum::<f64>() / latencies.len().max(1) as f64
    );
    let _ = writeln!(out);

    // AWS calls.
    let idle_in_window =
        |op_name: &str| idle.get(op_name).copied().unwrap_or_default() / idle_secs * window;
    let mut attributable: BTreeMap<String, f64> = BTreeMap::new();
    let simulator_requests: f64 = seen_after
        .iter()
        .filter(|((source, name), _)| {
            *source == "http"
                && stack
                    .stack()
                    .function(name)
                    .is_some_and(|f| f.logical_id == "PaymentSimulatorFunction")
        })
        .map(|(key, after)| after.count - seen_before.get(key).map_or(0, |before| before.count))
        .sum::<u64>() as f64
        / n;
    let _ = writeln!(
        out,
        "AWS calls served by the emulator per checkout ({orders} orders, window {window:.1} s = run + {} s settle; idle = the same stack's calls over {} s idle just before, scaled to the window; provider = the payment simulator's own calls, standing for Stripe: {simulator_requests:.2} simulator requests per checkout × its calls per request, measured apart over {SIMULATOR_INTENTS} intents created and confirmed):",
        SETTLE.as_secs(),
        IDLE_WINDOW.as_secs()
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "| service | operation | total | idle polling | provider | per checkout |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    let mut ops: BTreeSet<&String> = raw.keys().collect();
    ops.extend(idle.keys());
    for op_name in ops {
        let (service, operation) = service_and_operation(op_name);
        let total = raw.get(op_name).copied().unwrap_or_default() / n;
        let idle_part = (idle_in_window(op_name) / n).min(total);
        let provider = (simulator.get(op_name).copied().unwrap_or_default() * simulator_requests)
            .min(total - idle_part);
        let rest = (total - idle_part - provider).max(0.0);
        attributable.insert(op_name.clone(), rest);
        let _ = writeln!(
            out,
            "| {service} | {operation} | {total:.2} | {idle_part:.2} | {provider:.2} | {rest:.2} |"
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "(SQS: `DeleteMessage` is the stack's event tap, one per event published, and the tap's receives are among ReceiveMessage; the event-source pollers delete with DeleteMessageBatch. DynamoDB Streams calls are the stream pollers': free for Lambda triggers on AWS. Idle deliveries seen: {idle_deliveries}.)"
    );
    let _ = writeln!(out);

    // Lambda invocations.
    let model = stack.stack().model();
    let function_of = |name_or_arn: &str| {
        model.functions.iter().find(|f| {
            f.name == name_or_arn
                || f.arn == name_or_arn
                || name_or_arn.ends_with(&format!(":{}", f.name))
        })
    };
    struct Invoked {
        source: String,
        function: String,
        per_checkout: f64,
        mean_ms: f64,
        memory_mb: u32,
        provider: bool,
        how: &'static str,
    }
    let mut invoked: Vec<Invoked> = Vec::new();
    for (resource, durations) in &history.tasks {
        let function = function_of(resource);
        invoked.push(Invoked {
            source: "Step Functions task".into(),
            function: function.map_or_else(|| resource.clone(), |f| f.logical_id.clone()),
            per_checkout: durations.len() as f64 / history.executions.max(1) as f64,
            mean_ms: durations.iter().map(|d| d.ceil().max(1.0)).sum::<f64>()
                / durations.len().max(1) as f64,
            memory_mb: function.map_or(256, |f| f.memory_mb),
            provider: false,
            how: "measured (history: scheduled → succeeded)",
        });
    }
    for ((source, name), after) in &seen_after {
        let before = seen_before
            .get(&(*source, name.clone()))
            .cloned()
            .unwrap_or_default();
        let count = after.count - before.count;
        if count == 0 {
            continue;
        }
        let function = function_of(name);
        let logical = function.map_or_else(|| name.clone(), |f| f.logical_id.clone());
        invoked.push(Invoked {
            source: match *source {
                "http" => "HTTP API",
                "sqs" => "SQS batch",
                _ => "stream batch",
            }
            .into(),
            provider: PROVIDER_FUNCTIONS.contains(&logical.as_str()),
            function: logical,
            per_checkout: count as f64 / n,
            mean_ms: (after.billed_ms - before.billed_ms) as f64 / count as f64,
            memory_mb: function.map_or(256, |f| f.memory_mb),
            how: "measured (stack log: request or batch time)",
        });
    }
    let authorizer = model
        .functions
        .iter()
        .find(|f| f.logical_id == "AuthorizerFunction");
    let cache = model
        .http_apis
        .first()
        .and_then(|api| api.authorizers.values().next())
        .map_or(0, |a| a.ttl.as_secs());
    invoked.push(Invoked {
        source: "HTTP API authorizer".into(),
        function: "AuthorizerFunction".into(),
        per_checkout: 1.0,
        mean_ms: AUTHORIZER_MS,
        memory_mb: authorizer.map_or(128, |f| f.memory_mb),
        provider: false,
        how: "derived: not reported by the stack; at most 1 per checkout (verdicts cached per token) and assumed duration",
    });
    let _ = writeln!(
        out,
        "Lambda invocations per checkout (authorizer cache {cache} s):"
    );
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "| source | function | MB | per checkout | mean billed ms | how |"
    );
    let _ = writeln!(out, "|---|---|---|---|---|---|");
    invoked.sort_by(|a, b| {
        a.provider
            .cmp(&b.provider)
            .then(a.source.cmp(&b.source))
            .then(a.function.cmp(&b.function))
    });
    let (mut requests, mut gb_seconds) = (0.0, 0.0);
    for i in &invoked {
        let _ = writeln!(
            out,
            "| {} | {}{} | {} | {:.2} | {:.1} | {} |",
            i.source,
            i.function,
            if i.provider {
                " (payment provider: not billed)"
            } else {
                ""
            },
            i.memory_mb,
            i.per_checkout,
            i.mean_ms,
            i.how
        );
        if !i.provider {
            requests += i.per_checkout;
            gb_seconds += i.per_checkout * i.mean_ms / 1000.0 * f64::from(i.memory_mb) / 1024.0;
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "State transitions per execution: {:.2} (every *StateEntered event of all {} histories). Lambda per checkout, provider excluded: {requests:.2} invocations, {:.4} GB-s (durations are the local times above: the invocation as the stack sees it, an upper bound of the billed duration).",
        history.transitions as f64 / history.executions.max(1) as f64,
        history.executions,
        gb_seconds
    );
    let _ = writeln!(out);

    // Item sizes.
    let _ = writeln!(
        out,
        "DynamoDB item sizes after the run (scan; DynamoDB's size rules, approximately):"
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "| table pk/sk | items | mean bytes | max bytes |");
    let _ = writeln!(out, "|---|---|---|---|");
    for (kind, (count, mean, max)) in &sizes {
        let _ = writeln!(out, "| {kind} | {count} | {mean:.0} | {max} |");
    }
    let _ = writeln!(out);
    let kb = |kind: &str| {
        sizes
            .get(kind)
            .map_or(1.0, |(_, mean, _)| (mean / 1024.0).ceil().max(1.0))
    };

    // DynamoDB request units. The saga's transactions, from its code:
    // place (orders store): placement, order, history, outbox;
    // reserve (inventory reservations): reservation + one stock item per product;
    // begin payment (payments store): payment, lookup, compensation-marker condition check;
    // confirm (orders store): order, history, outbox.
    let order_kb = kb("Orders ORDER/ORDER");
    let transaction_units = 2.0
        * (kb("Orders PLACE/PLACE")
            + order_kb
            + kb("Orders ORDER/HISTORY")
            + kb("Orders OUTBOX/OUTBOX")
            + kb("Inventory RESERVATION/RESERVATION")
            + lines_per_order * kb("Inventory STOCK/STOCK")
            + kb("Payments ORDER/PAYMENT")
            + kb("Payments PAYMENT/PAYMENT")
            + 1.0
            + order_kb
            + kb("Orders ORDER/HISTORY")
            + kb("Orders OUTBOX/OUTBOX"));
    let saga_transactions = 4.0;
    let measured_transactions = op(&attributable, "DynamoDB", "TransactWriteItems");
    let other_transactions = (measured_transactions - saga_transactions).max(0.0);
    // The order item is in three GSIs (ByUser, ByStatus, All, projection ALL): placing writes
    // three index entries, confirming rewrites two and moves ByStatus (delete + put).
    let gsi_units = 7.0 * order_kb;
    let standard_writes = ["PutItem", "UpdateItem", "DeleteItem"]
        .iter()
        .map(|o| op(&attributable, "DynamoDB", o))
        .sum::<f64>()
        + op(&attributable, "DynamoDB", "BatchWriteItem");
    let wru = transaction_units + other_transactions * 4.0 + gsi_units + standard_writes;
    let rru = op(&attributable, "DynamoDB", "GetItem")
        + op(&attributable, "DynamoDB", "Query")
        + op(&attributable, "DynamoDB", "Scan")
        + op(&attributable, "DynamoDB", "BatchGetItem") * lines_per_order
        + op(&attributable, "DynamoDB", "TransactGetItems") * 2.0 * lines_per_order;
    let sns = op(&attributable, "SNS", "Publish") + op(&attributable, "SNS", "PublishBatch");
    let esm_batches: f64 = invoked
        .iter()
        .filter(|i| i.source == "SQS batch" && !i.provider)
        .map(|i| i.per_checkout)
        .sum();
    // Each SQS batch delivered is one non-empty ReceiveMessage and one DeleteMessageBatch.
    let sqs = 2.0 * esm_batches
        + ops_of(&attributable, "SQS")
            .filter(|(o, _)| o.starts_with("Send"))
            .map(|(_, n)| n)
            .sum::<f64>();
    let api_requests: f64 = invoked
        .iter()
        .filter(|i| i.source == "HTTP API" && !i.provider)
        .map(|i| i.per_checkout)
        .sum();
    let secrets = ops_of(&attributable, "Secrets Manager").fold(0.0, |sum, (_, n)| sum + n);
    let transitions = history.transitions as f64 / history.executions.max(1) as f64;

    let lines = [
        (
            "Step Functions Standard",
            format!("{transitions:.2} transitions × $0.025/1k"),
            transitions * SFN_PER_TRANSITION,
        ),
        (
            "Lambda requests",
            format!("{requests:.2} invocations × $0.20/M"),
            requests * LAMBDA_PER_REQUEST,
        ),
        (
            "Lambda duration (arm64)",
            format!("{gb_seconds:.4} GB-s × $0.0000133334"),
            gb_seconds * LAMBDA_PER_GB_SECOND_ARM,
        ),
        (
            "DynamoDB writes",
            format!(
                "{wru:.1} WRU: saga transactions {transaction_units:.1} + other transactions {other_transactions:.2}×4 + order GSIs {gsi_units:.0} + standard writes {standard_writes:.2}"
            ),
            wru * DYNAMODB_PER_WRU,
        ),
        (
            "DynamoDB reads",
            format!("{rru:.1} RRU (1 per consistent read ≤ 4 KB, per batch item)"),
            rru * DYNAMODB_PER_RRU,
        ),
        (
            "SNS",
            format!("{sns:.2} publishes × $0.50/M (SQS delivery free)"),
            sns * SNS_PER_PUBLISH,
        ),
        (
            "SQS",
            format!(
                "{sqs:.2} requests (a receive + a batch delete per delivered batch, sends) × $0.40/M"
            ),
            sqs * SQS_PER_REQUEST,
        ),
        (
            "API Gateway HTTP API",
            format!("{api_requests:.2} requests × $1.00/M"),
            api_requests * APIGW_PER_REQUEST,
        ),
        (
            "Secrets Manager",
            format!("{secrets:.3} calls × $0.05/10k (read once per cold start)"),
            secrets * SECRETS_PER_CALL,
        ),
    ];
    let _ = writeln!(
        out,
        "Cost of 1,000 orders (AWS us-east-1 list prices; the payment provider's side excluded):"
    );
    let _ = writeln!(out);
    let _ = writeln!(out, "| item | per checkout | per 1,000 orders |");
    let _ = writeln!(out, "|---|---|---|");
    let mut total = 0.0;
    for (item, basis, cost) in &lines {
        total += cost * 1000.0;
        let _ = writeln!(out, "| {item} | {basis} | ${:.4} |", cost * 1000.0);
    }
    let _ = writeln!(out, "| **total** | | **${total:.4}** |");
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "Total ${total:.4} per 1,000 orders: {} the goal of ${GOAL_PER_1000:.2}. Largest item: {}.",
        if total < GOAL_PER_1000 {
            "under"
        } else {
            "OVER"
        },
        lines
            .iter()
            .max_by(|a, b| a.2.total_cmp(&b.2))
            .map_or("-", |l| l.0)
    );
    let _ = writeln!(
        out,
        "Assumed: transactional writes 2 WRU per item per KB (sizes from the scan above; the condition check 2 WRU), other transactions (consumers: a processed-event marker and one change) 2 items of ≤ 1 KB, standard writes 1 WRU, reads 1 RRU each; the authorizer once per checkout at {AUTHORIZER_MS:.0} ms; empty SQS long polls and stream reads are not per order (the former is a fixed cost of each queue's pollers on AWS, the latter free)."
    );
    print!("{out}");
    Ok(())
}
