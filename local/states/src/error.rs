//! Errors: definition errors (raised while parsing a state machine) and the named
//! runtime errors of the States language.

use serde_json::{Map, Value};

/// Well-known error names of the States language.
pub mod names {
    /// Wildcard matching any error name except `States.Runtime` and `States.DataLimitExceeded`.
    pub const ALL: &str = "States.ALL";
    /// A task ran longer than `TimeoutSeconds`, or the execution exceeded its own timeout.
    pub const TIMEOUT: &str = "States.Timeout";
    /// A task failed to heartbeat within `HeartbeatSeconds`.
    pub const HEARTBEAT_TIMEOUT: &str = "States.HeartbeatTimeout";
    /// A task failed; as an `ErrorEquals` entry it matches every error except `States.Timeout`.
    pub const TASK_FAILED: &str = "States.TaskFailed";
    /// An unrecoverable runtime error (missing path, invalid value); never retried or caught.
    pub const RUNTIME: &str = "States.Runtime";
    /// A payload exceeded the size quota; never retried or caught.
    pub const DATA_LIMIT_EXCEEDED: &str = "States.DataLimitExceeded";
    /// A Choice state matched no rule and has no `Default`.
    pub const NO_CHOICE_MATCHED: &str = "States.NoChoiceMatched";
    /// An intrinsic function failed.
    pub const INTRINSIC_FAILURE: &str = "States.IntrinsicFailure";
    /// A JSONata expression failed, or gave a value of the wrong type for its field.
    pub const QUERY_EVALUATION_ERROR: &str = "States.QueryEvaluationError";
    /// `ResultPath` could not be applied to the state input.
    pub const RESULT_PATH_MATCH_FAILURE: &str = "States.ResultPathMatchFailure";
    /// A `.$` field of a payload template could not be resolved.
    pub const PARAMETER_PATH_FAILURE: &str = "States.ParameterPathFailure";
    /// A branch of a Parallel state failed.
    pub const BRANCH_FAILED: &str = "States.BranchFailed";
    /// A Map state had more failed items than tolerated.
    pub const EXCEED_TOLERATED_FAILURE_THRESHOLD: &str = "States.ExceedToleratedFailureThreshold";
    /// A Map state's items were not an array.
    pub const ITEM_READER_FAILED: &str = "States.ItemReaderFailed";
}

/// A state machine definition that does not follow the States language.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{location}: {message}")]
pub struct DefinitionError {
    /// Where the problem is, as a JSON-pointer-like location (`/States/Charge/Next`).
    pub location: String,
    /// What is wrong.
    pub message: String,
}

impl DefinitionError {
    pub(crate) fn new(location: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            location: location.into(),
            message: message.into(),
        }
    }
}

/// A named error raised while a state runs, as the States language reports it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error}: {}", cause.as_deref().unwrap_or(""))]
pub struct StatesError {
    /// The error name, e.g. `States.Runtime` or a task's own error type.
    pub error: String,
    /// A human-readable cause, when known.
    pub cause: Option<String>,
}

impl StatesError {
    /// An error with a name and a cause.
    pub fn new(error: impl Into<String>, cause: impl Into<String>) -> Self {
        Self {
            error: error.into(),
            cause: Some(cause.into()),
        }
    }

    /// `States.Runtime` with a cause.
    pub fn runtime(cause: impl Into<String>) -> Self {
        Self::new(names::RUNTIME, cause)
    }

    /// `States.IntrinsicFailure` with a cause.
    pub fn intrinsic(cause: impl Into<String>) -> Self {
        Self::new(names::INTRINSIC_FAILURE, cause)
    }

    /// Whether no Retrier or Catcher may handle this error.
    pub fn is_terminal(&self) -> bool {
        self.error == names::RUNTIME || self.error == names::DATA_LIMIT_EXCEEDED
    }

    /// The error output a Catcher passes on: `{"Error": ..., "Cause": ...}`.
    pub fn to_output(&self) -> Value {
        let mut map = Map::new();
        map.insert("Error".into(), Value::String(self.error.clone()));
        if let Some(cause) = &self.cause {
            map.insert("Cause".into(), Value::String(cause.clone()));
        }
        Value::Object(map)
    }

    /// Whether an `ErrorEquals` entry matches this error.
    pub fn matches(&self, name: &str) -> bool {
        if self.is_terminal() {
            return false;
        }
        match name {
            names::ALL => true,
            names::TASK_FAILED => self.error != names::TIMEOUT,
            other => other == self.error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_failed_matches_everything_but_timeout() {
        assert!(StatesError::new("Custom", "x").matches(names::TASK_FAILED));
        assert!(!StatesError::new(names::TIMEOUT, "x").matches(names::TASK_FAILED));
        assert!(StatesError::new(names::TIMEOUT, "x").matches(names::ALL));
    }

    #[test]
    fn runtime_errors_are_never_matched() {
        let e = StatesError::runtime("missing");
        assert!(!e.matches(names::ALL));
        assert!(!e.matches(names::RUNTIME));
    }

    #[test]
    fn error_output_omits_missing_cause() {
        let e = StatesError {
            error: "E".into(),
            cause: None,
        };
        assert_eq!(e.to_output(), serde_json::json!({"Error": "E"}));
    }
}
