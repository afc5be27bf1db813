//! DynamoDB Streams event sources, polled as Lambda polls them.
//!
//! For every `Type: DynamoDB` event in the template, one poller reads the table's stream shard by
//! shard, in order, with the mapping's settings:
//! - `StartingPosition` for the shards that exist when the stack starts (`TRIM_HORIZON` or
//!   `LATEST`); shards that appear later are read from their start;
//! - `FilterCriteria`: records that match no filter are dropped before batching, as processed;
//! - `BatchSize` and `MaximumBatchingWindowInSeconds` to fill a batch;
//! - one batch at a time per shard, so records of a key reach the function in order;
//! - a failed batch is retried (with backoff) until it succeeds, or until
//!   `MaximumRetryAttempts` retries or `MaximumRecordAgeInSeconds` have passed; then the batch's
//!   description goes to the `DestinationConfig.OnFailure` queue or topic (the shape Lambda sends:
//!   `DDBStreamBatchInfo` with the shard and sequence numbers, not the records) and the poller
//!   moves past it;
//! - `BisectBatchOnFunctionError` splits a failing batch in two and retries each half on its own,
//!   so one poison record ends alone in the failure destination while the others are delivered;
//! - with `ReportBatchItemFailures`, the records before the first reported failure count as done
//!   and the retry starts at that record.
//!
//! The position of each shard is kept in memory only: the emulator's data does not outlive the
//! stack either.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use aws_sdk_dynamodbstreams::types::{AttributeValue, Record, ShardIteratorType};
use base64::Engine as _;
use local_lambda::Lambda;
use local_template::{Model, StartingPosition, StreamEventSource};
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

use super::{BatchResult, Destination, filter};

const LOG_TARGET: &str = "local::streams";
/// How often an idle shard is read (Lambda reads each shard four times a second).
const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// How often the stream's shards are listed again.
const DISCOVER_INTERVAL: Duration = Duration::from_secs(10);
/// One GetRecords call returns at most this many records.
const MAX_GET_RECORDS: i32 = 1000;
/// First and longest wait before retrying a failed batch.
const FIRST_BACKOFF: Duration = Duration::from_millis(200);
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// One event source mapping: a table's stream feeding a function.
#[derive(Debug, Clone)]
pub struct StreamSource {
    /// Physical name of the function.
    pub function: String,
    pub function_arn: String,
    pub source: StreamEventSource,
    pub region: String,
    pub destination: Option<Destination>,
}

/// The clients a stream poller uses.
#[derive(Debug, Clone)]
pub struct Clients {
    pub streams: aws_sdk_dynamodbstreams::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub sns: aws_sdk_sns::Client,
}

/// Reading position and unprocessed records of one shard.
#[derive(Debug, Default)]
struct Shard {
    iterator: Option<String>,
    /// The last sequence number read, to ask for a fresh iterator after it.
    last_read: Option<String>,
    pending: VecDeque<Value>,
    /// When the oldest pending record was read (the batching window runs from there).
    pending_since: Option<Instant>,
    /// The shard has no more records (its iterator ran out).
    closed: bool,
}

/// What happened to one batch, for tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settled {
    Delivered,
    GivenUp,
}

impl StreamSource {
    /// Polls until `shutdown` is cancelled.
    pub async fn run(
        self: Arc<Self>,
        clients: Clients,
        lambda: Arc<Lambda>,
        shutdown: CancellationToken,
    ) {
        let mut shards: BTreeMap<String, Shard> = BTreeMap::new();
        let mut known: HashSet<String> = HashSet::new();
        let mut first_listing = true;
        let mut listed_at: Option<Instant> = None;
        while !shutdown.is_cancelled() {
            if listed_at.is_none_or(|at| at.elapsed() >= DISCOVER_INTERVAL) {
                match self
                    .discover(&clients, &mut shards, &mut known, first_listing)
                    .await
                {
                    Ok(()) => {
                        first_listing = false;
                        listed_at = Some(Instant::now());
                    }
                    Err(err) => {
                        tracing::warn!(target: LOG_TARGET, function = %self.function, error = format!("{err:#}"), "cannot list the stream's shards; retrying");
                    }
                }
            }
            let mut worked = false;
            let ids: Vec<String> = shards.keys().cloned().collect();
            for id in ids {
                let Some(shard) = shards.get_mut(&id) else {
                    continue;
                };
                match self.poll(&clients, &lambda, &id, shard, &shutdown).await {
                    Ok(did_work) => worked |= did_work,
                    Err(err) => {
                        tracing::warn!(target: LOG_TARGET, function = %self.function, shard = %id, error = format!("{err:#}"), "reading the shard failed; retrying");
                    }
                }
                if shard.closed && shard.pending.is_empty() {
                    shards.remove(&id);
                }
            }
            if !worked {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(POLL_INTERVAL) => {}
                }
            }
        }
    }

    /// Adds the shards the stream has that are not read yet.
    async fn discover(
        &self,
        clients: &Clients,
        shards: &mut BTreeMap<String, Shard>,
        known: &mut HashSet<String>,
        first_listing: bool,
    ) -> anyhow::Result<()> {
        let mut start: Option<String> = None;
        loop {
            let output = clients
                .streams
                .describe_stream()
                .stream_arn(&self.source.stream_arn)
                .set_exclusive_start_shard_id(start.clone())
                .send()
                .await
                .with_context(|| format!("describe stream {}", self.source.stream_arn))?;
            let Some(description) = output.stream_description else {
                return Ok(());
            };
            for shard in description.shards() {
                let Some(id) = shard.shard_id() else { continue };
                if !known.insert(id.to_owned()) {
                    continue;
                }
                let kind =
                    if first_listing && self.source.starting_position == StartingPosition::Latest {
                        ShardIteratorType::Latest
                    } else {
                        ShardIteratorType::TrimHorizon
                    };
                let iterator = clients
                    .streams
                    .get_shard_iterator()
                    .stream_arn(&self.source.stream_arn)
                    .shard_id(id)
                    .shard_iterator_type(kind)
                    .send()
                    .await
                    .with_context(|| format!("get an iterator for shard {id}"))?
                    .shard_iterator;
                shards.insert(
                    id.to_owned(),
                    Shard {
                        iterator,
                        ..Shard::default()
                    },
                );
            }
            match description.last_evaluated_shard_id() {
                Some(last) => start = Some(last.to_owned()),
                None => return Ok(()),
            }
        }
    }

    /// Reads what the shard has and delivers one batch when it is ready. Returns whether it did
    /// anything (read records or delivered).
    async fn poll(
        &self,
        clients: &Clients,
        lambda: &Lambda,
        shard_id: &str,
        shard: &mut Shard,
        shutdown: &CancellationToken,
    ) -> anyhow::Result<bool> {
        let batch_size = self.source.batch_size.max(1) as usize;
        let mut read_any = false;
        if shard.pending.len() < batch_size
            && let Some(iterator) = shard.iterator.clone()
        {
            let output = clients
                .streams
                .get_records()
                .shard_iterator(iterator)
                .limit(MAX_GET_RECORDS)
                .send()
                .await;
            let output = match output {
                Ok(output) => output,
                Err(err)
                    if err
                        .as_service_error()
                        .is_some_and(|e| e.is_expired_iterator_exception()) =>
                {
                    shard.iterator = self
                        .fresh_iterator(clients, shard_id, shard.last_read.as_deref())
                        .await?;
                    return Ok(false);
                }
                Err(err) => return Err(err).context("get records"),
            };
            for record in output.records() {
                if let Some(sequence) = record.dynamodb().and_then(|d| d.sequence_number()) {
                    shard.last_read = Some(sequence.to_owned());
                }
                let record = lambda_record(record, &self.source.stream_arn, &self.region);
                if filter::matches_any(&self.source.filters, &record) {
                    shard.pending_since.get_or_insert_with(Instant::now);
                    shard.pending.push_back(record);
                }
                read_any = true;
            }
            shard.iterator = output.next_shard_iterator;
            shard.closed = shard.iterator.is_none();
        }
        let Some(since) = shard.pending_since else {
            return Ok(read_any);
        };
        let ready = shard.pending.len() >= batch_size
            || shard.closed
            || since.elapsed() >= self.source.batching_window;
        if !ready {
            return Ok(read_any);
        }
        let take = shard.pending.len().min(batch_size);
        let batch: Vec<Value> = shard.pending.drain(..take).collect();
        shard.pending_since = (!shard.pending.is_empty()).then(Instant::now);
        self.settle(clients, lambda, shard_id, &batch, shutdown)
            .await?;
        Ok(true)
    }

    async fn fresh_iterator(
        &self,
        clients: &Clients,
        shard_id: &str,
        after: Option<&str>,
    ) -> anyhow::Result<Option<String>> {
        let request = clients
            .streams
            .get_shard_iterator()
            .stream_arn(&self.source.stream_arn)
            .shard_id(shard_id);
        let request = match after {
            Some(sequence) => request
                .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                .sequence_number(sequence),
            None => request.shard_iterator_type(ShardIteratorType::TrimHorizon),
        };
        Ok(request
            .send()
            .await
            .with_context(|| format!("renew the iterator of shard {shard_id}"))?
            .shard_iterator)
    }

    /// Delivers `records` until they succeed or are given up on: retries, bisection and the
    /// on-failure destination.
    pub async fn settle(
        &self,
        clients: &Clients,
        lambda: &Lambda,
        shard_id: &str,
        records: &[Value],
        shutdown: &CancellationToken,
    ) -> anyhow::Result<Settled> {
        let mut start = 0;
        let mut attempts = 0_u32;
        loop {
            // Records past their maximum age are not delivered again.
            if let Some(max_age) = self.source.maximum_record_age {
                let expired = records[start..]
                    .iter()
                    .take_while(|r| record_age(r).is_some_and(|age| age > max_age))
                    .count();
                if expired > 0 {
                    let end = start + expired;
                    self.give_up(
                        clients,
                        shard_id,
                        &records[start..end],
                        "RecordAgeExceeded",
                        attempts,
                    )
                    .await;
                    start = end;
                }
            }
            let slice = &records[start..];
            if slice.is_empty() {
                return Ok(Settled::Delivered);
            }
            let ids: HashSet<&str> = slice.iter().filter_map(sequence_number).collect();
            let event = json!({ "Records": slice });
            let delivery = super::invoke_batch(
                lambda,
                &self.function,
                &event,
                &ids,
                self.source.report_batch_item_failures,
            )
            .await?;
            attempts += 1;
            self.log(shard_id, slice, &delivery);
            match &delivery.result {
                BatchResult::Succeeded => return Ok(Settled::Delivered),
                BatchResult::Partial(failed) => {
                    // The checkpoint moves to the first failed record; the retry starts there.
                    start += slice
                        .iter()
                        .position(|r| sequence_number(r).is_some_and(|s| failed.contains(s)))
                        .unwrap_or(0);
                }
                BatchResult::Failed(_) if self.source.bisect_on_error && slice.len() > 1 => {
                    let middle = slice.len() / 2;
                    let first = Box::pin(self.settle(
                        clients,
                        lambda,
                        shard_id,
                        &slice[..middle],
                        shutdown,
                    ))
                    .await?;
                    let second = Box::pin(self.settle(
                        clients,
                        lambda,
                        shard_id,
                        &slice[middle..],
                        shutdown,
                    ))
                    .await?;
                    return Ok(
                        if first == Settled::Delivered && second == Settled::Delivered {
                            Settled::Delivered
                        } else {
                            Settled::GivenUp
                        },
                    );
                }
                BatchResult::Failed(_) => {}
            }
            let retries = attempts - 1;
            if self
                .source
                .maximum_retry_attempts
                .is_some_and(|max| retries >= max)
            {
                self.give_up(
                    clients,
                    shard_id,
                    &records[start..],
                    "RetryAttemptsExhausted",
                    attempts,
                )
                .await;
                return Ok(Settled::GivenUp);
            }
            let backoff = FIRST_BACKOFF
                .saturating_mul(2_u32.saturating_pow(retries.min(8)))
                .min(MAX_BACKOFF);
            tokio::select! {
                () = shutdown.cancelled() => anyhow::bail!("stopped while retrying a batch"),
                () = tokio::time::sleep(backoff) => {}
            }
        }
    }

    fn log(&self, shard_id: &str, slice: &[Value], delivery: &super::Delivery) {
        let failed = slice
            .iter()
            .filter(|r| !sequence_number(r).is_some_and(|s| delivery.result.succeeded(s)))
            .count();
        let error_type = match &delivery.result {
            BatchResult::Failed(error_type) => format!(" {error_type}"),
            _ => String::new(),
        };
        let correlation_id = slice.first().and_then(record_correlation_id);
        tracing::info!(
            target: LOG_TARGET,
            correlation_id = correlation_id.as_deref().unwrap_or("-"),
            shard = shard_id,
            "{} <- {}: {} records, {} failed ({}{error_type}) {}ms {}",
            self.function,
            table_name(&self.source.stream_arn),
            slice.len(),
            failed,
            delivery.result.label(),
            delivery.elapsed.as_millis(),
            if delivery.cold_start { "cold" } else { "warm" },
        );
    }

    /// Sends the description of `records` to the on-failure destination (or only logs it when
    /// the mapping has none: the records are skipped either way, as on AWS).
    async fn give_up(
        &self,
        clients: &Clients,
        shard_id: &str,
        records: &[Value],
        condition: &str,
        attempts: u32,
    ) {
        let payload = self.failure_record(shard_id, records, condition, attempts);
        let sent = match &self.destination {
            None => {
                tracing::warn!(target: LOG_TARGET, function = %self.function, condition, records = records.len(), "records skipped; the mapping has no on-failure destination");
                return;
            }
            Some(destination) => {
                destination
                    .send(&clients.sqs, &clients.sns, &payload.to_string(), &[])
                    .await
            }
        };
        match sent {
            Ok(()) => tracing::warn!(
                target: LOG_TARGET,
                function = %self.function,
                condition,
                records = records.len(),
                first = records.first().and_then(sequence_number).unwrap_or("-"),
                "records given up on; their description went to the on-failure destination"
            ),
            Err(err) => tracing::error!(
                target: LOG_TARGET,
                function = %self.function,
                condition,
                error = format!("{err:#}"),
                "records given up on, and the on-failure destination refused their description"
            ),
        }
    }

    /// The on-failure record Lambda sends for a stream batch.
    pub fn failure_record(
        &self,
        shard_id: &str,
        records: &[Value],
        condition: &str,
        attempts: u32,
    ) -> Value {
        let arrival = |r: Option<&Value>| {
            r.and_then(|r| r.pointer("/dynamodb/ApproximateCreationDateTime"))
                .and_then(Value::as_f64)
                .map(|secs| rfc3339_millis((secs * 1000.0) as i128))
        };
        json!({
            "requestContext": {
                "requestId": uuid::Uuid::new_v4().to_string(),
                "functionArn": self.function_arn,
                "condition": condition,
                "approximateInvokeCount": attempts,
            },
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": "Unhandled",
            },
            "version": "1.0",
            "timestamp": rfc3339_millis(time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000),
            "DDBStreamBatchInfo": {
                "shardId": shard_id,
                "startSequenceNumber": records.first().and_then(sequence_number),
                "endSequenceNumber": records.last().and_then(sequence_number),
                "approximateArrivalOfFirstRecord": arrival(records.first()),
                "approximateArrivalOfLastRecord": arrival(records.last()),
                "batchSize": records.len(),
                "streamArn": self.source.stream_arn,
            },
        })
    }
}

fn rfc3339_millis(millis: i128) -> Option<String> {
    let at = time::OffsetDateTime::from_unix_timestamp_nanos(millis * 1_000_000).ok()?;
    at.format(&time::format_description::well_known::Rfc3339)
        .ok()
}

fn sequence_number(record: &Value) -> Option<&str> {
    record
        .pointer("/dynamodb/SequenceNumber")
        .and_then(Value::as_str)
}

fn record_age(record: &Value) -> Option<Duration> {
    let created = record
        .pointer("/dynamodb/ApproximateCreationDateTime")
        .and_then(Value::as_f64)?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp() as f64;
    Some(Duration::from_secs_f64((now - created).max(0.0)))
}

/// The correlation id of an outbox record: its new image's `event` holds the envelope.
fn record_correlation_id(record: &Value) -> Option<String> {
    let text = record.pointer("/dynamodb/NewImage/event/S")?.as_str()?;
    super::correlation_id_in(text)
}

/// `orders` of `arn:aws:dynamodb:<region>:<account>:table/orders/stream/<label>`.
fn table_name(stream_arn: &str) -> &str {
    stream_arn
        .split_once(":table/")
        .and_then(|(_, rest)| rest.split('/').next())
        .unwrap_or(stream_arn)
}

/// A stream record as Lambda passes it to the function.
pub fn lambda_record(record: &Record, stream_arn: &str, region: &str) -> Value {
    let mut dynamodb = Map::new();
    if let Some(d) = record.dynamodb() {
        if let Some(at) = d.approximate_creation_date_time() {
            dynamodb.insert("ApproximateCreationDateTime".into(), json!(at.secs()));
        }
        if let Some(keys) = d.keys() {
            dynamodb.insert("Keys".into(), image(keys));
        }
        if let Some(new) = d.new_image() {
            dynamodb.insert("NewImage".into(), image(new));
        }
        if let Some(old) = d.old_image() {
            dynamodb.insert("OldImage".into(), image(old));
        }
        if let Some(sequence) = d.sequence_number() {
            dynamodb.insert("SequenceNumber".into(), json!(sequence));
        }
        if let Some(size) = d.size_bytes() {
            dynamodb.insert("SizeBytes".into(), json!(size));
        }
        if let Some(view) = d.stream_view_type() {
            dynamodb.insert("StreamViewType".into(), json!(view.as_str()));
        }
    }
    json!({
        "eventID": record.event_id(),
        "eventName": record.event_name().map(|n| n.as_str()),
        "eventVersion": record.event_version().unwrap_or("1.1"),
        "eventSource": record.event_source().unwrap_or("aws:dynamodb"),
        "awsRegion": record.aws_region().unwrap_or(region),
        "dynamodb": dynamodb,
        "eventSourceARN": stream_arn,
    })
}

fn image(item: &std::collections::HashMap<String, AttributeValue>) -> Value {
    Value::Object(
        item.iter()
            .map(|(name, value)| (name.clone(), attribute(value)))
            .collect(),
    )
}

/// An attribute value in DynamoDB's JSON form (`{"S": "..."}`, `{"N": "1"}`, ...).
fn attribute(value: &AttributeValue) -> Value {
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    match value {
        AttributeValue::S(s) => json!({ "S": s }),
        AttributeValue::N(n) => json!({ "N": n }),
        AttributeValue::B(b) => json!({ "B": b64(b.as_ref()) }),
        AttributeValue::Ss(list) => json!({ "SS": list }),
        AttributeValue::Ns(list) => json!({ "NS": list }),
        AttributeValue::Bs(list) => {
            json!({ "BS": list.iter().map(|b| b64(b.as_ref())).collect::<Vec<_>>() })
        }
        AttributeValue::M(map) => json!({ "M": image(map) }),
        AttributeValue::L(list) => json!({ "L": list.iter().map(attribute).collect::<Vec<_>>() }),
        AttributeValue::Null(b) => json!({ "NULL": b }),
        AttributeValue::Bool(b) => json!({ "BOOL": b }),
        _ => Value::Null,
    }
}

/// The stream event sources of a model, with their on-failure destinations.
///
/// Filter patterns are checked here, so one the local stack cannot apply stops the start.
pub fn event_sources(model: &Model) -> anyhow::Result<Vec<StreamSource>> {
    let mut sources = Vec::new();
    for function in &model.functions {
        for source in function.stream_events.iter().filter(|e| e.enabled) {
            let at = || format!("{} event {}", function.logical_id, source.name);
            if !model
                .tables
                .iter()
                .any(|t| source.stream_arn.starts_with(&format!("{}/stream/", t.arn)))
            {
                anyhow::bail!(
                    "{}: no table of the template has the stream {} (does the table have a StreamSpecification?)",
                    at(),
                    source.stream_arn
                );
            }
            for pattern in &source.filters {
                filter::check(pattern)
                    .map_err(|e| anyhow::anyhow!("{}: filter pattern {pattern}: {e}", at()))?;
            }
            let destination = source
                .on_failure
                .as_deref()
                .map(|arn| Destination::resolve(model, arn))
                .transpose()
                .with_context(at)?;
            sources.push(StreamSource {
                function: function.name.clone(),
                function_arn: function.arn.clone(),
                source: source.clone(),
                region: model.region.clone(),
                destination,
            });
        }
    }
    Ok(sources)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template(stream: &str) -> Model {
        let yaml = format!(
            r#"
Transform: AWS::Serverless-2016-10-31
Resources:
  Publisher:
    Type: AWS::Serverless::Function
    Metadata: {{BuildProperties: {{Binary: publisher}}}}
    Properties:
      Events:
        Outbox:
          Type: DynamoDB
          Properties:
            Stream: {stream}
            StartingPosition: TRIM_HORIZON
            BatchSize: 25
            MaximumRetryAttempts: 2
            BisectBatchOnFunctionError: true
            FunctionResponseTypes: [ReportBatchItemFailures]
            DestinationConfig: {{OnFailure: {{Type: SQS, Destination: !GetAtt Failed.Arn}}}}
            FilterCriteria: {{Filters: [{{Pattern: '{{"eventName": ["INSERT"]}}'}}]}}
  Failed:
    Type: AWS::SQS::Queue
  Orders:
    Type: AWS::DynamoDB::Table
    Properties:
      KeySchema: [{{AttributeName: pk, KeyType: HASH}}]
      AttributeDefinitions: [{{AttributeName: pk, AttributeType: S}}]
      StreamSpecification: {{StreamViewType: NEW_IMAGE}}
"#
        );
        local_template::Template::parse(&yaml, ".")
            .unwrap()
            .resolve(&local_template::LoadOptions::default(), &Default::default())
            .unwrap()
    }

    #[test]
    fn mappings_carry_their_settings_and_destination() {
        let sources = event_sources(&template("!GetAtt Orders.StreamArn")).unwrap();
        assert_eq!(sources.len(), 1);
        let s = &sources[0];
        assert_eq!(s.function, "local-Publisher");
        assert_eq!(s.source.batch_size, 25);
        assert_eq!(s.source.maximum_retry_attempts, Some(2));
        assert!(s.source.bisect_on_error && s.source.report_batch_item_failures);
        assert_eq!(s.source.filters, vec![json!({"eventName": ["INSERT"]})]);
        assert!(
            matches!(&s.destination, Some(Destination::Queue { url, .. }) if url.ends_with("/local-Failed"))
        );
    }

    #[test]
    fn a_stream_of_no_table_is_refused() {
        let error = event_sources(&template(
            "arn:aws:dynamodb:us-east-1:123456789012:table/x/stream/1",
        ))
        .err()
        .unwrap()
        .to_string();
        assert!(
            error.contains("no table of the template has the stream"),
            "{error}"
        );
    }

    #[test]
    fn records_are_shaped_as_lambda_sends_them() {
        use aws_sdk_dynamodbstreams::types::{OperationType, StreamRecord, StreamViewType};
        let record = Record::builder()
            .event_id("e1")
            .event_name(OperationType::Insert)
            .dynamodb(
                StreamRecord::builder()
                    .keys("pk", AttributeValue::S("OUTBOX#1".into()))
                    .new_image("pk", AttributeValue::S("OUTBOX#1".into()))
                    .new_image("n", AttributeValue::N("3".into()))
                    .new_image("flags", AttributeValue::L(vec![AttributeValue::Bool(true)]))
                    .sequence_number("100")
                    .size_bytes(20)
                    .stream_view_type(StreamViewType::NewImage)
                    .build(),
            )
            .build();
        let value = lambda_record(&record, "arn:stream", "us-east-1");
        assert_eq!(value["eventName"], "INSERT");
        assert_eq!(value["eventSource"], "aws:dynamodb");
        assert_eq!(value["eventSourceARN"], "arn:stream");
        assert_eq!(value["dynamodb"]["Keys"], json!({"pk": {"S": "OUTBOX#1"}}));
        assert_eq!(value["dynamodb"]["NewImage"]["n"], json!({"N": "3"}));
        assert_eq!(
            value["dynamodb"]["NewImage"]["flags"],
            json!({"L": [{"BOOL": true}]})
        );
        assert_eq!(value["dynamodb"]["SequenceNumber"], "100");
        assert_eq!(value["dynamodb"]["StreamViewType"], "NEW_IMAGE");
    }

    #[test]
    fn table_names_come_from_stream_arns() {
        assert_eq!(
            table_name(
                "arn:aws:dynamodb:us-east-1:1:table/local-Catalog/stream/2026-01-01T00:00:00.000"
            ),
            "local-Catalog"
        );
    }
}
