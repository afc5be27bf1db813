//! SQS event sources, polled as Lambda polls them.
//!
//! For every `Type: SQS` event in the template, pollers receive batches of up to
//! `BatchSize` messages (waiting up to `MaximumBatchingWindowInSeconds` to fill one),
//! invoke the function with the event shape Lambda sends, and delete only the messages
//! that succeeded. With `ReportBatchItemFailures` the function names the failed ones;
//! otherwise an error fails the whole batch. Failed messages stay in the queue, become
//! visible again after the visibility timeout, and the queue's redrive policy moves them
//! to its dead-letter queue, exactly as on AWS.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName};
use local_lambda::Lambda;
use local_template::SqsEventSource;
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

use super::BatchResult;

/// At most this many pollers per event source, like Lambda's initial scaling.
const DEFAULT_POLLERS: usize = 5;
/// One ReceiveMessage call returns at most 10 messages.
const MAX_RECEIVE: usize = 10;
/// The long-poll wait of an idle poller.
const IDLE_WAIT: Duration = Duration::from_secs(5);

/// One event source mapping: a queue feeding a function.
#[derive(Debug, Clone)]
pub struct EventSource {
    /// Physical name of the function.
    pub function: String,
    pub source: SqsEventSource,
    pub queue_url: String,
    pub region: String,
}

/// What happened to one batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchReport {
    pub received: usize,
    pub deleted: usize,
    pub failed: usize,
}

impl EventSource {
    /// How many pollers to run: `ScalingConfig.MaximumConcurrency`, else a default, never
    /// more than the function may have instances.
    pub fn pollers(&self, max_instances: usize) -> usize {
        let wanted = self
            .source
            .maximum_concurrency
            .map_or(DEFAULT_POLLERS, |n| n as usize);
        wanted.min(max_instances).max(1)
    }

    /// Polls until `shutdown` is cancelled. A batch that has started to fill is always
    /// delivered: messages, once received, are never dropped on the floor.
    pub async fn run(
        self: Arc<Self>,
        sqs: Client,
        lambda: Arc<Lambda>,
        shutdown: CancellationToken,
    ) {
        while !shutdown.is_cancelled() {
            let messages = match self.receive_batch(&sqs, &shutdown).await {
                Ok(messages) if messages.is_empty() => continue,
                Ok(messages) => messages,
                Err(err) => {
                    tracing::warn!(target: "local::sqs", function = %self.function, error = format!("{err:#}"), "receive failed; retrying");
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    }
                }
            };
            if let Err(err) = self.deliver(&sqs, &lambda, messages).await {
                tracing::warn!(target: "local::sqs", function = %self.function, error = format!("{err:#}"), "delivery failed");
            }
        }
    }

    /// Receives up to `BatchSize` messages, waiting at most the batching window once the
    /// first message is in. Once it holds messages, a failed receive or a shutdown ends the
    /// batch early instead of losing them.
    async fn receive_batch(
        &self,
        sqs: &Client,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<Vec<Message>> {
        let batch_size = self.source.batch_size.max(1) as usize;
        let mut batch: Vec<Message> = Vec::new();
        let mut deadline: Option<Instant> = None;
        loop {
            let wait = match deadline {
                None => IDLE_WAIT,
                Some(deadline) => deadline.saturating_duration_since(Instant::now()),
            };
            let want = (batch_size - batch.len()).min(MAX_RECEIVE);
            let receive = sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(want as i32)
                // SQS waits in whole seconds: round up so a short window is not a busy loop.
                .wait_time_seconds(wait.as_secs_f64().ceil().min(20.0) as i32)
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .message_attribute_names("All")
                .send();
            let received = tokio::select! {
                () = shutdown.cancelled() => return Ok(batch),
                received = receive => received,
            };
            let got = match received {
                Ok(output) => output.messages.unwrap_or_default(),
                Err(err) if batch.is_empty() => {
                    return Err(err).with_context(|| format!("receive from {}", self.queue_url));
                }
                Err(err) => {
                    tracing::warn!(target: "local::sqs", function = %self.function, error = %aws_sdk_sqs::error::DisplayErrorContext(&err), "receive failed; delivering the batch so far");
                    return Ok(batch);
                }
            };
            let empty = got.is_empty();
            batch.extend(got);
            if batch.is_empty() {
                return Ok(batch);
            }
            let deadline =
                *deadline.get_or_insert_with(|| Instant::now() + self.source.batching_window);
            if batch.len() >= batch_size || Instant::now() >= deadline || (empty && wait.is_zero())
            {
                return Ok(batch);
            }
        }
    }

    /// Invokes the function with one batch and deletes what succeeded.
    pub async fn deliver(
        &self,
        sqs: &Client,
        lambda: &Lambda,
        messages: Vec<Message>,
    ) -> anyhow::Result<BatchReport> {
        let event = self.event(&messages);
        let correlation_id = messages
            .first()
            .and_then(|m| m.body())
            .and_then(super::correlation_id_in);
        let ids: HashSet<&str> = messages.iter().filter_map(|m| m.message_id()).collect();
        let delivery = super::invoke_batch(
            lambda,
            &self.function,
            &event,
            &ids,
            self.source.report_batch_item_failures,
        )
        .await?;
        let to_delete: Vec<&Message> = messages
            .iter()
            .filter(|m| {
                m.message_id()
                    .is_some_and(|id| delivery.result.succeeded(id))
            })
            .collect();
        let deleted = self.delete(sqs, &to_delete).await?;
        let report = BatchReport {
            received: messages.len(),
            deleted,
            failed: messages.len() - deleted,
        };
        let error_type = match &delivery.result {
            BatchResult::Failed(error_type) => format!(" {error_type}"),
            _ => String::new(),
        };
        tracing::info!(
            target: "local::sqs",
            correlation_id = correlation_id.as_deref().unwrap_or("-"),
            "{} <- {}: {} records, {} failed ({}{error_type}) {}ms {}",
            self.function,
            super::arn_name(&self.source.queue_arn),
            report.received,
            report.failed,
            delivery.result.label(),
            delivery.elapsed.as_millis(),
            if delivery.cold_start { "cold" } else { "warm" },
        );
        Ok(report)
    }

    async fn delete(&self, sqs: &Client, messages: &[&Message]) -> anyhow::Result<usize> {
        let mut deleted = 0;
        for chunk in messages.chunks(MAX_RECEIVE) {
            let entries = chunk
                .iter()
                .enumerate()
                .filter_map(|(i, m)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(m.receipt_handle()?)
                        .build()
                        .ok()
                })
                .collect::<Vec<_>>();
            if entries.is_empty() {
                continue;
            }
            let output = sqs
                .delete_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
                .with_context(|| format!("delete from {}", self.queue_url))?;
            deleted += output.successful().len();
            for failure in output.failed() {
                tracing::warn!(
                    target: "local::sqs",
                    function = %self.function,
                    code = failure.code(),
                    message = failure.message().unwrap_or_default(),
                    "a processed message could not be deleted and will be delivered again"
                );
            }
        }
        Ok(deleted)
    }

    /// The event Lambda sends for a batch of SQS messages.
    pub fn event(&self, messages: &[Message]) -> Value {
        let records: Vec<Value> = messages
            .iter()
            .map(|message| {
                let attributes: Map<String, Value> = message
                    .attributes()
                    .map(|attrs| {
                        attrs
                            .iter()
                            .map(|(name, value)| {
                                (name.as_str().to_owned(), Value::String(value.clone()))
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let message_attributes: Map<String, Value> = message
                    .message_attributes()
                    .map(|attrs| {
                        attrs
                            .iter()
                            .map(|(name, value)| {
                                let mut attr = Map::new();
                                if let Some(s) = value.string_value() {
                                    attr.insert("stringValue".into(), json!(s));
                                }
                                if let Some(b) = value.binary_value() {
                                    attr.insert(
                                        "binaryValue".into(),
                                        json!(base64_encode(b.as_ref())),
                                    );
                                }
                                attr.insert(
                                    "stringListValues".into(),
                                    json!(value.string_list_values()),
                                );
                                attr.insert(
                                    "binaryListValues".into(),
                                    Value::Array(
                                        value
                                            .binary_list_values()
                                            .iter()
                                            .map(|b| json!(base64_encode(b.as_ref())))
                                            .collect(),
                                    ),
                                );
                                attr.insert("dataType".into(), json!(value.data_type()));
                                (name.clone(), Value::Object(attr))
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                json!({
                    "messageId": message.message_id(),
                    "receiptHandle": message.receipt_handle(),
                    "body": message.body().unwrap_or_default(),
                    "attributes": attributes,
                    "messageAttributes": message_attributes,
                    "md5OfBody": message.md5_of_body(),
                    "md5OfMessageAttributes": message.md5_of_message_attributes(),
                    "eventSource": "aws:sqs",
                    "eventSourceARN": self.source.queue_arn,
                    "awsRegion": self.region,
                })
            })
            .collect();
        json!({ "Records": records })
    }
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// The visibility timeout SQS gives a queue without `VisibilityTimeout`.
pub(crate) const DEFAULT_VISIBILITY_TIMEOUT_SECS: u64 = 30;

/// The event sources of a model, with their queue URLs.
///
/// Like Lambda, it refuses a queue whose visibility timeout is shorter than the function's
/// timeout: its messages would become visible, and be processed again, while the function
/// still works on them. The check reads the template's value: a queue time scale
/// ([`crate::stack::StackOptions::queue_time_scale`]) shortens only the emulator's timeouts.
pub fn event_sources(model: &local_template::Model) -> anyhow::Result<Vec<EventSource>> {
    let mut sources = Vec::new();
    for function in &model.functions {
        for source in function.sqs_events.iter().filter(|e| e.enabled) {
            let queue = model
                .queues
                .iter()
                .find(|q| q.arn == source.queue_arn)
                .with_context(|| {
                    format!(
                        "{} event {}: no queue in the template has the ARN {}",
                        function.logical_id, source.name, source.queue_arn
                    )
                })?;
            let visibility = queue
                .properties
                .get("VisibilityTimeout")
                .and_then(local_template::value::as_u64)
                .unwrap_or(DEFAULT_VISIBILITY_TIMEOUT_SECS);
            if visibility < function.timeout.as_secs() {
                anyhow::bail!(
                    "{} event {}: queue {} visibility timeout ({visibility} s) is less than the function timeout ({} s); Lambda refuses this event source",
                    function.logical_id,
                    source.name,
                    queue.logical_id,
                    function.timeout.as_secs()
                );
            }
            sources.push(EventSource {
                function: function.name.clone(),
                source: source.clone(),
                queue_url: queue.url.clone(),
                region: model.region.clone(),
            });
        }
    }
    Ok(sources)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn worker_template(visibility: &str) -> local_template::Model {
        let yaml = format!(
            r#"
Transform: AWS::Serverless-2016-10-31
Resources:
  Worker:
    Type: AWS::Serverless::Function
    Metadata: {{BuildProperties: {{Binary: worker}}}}
    Properties:
      Timeout: 60
      Events:
        Work: {{Type: SQS, Properties: {{Queue: !GetAtt Jobs.Arn, BatchSize: 5}}}}
  Jobs:
    Type: AWS::SQS::Queue
    Properties: {visibility}
"#
        );
        local_template::Template::parse(&yaml, ".")
            .unwrap()
            .resolve(&local_template::LoadOptions::default(), &Default::default())
            .unwrap()
    }

    #[test]
    fn a_queue_that_would_show_messages_again_mid_invocation_is_refused() {
        let error = event_sources(&worker_template("{}"))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("visibility timeout (30 s) is less than the function timeout (60 s)"),
            "{error}"
        );
    }

    #[test]
    fn event_sources_carry_their_queue_url_and_batch_settings() {
        let sources = event_sources(&worker_template("{VisibilityTimeout: 360}")).unwrap();
        assert_eq!(sources.len(), 1);
        assert_eq!(sources[0].function, "local-Worker");
        assert_eq!(sources[0].source.batch_size, 5);
        assert!(
            sources[0].queue_url.ends_with("/123456789012/local-Jobs"),
            "{}",
            sources[0].queue_url
        );
    }
}
