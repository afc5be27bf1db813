//! Dead letters end to end, with `tests/fixtures/dead-letters.yaml`: a poison message reaches
//! the dead-letter queue after `maxReceiveCount` failed receives while the rest of its batch
//! succeeds, the listing (library and `local dead-letters`) shows it, and moving it back puts it
//! in its source queue, where the consumer receives it again; messages keep their body and
//! attributes, and `max` stops a move part-way. With `tests/fixtures/queue-time-scale.yaml`, a
//! queue time scale makes a consumer's real timeouts (a minute) dead-letter within seconds.

// Helpers outside the test functions fail the test on a setup error too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_sdk_sqs::primitives::Blob;
use aws_sdk_sqs::types::{MessageAttributeValue, MessageSystemAttributeName, QueueAttributeName};
use local::dead_letters::{self, Count, DeadLetterQueue};
use local::testing::{self, TestStack};

const FIXTURES: &str = "local/tests/fixtures/dead-letters.yaml";
const TIME_SCALE_FIXTURES: &str = "local/tests/fixtures/queue-time-scale.yaml";

fn queue_url(stack: &TestStack, logical_id: &str) -> String {
    stack.stack().model().queue(logical_id).unwrap().url.clone()
}

fn dead_letter_queue(stack: &TestStack, logical_id: &str) -> DeadLetterQueue {
    dead_letters::dead_letter_queues(stack.stack().model())
        .into_iter()
        .find(|d| d.queue.logical_id == logical_id)
        .unwrap()
}

fn sqs(stack: &TestStack) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(stack.stack().sdk_config())
}

/// (messages, in flight) of one dead-letter queue, as the listing gives them.
async fn listed(stack: &TestStack, logical_id: &str) -> (u64, u64) {
    let counts: Vec<Count> = dead_letters::list(&sqs(stack), stack.stack().model())
        .await
        .unwrap();
    let count = counts
        .iter()
        .find(|c| c.queue.queue.logical_id == logical_id)
        .unwrap();
    (count.messages, count.in_flight)
}

/// Visible plus in-flight messages of a queue.
async fn held(stack: &TestStack, url: &str) -> u64 {
    let attributes = sqs(stack)
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .unwrap();
    attributes
        .attributes()
        .unwrap()
        .values()
        .map(|v| v.parse::<u64>().unwrap())
        .sum()
}

fn string(value: &str) -> MessageAttributeValue {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .unwrap()
}

/// `local dead-letters <args>` against the stack's emulator; its stdout.
async fn cli(stack: &TestStack, args: &[&str]) -> String {
    let template = local::paths::repo_root().join(FIXTURES);
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_local"))
        .arg("dead-letters")
        .args(["--endpoint", stack.stack().emulator_endpoint()])
        .arg("--template")
        .arg(&template)
        .args(["--stack-name", "test"])
        .args(args)
        .env_remove("AWS_ENDPOINT_URL")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "local dead-letters {args:?}: {}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_poison_message_is_dead_lettered_listed_and_moved_back_to_its_queue() {
    let stack = testing::spawn_template(FIXTURES).await.unwrap();
    let sqs = sqs(&stack);
    let work = queue_url(&stack, "WorkQueue");
    let dead = queue_url(&stack, "WorkDeadLetters");

    let listing = cli(&stack, &[]).await;
    let lines: Vec<&str> = listing.lines().collect();
    assert_eq!(lines.len(), 3, "{listing}");
    assert!(lines[0].starts_with("DEAD-LETTER QUEUE"), "{listing}");
    assert!(
        lines[1].starts_with("WorkDeadLetters")
            && lines[1].ends_with(" 0          0  WorkQueue (maxReceiveCount 2)"),
        "{listing}"
    );
    assert!(
        lines[2].ends_with(" 0          0  IdleQueue (maxReceiveCount 3)"),
        "{listing}"
    );

    // One batch: the consumer reports the poison message as failed and the others succeed.
    for body in ["ok-1", "fail-poison", "ok-2"] {
        let mut send = sqs.send_message().queue_url(&work).message_body(body);
        if body == "fail-poison" {
            send = send.message_attributes("eventId", string("evt-poison"));
        }
        send.send().await.unwrap();
    }
    testing::eventually(
        Duration::from_secs(40),
        "the poison message in the DLQ",
        || {
            let stack = &stack;
            async move { (listed(stack, "WorkDeadLetters").await == (1, 0)).then_some(()) }
        },
    )
    .await
    .unwrap();
    assert_eq!(
        held(&stack, &work).await,
        0,
        "the good messages were processed and deleted, the poison one dead-lettered"
    );
    let listing = cli(&stack, &[]).await;
    assert!(
        listing.contains(" 1          0  WorkQueue (maxReceiveCount 2)"),
        "{listing}"
    );

    // Move it back: it leaves the DLQ at once, as a new message of WorkQueue.
    let report = dead_letters::redrive(&sqs, &dead_letter_queue(&stack, "WorkDeadLetters"), None)
        .await
        .unwrap();
    assert_eq!(report.moved.len(), 1, "{report:?}");
    assert_eq!(report.moved[0].source, "WorkQueue");
    assert_ne!(report.moved[0].message_id, report.moved[0].dead_letter_id);
    assert_eq!((report.returned, report.unroutable), (0, 0));
    assert!(!report.reached_max);
    assert_eq!(listed(&stack, "WorkDeadLetters").await, (0, 0));

    // The consumer receives it again from WorkQueue; still poison to it, it fails it twice more
    // and SQS dead-letters it again, keeping the id WorkQueue gave it, body and attributes.
    let back = testing::eventually(
        Duration::from_secs(40),
        "the moved message back in the DLQ",
        || {
            let (sqs, dead) = (&sqs, &dead);
            async move {
                sqs.receive_message()
                    .queue_url(dead)
                    .visibility_timeout(0)
                    .message_attribute_names("All")
                    .message_system_attribute_names(MessageSystemAttributeName::All)
                    .send()
                    .await
                    .unwrap()
                    .messages
                    .and_then(|mut m| m.pop())
            }
        },
    )
    .await
    .unwrap();
    assert_eq!(back.message_id(), Some(report.moved[0].message_id.as_str()));
    assert_eq!(back.body(), Some("fail-poison"));
    assert_eq!(
        back.message_attributes().unwrap()["eventId"].string_value(),
        Some("evt-poison")
    );
    let receives: u64 = back.attributes().unwrap()
        [&MessageSystemAttributeName::ApproximateReceiveCount]
        .parse()
        .unwrap();
    assert!(
        receives >= 2,
        "received {receives} times since it was moved back"
    );

    // The command line moves it back once more, and the DLQ reads empty again.
    let moved = cli(&stack, &["--redrive", "WorkDeadLetters"]).await;
    assert_eq!(moved, "WorkDeadLetters: 1 moved to WorkQueue\n");
    assert_eq!(listed(&stack, "WorkDeadLetters").await, (0, 0));
    assert_eq!(held(&stack, &work).await, 1, "in WorkQueue again");
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn moved_messages_keep_body_and_attributes_and_max_stops_a_move() {
    let stack = testing::spawn_template(FIXTURES).await.unwrap();
    let sqs = sqs(&stack);
    let idle = queue_url(&stack, "IdleQueue");
    let dead = queue_url(&stack, "IdleDeadLetters");

    let attributes = |i: usize| {
        HashMap::from([
            ("eventId".to_owned(), string(&format!("evt-{i}"))),
            (
                "attempt".to_owned(),
                MessageAttributeValue::builder()
                    .data_type("Number")
                    .string_value(i.to_string())
                    .build()
                    .unwrap(),
            ),
            (
                "digest".to_owned(),
                MessageAttributeValue::builder()
                    .data_type("Binary")
                    .binary_value(Blob::new(vec![0, 1, 2, i as u8]))
                    .build()
                    .unwrap(),
            ),
        ])
    };
    for i in 0..3 {
        sqs.send_message()
            .queue_url(&dead)
            .message_body(format!(r#"{{"eventId":"evt-{i}"}}"#))
            .set_message_attributes(Some(attributes(i)))
            .send()
            .await
            .unwrap();
    }
    assert_eq!(listed(&stack, "IdleDeadLetters").await, (3, 0));

    let queue = dead_letter_queue(&stack, "IdleDeadLetters");
    let first = dead_letters::redrive(&sqs, &queue, Some(2)).await.unwrap();
    assert_eq!(first.moved.len(), 2);
    assert!(first.reached_max);
    assert_eq!(listed(&stack, "IdleDeadLetters").await, (1, 0));
    let rest = dead_letters::redrive(&sqs, &queue, None).await.unwrap();
    assert_eq!(rest.moved.len(), 1);
    assert!(!rest.reached_max);
    assert_eq!(rest.per_source(), [("IdleQueue", 1)].into());
    assert_eq!(listed(&stack, "IdleDeadLetters").await, (0, 0));

    let mut moved = Vec::new();
    while moved.len() < 3 {
        let output = sqs
            .receive_message()
            .queue_url(&idle)
            .max_number_of_messages(10)
            .message_attribute_names("All")
            .send()
            .await
            .unwrap();
        let messages = output.messages.unwrap_or_default();
        assert!(!messages.is_empty(), "only {} in IdleQueue", moved.len());
        moved.extend(messages);
    }
    moved.sort_by_key(|m| m.body().unwrap().to_owned());
    for (i, message) in moved.iter().enumerate() {
        assert_eq!(
            message.body().unwrap(),
            format!(r#"{{"eventId":"evt-{i}"}}"#)
        );
        assert_eq!(message.message_attributes().unwrap(), &attributes(i));
    }
    let ids: Vec<&str> = first
        .moved
        .iter()
        .chain(&rest.moved)
        .map(|m| m.message_id.as_str())
        .collect();
    for message in &moved {
        assert!(ids.contains(&message.message_id().unwrap()));
    }

    // Nothing left: a move of every dead-letter queue moves nothing.
    let none = cli(&stack, &["--redrive", "all"]).await;
    assert_eq!(none, "WorkDeadLetters: 0 moved\nIdleDeadLetters: 0 moved\n");
    stack.shutdown().await;
}

/// One attribute of a queue, as the emulator has it.
async fn queue_attribute(stack: &TestStack, url: &str, name: QueueAttributeName) -> String {
    sqs(stack)
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(name.clone())
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()
        .remove(&name)
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_queue_time_scale_dead_letters_within_seconds_what_takes_minutes_in_real_time() {
    let template = local::paths::repo_root().join(TIME_SCALE_FIXTURES);
    let stack = testing::spawn_with(move |options| {
        options.template = template;
        options.queue_time_scale = 0.05;
    })
    .await
    .unwrap();
    let work = queue_url(&stack, "WorkQueue");
    let dead = queue_url(&stack, "WorkDeadLetters");

    // The emulator's queues are scaled: 60 s → 3 s, 20 s → 1 s, SQS's default 30 s → 2 s. The
    // model keeps the template's values, so the event source's check (the queue's visibility
    // timeout is at least the function's 30 s) passed.
    let visibility = QueueAttributeName::VisibilityTimeout;
    assert_eq!(
        queue_attribute(&stack, &work, visibility.clone()).await,
        "3"
    );
    assert_eq!(
        queue_attribute(&stack, &work, QueueAttributeName::DelaySeconds).await,
        "1"
    );
    assert_eq!(queue_attribute(&stack, &dead, visibility).await, "2");
    let model_queue = stack.stack().model().queue("WorkQueue").unwrap();
    assert_eq!(model_queue.properties["VisibilityTimeout"], 60);

    // Three failed receives, 3 s apart: in the dead-letter queue within seconds (real time: over
    // two minutes).
    let sent = Instant::now();
    sqs(&stack)
        .send_message()
        .queue_url(&work)
        .message_body("fail-always")
        .send()
        .await
        .unwrap();
    let dead_lettered = testing::eventually(
        Duration::from_secs(40),
        "the failing message in the DLQ",
        || {
            let (stack, dead) = (&stack, &dead);
            async move {
                sqs(stack)
                    .receive_message()
                    .queue_url(dead)
                    .visibility_timeout(0)
                    .message_system_attribute_names(MessageSystemAttributeName::All)
                    .send()
                    .await
                    .unwrap()
                    .messages
                    .and_then(|mut m| m.pop())
            }
        },
    )
    .await
    .unwrap();
    let elapsed = sent.elapsed();
    assert_eq!(dead_lettered.body(), Some("fail-always"));
    let receives: u64 = dead_lettered.attributes().unwrap()
        [&MessageSystemAttributeName::ApproximateReceiveCount]
        .parse()
        .unwrap();
    assert!(receives >= 3, "dead-lettered after {receives} receives");
    // The delay and two visibility timeouts at least; far from the 140 s of real time.
    assert!(
        elapsed >= Duration::from_secs(6) && elapsed < Duration::from_secs(40),
        "dead-lettered after {elapsed:?}"
    );
    assert_eq!(held(&stack, &work).await, 0);
    stack.shutdown().await;
}
