//! Dead letters: the template's dead-letter queues, what they hold, and moving their messages
//! back to the queues they came from.
//!
//! A queue's `RedrivePolicy` names its dead-letter queue (`deadLetterTargetArn`); once a message
//! has been received `maxReceiveCount` times without being deleted, SQS moves it there.
//! [`dead_letter_queues`] reads those pairs from the template's resolved model, [`list`] counts
//! what each dead-letter queue holds in a running stack's emulator, and [`redrive`] moves the
//! messages back, as `aws sqs start-message-move-task --source-arn <dead-letter queue ARN>` does
//! on AWS.
//!
//! The emulator has no `StartMessageMoveTask`, so a move is a loop: receive up to 10 messages
//! from the dead-letter queue (no long poll), send each to its source queue with the same body
//! and message attributes, and delete it from the dead-letter queue only once that send
//! succeeded. Delivery is at least once: a crash between the send and the delete leaves the
//! message in both queues (it becomes visible in the dead-letter queue again after
//! [`RECEIVE_VISIBILITY_TIMEOUT`]), never in neither. The consumers are idempotent on the event
//! id, so such a duplicate is processed once.

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write as _;

use anyhow::{Context, bail};
use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::{Message, MessageSystemAttributeName, QueueAttributeName};
use local_template::Model;
use local_template::value::{as_string, as_u64};
use serde_json::Value;

/// One `ReceiveMessage` call returns at most this many messages.
pub const MAX_BATCH: usize = 10;

/// How long a received dead letter stays invisible while it is being moved (seconds). Should the
/// move stop half-way, the message is back in the dead-letter queue after this.
pub const RECEIVE_VISIBILITY_TIMEOUT: i32 = 30;

/// A queue of the template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueRef {
    /// The logical id in the template.
    pub logical_id: String,
    /// The physical queue name.
    pub name: String,
    /// The queue's ARN.
    pub arn: String,
}

impl QueueRef {
    fn of(queue: &local_template::Queue) -> Self {
        Self {
            logical_id: queue.logical_id.clone(),
            name: queue.name.clone(),
            arn: queue.arn.clone(),
        }
    }

    /// Whether `name` is this queue's logical id, physical name or ARN.
    pub fn is_named(&self, name: &str) -> bool {
        self.logical_id == name || self.name == name || self.arn == name
    }
}

/// A queue whose `RedrivePolicy` sends its failed messages to a dead-letter queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceQueue {
    /// The queue.
    pub queue: QueueRef,
    /// `RedrivePolicy.maxReceiveCount`: receives before a message is dead-lettered.
    pub max_receive_count: Option<u64>,
}

/// A dead-letter queue of the template and the queues that send their failed messages to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetterQueue {
    /// The dead-letter queue.
    pub queue: QueueRef,
    /// The queues whose `RedrivePolicy.deadLetterTargetArn` is this queue, in template order.
    pub sources: Vec<SourceQueue>,
}

/// The template's dead-letter queues (every queue that some queue's
/// `RedrivePolicy.deadLetterTargetArn` names), in template order, each with its source queues.
pub fn dead_letter_queues(model: &Model) -> Vec<DeadLetterQueue> {
    let mut found: Vec<DeadLetterQueue> = model
        .queues
        .iter()
        .map(|queue| DeadLetterQueue {
            queue: QueueRef::of(queue),
            sources: Vec::new(),
        })
        .collect();
    for queue in &model.queues {
        let Some(policy) = redrive_policy(&queue.properties) else {
            continue;
        };
        let Some(target) = policy.get("deadLetterTargetArn").and_then(as_string) else {
            continue;
        };
        if let Some(dead) = found.iter_mut().find(|d| d.queue.arn == target) {
            dead.sources.push(SourceQueue {
                queue: QueueRef::of(queue),
                max_receive_count: policy.get("maxReceiveCount").and_then(as_u64),
            });
        }
    }
    found.retain(|d| !d.sources.is_empty());
    found
}

/// A queue's `RedrivePolicy`, whether the template gives it as an object or as a JSON string.
fn redrive_policy(properties: &Value) -> Option<Value> {
    match properties.get("RedrivePolicy")? {
        Value::String(text) => serde_json::from_str(text).ok(),
        policy => Some(policy.clone()),
    }
}

/// The dead-letter queues `which` names: `all`, or one by logical id, physical name or ARN.
///
/// # Errors
/// When no dead-letter queue has that name (naming a source queue points at its dead-letter
/// queue).
pub fn select<'a>(
    queues: &'a [DeadLetterQueue],
    which: &str,
) -> anyhow::Result<Vec<&'a DeadLetterQueue>> {
    if which == "all" {
        return Ok(queues.iter().collect());
    }
    if let Some(queue) = queues.iter().find(|d| d.queue.is_named(which)) {
        return Ok(vec![queue]);
    }
    if let Some(queue) = queues
        .iter()
        .find(|d| d.sources.iter().any(|s| s.queue.is_named(which)))
    {
        bail!(
            "{which} is a source queue; its dead-letter queue is {}",
            queue.queue.logical_id
        );
    }
    let known: Vec<&str> = queues.iter().map(|d| d.queue.logical_id.as_str()).collect();
    if known.is_empty() {
        bail!("the template has no dead-letter queue");
    }
    bail!(
        "the template has no dead-letter queue {which:?}; it has {} (or `all`)",
        known.join(", ")
    )
}

/// What a dead-letter queue holds now.
#[derive(Debug, Clone)]
pub struct Count {
    /// The dead-letter queue and its sources.
    pub queue: DeadLetterQueue,
    /// Messages waiting (`ApproximateNumberOfMessages`).
    pub messages: u64,
    /// Messages received and not yet deleted or visible again (`ApproximateNumberOfMessagesNotVisible`).
    pub in_flight: u64,
}

/// Counts the messages of each of the template's dead-letter queues, through `sqs` (a client of
/// the running stack's emulator).
///
/// # Errors
/// When a queue does not exist there or the emulator cannot be reached.
pub async fn list(sqs: &Client, model: &Model) -> anyhow::Result<Vec<Count>> {
    let mut counts = Vec::new();
    for queue in dead_letter_queues(model) {
        let url = queue_url(sqs, &queue.queue).await?;
        let attributes = sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .map_err(sdk_error)
            .with_context(|| format!("count the messages of {}", queue.queue.name))?;
        let number = |name: QueueAttributeName| {
            attributes
                .attributes()
                .and_then(|a| a.get(&name))
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        counts.push(Count {
            messages: number(QueueAttributeName::ApproximateNumberOfMessages),
            in_flight: number(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
            queue,
        });
    }
    Ok(counts)
}

/// [`list`]'s counts as a table, one dead-letter queue a line.
pub fn table(counts: &[Count]) -> String {
    let width = counts
        .iter()
        .map(|c| c.queue.queue.logical_id.len())
        .chain(["DEAD-LETTER QUEUE".len()])
        .max()
        .unwrap_or(0);
    let mut out = format!(
        "{:<width$}  {:>8}  {:>9}  SOURCE QUEUE(S)\n",
        "DEAD-LETTER QUEUE", "MESSAGES", "IN FLIGHT"
    );
    for count in counts {
        let sources: Vec<String> = count
            .queue
            .sources
            .iter()
            .map(|s| match s.max_receive_count {
                Some(n) => format!("{} (maxReceiveCount {n})", s.queue.logical_id),
                None => s.queue.logical_id.clone(),
            })
            .collect();
        let _ = writeln!(
            out,
            "{:<width$}  {:>8}  {:>9}  {}",
            count.queue.queue.logical_id,
            count.messages,
            count.in_flight,
            sources.join(", ")
        );
    }
    out
}

/// One message moved back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MovedMessage {
    /// Its id in the dead-letter queue.
    pub dead_letter_id: String,
    /// Logical id of the source queue it was sent to.
    pub source: String,
    /// The id `SendMessage` gave it in the source queue.
    pub message_id: String,
}

/// What [`redrive`] did to one dead-letter queue.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Redriven {
    /// Logical id of the dead-letter queue.
    pub dead_letter_queue: String,
    /// The messages moved, in the order they were moved.
    pub moved: Vec<MovedMessage>,
    /// Messages that were moved during this run and came back to the dead-letter queue (their
    /// consumer still fails them); they were left there, visible again.
    pub returned: usize,
    /// Messages left in the dead-letter queue because their source is unknown: the queue has
    /// several sources and the message does not say (`DeadLetterQueueSourceArn`) which.
    pub unroutable: usize,
    /// Whether the move stopped at `max` rather than at an empty dead-letter queue.
    pub reached_max: bool,
}

impl Redriven {
    /// How many messages went to each source queue (logical id).
    pub fn per_source(&self) -> BTreeMap<&str, usize> {
        let mut counts = BTreeMap::new();
        for message in &self.moved {
            *counts.entry(message.source.as_str()).or_insert(0) += 1;
        }
        counts
    }
}

/// Moves the messages of `queue` back to its source queues, through `sqs` (a client of the
/// running stack's emulator), until it reads empty or `max` messages have moved.
///
/// A message goes to the queue its `DeadLetterQueueSourceArn` attribute names (as SQS sets it)
/// or, without one, to the dead-letter queue's only source. Each is sent with its body and
/// message attributes (and, to a FIFO queue, its message group and a new deduplication id), and
/// deleted from the dead-letter queue only once the send succeeded (see the module docs).
///
/// # Errors
/// When a queue does not exist, or a receive, send or delete fails; the messages received but not
/// yet moved are made visible again first (best effort).
pub async fn redrive(
    sqs: &Client,
    queue: &DeadLetterQueue,
    max: Option<usize>,
) -> anyhow::Result<Redriven> {
    let dead_url = queue_url(sqs, &queue.queue).await?;
    let mut source_urls = Vec::with_capacity(queue.sources.len());
    for source in &queue.sources {
        source_urls.push(queue_url(sqs, &source.queue).await?);
    }
    let mut report = Redriven {
        dead_letter_queue: queue.queue.logical_id.clone(),
        ..Redriven::default()
    };
    // Ids this run gave in the source queues: SQS keeps a message's id when it dead-letters it,
    // so one of them here is a message that failed again, not one to move again.
    let mut sent_ids: HashSet<String> = HashSet::new();
    // Receipt handles of the messages left in the dead-letter queue, made visible at the end.
    let mut left: Vec<String> = Vec::new();
    let result = async {
        loop {
            let want = match max {
                Some(max) if report.moved.len() >= max => {
                    report.reached_max = true;
                    break;
                }
                Some(max) => (max - report.moved.len()).min(MAX_BATCH),
                None => MAX_BATCH,
            };
            let messages = sqs
                .receive_message()
                .queue_url(&dead_url)
                .max_number_of_messages(want as i32)
                .wait_time_seconds(0)
                .visibility_timeout(RECEIVE_VISIBILITY_TIMEOUT)
                .message_attribute_names("All")
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .send()
                .await
                .map_err(sdk_error)
                .with_context(|| format!("receive from {}", queue.queue.name))?
                .messages
                .unwrap_or_default();
            if messages.is_empty() {
                break;
            }
            let mut pending = messages.iter();
            while let Some(message) = pending.next() {
                let receipt = message.receipt_handle().unwrap_or_default().to_owned();
                let id = message.message_id().unwrap_or_default().to_owned();
                if sent_ids.contains(&id) {
                    report.returned += 1;
                    left.push(receipt);
                    continue;
                }
                let Some(index) = source_of(queue, message) else {
                    report.unroutable += 1;
                    left.push(receipt);
                    continue;
                };
                let source = &queue.sources[index].queue;
                let sent = send_back(sqs, &source_urls[index], source, message).await;
                let message_id = match sent {
                    Ok(message_id) => message_id,
                    Err(err) => {
                        left.push(receipt);
                        left.extend(pending.filter_map(|m| m.receipt_handle().map(str::to_owned)));
                        return Err(err.context(format!(
                            "move a message from {} to {} ({} moved before)",
                            queue.queue.name,
                            source.name,
                            report.moved.len()
                        )));
                    }
                };
                // Only now that the source queue has it: a failure here leaves a duplicate.
                if let Err(err) = sqs
                    .delete_message()
                    .queue_url(&dead_url)
                    .receipt_handle(&receipt)
                    .send()
                    .await
                {
                    left.extend(pending.filter_map(|m| m.receipt_handle().map(str::to_owned)));
                    return Err(sdk_error(err).context(format!(
                        "delete message {id} from {} after sending it to {} (it is in both now)",
                        queue.queue.name, source.name
                    )));
                }
                sent_ids.insert(message_id.clone());
                report.moved.push(MovedMessage {
                    dead_letter_id: id,
                    source: source.logical_id.clone(),
                    message_id,
                });
            }
        }
        anyhow::Ok(())
    }
    .await;
    for receipt in left {
        if let Err(err) = sqs
            .change_message_visibility()
            .queue_url(&dead_url)
            .receipt_handle(receipt)
            .visibility_timeout(0)
            .send()
            .await
        {
            tracing::warn!(
                target: "local::dead_letters",
                queue = %queue.queue.name,
                error = %DisplayErrorContext(&err),
                "a dead letter left in place stays invisible until its visibility timeout ends"
            );
        }
    }
    result.map(|()| report)
}

/// The index of the source queue `message` came from, if it can be told.
fn source_of(queue: &DeadLetterQueue, message: &Message) -> Option<usize> {
    let named = message
        .attributes()
        .and_then(|a| a.get(&MessageSystemAttributeName::DeadLetterQueueSourceArn));
    match named {
        Some(arn) => {
            let name = arn.rsplit(':').next().unwrap_or(arn);
            queue
                .sources
                .iter()
                .position(|s| s.queue.arn == *arn || s.queue.name == name)
        }
        None if queue.sources.len() == 1 => Some(0),
        None => None,
    }
}

/// Sends `message` to the source queue at `url`; returns the id it got there.
async fn send_back(
    sqs: &Client,
    url: &str,
    source: &QueueRef,
    message: &Message,
) -> anyhow::Result<String> {
    let mut send = sqs
        .send_message()
        .queue_url(url)
        .message_body(message.body().unwrap_or_default())
        .set_message_attributes(
            message
                .message_attributes()
                .filter(|a| !a.is_empty())
                .cloned(),
        );
    if source.name.ends_with(".fifo") {
        let group = message
            .attributes()
            .and_then(|a| a.get(&MessageSystemAttributeName::MessageGroupId))
            .cloned()
            .unwrap_or_else(|| source.logical_id.clone());
        // A new deduplication id: the original one may still be inside the deduplication
        // interval, which would drop the message silently.
        send = send
            .message_group_id(group)
            .message_deduplication_id(uuid::Uuid::new_v4().simple().to_string());
    }
    let output = send
        .send()
        .await
        .map_err(sdk_error)
        .with_context(|| format!("send to {}", source.name))?;
    Ok(output.message_id.unwrap_or_default())
}

/// The URL of `queue` at the emulator the client talks to.
async fn queue_url(sqs: &Client, queue: &QueueRef) -> anyhow::Result<String> {
    let output = sqs
        .get_queue_url()
        .queue_name(&queue.name)
        .send()
        .await
        .map_err(sdk_error)
        .with_context(|| format!("find queue {} ({})", queue.name, queue.logical_id))?;
    output
        .queue_url
        .with_context(|| format!("queue {} has no URL", queue.name))
}

fn sdk_error<E: std::error::Error + Send + Sync + 'static>(error: E) -> anyhow::Error {
    anyhow::anyhow!("{}", DisplayErrorContext(&error))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(yaml: &str) -> Model {
        local_template::Template::parse(yaml, ".")
            .unwrap()
            .resolve(&local_template::LoadOptions::default(), &Default::default())
            .unwrap()
    }

    const TEMPLATE: &str = r#"
Resources:
  Orders:
    Type: AWS::SQS::Queue
    Properties:
      RedrivePolicy: {deadLetterTargetArn: !GetAtt Shared.Arn, maxReceiveCount: 5}
  Payments:
    Type: AWS::SQS::Queue
    Properties:
      RedrivePolicy: !Sub '{"deadLetterTargetArn":"${Shared.Arn}","maxReceiveCount":"3"}'
  Shared:
    Type: AWS::SQS::Queue
  Work:
    Type: AWS::SQS::Queue
    Properties:
      RedrivePolicy: {deadLetterTargetArn: !GetAtt WorkDlq.Arn, maxReceiveCount: 2}
  WorkDlq:
    Type: AWS::SQS::Queue
  Plain:
    Type: AWS::SQS::Queue
"#;

    #[test]
    fn dead_letter_queues_are_the_targets_of_redrive_policies_with_their_sources() {
        let queues = dead_letter_queues(&model(TEMPLATE));
        let pairs: Vec<String> = queues
            .iter()
            .map(|d| {
                let sources: Vec<String> = d
                    .sources
                    .iter()
                    .map(|s| format!("{}/{:?}", s.queue.logical_id, s.max_receive_count))
                    .collect();
                format!("{} <- {}", d.queue.logical_id, sources.join(" "))
            })
            .collect();
        assert_eq!(
            pairs,
            [
                "Shared <- Orders/Some(5) Payments/Some(3)",
                "WorkDlq <- Work/Some(2)",
            ]
        );
    }

    #[test]
    fn a_selection_names_a_dead_letter_queue_or_all() {
        let queues = dead_letter_queues(&model(TEMPLATE));
        assert_eq!(select(&queues, "all").unwrap().len(), 2);
        let by_name = select(&queues, &queues[1].queue.name).unwrap();
        assert_eq!(by_name[0].queue.logical_id, "WorkDlq");
        let by_arn = select(&queues, &queues[0].queue.arn).unwrap();
        assert_eq!(by_arn[0].queue.logical_id, "Shared");
        let source = select(&queues, "Work").unwrap_err().to_string();
        assert!(
            source.contains("its dead-letter queue is WorkDlq"),
            "{source}"
        );
        let unknown = select(&queues, "Plain").unwrap_err().to_string();
        assert!(unknown.contains("Shared, WorkDlq"), "{unknown}");
    }

    #[test]
    fn a_message_goes_to_the_source_it_names_or_to_the_only_one() {
        let queues = dead_letter_queues(&model(TEMPLATE));
        let plain = Message::builder().message_id("m").build();
        assert_eq!(source_of(&queues[1], &plain), Some(0));
        assert_eq!(
            source_of(&queues[0], &plain),
            None,
            "two sources, none named"
        );
        let named = Message::builder()
            .message_id("m")
            .attributes(
                MessageSystemAttributeName::DeadLetterQueueSourceArn,
                queues[0].sources[1].queue.arn.clone(),
            )
            .build();
        assert_eq!(source_of(&queues[0], &named), Some(1));
    }

    #[test]
    fn the_table_shows_counts_and_sources() {
        let queues = dead_letter_queues(&model(TEMPLATE));
        let counts: Vec<Count> = queues
            .into_iter()
            .map(|queue| Count {
                queue,
                messages: 1,
                in_flight: 0,
            })
            .collect();
        let table = table(&counts);
        assert!(table.starts_with("DEAD-LETTER QUEUE  MESSAGES  IN FLIGHT  SOURCE QUEUE(S)\n"));
        assert!(
            table.contains(
                "Shared                    1          0  Orders (maxReceiveCount 5), Payments (maxReceiveCount 3)"
            ),
            "{table}"
        );
    }
}
