//! SNS to Lambda end to end, with `tests/fixtures/sns.yaml` and Lambda's retry waits 100 times
//! shorter: `lambda` subscriptions (a function's `Type: SNS` event and an `AWS::SNS::Subscription`)
//! get the event SNS sends, read by the official `SnsEvent` type; filter policies on attributes
//! and on the body decide who gets what; a failing function is retried as its
//! `EventInvokeConfig` says, then its record goes to the `OnFailure` queue and its event to the
//! `DeadLetterQueue`; a success's record goes to `OnSuccess`; a function SNS cannot reach at all
//! gets its message in the subscription's dead-letter queue.

// Helpers outside the test functions fail the test on a setup error too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_sdk_sns::types::MessageAttributeValue;
use aws_sdk_sqs::types::{Message, MessageSystemAttributeName};
use local::paths;
use local::sources::Destination;
use local::sources::sns::{self, Attempt, SnsSource};
use local::testing::{self, TestStack};
use serde_json::{Value, json};

const FIXTURES: &str = "local/tests/fixtures/sns.yaml";

fn queue_url(stack: &TestStack, logical_id: &str) -> String {
    let queue = stack.stack().model().queue(logical_id);
    queue
        .unwrap_or_else(|| panic!("no queue {logical_id}"))
        .url
        .clone()
}

/// Receives (and deletes) messages from `url` until there are `count`, or `within` passes.
async fn receive(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
    count: usize,
    within: Duration,
) -> Vec<Message> {
    let mut messages = Vec::new();
    let deadline = Instant::now() + within;
    while messages.len() < count && Instant::now() < deadline {
        let output = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .message_attribute_names("All")
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        for message in output.messages.unwrap_or_default() {
            sqs.delete_message()
                .queue_url(url)
                .receipt_handle(message.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
            messages.push(message);
        }
    }
    messages
}

fn body(message: &Message) -> Value {
    serde_json::from_str(message.body().unwrap_or_default()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lambda_subscriptions_get_snss_event_filtered_retried_and_sent_to_their_destinations() {
    let stack = testing::spawn_with(|options| {
        options.template = paths::repo_root().join(FIXTURES);
        options.stack_name = "sns".into();
        options.async_time_scale = 0.01;
    })
    .await
    .unwrap();
    let sns = aws_sdk_sns::Client::new(stack.stack().sdk_config());
    let sqs = aws_sdk_sqs::Client::new(stack.stack().sdk_config());
    let topic = stack.stack().model().topics[0].arn.clone();
    let publish =
        |message: &'static str, subject: Option<&'static str>, kind: Option<&'static str>| {
            let mut request = sns.publish().topic_arn(&topic).message(message);
            if let Some(subject) = subject {
                request = request.subject(subject);
            }
            if let Some(kind) = kind {
                request = request.message_attributes(
                    "kind",
                    MessageAttributeValue::builder()
                        .data_type("String")
                        .string_value(kind)
                        .build()
                        .unwrap(),
                );
            }
            request.send()
        };
    publish("hello", Some("Greeting"), Some("alert"))
        .await
        .unwrap();
    publish("quiet", None, Some("other")).await.unwrap();
    publish(r#"{"total": 150}"#, None, None).await.unwrap();
    publish(r#"{"total": 50}"#, None, None).await.unwrap();
    publish("please fail", None, Some("fail")).await.unwrap();

    // Who got what: nine deliveries, and no more.
    let seen_url = queue_url(&stack, "Seen");
    let mut seen = receive(&sqs, &seen_url, 9, Duration::from_secs(60)).await;
    seen.extend(receive(&sqs, &seen_url, 1, Duration::from_secs(2)).await);
    let mut by_function: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for message in &seen {
        let record = body(message);
        let function = record["function"].as_str().unwrap();
        let function = function.strip_prefix("sns-").unwrap_or(function).to_owned();
        by_function
            .entry(function)
            .or_default()
            .push(record["message"].as_str().unwrap().to_owned());
        assert_eq!(record["eventSource"], "aws:sns");
        assert_eq!(record["topicArn"], json!(topic));
        assert!(
            record["subscriptionArn"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{topic}:")),
            "{record}"
        );
    }
    for messages in by_function.values_mut() {
        messages.sort();
    }
    let expected: BTreeMap<String, Vec<String>> = [
        ("Filtered", vec!["hello"]),
        (
            "Everything",
            vec![
                "hello",
                "please fail",
                "quiet",
                r#"{"total": 150}"#,
                r#"{"total": 50}"#,
            ],
        ),
        ("Large", vec![r#"{"total": 150}"#]),
        // The first attempt and one retry.
        ("Failing", vec!["please fail", "please fail"]),
    ]
    .into_iter()
    .map(|(f, m)| (f.to_owned(), m.into_iter().map(str::to_owned).collect()))
    .collect();
    assert_eq!(by_function, expected);
    let hello = seen
        .iter()
        .map(body)
        .find(|r| r["message"] == "hello")
        .unwrap();
    assert_eq!(hello["subject"], "Greeting");
    assert_eq!(hello["attributes"], json!({"kind": "alert"}));

    // The success's invocation record.
    let successes = receive(
        &sqs,
        &queue_url(&stack, "Successes"),
        1,
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(successes.len(), 1);
    let record = body(&successes[0]);
    assert_eq!(record["requestContext"]["condition"], "Success");
    assert_eq!(record["requestContext"]["approximateInvokeCount"], 1);
    assert!(
        record["requestContext"]["functionArn"]
            .as_str()
            .unwrap()
            .ends_with(":function:sns-Filtered:$LATEST"),
        "{record}"
    );
    assert_eq!(
        record["requestPayload"]["Records"][0]["Sns"]["Message"],
        "hello"
    );
    assert_eq!(record["responseContext"]["statusCode"], 200);
    assert!(record["responseContext"].get("functionError").is_none());

    // The failure's invocation record, after the retry.
    let failures = receive(
        &sqs,
        &queue_url(&stack, "Failures"),
        1,
        Duration::from_secs(10),
    )
    .await;
    assert_eq!(failures.len(), 1);
    let record = body(&failures[0]);
    assert_eq!(record["requestContext"]["condition"], "RetriesExhausted");
    assert_eq!(record["requestContext"]["approximateInvokeCount"], 2);
    assert_eq!(record["responseContext"]["functionError"], "Unhandled");
    assert_eq!(record["responsePayload"]["errorType"], "Fixture.Failed");
    assert_eq!(
        record["requestPayload"]["Records"][0]["Sns"]["Message"],
        "please fail"
    );

    // The event itself in the dead-letter queue, with Lambda's attributes.
    let dead = receive(&sqs, &queue_url(&stack, "Dead"), 1, Duration::from_secs(10)).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(
        body(&dead[0])["Records"][0]["Sns"]["Message"],
        "please fail"
    );
    let attributes = dead[0].message_attributes().unwrap();
    let attribute = |name: &str| {
        attributes
            .get(name)
            .and_then(|a| a.string_value())
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(attribute("ErrorCode"), "200");
    assert!(
        attribute("ErrorMessage").contains("failing on purpose"),
        "{attributes:?}"
    );
    assert!(!attribute("RequestID").is_empty());

    // A function SNS cannot reach: three more tries at once, then the subscription's
    // dead-letter queue gets the SNS message itself.
    let redrive_url = queue_url(&stack, "Dead");
    let redrive_arn = stack.stack().model().queue("Dead").unwrap().arn.clone();
    let unreachable = std::sync::Arc::new(SnsSource {
        function: "no-such-function".into(),
        function_arn: "arn:aws:lambda:us-east-1:123456789012:function:no-such-function".into(),
        subscription: "Unreachable".into(),
        topic_arn: topic.clone(),
        subscription_arn: format!("{topic}:unreachable"),
        queue_url: String::new(),
        maximum_retry_attempts: 2,
        maximum_event_age: Duration::from_secs(21_600),
        on_success: None,
        on_failure: None,
        dead_letter: None,
        redrive: Some(Destination::Queue {
            arn: redrive_arn,
            url: redrive_url.clone(),
        }),
        time_scale: 0.01,
    });
    let envelope = json!({
        "Type": "Notification",
        "MessageId": "m-unreachable",
        "TopicArn": topic,
        "Message": "nobody home",
        "Timestamp": "2026-12-01T10:00:00.000Z",
    })
    .to_string();
    let attempts = unreachable
        .deliver(
            sns::Clients {
                sqs: sqs.clone(),
                sns: sns.clone(),
            },
            stack.stack().lambda().clone(),
            envelope.clone(),
            tokio_util::sync::CancellationToken::new(),
        )
        .await;
    assert_eq!(attempts.len(), 4, "{attempts:?}");
    assert!(
        attempts
            .iter()
            .all(|a| matches!(a, Attempt::Unreachable(_)))
    );
    let redriven = receive(&sqs, &redrive_url, 1, Duration::from_secs(10)).await;
    assert_eq!(redriven.len(), 1);
    assert_eq!(
        body(&redriven[0]),
        serde_json::from_str::<Value>(&envelope).unwrap()
    );

    stack.shutdown().await;
}
