//! Benchmark: the two AWS API emulators side by side, MiniStack (the default) and moto.
//!
//! For each (`EMULATORS`, default `ministack,moto`): the time from starting the process to its
//! first answer (installed already), its memory idle and after the work below, and the rate of
//! what the functions ask of it most, `CONCURRENCY` (default 16) requests in flight:
//! DynamoDB `PutItem`, `GetItem`, `Query` of one partition, contended conditional `UpdateItem`
//! (checked: exactly the stock is sold), `TransactWriteItems`, SQS send and receive-and-delete,
//! and SNS → SQS fan-out (publish to received). Run with `bench/emulator.sh` (release build).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, ConditionCheck, KeySchemaElement, KeyType,
    Put, ScalarAttributeType, TransactWriteItem,
};
use futures::StreamExt as _;
use local::emulator::{Emulator, Kind};

const ITEMS: usize = 2_000;
const PARTITIONS: usize = 50;
const QUERIES: usize = 500;
const STOCK: usize = 500;
const ATTEMPTS: usize = 1_000;
const TRANSACTIONS: usize = 500;
const MESSAGES: usize = 1_000;
const PUBLISHES: usize = 500;

struct Figures {
    kind: Kind,
    /// SQS messages received again after a receive (of 1,500): legal for a standard queue.
    repeated: usize,
    start_ms: f64,
    idle_rss_mib: f64,
    busy_rss_mib: f64,
    rates: Vec<(&'static str, f64)>,
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<f64>()
                .ok()
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

/// Runs `count` requests made by `request`, `concurrency` at a time; requests per second.
async fn rate<F, Fut>(count: usize, concurrency: usize, request: F) -> f64
where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let started = Instant::now();
    futures::stream::iter(0..count)
        .map(request)
        .buffer_unordered(concurrency)
        .collect::<Vec<()>>()
        .await;
    count as f64 / started.elapsed().as_secs_f64()
}

async fn create_table(client: &aws_sdk_dynamodb::Client, name: &str, range: bool) {
    let mut request = client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        );
    if range {
        request = request
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("sk")
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .unwrap(),
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("sk")
                    .key_type(KeyType::Range)
                    .build()
                    .unwrap(),
            );
    }
    request.send().await.unwrap();
}

async fn measure(kind: Kind, concurrency: usize) -> Figures {
    let root = local::paths::repo_root();
    // A first start installs the emulator's environment if needed; it is not what is measured.
    Emulator::start_kind(&root, kind, 0)
        .await
        .unwrap()
        .stop()
        .await;
    let started = Instant::now();
    let emulator = Emulator::start_kind(&root, kind, 0).await.unwrap();
    let config = emulator.sdk_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    dynamodb.list_tables().send().await.unwrap();
    let start_ms = started.elapsed().as_secs_f64() * 1000.0;
    let pid = emulator.pid().unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle_rss_mib = rss_mib(pid);
    let mut rates = Vec::new();

    create_table(&dynamodb, "items", true).await;
    let put = rate(ITEMS, concurrency, |i| {
        let dynamodb = dynamodb.clone();
        async move {
            dynamodb
                .put_item()
                .table_name("items")
                .item("pk", s(format!("p{}", i % PARTITIONS)))
                .item("sk", s(format!("{i:06}")))
                .item("name", s(format!("item {i}")))
                .item("price", n(i as i64))
                .send()
                .await
                .unwrap();
        }
    })
    .await;
    rates.push(("DynamoDB PutItem /s", put));

    let get = rate(ITEMS, concurrency, |i| {
        let dynamodb = dynamodb.clone();
        async move {
            let item = dynamodb
                .get_item()
                .table_name("items")
                .key("pk", s(format!("p{}", i % PARTITIONS)))
                .key("sk", s(format!("{i:06}")))
                .send()
                .await
                .unwrap();
            assert!(item.item().is_some());
        }
    })
    .await;
    rates.push(("DynamoDB GetItem /s", get));

    let query = rate(QUERIES, concurrency, |i| {
        let dynamodb = dynamodb.clone();
        async move {
            let page = dynamodb
                .query()
                .table_name("items")
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(format!("p{}", i % PARTITIONS)))
                .send()
                .await
                .unwrap();
            assert_eq!(page.count() as usize, ITEMS / PARTITIONS);
        }
    })
    .await;
    rates.push(("DynamoDB Query (40 of 2,000 items) /s", query));

    create_table(&dynamodb, "stock", false).await;
    dynamodb
        .put_item()
        .table_name("stock")
        .item("pk", s("hot"))
        .item("available", n(STOCK as i64))
        .send()
        .await
        .unwrap();
    let sold = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let conditional = rate(ATTEMPTS, concurrency, |_| {
        let dynamodb = dynamodb.clone();
        let sold = sold.clone();
        async move {
            let result = dynamodb
                .update_item()
                .table_name("stock")
                .key("pk", s("hot"))
                .update_expression("SET available = available - :one")
                .condition_expression("available >= :one")
                .expression_attribute_values(":one", n(1))
                .send()
                .await;
            match result {
                Ok(_) => {
                    sold.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                }
                Err(err) => assert!(
                    err.as_service_error()
                        .is_some_and(|e| e.is_conditional_check_failed_exception()),
                    "{err:?}"
                ),
            }
        }
    })
    .await;
    assert_eq!(
        sold.load(std::sync::atomic::Ordering::Relaxed),
        STOCK,
        "{kind}: conditional decrements sold other than the stock"
    );
    rates.push((
        "DynamoDB conditional UpdateItem, one hot item /s",
        conditional,
    ));

    let transact = rate(TRANSACTIONS, concurrency, |i| {
        let dynamodb = dynamodb.clone();
        async move {
            let put = |pk: String| {
                TransactWriteItem::builder()
                    .put(
                        Put::builder()
                            .table_name("items")
                            .item("pk", s(pk))
                            .item("sk", s(format!("{i:06}")))
                            .build()
                            .unwrap(),
                    )
                    .build()
            };
            dynamodb
                .transact_write_items()
                .transact_items(put(format!("order{i}")))
                .transact_items(put(format!("outbox{i}")))
                .transact_items(
                    TransactWriteItem::builder()
                        .condition_check(
                            ConditionCheck::builder()
                                .table_name("stock")
                                .key("pk", s("hot"))
                                .condition_expression("attribute_exists(pk)")
                                .build()
                                .unwrap(),
                        )
                        .build(),
                )
                .send()
                .await
                .unwrap();
        }
    })
    .await;
    rates.push(("DynamoDB TransactWriteItems (3 items) /s", transact));

    let sqs = aws_sdk_sqs::Client::new(&config);
    let queue = sqs
        .create_queue()
        .queue_name("bench")
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();
    let send = rate(MESSAGES, concurrency, |i| {
        let (sqs, queue) = (sqs.clone(), queue.clone());
        async move {
            sqs.send_message()
                .queue_url(queue)
                .message_body(format!("{{\"n\":{i}}}"))
                .send()
                .await
                .unwrap();
        }
    })
    .await;
    rates.push(("SQS SendMessage /s", send));
    let started = Instant::now();
    let received = drain(&sqs, &queue, MESSAGES, concurrency).await;
    assert_eq!(received.distinct, MESSAGES, "{kind}: SQS lost messages");
    rates.push((
        "SQS ReceiveMessage (10) + DeleteMessageBatch, messages /s",
        MESSAGES as f64 / started.elapsed().as_secs_f64(),
    ));

    let sns = aws_sdk_sns::Client::new(&config);
    let topic = sns
        .create_topic()
        .name("bench")
        .send()
        .await
        .unwrap()
        .topic_arn()
        .unwrap()
        .to_owned();
    let fanout = sqs
        .create_queue()
        .queue_name("fanout")
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();
    let fanout_arn = format!(
        "arn:aws:sqs:{}:{}:fanout",
        local::emulator::REGION,
        local::emulator::ACCOUNT_ID
    );
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(fanout_arn)
        .attributes("RawMessageDelivery", "true")
        .send()
        .await
        .unwrap();
    let started = Instant::now();
    rate(PUBLISHES, concurrency, |i| {
        let (sns, topic) = (sns.clone(), topic.clone());
        async move {
            sns.publish()
                .topic_arn(topic)
                .message(format!("{{\"n\":{i}}}"))
                .send()
                .await
                .unwrap();
        }
    })
    .await;
    let delivered = drain(&sqs, &fanout, PUBLISHES, concurrency).await;
    assert_eq!(delivered.distinct, PUBLISHES, "{kind}: SNS lost messages");
    rates.push((
        "SNS Publish → SQS received and deleted, messages /s",
        PUBLISHES as f64 / started.elapsed().as_secs_f64(),
    ));

    let repeated = received.repeated + delivered.repeated;
    let busy_rss_mib = rss_mib(pid);
    emulator.stop().await;
    Figures {
        kind,
        repeated,
        start_ms,
        idle_rss_mib,
        busy_rss_mib,
        rates,
    }
}

/// What [`drain`] received.
struct Drained {
    /// Distinct messages (by body).
    distinct: usize,
    /// Deliveries of a message already received: a standard queue delivers at least once.
    repeated: usize,
}

/// Receives and deletes messages from `queue` until `expected` distinct ones arrived (or 60 s
/// passed).
async fn drain(
    sqs: &aws_sdk_sqs::Client,
    queue: &str,
    expected: usize,
    concurrency: usize,
) -> Drained {
    let seen = std::sync::Arc::new(std::sync::Mutex::new((
        std::collections::HashSet::<String>::new(),
        0usize,
    )));
    let deadline = Instant::now() + Duration::from_secs(60);
    let workers = (0..concurrency.clamp(1, 8)).map(|_| {
        let (sqs, queue, seen) = (sqs.clone(), queue.to_owned(), seen.clone());
        async move {
            while seen.lock().unwrap().0.len() < expected && Instant::now() < deadline {
                let batch = sqs
                    .receive_message()
                    .queue_url(&queue)
                    .max_number_of_messages(10)
                    .wait_time_seconds(1)
                    .send()
                    .await
                    .unwrap();
                let messages = batch.messages();
                if messages.is_empty() {
                    continue;
                }
                let mut delete = sqs.delete_message_batch().queue_url(&queue);
                for (i, message) in messages.iter().enumerate() {
                    delete = delete.entries(
                        aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                            .id(i.to_string())
                            .receipt_handle(message.receipt_handle().unwrap())
                            .build()
                            .unwrap(),
                    );
                }
                delete.send().await.unwrap();
                let mut seen = seen.lock().unwrap();
                for message in messages {
                    if !seen.0.insert(message.body().unwrap_or_default().to_owned()) {
                        seen.1 += 1;
                    }
                }
            }
        }
    });
    futures::future::join_all(workers).await;
    let seen = seen.lock().unwrap();
    Drained {
        distinct: seen.0.len(),
        repeated: seen.1,
    }
}

#[tokio::main]
async fn main() {
    let kinds: Vec<Kind> = std::env::var("EMULATORS")
        .unwrap_or_else(|_| "ministack,moto".into())
        .split(',')
        .map(|kind| kind.parse().unwrap())
        .collect();
    let concurrency: usize = std::env::var("CONCURRENCY")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(16);
    let mut all = Vec::new();
    for kind in kinds {
        eprintln!("measuring {kind}...");
        all.push(measure(kind, concurrency).await);
    }

    println!("emulators, {concurrency} requests in flight:\n");
    let mut header = format!("| {:<58} |", "");
    let mut rule = format!("|{}|", "-".repeat(60));
    for figures in &all {
        header.push_str(&format!(" {:>10} |", figures.kind.name()));
        rule.push_str(&format!("{}:|", "-".repeat(11)));
    }
    println!("{header}\n{rule}");
    let row = |label: &str, values: Vec<String>| {
        let mut line = format!("| {label:<58} |");
        for value in values {
            line.push_str(&format!(" {value:>10} |"));
        }
        println!("{line}");
    };
    row(
        "start to first answer, ms",
        all.iter().map(|f| format!("{:.0}", f.start_ms)).collect(),
    );
    row(
        "memory (RSS) idle, MiB",
        all.iter()
            .map(|f| format!("{:.0}", f.idle_rss_mib))
            .collect(),
    );
    let labels: Vec<&str> = all
        .first()
        .map(|f| f.rates.iter().map(|(label, _)| *label).collect())
        .unwrap_or_default();
    for (i, label) in labels.into_iter().enumerate() {
        row(
            label,
            all.iter().map(|f| format!("{:.0}", f.rates[i].1)).collect(),
        );
    }
    row(
        "SQS deliveries repeated (of 1,500; legal: at least once)",
        all.iter().map(|f| f.repeated.to_string()).collect(),
    );
    row(
        "memory (RSS) after the above, MiB",
        all.iter()
            .map(|f| format!("{:.0}", f.busy_rss_mib))
            .collect(),
    );
}
