//! Execution history events, shaped like the `HistoryEvent` of `GetExecutionHistory`.

use std::sync::Mutex;

use serde_json::{Map, Value};
use time::OffsetDateTime;

macro_rules! event_types {
    ($($name:ident),* $(,)?) => {
        /// The `type` of a history event.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[allow(missing_docs)]
        pub enum EventType { $($name),* }

        impl EventType {
            /// The name used in the API (`TaskStateEntered`, ...).
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$name => stringify!($name)),* }
            }
        }
    };
}

event_types!(
    ExecutionStarted,
    ExecutionSucceeded,
    ExecutionFailed,
    ExecutionTimedOut,
    ExecutionAborted,
    TaskStateEntered,
    TaskStateExited,
    TaskStateAborted,
    PassStateEntered,
    PassStateExited,
    ChoiceStateEntered,
    ChoiceStateExited,
    WaitStateEntered,
    WaitStateExited,
    WaitStateAborted,
    SucceedStateEntered,
    SucceedStateExited,
    FailStateEntered,
    ParallelStateEntered,
    ParallelStateExited,
    ParallelStateStarted,
    ParallelStateSucceeded,
    ParallelStateFailed,
    ParallelStateAborted,
    MapStateEntered,
    MapStateExited,
    MapStateStarted,
    MapStateSucceeded,
    MapStateFailed,
    MapStateAborted,
    MapIterationStarted,
    MapIterationSucceeded,
    MapIterationFailed,
    MapIterationAborted,
    TaskScheduled,
    TaskStarted,
    TaskSubmitted,
    TaskSucceeded,
    TaskFailed,
    TaskTimedOut,
    LambdaFunctionScheduled,
    LambdaFunctionStarted,
    LambdaFunctionSucceeded,
    LambdaFunctionFailed,
    LambdaFunctionTimedOut,
    ActivityScheduled,
    ActivityStarted,
    ActivitySucceeded,
    ActivityFailed,
    ActivityTimedOut,
);

impl EventType {
    /// The `...EventDetails` member that carries this event's details.
    pub fn details_key(self) -> String {
        let name = self.as_str();
        if name.ends_with("StateEntered") {
            return "stateEnteredEventDetails".into();
        }
        if name.ends_with("StateExited") {
            return "stateExitedEventDetails".into();
        }
        let mut chars = name.chars();
        let first = chars
            .next()
            .map(|c| c.to_ascii_lowercase())
            .unwrap_or_default();
        format!("{first}{}EventDetails", chars.as_str())
    }

    /// The `<Type>StateEntered` event of a state type.
    pub fn entered(state_type: &str) -> Self {
        match state_type {
            "Task" => Self::TaskStateEntered,
            "Pass" => Self::PassStateEntered,
            "Choice" => Self::ChoiceStateEntered,
            "Wait" => Self::WaitStateEntered,
            "Succeed" => Self::SucceedStateEntered,
            "Fail" => Self::FailStateEntered,
            "Parallel" => Self::ParallelStateEntered,
            _ => Self::MapStateEntered,
        }
    }

    /// The `<Type>StateExited` event of a state type (Fail states never exit).
    pub fn exited(state_type: &str) -> Self {
        match state_type {
            "Task" => Self::TaskStateExited,
            "Pass" => Self::PassStateExited,
            "Choice" => Self::ChoiceStateExited,
            "Wait" => Self::WaitStateExited,
            "Succeed" => Self::SucceedStateExited,
            "Parallel" => Self::ParallelStateExited,
            _ => Self::MapStateExited,
        }
    }
}

/// One event of an execution's history.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryEvent {
    /// Sequential id, starting at 1.
    pub id: u64,
    /// The id of the event this one follows (0 for none).
    pub previous_event_id: u64,
    /// When the event occurred.
    pub timestamp: OffsetDateTime,
    /// The event type.
    pub event_type: EventType,
    /// The `...EventDetails` object, when the event type has one.
    pub details: Option<Value>,
}

impl HistoryEvent {
    /// The event as `GetExecutionHistory` returns it: `{timestamp, type, id, previousEventId,
    /// <type>EventDetails}`, with the timestamp in epoch seconds.
    pub fn to_json(&self) -> Value {
        let mut map = Map::new();
        let seconds = self.timestamp.unix_timestamp_nanos() as f64 / 1e9;
        map.insert(
            "timestamp".into(),
            Value::from((seconds * 1000.0).round() / 1000.0),
        );
        map.insert(
            "type".into(),
            Value::String(self.event_type.as_str().into()),
        );
        map.insert("id".into(), Value::from(self.id));
        map.insert(
            "previousEventId".into(),
            Value::from(self.previous_event_id),
        );
        if let Some(details) = &self.details {
            map.insert(self.event_type.details_key(), details.clone());
        }
        Value::Object(map)
    }
}

/// Receives history events as they happen, in id order.
pub trait HistorySink: Send + Sync {
    /// Records one event.
    fn record(&self, event: HistoryEvent);
}

/// A sink that keeps every event in memory.
#[derive(Debug, Default)]
pub struct MemoryHistory {
    events: Mutex<Vec<HistoryEvent>>,
}

impl MemoryHistory {
    /// An empty history.
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy of the events recorded so far.
    pub fn events(&self) -> Vec<HistoryEvent> {
        self.events
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The event types recorded so far, in order.
    pub fn types(&self) -> Vec<&'static str> {
        self.events
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|e| e.event_type.as_str())
            .collect()
    }
}

impl HistorySink for MemoryHistory {
    fn record(&self, event: HistoryEvent) {
        self.events
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(event);
    }
}

/// A sink that drops every event.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoHistory;

impl HistorySink for NoHistory {
    fn record(&self, _event: HistoryEvent) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_keys_follow_the_api() {
        assert_eq!(
            EventType::TaskStateEntered.details_key(),
            "stateEnteredEventDetails"
        );
        assert_eq!(
            EventType::MapStateExited.details_key(),
            "stateExitedEventDetails"
        );
        assert_eq!(
            EventType::TaskScheduled.details_key(),
            "taskScheduledEventDetails"
        );
        assert_eq!(
            EventType::MapIterationStarted.details_key(),
            "mapIterationStartedEventDetails"
        );
        assert_eq!(
            EventType::LambdaFunctionFailed.details_key(),
            "lambdaFunctionFailedEventDetails"
        );
        assert_eq!(
            EventType::ExecutionStarted.details_key(),
            "executionStartedEventDetails"
        );
    }

    #[test]
    fn events_serialize_like_get_execution_history() {
        let event = HistoryEvent {
            id: 2,
            previous_event_id: 1,
            timestamp: OffsetDateTime::UNIX_EPOCH,
            event_type: EventType::PassStateEntered,
            details: Some(serde_json::json!({"name": "A", "input": "{}"})),
        };
        assert_eq!(
            event.to_json(),
            serde_json::json!({"timestamp": 0.0, "type": "PassStateEntered", "id": 2, "previousEventId": 1,
                "stateEnteredEventDetails": {"name": "A", "input": "{}"}})
        );
    }
}
