//! Event sources: SQS queues ([`sqs`]) and DynamoDB Streams ([`streams`]), polled as Lambda
//! polls them, SNS topics' `lambda` subscriptions ([`sns`]), delivered as SNS delivers them, and
//! schedules ([`schedule`]): `Type: Schedule` (EventBridge rules) and
//! `Type: ScheduleV2` (EventBridge Scheduler) events, which invoke their function at the times
//! their `rate(...)`, `cron(...)` or `at(...)` expression names.
//!
//! The polled sources share one mechanism, here: a batch of records becomes one invocation of the
//! function; its answer is read the way Lambda reads it ([`BatchResult`]): success, a list of
//! failed items (`ReportBatchItemFailures`), or a failure of the whole batch (a function error,
//! or a response Lambda cannot use). Each source adds only how it reads records, what their ids
//! are, and what it does with the result: an SQS source deletes what succeeded and lets the rest
//! come back after the visibility timeout; a stream source checkpoints, retries, bisects and
//! finally hands the batch to its on-failure destination. Filter criteria ([`filter`]) drop
//! records before they are batched. A schedule has no records: each run is one asynchronous
//! invocation with the schedule's event, retried per its retry policy.

pub mod filter;
pub mod schedule;
pub mod sns;
pub mod sqs;
pub mod streams;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use local_lambda::{InvokeRequest, Lambda, Outcome};
use local_template::Model;
use serde_json::Value;

/// Where a source sends what it gave up on (or, for asynchronous invocations, what succeeded):
/// a queue or a topic of the template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    Queue { arn: String, url: String },
    Topic { arn: String },
}

impl Destination {
    /// The queue or topic of `model` that `arn` names.
    pub fn resolve(model: &Model, arn: &str) -> anyhow::Result<Self> {
        if arn.starts_with("arn:aws:sqs:") {
            let queue = model
                .queue_by_arn(arn)
                .with_context(|| format!("no queue of the template has the ARN {arn}"))?;
            Ok(Self::Queue {
                arn: arn.to_owned(),
                url: queue.url.clone(),
            })
        } else if arn.starts_with("arn:aws:sns:") {
            Ok(Self::Topic {
                arn: arn.to_owned(),
            })
        } else {
            anyhow::bail!(
                "unsupported destination {arn}: the local stack sends to queues and topics"
            )
        }
    }

    /// Sends `body` with string message attributes.
    pub async fn send(
        &self,
        sqs: &aws_sdk_sqs::Client,
        sns: &aws_sdk_sns::Client,
        body: &str,
        attributes: &[(&str, &str, String)],
    ) -> anyhow::Result<()> {
        match self {
            Self::Queue { url, .. } => {
                let mut request = sqs.send_message().queue_url(url).message_body(body);
                for (name, data_type, value) in attributes {
                    request = request.message_attributes(
                        *name,
                        aws_sdk_sqs::types::MessageAttributeValue::builder()
                            .data_type(*data_type)
                            .string_value(value)
                            .build()?,
                    );
                }
                request.send().await.map_err(|e| {
                    anyhow::anyhow!(aws_sdk_sqs::error::DisplayErrorContext(e).to_string())
                })?;
            }
            Self::Topic { arn } => {
                let mut request = sns.publish().topic_arn(arn).message(body);
                for (name, data_type, value) in attributes {
                    request = request.message_attributes(
                        *name,
                        aws_sdk_sns::types::MessageAttributeValue::builder()
                            .data_type(*data_type)
                            .string_value(value)
                            .build()?,
                    );
                }
                request.send().await.map_err(|e| {
                    anyhow::anyhow!(aws_sdk_sns::error::DisplayErrorContext(e).to_string())
                })?;
            }
        }
        Ok(())
    }
}

/// How Lambda reads one batch's invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchResult {
    /// Every record succeeded.
    Succeeded,
    /// `ReportBatchItemFailures`: these records (by their item identifier) failed.
    Partial(HashSet<String>),
    /// The whole batch failed: a function error (its type), or a response Lambda cannot use.
    Failed(String),
}

impl BatchResult {
    /// A short word for the log.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Succeeded => "ok",
            Self::Partial(_) => "partial",
            Self::Failed(_) => "error",
        }
    }

    /// Whether `id` succeeded.
    pub fn succeeded(&self, id: &str) -> bool {
        match self {
            Self::Succeeded => true,
            Self::Partial(failed) => !failed.contains(id),
            Self::Failed(_) => false,
        }
    }
}

/// One invocation with a batch, as the log reports it.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub result: BatchResult,
    pub cold_start: bool,
    pub elapsed: Duration,
}

/// Invokes `function` with `event` and reads its answer for the records `ids`.
pub async fn invoke_batch(
    lambda: &Lambda,
    function: &str,
    event: &Value,
    ids: &HashSet<&str>,
    report_batch_item_failures: bool,
) -> anyhow::Result<Delivery> {
    let started = Instant::now();
    let payload = Bytes::from(serde_json::to_vec(event)?);
    let invocation = lambda
        .invoke(
            function,
            InvokeRequest {
                payload,
                trace_id: None,
                client_context: None,
            },
        )
        .await
        .with_context(|| format!("invoke {function}"))?;
    let result = match &invocation.outcome {
        Outcome::Success(body) if report_batch_item_failures => {
            match batch_item_failures(body, ids) {
                Some(failed) if failed.is_empty() => BatchResult::Succeeded,
                Some(failed) => BatchResult::Partial(failed),
                // An unusable response fails the whole batch, as on AWS.
                None => BatchResult::Failed("InvalidBatchItemFailures".into()),
            }
        }
        Outcome::Success(_) => BatchResult::Succeeded,
        Outcome::Error(error) => BatchResult::Failed(error.error_type.clone()),
    };
    Ok(Delivery {
        result,
        cold_start: invocation.cold_start,
        elapsed: started.elapsed(),
    })
}

/// The ids a `ReportBatchItemFailures` response names, or `None` when the response is
/// unusable (then Lambda fails the whole batch). An empty or null response, or an empty
/// list, means every record succeeded.
pub fn batch_item_failures(body: &[u8], batch: &HashSet<&str>) -> Option<HashSet<String>> {
    let trimmed = body.iter().filter(|b| !b.is_ascii_whitespace()).count();
    if trimmed == 0 {
        return Some(HashSet::new());
    }
    let value: Value = serde_json::from_slice(body).ok()?;
    let failures = match &value {
        Value::Null => return Some(HashSet::new()),
        Value::Object(map) => match map.get("batchItemFailures") {
            None | Some(Value::Null) => return Some(HashSet::new()),
            Some(Value::Array(items)) => items,
            Some(_) => return None,
        },
        _ => return Some(HashSet::new()),
    };
    let mut failed = HashSet::new();
    for item in failures {
        let id = item.get("itemIdentifier")?.as_str()?;
        if id.is_empty() || !batch.contains(id) {
            return None;
        }
        failed.insert(id.to_owned());
    }
    Some(failed)
}

/// The correlation id an event carries: the envelope's `correlationId`, in the text itself or,
/// for SNS deliveries without raw delivery, in the wrapped `Message`.
pub fn correlation_id_in(text: &str) -> Option<String> {
    let body: Value = serde_json::from_str(text).ok()?;
    if let Some(id) = body.get("correlationId").and_then(Value::as_str) {
        return Some(id.to_owned());
    }
    let inner: Value = serde_json::from_str(body.get("Message")?.as_str()?).ok()?;
    inner
        .get("correlationId")
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// The last part of an ARN (`...:name`, or `.../name` for table and stream ARNs).
pub fn arn_name(arn: &str) -> &str {
    arn.rsplit([':', '/']).next().unwrap_or(arn)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch() -> HashSet<&'static str> {
        ["a", "b", "c"].into_iter().collect()
    }

    #[test]
    fn empty_or_null_responses_mean_every_record_succeeded() {
        for body in [
            "",
            "  ",
            "null",
            "{}",
            r#"{"batchItemFailures": []}"#,
            r#"{"batchItemFailures": null}"#,
        ] {
            assert_eq!(
                batch_item_failures(body.as_bytes(), &batch()),
                Some(HashSet::new()),
                "{body:?}"
            );
        }
    }

    #[test]
    fn named_failures_are_the_only_ones_kept() {
        let body = br#"{"batchItemFailures": [{"itemIdentifier": "b"}]}"#;
        assert_eq!(
            batch_item_failures(body, &batch()),
            Some(["b".to_owned()].into_iter().collect())
        );
    }

    #[test]
    fn unknown_empty_or_missing_identifiers_fail_the_whole_batch() {
        for body in [
            r#"{"batchItemFailures": [{"itemIdentifier": "zzz"}]}"#,
            r#"{"batchItemFailures": [{"itemIdentifier": ""}]}"#,
            r#"{"batchItemFailures": [{"itemIdentifier": null}]}"#,
            r#"{"batchItemFailures": [{}]}"#,
            r#"{"batchItemFailures": "b"}"#,
            "not json",
        ] {
            assert_eq!(
                batch_item_failures(body.as_bytes(), &batch()),
                None,
                "{body}"
            );
        }
    }

    #[test]
    fn correlation_ids_are_found_in_raw_and_wrapped_messages() {
        assert_eq!(
            correlation_id_in(r#"{"correlationId":"c-1"}"#).as_deref(),
            Some("c-1")
        );
        let wrapped = serde_json::json!({"Message": "{\"correlationId\":\"c-2\"}"}).to_string();
        assert_eq!(correlation_id_in(&wrapped).as_deref(), Some("c-2"));
        assert_eq!(correlation_id_in("plain"), None);
    }

    #[test]
    fn arn_names_are_the_last_part() {
        assert_eq!(arn_name("arn:aws:sqs:us-east-1:1:jobs"), "jobs");
        assert_eq!(
            arn_name("arn:aws:dynamodb:us-east-1:1:table/orders/stream/2026"),
            "2026"
        );
    }
}
