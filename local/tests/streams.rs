//! DynamoDB Streams event sources end to end, with `tests/fixtures/streams.yaml`: ordering into
//! batches, filter criteria, bisection of a failing batch, partial batch responses, the on-failure
//! destination, and redelivery after a crash mid-batch.

// Helpers outside the test functions fail the test on a setup error too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use local::testing::{self, TestStack};
use serde_json::Value;

const FIXTURES: &str = "local/tests/fixtures/streams.yaml";

fn queue_url(stack: &TestStack, logical_id: &str) -> String {
    stack.stack().model().queue(logical_id).unwrap().url.clone()
}

fn table(stack: &TestStack, logical_id: &str) -> String {
    stack
        .stack()
        .model()
        .table(logical_id)
        .unwrap()
        .name
        .clone()
}

async fn put(stack: &TestStack, table: &str, pk: &str, flag: Option<&str>) {
    let dynamodb = aws_sdk_dynamodb::Client::new(stack.stack().sdk_config());
    let mut request = dynamodb
        .put_item()
        .table_name(table)
        .item("pk", AttributeValue::S(pk.into()));
    if let Some(flag) = flag {
        request = request.item(flag, AttributeValue::Bool(true));
    }
    request.send().await.unwrap();
}

/// Receives from `url` until `done` says the bodies so far are enough, or `within` passes.
async fn receive_until(
    stack: &TestStack,
    url: &str,
    within: Duration,
    done: impl Fn(&[String]) -> bool,
) -> Vec<String> {
    let sqs = aws_sdk_sqs::Client::new(stack.stack().sdk_config());
    let deadline = Instant::now() + within;
    let mut bodies = Vec::new();
    while !done(&bodies) && Instant::now() < deadline {
        let output = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        for message in output.messages() {
            bodies.push(message.body().unwrap_or_default().to_owned());
            sqs.delete_message()
                .queue_url(url)
                .receipt_handle(message.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
    bodies
}

fn distinct(bodies: &[String]) -> BTreeSet<&str> {
    bodies.iter().map(String::as_str).collect()
}

/// The sequence number of each item's INSERT record, read from the stream itself.
async fn sequence_numbers(stack: &TestStack, table: &str) -> BTreeMap<String, String> {
    let streams = aws_sdk_dynamodbstreams::Client::new(stack.stack().sdk_config());
    let arn = stack
        .stack()
        .model()
        .tables
        .iter()
        .find(|t| t.name == table)
        .unwrap()
        .arn
        .clone();
    let listed = streams
        .list_streams()
        .table_name(table)
        .send()
        .await
        .unwrap();
    let stream_arn = listed
        .streams()
        .iter()
        .filter_map(|s| s.stream_arn())
        .find(|s| s.starts_with(&arn))
        .unwrap()
        .to_owned();
    let description = streams
        .describe_stream()
        .stream_arn(&stream_arn)
        .send()
        .await
        .unwrap();
    let mut numbers = BTreeMap::new();
    for shard in description.stream_description().unwrap().shards() {
        let mut iterator = streams
            .get_shard_iterator()
            .stream_arn(&stream_arn)
            .shard_id(shard.shard_id().unwrap())
            .shard_iterator_type(aws_sdk_dynamodbstreams::types::ShardIteratorType::TrimHorizon)
            .send()
            .await
            .unwrap()
            .shard_iterator;
        while let Some(current) = iterator {
            let output = streams
                .get_records()
                .shard_iterator(current)
                .send()
                .await
                .unwrap();
            if output.records().is_empty() {
                break;
            }
            for record in output.records() {
                let data = record.dynamodb().unwrap();
                let pk = data.keys().unwrap()["pk"].as_s().unwrap().clone();
                numbers.insert(pk, data.sequence_number().unwrap().to_owned());
            }
            iterator = output.next_shard_iterator;
        }
    }
    numbers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_poison_record_ends_in_the_failure_destination_while_the_others_are_delivered() {
    let marker = std::env::temp_dir().join(format!("crash-marker-{}", uuid::Uuid::new_v4()));
    let stack = testing::spawn_with(|options| {
        options.template = local::paths::repo_root().join(FIXTURES);
        options
            .parameter_overrides
            .insert("CrashMarker".into(), marker.to_string_lossy().into_owned());
    })
    .await
    .unwrap();
    let items = table(&stack, "Items");
    for (pk, flag) in [
        ("a1", None),
        ("skip#1", None),
        ("a2", None),
        ("p", Some("poison")),
        ("a3", None),
        ("a4", None),
    ] {
        put(&stack, &items, pk, flag).await;
    }
    let expected: BTreeSet<&str> = ["a1", "a2", "a3", "a4"].into();

    // Bisection: the batch is split around the poison record; everything else is delivered once
    // its half succeeds, and the poison record alone is described to the failure queue.
    let seen = receive_until(
        &stack,
        &queue_url(&stack, "BisectSeen"),
        Duration::from_secs(60),
        |b| distinct(b).is_superset(&expected),
    )
    .await;
    assert_eq!(
        distinct(&seen),
        expected,
        "skip#1 is filtered out, p never succeeds"
    );
    let failures = receive_until(
        &stack,
        &queue_url(&stack, "BisectFailures"),
        Duration::from_secs(30),
        |b| !b.is_empty(),
    )
    .await;
    assert_eq!(failures.len(), 1, "{failures:?}");
    let failure: Value = serde_json::from_str(&failures[0]).unwrap();
    let numbers = sequence_numbers(&stack, &items).await;
    let info = &failure["DDBStreamBatchInfo"];
    assert_eq!(info["batchSize"], 1, "{failure}");
    assert_eq!(info["startSequenceNumber"], numbers["p"].as_str());
    assert_eq!(info["endSequenceNumber"], numbers["p"].as_str());
    assert_eq!(
        failure["requestContext"]["condition"],
        "RetryAttemptsExhausted"
    );
    assert_eq!(failure["requestContext"]["approximateInvokeCount"], 2);
    assert!(info["streamArn"].as_str().unwrap().contains(&items));

    // Partial batch responses: the records before the failure count as done; the retry starts at
    // the poison record, and once retries run out the batch from it on is given up on.
    let seen = receive_until(
        &stack,
        &queue_url(&stack, "PartialSeen"),
        Duration::from_secs(30),
        |b| distinct(b).is_superset(&expected),
    )
    .await;
    assert_eq!(distinct(&seen), expected);
    let failures = receive_until(
        &stack,
        &queue_url(&stack, "PartialFailures"),
        Duration::from_secs(30),
        |b| !b.is_empty(),
    )
    .await;
    assert_eq!(failures.len(), 1, "{failures:?}");
    let failure: Value = serde_json::from_str(&failures[0]).unwrap();
    assert_eq!(
        failure["DDBStreamBatchInfo"]["startSequenceNumber"],
        numbers["p"].as_str()
    );

    // A process that dies mid-batch loses nothing: the batch comes again.
    let crash_items = table(&stack, "CrashItems");
    for (pk, flag) in [("c1", None), ("c2", Some("crashOnce")), ("c3", None)] {
        put(&stack, &crash_items, pk, flag).await;
    }
    let expected: BTreeSet<&str> = ["c1", "c2", "c3"].into();
    let seen = receive_until(
        &stack,
        &queue_url(&stack, "CrashSeen"),
        Duration::from_secs(60),
        |b| distinct(b).is_superset(&expected),
    )
    .await;
    assert_eq!(distinct(&seen), expected);
    assert!(marker.exists(), "the fixture did crash once");
    let _ = std::fs::remove_file(&marker);
    stack.shutdown().await;
}
