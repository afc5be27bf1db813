//! The event tap: every message published to the template's topics, logged and checked against its
//! JSON Schema.
//!
//! At start the stack subscribes one queue per topic (raw delivery, no filter) and reads it in the
//! background. Each message is expected to be an event envelope (`{"id", "type", "version",
//! "occurredAt", "correlationId", "data"}`) with a schema at `events/schemas/<type>.v<version>.json`;
//! one `event` line per message goes to the log with its correlation id, and what does not match
//! is logged as an error and kept, so tests can assert that every event they caused is valid
//! ([`EventTap::by_correlation`]).

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::sync::lock;

const LOG_TARGET: &str = "local::events";
/// Events kept in memory (the oldest are forgotten).
const KEPT: usize = 20_000;

/// The schemas of `events/schemas`, by event type and version.
pub struct Schemas {
    validators: HashMap<(String, u64), jsonschema::Validator>,
}

impl std::fmt::Debug for Schemas {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Schemas")
            .field("types", &self.validators.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Schemas {
    /// Loads every `<Type>.v<version>.json` of `dir` (none if the directory does not exist).
    ///
    /// # Errors
    /// A file that is not JSON or not a valid schema, or a name of another shape.
    pub fn load(dir: &Path) -> anyhow::Result<Self> {
        let mut validators = HashMap::new();
        if !dir.is_dir() {
            return Ok(Self { validators });
        }
        for entry in std::fs::read_dir(dir).with_context(|| format!("read {}", dir.display()))? {
            let path = entry?.path();
            if path.extension().and_then(|e| e.to_str()) != Some("json") {
                continue;
            }
            let stem = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or_default();
            let (event_type, version) = stem
                .rsplit_once(".v")
                .and_then(|(t, v)| Some((t.to_owned(), v.parse::<u64>().ok()?)))
                .with_context(|| format!("{}: name it <Type>.v<version>.json", path.display()))?;
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("read {}", path.display()))?;
            let schema: Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not JSON", path.display()))?;
            let validator = jsonschema::options()
                .should_validate_formats(true)
                .build(&schema)
                .map_err(|e| anyhow::anyhow!("{} is not a valid schema: {e}", path.display()))?;
            validators.insert((event_type, version), validator);
        }
        Ok(Self { validators })
    }

    /// How many schemas were loaded.
    pub fn len(&self) -> usize {
        self.validators.len()
    }

    /// Whether none were.
    pub fn is_empty(&self) -> bool {
        self.validators.is_empty()
    }

    /// What is wrong with `event` (empty when it matches its schema).
    pub fn check(&self, event: &Value) -> Vec<String> {
        let (Some(event_type), Some(version)) = (
            event.get("type").and_then(Value::as_str),
            event.get("version").and_then(Value::as_u64),
        ) else {
            return vec!["not an event envelope (no type or version)".into()];
        };
        match self.validators.get(&(event_type.to_owned(), version)) {
            None => vec![format!(
                "no schema events/schemas/{event_type}.v{version}.json"
            )],
            Some(validator) => validator
                .iter_errors(event)
                .map(|e| format!("{}: {e}", e.instance_path()))
                .collect(),
        }
    }
}

/// One message seen on a topic.
#[derive(Debug, Clone)]
pub struct ObservedEvent {
    /// The topic's name.
    pub topic: String,
    /// The message, parsed (a string value when it is not JSON).
    pub event: Value,
    /// What does not match its schema (empty: valid).
    pub problems: Vec<String>,
}

impl ObservedEvent {
    /// The envelope's `type`.
    pub fn event_type(&self) -> &str {
        self.event
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_default()
    }
}

/// What the tap has seen.
#[derive(Debug, Default)]
pub struct EventTap {
    seen: Mutex<VecDeque<ObservedEvent>>,
}

impl EventTap {
    /// A new, empty tap.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Every event seen so far (the latest [`KEPT`]).
    pub fn events(&self) -> Vec<ObservedEvent> {
        lock(&self.seen).iter().cloned().collect()
    }

    /// The events seen so far that do not match their schema.
    pub fn problems(&self) -> Vec<ObservedEvent> {
        lock(&self.seen)
            .iter()
            .filter(|e| !e.problems.is_empty())
            .cloned()
            .collect()
    }

    /// The events that carry `correlation_id`.
    pub fn by_correlation(&self, correlation_id: &str) -> Vec<ObservedEvent> {
        lock(&self.seen)
            .iter()
            .filter(|e| {
                e.event.get("correlationId").and_then(Value::as_str) == Some(correlation_id)
            })
            .cloned()
            .collect()
    }

    fn record(&self, observed: ObservedEvent) {
        let mut seen = lock(&self.seen);
        if seen.len() == KEPT {
            seen.pop_front();
        }
        seen.push_back(observed);
    }

    /// Reads the tap queue of `topic` until `shutdown`, checking each message against `schemas`
    /// when the topic carries domain events.
    pub async fn run(
        self: Arc<Self>,
        sqs: aws_sdk_sqs::Client,
        queue_url: String,
        topic: String,
        schemas: Option<Arc<Schemas>>,
        shutdown: CancellationToken,
    ) {
        while !shutdown.is_cancelled() {
            let receive = sqs
                .receive_message()
                .queue_url(&queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .send();
            let output = tokio::select! {
                () = shutdown.cancelled() => return,
                output = receive => output,
            };
            let messages = match output {
                Ok(output) => output.messages.unwrap_or_default(),
                Err(err) => {
                    tracing::warn!(target: LOG_TARGET, error = %aws_sdk_sqs::error::DisplayErrorContext(&err), "reading the event tap failed; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            for message in messages {
                let body = message.body().unwrap_or_default();
                let event: Value =
                    serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.to_owned()));
                // Topics that carry other messages than domain events (alerts, alarms) are
                // logged but not checked against the event schemas.
                let problems = schemas
                    .as_ref()
                    .map_or_else(Vec::new, |schemas| schemas.check(&event));
                let text = |name: &str| {
                    event
                        .get(name)
                        .and_then(Value::as_str)
                        .unwrap_or("-")
                        .to_owned()
                };
                if problems.is_empty() {
                    tracing::info!(target: LOG_TARGET, correlation_id = %text("correlationId"), "{} {} on {topic}", text("type"), text("id"));
                } else {
                    tracing::error!(target: LOG_TARGET, correlation_id = %text("correlationId"), problems = %problems.join("; "), "{} {} on {topic} does not match its schema", text("type"), text("id"));
                }
                self.record(ObservedEvent {
                    topic: topic.clone(),
                    event,
                    problems,
                });
                if let Some(handle) = message.receipt_handle() {
                    let _ = sqs
                        .delete_message()
                        .queue_url(&queue_url)
                        .receipt_handle(handle)
                        .send()
                        .await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_repositorys_schemas_load_and_check_events() {
        let schemas = Schemas::load(&crate::paths::repo_root().join("events/schemas")).unwrap();
        assert!(schemas.len() >= 2);
        let event = json!({
            "id": "0193a5b3-0e0e-7e0e-8e0e-0e0e0e0e0e02", "type": "StockLow", "version": 1,
            "occurredAt": "2026-11-30T09:00:00.000Z", "correlationId": "c-1",
            "data": {"productId": "0193a5b2-7c4d-7e8f-9a0b-1c2d3e4f5a6b", "available": 3, "threshold": 5, "extra": true}
        });
        assert!(
            schemas.check(&event).is_empty(),
            "{:?}",
            schemas.check(&event)
        );
        let mut bad = event.clone();
        bad["data"]["available"] = json!(-1);
        bad["data"]["productId"] = json!("not-a-uuid");
        assert_eq!(schemas.check(&bad).len(), 2, "{:?}", schemas.check(&bad));
        let mut unknown = event;
        unknown["version"] = json!(9);
        assert!(schemas.check(&unknown)[0].contains("no schema"));
        assert!(!schemas.check(&json!("plain text")).is_empty());
    }
}
