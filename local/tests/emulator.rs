//! Both emulators keep DynamoDB's atomicity under concurrency (conditional writes never
//! oversell, failed transactions never undo other clients' writes) and listen on one loopback
//! port and nothing else.

// Helpers outside the test functions fail the test on a setup error too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, Put,
    ScalarAttributeType, TransactWriteItem,
};
use local::emulator::{Emulator, Kind};

async fn table(client: &Client, name: &str) {
    client
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
        )
        .send()
        .await
        .unwrap();
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

async fn concurrent_conditional_decrements_never_oversell(kind: Kind) {
    let emulator = Emulator::start_kind(&local::paths::repo_root(), kind, 0)
        .await
        .unwrap();
    let client = Client::new(&emulator.sdk_config().await);
    table(&client, "counters").await;
    client
        .put_item()
        .table_name("counters")
        .item("pk", s("stock"))
        .item("available", n(100))
        .send()
        .await
        .unwrap();

    // 32 clients, 20 decrements each: 640 attempts on a stock of 100.
    let mut clients = Vec::new();
    for _ in 0..32 {
        let client = client.clone();
        clients.push(tokio::spawn(async move {
            let mut successes = 0u32;
            for _ in 0..20 {
                let result = client
                    .update_item()
                    .table_name("counters")
                    .key("pk", s("stock"))
                    .update_expression("SET available = available - :one")
                    .condition_expression("available >= :one")
                    .expression_attribute_values(":one", n(1))
                    .send()
                    .await;
                match result {
                    Ok(_) => successes += 1,
                    Err(err) => {
                        let service = err.into_service_error();
                        assert!(
                            service.is_conditional_check_failed_exception(),
                            "unexpected error: {service:?}"
                        );
                    }
                }
            }
            successes
        }));
    }
    let mut successes = 0;
    for task in clients {
        successes += task.await.unwrap();
    }

    let item = client
        .get_item()
        .table_name("counters")
        .key("pk", s("stock"))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(successes, 100, "exactly the initial stock is sold");
    assert_eq!(item.get("available"), Some(&n(0)));
    emulator.stop().await;
}

async fn failing_transactions_lose_no_acknowledged_puts(kind: Kind) {
    let emulator = Emulator::start_kind(&local::paths::repo_root(), kind, 0)
        .await
        .unwrap();
    let client = Client::new(&emulator.sdk_config().await);
    table(&client, "items").await;
    client
        .put_item()
        .table_name("items")
        .item("pk", s("taken"))
        .send()
        .await
        .unwrap();

    // Writers put distinct items while other clients run transactions that always fail
    // on their last condition, after a put of their own.
    let mut writers = Vec::new();
    for writer in 0..8 {
        let client = client.clone();
        writers.push(tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            for i in 0..25 {
                let pk = format!("w{writer}-{i}");
                client
                    .put_item()
                    .table_name("items")
                    .item("pk", s(&pk))
                    .send()
                    .await
                    .unwrap();
                acknowledged.push(pk);
            }
            acknowledged
        }));
    }
    let mut failers = Vec::new();
    for failer in 0..8 {
        let client = client.clone();
        failers.push(tokio::spawn(async move {
            for i in 0..25 {
                let first = Put::builder()
                    .table_name("items")
                    .item("pk", s(&format!("tx{failer}-{i}")))
                    .build()
                    .unwrap();
                let doomed = Put::builder()
                    .table_name("items")
                    .item("pk", s("taken"))
                    .condition_expression("attribute_not_exists(pk)")
                    .build()
                    .unwrap();
                let err = client
                    .transact_write_items()
                    .transact_items(TransactWriteItem::builder().put(first).build())
                    .transact_items(TransactWriteItem::builder().put(doomed).build())
                    .send()
                    .await
                    .expect_err("the transaction's condition fails");
                assert!(
                    err.into_service_error().is_transaction_canceled_exception(),
                    "a failed condition cancels the transaction"
                );
            }
        }));
    }
    let mut acknowledged = Vec::new();
    for writer in writers {
        acknowledged.extend(writer.await.unwrap());
    }
    for failer in failers {
        failer.await.unwrap();
    }

    let mut present = HashSet::new();
    let mut start = None;
    loop {
        let page = client
            .scan()
            .table_name("items")
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .unwrap();
        for item in page.items() {
            if let Some(AttributeValue::S(pk)) = item.get("pk") {
                present.insert(pk.clone());
            }
        }
        start = page.last_evaluated_key;
        if start.is_none() {
            break;
        }
    }
    let lost: Vec<_> = acknowledged
        .iter()
        .filter(|pk| !present.contains(*pk))
        .collect();
    assert_eq!(acknowledged.len(), 200);
    assert!(lost.is_empty(), "acknowledged puts lost: {lost:?}");
    assert!(
        !present.iter().any(|pk| pk.starts_with("tx")),
        "a cancelled transaction wrote nothing"
    );
    emulator.stop().await;
}

async fn a_cancelled_transaction_changes_no_item_and_no_stream_record(kind: Kind) {
    use aws_sdk_dynamodb::types::{ConditionCheck, StreamSpecification, StreamViewType, Update};
    let emulator = Emulator::start_kind(&local::paths::repo_root(), kind, 0)
        .await
        .unwrap();
    let config = emulator.sdk_config().await;
    let client = Client::new(&config);
    client
        .create_table()
        .table_name("orders")
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
        )
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewAndOldImages)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    client
        .put_item()
        .table_name("orders")
        .item("pk", s("a"))
        .item("n", n(1))
        .send()
        .await
        .unwrap();

    // The update of `a` and the put of `b` are applied before the last item's condition fails.
    let update = Update::builder()
        .table_name("orders")
        .key("pk", s("a"))
        .update_expression("SET n = :two")
        .expression_attribute_values(":two", n(2))
        .build()
        .unwrap();
    let put = Put::builder()
        .table_name("orders")
        .item("pk", s("b"))
        .build()
        .unwrap();
    let check = ConditionCheck::builder()
        .table_name("orders")
        .key("pk", s("missing"))
        .condition_expression("attribute_exists(pk)")
        .build()
        .unwrap();
    let result = client
        .transact_write_items()
        .transact_items(TransactWriteItem::builder().update(update).build())
        .transact_items(TransactWriteItem::builder().put(put).build())
        .transact_items(TransactWriteItem::builder().condition_check(check).build())
        .send()
        .await;
    assert!(result.is_err(), "the transaction is cancelled");

    let a = client
        .get_item()
        .table_name("orders")
        .key("pk", s("a"))
        .send()
        .await
        .unwrap();
    assert_eq!(a.item().unwrap()["n"], n(1), "a keeps its value");
    let b = client
        .get_item()
        .table_name("orders")
        .key("pk", s("b"))
        .send()
        .await
        .unwrap();
    assert!(b.item().is_none(), "b was never written");

    let streams = aws_sdk_dynamodbstreams::Client::new(&config);
    let arn = client
        .describe_table()
        .table_name("orders")
        .send()
        .await
        .unwrap()
        .table()
        .unwrap()
        .latest_stream_arn()
        .unwrap()
        .to_owned();
    let shard = streams
        .describe_stream()
        .stream_arn(&arn)
        .send()
        .await
        .unwrap()
        .stream_description()
        .unwrap()
        .shards()[0]
        .shard_id()
        .unwrap()
        .to_owned();
    let iterator = streams
        .get_shard_iterator()
        .stream_arn(&arn)
        .shard_id(shard)
        .shard_iterator_type(aws_sdk_dynamodbstreams::types::ShardIteratorType::TrimHorizon)
        .send()
        .await
        .unwrap()
        .shard_iterator
        .unwrap();
    let records = streams
        .get_records()
        .shard_iterator(iterator)
        .send()
        .await
        .unwrap();
    let keys: Vec<String> = records
        .records()
        .iter()
        .map(|r| {
            let data = r.dynamodb().unwrap();
            format!(
                "{:?} {}",
                r.event_name().unwrap(),
                data.keys().unwrap()["pk"].as_s().unwrap()
            )
        })
        .collect();
    assert_eq!(keys, ["Insert a"], "only the first put reached the stream");
    emulator.stop().await;
}

/// The TCP ports process `pid` listens on, with their local addresses (IPv4 and IPv6).
fn listening(pid: u32) -> Vec<String> {
    let inodes: HashSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .filter_map(|target| {
            let target = target.to_string_lossy().into_owned();
            Some(
                target
                    .strip_prefix("socket:[")?
                    .strip_suffix(']')?
                    .to_owned(),
            )
        })
        .collect();
    let mut found = Vec::new();
    for table in ["tcp", "tcp6"] {
        let text = std::fs::read_to_string(format!("/proc/net/{table}")).unwrap_or_default();
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // local_address, state (0A: LISTEN) and inode.
            if fields.len() > 9 && fields[3] == "0A" && inodes.contains(fields[9]) {
                found.push(format!("{table} {}", fields[1]));
            }
        }
    }
    found
}

async fn listens_on_one_loopback_port_only(kind: Kind) {
    let emulator = Emulator::start_kind(&local::paths::repo_root(), kind, 0)
        .await
        .unwrap();
    // Everything it serves is up once it answers.
    let config = emulator.sdk_config().await;
    Client::new(&config).list_tables().send().await.unwrap();
    let port: u16 = emulator
        .endpoint()
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    // /proc/net/tcp writes 127.0.0.1:port as 0100007F:<port in hex>.
    assert_eq!(
        listening(emulator.pid().unwrap()),
        vec![format!("tcp 0100007F:{port:04X}")],
        "{kind}"
    );
    emulator.stop().await;
}

/// Each check runs on both emulators: `<check>::ministack` and `<check>::moto`.
macro_rules! on_both_emulators {
    ($($check:ident),* $(,)?) => {$(
        mod $check {
            use local::emulator::Kind;

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn ministack() {
                super::$check(Kind::MiniStack).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn moto() {
                super::$check(Kind::Moto).await;
            }
        }
    )*};
}

on_both_emulators!(
    concurrent_conditional_decrements_never_oversell,
    failing_transactions_lose_no_acknowledged_puts,
    a_cancelled_transaction_changes_no_item_and_no_stream_record,
    listens_on_one_loopback_port_only,
);
