//! SNS to Lambda: subscriptions with protocol `lambda` (a function's `Type: SNS` event, or an
//! `AWS::SNS::Subscription` whose endpoint is a function), delivered as SNS and Lambda deliver
//! them.
//!
//! The emulator cannot invoke the local functions, so in the emulator each such subscription is
//! a subscription of a delivery queue of the local stack (`<stack>-sns-<subscription>`), with the
//! same `FilterPolicy` and `FilterPolicyScope` and without raw delivery: the emulator applies the
//! filter policy as SNS does, and the queue receives SNS's envelope. A poller turns each message
//! into the event SNS sends to Lambda (one record, `EventSource: aws:sns`, the message, subject
//! and attributes) and invokes the function asynchronously, as SNS does:
//!
//! - A function error is retried as Lambda retries asynchronous invocations: `MaximumRetryAttempts`
//!   more times (`EventInvokeConfig`, default 2), one minute before the second attempt and two
//!   before the third, and never once the event is older than `MaximumEventAgeInSeconds`.
//! - A success goes, as an invocation record, to `DestinationConfig.OnSuccess`. An event given up
//!   goes as an invocation record (condition `RetriesExhausted` or `EventAgeExceeded`) to
//!   `DestinationConfig.OnFailure`, and as itself to the function's `DeadLetterQueue`, with the
//!   `RequestID`, `ErrorCode` and `ErrorMessage` attributes Lambda gives it. Queue and topic
//!   destinations are served; the template is refused for others.
//! - A delivery that cannot reach the function (its process cannot start) is SNS's to retry:
//!   three times at once, then the SNS message goes to the subscription's `RedrivePolicy`
//!   dead-letter queue, if it has one.
//!
//! Waits last `StackOptions::async_time_scale` times as long as on AWS, so tests see the retries
//! of minutes within a second.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use local_lambda::{Invocation, InvokeRequest, Lambda, Outcome};
use local_template::{Model, Subscription};
use serde_json::{Value, json};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::Destination;

const LOG_TARGET: &str = "local::sns";

/// The wait before Lambda's first retry of an asynchronous invocation; the second waits twice
/// as long.
pub const FIRST_RETRY_DELAY: Duration = Duration::from_secs(60);

/// How many times SNS tries again at once to reach a function it could not reach, before the
/// subscription's dead-letter queue gets the message.
pub const IMMEDIATE_DELIVERY_RETRIES: u32 = 3;

/// The longest long poll SQS allows.
const RECEIVE_WAIT_SECONDS: i32 = 20;

/// The clients an SNS source uses.
#[derive(Debug, Clone)]
pub struct Clients {
    pub sqs: aws_sdk_sqs::Client,
    pub sns: aws_sdk_sns::Client,
}

/// One `lambda` subscription: a topic feeding a function through a delivery queue.
#[derive(Debug, Clone)]
pub struct SnsSource {
    /// Physical name of the function.
    pub function: String,
    pub function_arn: String,
    /// The subscription's logical id, for the log.
    pub subscription: String,
    pub topic_arn: String,
    /// The delivery queue's subscription to the topic (each record's `EventSubscriptionArn`).
    pub subscription_arn: String,
    /// The delivery queue.
    pub queue_url: String,
    pub maximum_retry_attempts: u32,
    pub maximum_event_age: Duration,
    pub on_success: Option<Destination>,
    pub on_failure: Option<Destination>,
    pub dead_letter: Option<Destination>,
    /// The subscription's `RedrivePolicy.deadLetterTargetArn`, as a queue.
    pub redrive: Option<Destination>,
    /// Multiplies every wait (see the module's documentation).
    pub time_scale: f64,
}

/// How one attempt of a delivery ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    Succeeded,
    /// The function returned an error (its type).
    Failed(String),
    /// The function could not be invoked at all.
    Unreachable(String),
}

impl SnsSource {
    /// Polls the delivery queue until `shutdown` is cancelled, delivering each message on its
    /// own, as SNS does. Deliveries still retrying when the stack stops are dropped.
    pub async fn run(
        self: Arc<Self>,
        clients: Clients,
        lambda: Arc<Lambda>,
        shutdown: CancellationToken,
    ) {
        let mut deliveries = JoinSet::new();
        loop {
            let received = tokio::select! {
                () = shutdown.cancelled() => break,
                received = clients
                    .sqs
                    .receive_message()
                    .queue_url(&self.queue_url)
                    .max_number_of_messages(10)
                    .wait_time_seconds(RECEIVE_WAIT_SECONDS)
                    .send() => received,
            };
            let messages = match received {
                Ok(output) => output.messages.unwrap_or_default(),
                Err(err) => {
                    tracing::warn!(target: LOG_TARGET, function = %self.function, error = %aws_sdk_sqs::error::DisplayErrorContext(&err), "receive failed; retrying");
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    }
                }
            };
            for message in messages {
                // Lambda has taken the event once it is received: its retries are its own.
                if let Some(handle) = message.receipt_handle()
                    && let Err(err) = clients
                        .sqs
                        .delete_message()
                        .queue_url(&self.queue_url)
                        .receipt_handle(handle)
                        .send()
                        .await
                {
                    tracing::warn!(target: LOG_TARGET, function = %self.function, error = %aws_sdk_sqs::error::DisplayErrorContext(&err), "could not take the message off the delivery queue; it may come again");
                }
                let body = message.body.unwrap_or_default();
                deliveries.spawn(self.clone().deliver(
                    clients.clone(),
                    lambda.clone(),
                    body,
                    shutdown.clone(),
                ));
            }
            while deliveries.try_join_next().is_some() {}
        }
        deliveries.abort_all();
        while deliveries.join_next().await.is_some() {}
    }

    /// Delivers one SNS message (the envelope the delivery queue received): the invocation,
    /// Lambda's retries and the destinations. Returns how each attempt ended.
    pub async fn deliver(
        self: Arc<Self>,
        clients: Clients,
        lambda: Arc<Lambda>,
        envelope: String,
        shutdown: CancellationToken,
    ) -> Vec<Attempt> {
        let Some(event) = self.event(&envelope) else {
            tracing::error!(target: LOG_TARGET, function = %self.function, body = %envelope, "the delivery queue received something that is not an SNS notification; dropped");
            return Vec::new();
        };
        let published = event
            .pointer("/Records/0/Sns/Timestamp")
            .and_then(Value::as_str)
            .and_then(parse_rfc3339)
            .unwrap_or_else(time::OffsetDateTime::now_utc);
        let payload = Bytes::from(event.to_string());
        let mut attempts = Vec::new();
        let mut invoked = 0_u32;
        let mut unreachable = 0_u32;
        let mut delay = FIRST_RETRY_DELAY;
        loop {
            let started = std::time::Instant::now();
            let invocation = match lambda
                .invoke(&self.function, InvokeRequest::new(payload.clone()))
                .await
            {
                Ok(invocation) => invocation,
                Err(err) => {
                    let error = err.to_string();
                    self.log(
                        &event,
                        &Attempt::Unreachable(error.clone()),
                        None,
                        started.elapsed(),
                        invoked,
                    );
                    attempts.push(Attempt::Unreachable(error.clone()));
                    unreachable += 1;
                    if unreachable > IMMEDIATE_DELIVERY_RETRIES || shutdown.is_cancelled() {
                        self.redrive(&clients, &envelope, &error).await;
                        return attempts;
                    }
                    continue;
                }
            };
            invoked += 1;
            let attempt = match &invocation.outcome {
                Outcome::Success(_) => Attempt::Succeeded,
                Outcome::Error(error) => Attempt::Failed(error.error_type.clone()),
            };
            self.log(
                &event,
                &attempt,
                Some(&invocation),
                started.elapsed(),
                invoked,
            );
            attempts.push(attempt.clone());
            if attempt == Attempt::Succeeded {
                if let Some(destination) = &self.on_success {
                    let record = self.invocation_record(&event, &invocation, "Success", invoked);
                    self.send(&clients, destination, &record.to_string(), &[], "OnSuccess")
                        .await;
                }
                return attempts;
            }
            if shutdown.is_cancelled() {
                return attempts;
            }
            if invoked > self.maximum_retry_attempts {
                self.give_up(&clients, &event, &invocation, "RetriesExhausted", invoked)
                    .await;
                return attempts;
            }
            let age = (time::OffsetDateTime::now_utc() - published).unsigned_abs() + delay;
            if age > self.maximum_event_age {
                self.give_up(&clients, &event, &invocation, "EventAgeExceeded", invoked)
                    .await;
                return attempts;
            }
            tokio::select! {
                () = shutdown.cancelled() => return attempts,
                () = tokio::time::sleep(delay.mul_f64(self.time_scale)) => {}
            }
            delay *= 2;
        }
    }

    /// The event SNS sends to Lambda for one message: one record, the envelope's fields with
    /// Lambda's spelling (`SigningCertUrl`, `UnsubscribeUrl`), `Subject` null when there is none.
    pub fn event(&self, envelope: &str) -> Option<Value> {
        let envelope: Value = serde_json::from_str(envelope).ok()?;
        let text = |key: &str| envelope.get(key).and_then(Value::as_str);
        if text("Type") != Some("Notification") {
            return None;
        }
        Some(json!({
            "Records": [{
                "EventSource": "aws:sns",
                "EventVersion": "1.0",
                "EventSubscriptionArn": self.subscription_arn,
                "Sns": {
                    "Type": "Notification",
                    "MessageId": text("MessageId")?,
                    "TopicArn": text("TopicArn").unwrap_or(&self.topic_arn),
                    "Subject": text("Subject"),
                    "Message": text("Message")?,
                    "Timestamp": text("Timestamp")?,
                    "SignatureVersion": text("SignatureVersion").unwrap_or("1"),
                    "Signature": text("Signature").unwrap_or_default(),
                    "SigningCertUrl": text("SigningCertURL").unwrap_or_default(),
                    "UnsubscribeUrl": text("UnsubscribeURL").unwrap_or_default(),
                    "MessageAttributes": envelope.get("MessageAttributes").cloned().unwrap_or_else(|| json!({})),
                },
            }],
        }))
    }

    /// The record Lambda sends to an invocation's destination.
    pub fn invocation_record(
        &self,
        event: &Value,
        invocation: &Invocation,
        condition: &str,
        attempts: u32,
    ) -> Value {
        let (response, function_error) = match &invocation.outcome {
            Outcome::Success(body) => (json_or_text(body), None),
            Outcome::Error(error) => (
                json_or_text(&error.payload),
                Some(error.function_error_header()),
            ),
        };
        let mut response_context = json!({"statusCode": 200, "executedVersion": "$LATEST"});
        if let Some(function_error) = function_error {
            response_context["functionError"] = json!(function_error);
        }
        json!({
            "version": "1.0",
            "timestamp": now_rfc3339(),
            "requestContext": {
                "requestId": invocation.request_id,
                "functionArn": format!("{}:$LATEST", self.function_arn),
                "condition": condition,
                "approximateInvokeCount": attempts,
            },
            "requestPayload": event,
            "responseContext": response_context,
            "responsePayload": response,
        })
    }

    /// Sends an event given up on to the on-failure destination (an invocation record) and the
    /// dead-letter queue (the event, with Lambda's attributes).
    async fn give_up(
        &self,
        clients: &Clients,
        event: &Value,
        invocation: &Invocation,
        condition: &str,
        attempts: u32,
    ) {
        tracing::warn!(target: LOG_TARGET, function = %self.function, subscription = %self.subscription, condition, attempts, "giving up an SNS delivery");
        if let Some(destination) = &self.on_failure {
            let record = self.invocation_record(event, invocation, condition, attempts);
            self.send(clients, destination, &record.to_string(), &[], "OnFailure")
                .await;
        }
        if let Some(destination) = &self.dead_letter {
            let message = match &invocation.outcome {
                Outcome::Error(error) => error.error_message.chars().take(1024).collect(),
                Outcome::Success(_) => String::new(),
            };
            let attributes = [
                ("RequestID", "String", invocation.request_id.clone()),
                ("ErrorCode", "Number", "200".to_owned()),
                ("ErrorMessage", "String", message),
            ];
            self.send(
                clients,
                destination,
                &event.to_string(),
                &attributes,
                "DeadLetterQueue",
            )
            .await;
        }
        if self.on_failure.is_none() && self.dead_letter.is_none() {
            tracing::warn!(target: LOG_TARGET, function = %self.function, "the event is dropped: the function has no OnFailure destination or DeadLetterQueue");
        }
    }

    /// SNS gives up reaching the function: the message goes to the subscription's dead-letter
    /// queue (or is dropped, as SNS drops it without one).
    async fn redrive(&self, clients: &Clients, envelope: &str, error: &str) {
        tracing::warn!(target: LOG_TARGET, function = %self.function, subscription = %self.subscription, error, "SNS could not reach the function");
        match &self.redrive {
            Some(destination) => {
                self.send(clients, destination, envelope, &[], "RedrivePolicy")
                    .await;
            }
            None => {
                tracing::warn!(target: LOG_TARGET, subscription = %self.subscription, "the message is dropped: the subscription has no RedrivePolicy");
            }
        }
    }

    async fn send(
        &self,
        clients: &Clients,
        destination: &Destination,
        body: &str,
        attributes: &[(&str, &str, String)],
        what: &str,
    ) {
        if let Err(err) = destination
            .send(&clients.sqs, &clients.sns, body, attributes)
            .await
        {
            tracing::error!(target: LOG_TARGET, function = %self.function, destination = what, error = format!("{err:#}"), "the destination refused the event");
        }
    }

    fn log(
        &self,
        event: &Value,
        attempt: &Attempt,
        invocation: Option<&Invocation>,
        elapsed: Duration,
        tries: u32,
    ) {
        let outcome = match attempt {
            Attempt::Succeeded => "ok".to_owned(),
            Attempt::Failed(error) => format!("error {error}"),
            Attempt::Unreachable(error) => format!("unreachable: {error}"),
        };
        let warmth = match invocation {
            Some(i) if i.cold_start => " cold",
            Some(_) => " warm",
            None => "",
        };
        let correlation = event
            .pointer("/Records/0/Sns/Message")
            .and_then(Value::as_str)
            .and_then(super::correlation_id_in);
        tracing::info!(
            target: LOG_TARGET,
            correlation_id = correlation.as_deref().unwrap_or("-"),
            "{} <- {}: {outcome} {}ms{warmth}{}",
            self.function,
            super::arn_name(&self.topic_arn),
            elapsed.as_millis(),
            if tries > 1 { format!(", attempt {tries}/{}", self.maximum_retry_attempts + 1) } else { String::new() },
        );
    }
}

fn json_or_text(body: &[u8]) -> Value {
    serde_json::from_slice(body)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(body).into_owned()))
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn parse_rfc3339(text: &str) -> Option<time::OffsetDateTime> {
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()
}

/// The `lambda` subscriptions of a model, each with its function's asynchronous invocation
/// settings. The delivery queues are not made yet: [`provision`] makes them.
pub fn lambda_subscriptions(model: &Model) -> Vec<&Subscription> {
    model
        .subscriptions
        .iter()
        .filter(|s| s.protocol.eq_ignore_ascii_case("lambda"))
        .collect()
}

/// Makes the delivery queue of each `lambda` subscription, subscribes it to the topic with the
/// subscription's filter policy, and returns the sources that poll them.
pub async fn provision(
    model: &Model,
    clients: &Clients,
    time_scale: f64,
) -> anyhow::Result<Vec<SnsSource>> {
    let mut sources = Vec::new();
    for sub in lambda_subscriptions(model) {
        let at = || format!("subscription {}", sub.logical_id);
        let endpoint = sub
            .endpoint
            .strip_suffix(":$LATEST")
            .unwrap_or(&sub.endpoint);
        let function = model
            .functions
            .iter()
            .find(|f| f.arn == endpoint || f.name == endpoint)
            .with_context(|| {
                format!(
                    "{}: no function of the template has the ARN {}",
                    at(),
                    sub.endpoint
                )
            })?;
        let resolve = |d: &Option<local_template::Destination>| {
            d.as_ref()
                .map(|d| Destination::resolve(model, &d.arn))
                .transpose()
                .with_context(|| format!("function {}", function.logical_id))
        };
        let redrive = match sub.properties.pointer("/RedrivePolicy/deadLetterTargetArn") {
            Some(arn) => Some(
                Destination::resolve(model, arn.as_str().unwrap_or_default())
                    .with_context(|| format!("{}: RedrivePolicy", at()))?,
            ),
            None => None,
        };
        let name: String = format!("{}-sns-{}", model.stack_name, sub.logical_id)
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .take(80)
            .collect();
        let queue_url = clients
            .sqs
            .create_queue()
            .queue_name(&name)
            .send()
            .await
            .with_context(|| format!("{}: create the delivery queue {name}", at()))?
            .queue_url
            .with_context(|| format!("the delivery queue {name} has no URL"))?;
        let queue_arn = clients
            .sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .context("read the delivery queue's ARN")?
            .attributes
            .and_then(|mut a| a.remove(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
            .context("the delivery queue has no ARN")?;
        let mut subscribe = clients
            .sns
            .subscribe()
            .topic_arn(&sub.topic_arn)
            .protocol("sqs")
            .endpoint(queue_arn)
            .return_subscription_arn(true);
        for key in ["FilterPolicy", "FilterPolicyScope"] {
            if let Some(value) = sub.properties.get(key) {
                let text = match value {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                subscribe = subscribe.attributes(key, text);
            }
        }
        let subscription_arn = subscribe
            .send()
            .await
            .with_context(|| {
                format!(
                    "{}: subscribe the delivery queue to {}",
                    at(),
                    sub.topic_arn
                )
            })?
            .subscription_arn
            .unwrap_or_default();
        tracing::info!(target: "local::provision", kind = "subscription", name = %sub.logical_id, protocol = "lambda", endpoint = %function.name, "provisioned");
        let config = &function.async_invoke;
        sources.push(SnsSource {
            function: function.name.clone(),
            function_arn: function.arn.clone(),
            subscription: sub.logical_id.clone(),
            topic_arn: sub.topic_arn.clone(),
            subscription_arn,
            queue_url,
            maximum_retry_attempts: config.maximum_retry_attempts,
            maximum_event_age: config.maximum_event_age,
            on_success: resolve(&config.on_success)?,
            on_failure: resolve(&config.on_failure)?,
            dead_letter: resolve(&config.dead_letter)?,
            redrive,
            time_scale,
        });
    }
    Ok(sources)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source() -> SnsSource {
        SnsSource {
            function: "local-Worker".into(),
            function_arn: "arn:aws:lambda:us-east-1:123456789012:function:local-Worker".into(),
            subscription: "WorkerAlerts".into(),
            topic_arn: "arn:aws:sns:us-east-1:123456789012:alerts".into(),
            subscription_arn: "arn:aws:sns:us-east-1:123456789012:alerts:1b2c".into(),
            queue_url: "http://127.0.0.1/123456789012/local-sns-WorkerAlerts".into(),
            maximum_retry_attempts: 2,
            maximum_event_age: Duration::from_secs(21_600),
            on_success: None,
            on_failure: None,
            dead_letter: None,
            redrive: None,
            time_scale: 1.0,
        }
    }

    #[test]
    fn the_envelope_becomes_the_event_sns_sends_to_lambda() {
        let envelope = json!({
            "Type": "Notification",
            "MessageId": "m-1",
            "TopicArn": "arn:aws:sns:us-east-1:123456789012:alerts",
            "Message": "{\"correlationId\":\"c-1\"}",
            "Timestamp": "2026-12-01T10:00:00.000Z",
            "SignatureVersion": "1",
            "Signature": "c2ln",
            "SigningCertURL": "https://sns.us-east-1.amazonaws.com/cert.pem",
            "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
            "MessageAttributes": {"kind": {"Type": "String", "Value": "alert"}},
        });
        let event = source().event(&envelope.to_string()).expect("an event");
        let record = &event["Records"][0];
        assert_eq!(record["EventSource"], "aws:sns");
        assert_eq!(record["EventVersion"], "1.0");
        assert_eq!(
            record["EventSubscriptionArn"],
            "arn:aws:sns:us-east-1:123456789012:alerts:1b2c"
        );
        assert_eq!(record["Sns"]["Subject"], Value::Null);
        assert_eq!(record["Sns"]["SigningCertUrl"], envelope["SigningCertURL"]);
        assert_eq!(record["Sns"]["UnsubscribeUrl"], envelope["UnsubscribeURL"]);
        assert_eq!(record["Sns"]["MessageAttributes"]["kind"]["Value"], "alert");
        // The official event type reads it.
        let typed: aws_lambda_events::event::sns::SnsEvent =
            serde_json::from_value(event).expect("an SnsEvent");
        assert_eq!(typed.records[0].sns.message, "{\"correlationId\":\"c-1\"}");
    }

    #[test]
    fn what_is_not_a_notification_is_no_event() {
        assert!(source().event("not json").is_none());
        assert!(
            source()
                .event(r#"{"Type": "SubscriptionConfirmation"}"#)
                .is_none()
        );
        assert!(source().event(r#"{"Type": "Notification"}"#).is_none());
    }
}
