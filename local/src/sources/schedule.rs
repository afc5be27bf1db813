//! Schedules: `Type: Schedule` (EventBridge rules) and `Type: ScheduleV2` (EventBridge
//! Scheduler) events, run as those services run them.
//!
//! Each enabled schedule invokes its function at every time its expression names: a
//! `rate(...)` one period after the stack starts and every period after, a `cron(...)` at the
//! UTC times it names, an `at(...)` once. Missed times (the machine slept) are not made up.
//! Invocations are asynchronous, as on AWS: each run goes on by itself, the next one does not
//! wait for it, and a failure is logged and retried, never stopping the stack.
//!
//! The event is the schedule's `Input` when it has one (for a `ScheduleV2`, with Scheduler's
//! context attributes `<aws.scheduler.schedule-arn>`, `<aws.scheduler.scheduled-time>`,
//! `<aws.scheduler.execution-id>` and `<aws.scheduler.attempt-number>` filled in); otherwise
//! what each service sends by default ([`default_event`]): the EventBridge `Scheduled Event`,
//! from `aws.events` for a rule and from `aws.scheduler` (with `detail` the string `"{}"`)
//! for a schedule.
//!
//! Retries: a failed invocation is tried again up to `RetryPolicy.MaximumRetryAttempts`
//! times, at most [`MAX_RETRIES`] locally (AWS's default of 185 would keep a broken function
//! busy for a day), waiting 1, 2, 4 ... minutes between attempts, and never once the event is
//! older than `RetryPolicy.MaximumEventAgeInSeconds`. On AWS the schedule's retry policy covers
//! the delivery to Lambda, and Lambda's own asynchronous retries (twice by default) cover
//! function errors; locally both are this one policy. `FlexibleTimeWindow`, `StartDate`,
//! `EndDate` and dead-letter queues are not applied.
//!
//! Every wait runs on a [`Clock`] that can run faster than real time
//! (`StackOptions::schedule_time_scale`), so tests see a `rate(1 minute)` schedule fire
//! every few hundred milliseconds.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use local_lambda::{InvokeRequest, Lambda, Outcome};
use local_template::{Model, ScheduleEventSource, ScheduleKind};
use serde_json::{Value, json};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// The most retries of one run, whatever the retry policy says.
pub const MAX_RETRIES: u32 = 3;

/// The wait before the first retry; each further retry waits twice as long.
pub const FIRST_RETRY_DELAY: Duration = Duration::from_secs(60);

/// The time the schedules run on: wall-clock time at the start, then running `1 / scale`
/// times as fast as real time.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    /// Milliseconds since the epoch at `origin`.
    origin_ms: i64,
    origin: Instant,
    scale: f64,
}

impl Clock {
    /// A clock that starts now; `scale` multiplies every wait (1.0 is real time, 0.005 makes
    /// a minute last 300 ms).
    pub fn new(scale: f64) -> anyhow::Result<Self> {
        if !scale.is_finite() || scale <= 0.0 {
            anyhow::bail!("the schedule time scale must be a positive number, got {scale}");
        }
        let origin_ms = time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000;
        Ok(Self {
            origin_ms: origin_ms as i64,
            origin: Instant::now(),
            scale,
        })
    }

    /// The schedules' current time, in milliseconds since the epoch.
    pub fn now_ms(&self) -> i64 {
        let real = self.origin.elapsed().as_secs_f64() * 1000.0;
        self.origin_ms + (real / self.scale) as i64
    }

    /// The real instant at which the schedules' time reaches `at_ms`.
    pub fn instant_at(&self, at_ms: i64) -> Instant {
        let real_ms = ((at_ms - self.origin_ms) as f64 * self.scale).max(0.0);
        self.origin + Duration::from_secs_f64(real_ms / 1000.0)
    }

    /// How long a wait of `wait` on the schedules' time lasts in real time.
    pub fn real(&self, wait: Duration) -> Duration {
        wait.mul_f64(self.scale)
    }
}

/// One schedule feeding one function.
#[derive(Debug, Clone)]
pub struct ScheduleSource {
    /// Physical name of the function.
    pub function: String,
    pub source: ScheduleEventSource,
    pub region: String,
    pub account_id: String,
}

/// How one attempt of a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    Succeeded,
    /// The function failed (its error type), or could not be invoked.
    Failed(String),
}

impl ScheduleSource {
    /// Runs the schedule until `shutdown` is cancelled, or until it will never fire again.
    pub async fn run(
        self: Arc<Self>,
        lambda: Arc<Lambda>,
        clock: Clock,
        shutdown: CancellationToken,
    ) {
        let start = clock.now_ms();
        let mut after = start;
        let mut runs = JoinSet::new();
        let mut first = true;
        loop {
            let Some(due) = self.source.expression.next_fire(start, after) else {
                if first {
                    tracing::info!(target: "local::schedule", "{} {}: never fires (its time has passed)", self.source.schedule_name, self.source.expression);
                }
                break;
            };
            if first {
                tracing::info!(
                    target: "local::schedule",
                    "{} {} -> {}: first run at {}",
                    self.source.schedule_name,
                    self.source.expression,
                    self.function,
                    rfc3339(due)
                );
                first = false;
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep_until(clock.instant_at(due)) => {}
            }
            runs.spawn(
                self.clone()
                    .fire(lambda.clone(), clock, due, shutdown.clone()),
            );
            while runs.try_join_next().is_some() {}
            // After a long pause (a suspended machine), go on from now.
            after = due.max(clock.now_ms());
        }
        while runs.join_next().await.is_some() {}
    }

    /// One run at `scheduled_ms`: the invocation and its retries. Returns how each attempt
    /// ended.
    pub async fn fire(
        self: Arc<Self>,
        lambda: Arc<Lambda>,
        clock: Clock,
        scheduled_ms: i64,
        shutdown: CancellationToken,
    ) -> Vec<Attempt> {
        let execution_id = uuid::Uuid::new_v4().to_string();
        let retries = self.source.maximum_retry_attempts.min(MAX_RETRIES);
        let mut attempts = Vec::new();
        let mut delay = FIRST_RETRY_DELAY;
        for attempt in 1..=retries + 1 {
            let event = self.event(scheduled_ms, &execution_id, attempt);
            let started = std::time::Instant::now();
            let invocation = lambda
                .invoke(&self.function, InvokeRequest::new(Bytes::from(event)))
                .await;
            let (result, cold) = match invocation {
                Ok(invocation) => (
                    match invocation.outcome {
                        Outcome::Success(_) => Attempt::Succeeded,
                        Outcome::Error(error) => Attempt::Failed(error.error_type),
                    },
                    invocation.cold_start,
                ),
                Err(err) => (Attempt::Failed(err.to_string()), false),
            };
            let outcome = match &result {
                Attempt::Succeeded => "ok".to_owned(),
                Attempt::Failed(error) => format!("error {error}"),
            };
            let attempt_note = match (&result, attempt) {
                (Attempt::Succeeded, 1) => String::new(),
                (Attempt::Failed(_), n) if n <= retries && !shutdown.is_cancelled() => {
                    format!(", attempt {n}/{}, retrying", retries + 1)
                }
                (_, n) => format!(", attempt {n}/{}", retries + 1),
            };
            tracing::info!(
                target: "local::schedule",
                "{} <- {} {}: {outcome} {}ms {}{attempt_note}",
                self.function,
                self.source.schedule_name,
                rfc3339(scheduled_ms),
                started.elapsed().as_millis(),
                if cold { "cold" } else { "warm" },
            );
            let failed = result != Attempt::Succeeded;
            attempts.push(result);
            if !failed || shutdown.is_cancelled() {
                break;
            }
            if attempt > retries {
                tracing::warn!(target: "local::schedule", "{} <- {}: giving up the run of {} after {attempt} attempts", self.function, self.source.schedule_name, rfc3339(scheduled_ms));
                break;
            }
            let age = clock.now_ms() + delay.as_millis() as i64 - scheduled_ms;
            if age > self.source.maximum_event_age.as_millis() as i64 {
                tracing::warn!(target: "local::schedule", "{} <- {}: dropping the run of {}: a retry would be older than MaximumEventAgeInSeconds ({} s)", self.function, self.source.schedule_name, rfc3339(scheduled_ms), self.source.maximum_event_age.as_secs());
                break;
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(clock.real(delay)) => {}
            }
            delay *= 2;
        }
        attempts
    }

    /// The event of one attempt: the `Input` (with Scheduler's context attributes filled in),
    /// or the service's default event.
    pub fn event(&self, scheduled_ms: i64, execution_id: &str, attempt: u32) -> Vec<u8> {
        match &self.source.input {
            Some(input) if self.source.kind == ScheduleKind::Scheduler => input
                .replace("<aws.scheduler.schedule-arn>", &self.source.arn)
                .replace("<aws.scheduler.scheduled-time>", &rfc3339(scheduled_ms))
                .replace("<aws.scheduler.execution-id>", execution_id)
                .replace("<aws.scheduler.attempt-number>", &attempt.to_string())
                .into_bytes(),
            Some(input) => input.clone().into_bytes(),
            None => default_event(self, scheduled_ms, execution_id)
                .to_string()
                .into_bytes(),
        }
    }
}

/// The event a schedule without `Input` sends: EventBridge's `Scheduled Event`. A rule sends
/// it from `aws.events` with `detail` `{}`; EventBridge Scheduler from `aws.scheduler`, with
/// `detail` the string `"{}"`.
pub fn default_event(schedule: &ScheduleSource, scheduled_ms: i64, id: &str) -> Value {
    let (source, detail) = match schedule.source.kind {
        ScheduleKind::Rule => ("aws.events", json!({})),
        ScheduleKind::Scheduler => ("aws.scheduler", json!("{}")),
    };
    json!({
        "version": "0",
        "id": id,
        "detail-type": "Scheduled Event",
        "source": source,
        "account": schedule.account_id,
        "time": rfc3339(scheduled_ms),
        "region": schedule.region,
        "resources": [schedule.source.arn],
        "detail": detail,
    })
}

/// `2026-01-01T10:05:00Z`: whole seconds, UTC.
pub fn rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let (y, mo, d) = local_template::schedule::civil_from_days(days);
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// The enabled schedules of a model.
pub fn event_sources(model: &Model) -> Vec<ScheduleSource> {
    let mut sources = Vec::new();
    for function in &model.functions {
        for source in &function.schedule_events {
            if !source.enabled {
                tracing::info!(target: "local::schedule", "{} {} -> {}: disabled", source.schedule_name, source.expression, function.name);
                continue;
            }
            sources.push(ScheduleSource {
                function: function.name.clone(),
                source: source.clone(),
                region: model.region.clone(),
                account_id: model.account_id.clone(),
            });
        }
    }
    sources
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(events: &str) -> Model {
        let yaml = format!(
            r#"
Transform: AWS::Serverless-2016-10-31
Resources:
  Cleaner:
    Type: AWS::Serverless::Function
    Metadata: {{BuildProperties: {{Binary: cleaner}}}}
    Properties:
      Events:
{events}
"#
        );
        local_template::Template::parse(&yaml, ".")
            .unwrap()
            .resolve(&local_template::LoadOptions::default(), &Default::default())
            .unwrap()
    }

    fn source(events: &str) -> ScheduleSource {
        let mut sources = event_sources(&model(events));
        assert_eq!(sources.len(), 1);
        sources.remove(0)
    }

    fn json(bytes: Vec<u8>) -> Value {
        serde_json::from_slice(&bytes).unwrap()
    }

    /// 2026-01-01T10:05:00Z.
    const AT: i64 = 1_767_261_900_000;

    #[test]
    fn times_are_whole_seconds_in_utc() {
        assert_eq!(rfc3339(AT), "2026-01-01T10:05:00Z");
        assert_eq!(rfc3339(AT + 999), "2026-01-01T10:05:00Z");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
    }

    #[test]
    fn a_rule_sends_the_eventbridge_scheduled_event() {
        let rule = source("        Tick: {Type: Schedule, Properties: {Schedule: rate(1 minute)}}");
        assert_eq!(
            json(rule.event(AT, "e-1", 1)),
            json!({
                "version": "0",
                "id": "e-1",
                "detail-type": "Scheduled Event",
                "source": "aws.events",
                "account": "123456789012",
                "time": "2026-01-01T10:05:00Z",
                "region": "us-east-1",
                "resources": ["arn:aws:events:us-east-1:123456789012:rule/local-CleanerTick"],
                "detail": {},
            })
        );
    }

    #[test]
    fn a_scheduler_schedule_sends_its_default_notification() {
        let schedule = source(
            "        Tick: {Type: ScheduleV2, Properties: {ScheduleExpression: rate(1 minute)}}",
        );
        let event = json(schedule.event(AT, "e-2", 1));
        assert_eq!(event["source"], "aws.scheduler");
        assert_eq!(event["detail-type"], "Scheduled Event");
        assert_eq!(event["detail"], "{}");
        assert_eq!(event["id"], "e-2");
        assert_eq!(event["time"], "2026-01-01T10:05:00Z");
        assert_eq!(
            event["resources"],
            json!(["arn:aws:scheduler:us-east-1:123456789012:schedule/default/CleanerTick"])
        );
    }

    #[test]
    fn input_replaces_the_event_and_scheduler_fills_in_its_context_attributes() {
        let schedule = source(
            r#"        Tick:
          Type: ScheduleV2
          Properties:
            ScheduleExpression: rate(1 minute)
            Input: '{"arn": "<aws.scheduler.schedule-arn>", "at": "<aws.scheduler.scheduled-time>", "run": "<aws.scheduler.execution-id>", "attempt": <aws.scheduler.attempt-number>}'"#,
        );
        assert_eq!(
            json(schedule.event(AT, "e-3", 2)),
            json!({
                "arn": "arn:aws:scheduler:us-east-1:123456789012:schedule/default/CleanerTick",
                "at": "2026-01-01T10:05:00Z",
                "run": "e-3",
                "attempt": 2,
            })
        );
        // A rule sends its Input as written.
        let rule = source(
            r#"        Tick: {Type: Schedule, Properties: {Schedule: rate(1 minute), Input: '{"run": "<aws.scheduler.execution-id>"}'}}"#,
        );
        assert_eq!(
            json(rule.event(AT, "e-4", 1)),
            json!({"run": "<aws.scheduler.execution-id>"})
        );
    }

    #[test]
    fn disabled_schedules_do_not_run() {
        let model = model(
            "        Off: {Type: Schedule, Properties: {Schedule: rate(1 minute), Enabled: false}}
        Paused: {Type: ScheduleV2, Properties: {ScheduleExpression: rate(1 minute), State: DISABLED}}
        On: {Type: ScheduleV2, Properties: {ScheduleExpression: rate(1 minute)}}",
        );
        let sources = event_sources(&model);
        assert_eq!(sources.len(), 1);
        assert_eq!(sources[0].source.name, "On");
        assert_eq!(sources[0].function, "local-Cleaner");
    }

    #[test]
    fn the_clock_runs_scaled() {
        assert!(Clock::new(0.0).is_err());
        assert!(Clock::new(f64::NAN).is_err());
        let clock = Clock::new(0.005).unwrap();
        let now = clock.now_ms();
        // A minute of schedule time is 300 ms of real time.
        let later = clock.instant_at(now + 60_000);
        let real = later.saturating_duration_since(Instant::now());
        assert!(real <= Duration::from_millis(300), "{real:?}");
        assert!(real >= Duration::from_millis(250), "{real:?}");
        assert_eq!(
            clock.real(Duration::from_secs(60)),
            Duration::from_millis(300)
        );
    }
}
