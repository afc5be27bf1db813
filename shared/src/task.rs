//! The edge of the functions Step Functions calls as tasks (the checkout saga's steps).
//!
//! A task takes the JSON its state gives it and answers JSON, or fails with a typed error whose
//! name the state machine's `Retry` and `Catch` match on:
//!
//! - business outcomes ([`TaskFailure::business`], e.g. `OutOfStock`, `PaymentDeclined`) are
//!   caught and lead to compensation;
//! - [`TRANSIENT`] failures (storage or provider trouble) are retried with backoff and jitter;
//! - input that does not parse is [`INVALID_INPUT`], which no retry can fix.
//!
//! [`run_task`] logs each call with the order's correlation id, and honours the fault switch
//! ([`Faults`]) that the saga's crash tests use.

use std::{borrow::Cow, fmt};

use lambda_http::lambda_runtime::{self, Diagnostic, LambdaEvent, service_fn};
use serde::{Serialize, de::DeserializeOwned};
use tracing::Instrument as _;

use crate::{ApiError, config::Env, error::cause_chain};

/// The error name of a failure worth retrying.
pub const TRANSIENT: &str = "Transient";
/// The error name of input the task cannot read.
pub const INVALID_INPUT: &str = "InvalidInput";

/// Why a task failed: an error name for the state machine and a cause for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskFailure {
    /// The error name (`OutOfStock`, [`TRANSIENT`], …).
    pub error: Cow<'static, str>,
    /// What happened; for business errors a JSON object the compensation can read.
    pub cause: String,
}

impl TaskFailure {
    /// A business outcome named `error`, with `cause` serialized as JSON.
    #[must_use]
    pub fn business(error: &'static str, cause: &impl Serialize) -> Self {
        Self {
            error: Cow::Borrowed(error),
            cause: serde_json::to_string(cause).unwrap_or_else(|_| error.to_owned()),
        }
    }

    /// A failure worth retrying, logged with its cause chain.
    #[must_use]
    pub fn transient(context: &str, source: &(dyn std::error::Error + 'static)) -> Self {
        let cause = format!("{context}: {}", cause_chain(source));
        tracing::error!(%cause, "task failed; Step Functions will retry it");
        Self {
            error: Cow::Borrowed(TRANSIENT),
            cause,
        }
    }
}

impl fmt::Display for TaskFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error, self.cause)
    }
}

impl From<ApiError> for TaskFailure {
    /// Storage failures behind an [`ApiError`] are transient; other API errors (a task should not
    /// produce them) keep their code as the error name.
    fn from(error: ApiError) -> Self {
        if error.status().is_server_error() {
            let cause = error.detail();
            tracing::error!(%cause, "task failed; Step Functions will retry it");
            Self {
                error: Cow::Borrowed(TRANSIENT),
                cause,
            }
        } else {
            Self {
                error: Cow::Owned(error.code().to_owned()),
                cause: error.detail(),
            }
        }
    }
}

impl From<TaskFailure> for Diagnostic {
    fn from(failure: TaskFailure) -> Self {
        Self {
            error_type: failure.error.into_owned(),
            error_message: failure.cause,
        }
    }
}

/// The fault switch: the tasks named in `FAULT_INJECTION` (comma-separated, or `all`) crash once
/// per state, right after their work is done and before they answer, so the saga's tests can check
/// that a retried task has one effect. Off unless set; refused when `STAGE` is `prod`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Faults {
    names: Vec<String>,
}

/// The fault switch is set where it must not be.
#[derive(Debug, thiserror::Error)]
#[error("FAULT_INJECTION is refused in the prod stage")]
pub struct FaultsInProd;

impl Faults {
    /// Reads `FAULT_INJECTION` and `STAGE`.
    ///
    /// # Errors
    /// [`FaultsInProd`] when faults are switched on in the prod stage.
    pub fn from_env(env: &Env) -> Result<Self, FaultsInProd> {
        let raw = env.optional("FAULT_INJECTION").unwrap_or_default();
        let names: Vec<String> = raw
            .split(',')
            .map(str::trim)
            .filter(|name| !name.is_empty() && *name != "off")
            .map(str::to_owned)
            .collect();
        if !names.is_empty() && env.optional("STAGE").as_deref() == Some("prod") {
            return Err(FaultsInProd);
        }
        Ok(Self { names })
    }

    /// Whether `task` crashes on this `attempt` (the state's retry count).
    #[must_use]
    pub fn crashes(&self, task: &str, attempt: u32) -> bool {
        attempt == 0 && self.names.iter().any(|name| name == "all" || name == task)
    }
}

/// The retry count a state passes as `attempt` (`"attempt.$": "$$.State.RetryCount"`).
fn attempt_of(input: &serde_json::Value) -> u32 {
    input
        .get("attempt")
        .and_then(serde_json::Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
        .unwrap_or(0)
}

fn correlation_of(input: &serde_json::Value) -> &str {
    input
        .get("correlationId")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("-")
}

/// Runs one task call: parses the input, runs `handler`, logs the outcome.
///
/// # Errors
/// [`INVALID_INPUT`] when the input is not an `I`; whatever `handler` fails with.
pub async fn call<S, I, O, H>(
    state: &S,
    name: &str,
    faults: &Faults,
    input: serde_json::Value,
    handler: H,
) -> Result<O, TaskFailure>
where
    S: ?Sized,
    I: DeserializeOwned,
    O: Serialize,
    H: AsyncFnOnce(&S, I) -> Result<O, TaskFailure>,
{
    let attempt = attempt_of(&input);
    let span = tracing::info_span!(
        "task",
        task = name,
        correlation_id = %correlation_of(&input),
        order_id = %input.get("orderId").and_then(serde_json::Value::as_str).unwrap_or("-"),
        attempt,
    );
    async {
        let parsed: I = serde_json::from_value(input).map_err(|error| {
            tracing::error!(%error, "task input is malformed");
            TaskFailure {
                error: Cow::Borrowed(INVALID_INPUT),
                cause: error.to_string(),
            }
        })?;
        let outcome = handler(state, parsed).await;
        match &outcome {
            Ok(_) => tracing::info!("task completed"),
            Err(failure) => {
                tracing::info!(error = %failure.error, cause = %failure.cause, "task failed")
            }
        }
        if faults.crashes(name, attempt) {
            tracing::warn!("fault injection: crashing after the work, before answering");
            std::process::exit(70);
        }
        outcome
    }
    .instrument(span)
    .await
}

/// Runs a task function named `name` (its binary's name) until the runtime stops: every
/// invocation goes through [`call`] with `handler`.
///
/// # Errors
/// When the fault switch is refused, or the Lambda runtime cannot start.
pub async fn run_task<S, I, O, H>(
    state: &S,
    name: &str,
    handler: H,
) -> Result<(), lambda_http::Error>
where
    S: ?Sized + Sync,
    I: DeserializeOwned,
    O: Serialize,
    H: AsyncFn(&S, I) -> Result<O, TaskFailure> + Copy,
{
    let faults = Faults::from_env(&Env::from_process())
        .inspect_err(|error| tracing::error!(%error, "cannot start"))?;
    let faults = &faults;
    lambda_runtime::run(service_fn(
        |event: LambdaEvent<serde_json::Value>| async move {
            // Boxed: a task's future can be deep, and the runtime's loop need not hold its layout.
            let outcome = Box::pin(call(state, name, faults, event.payload, handler)).await;
            crate::metrics::flush();
            outcome
        },
    ))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn env(pairs: &[(&str, &str)]) -> Env {
        Env::from_pairs(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        )
    }

    #[test]
    fn faults_are_off_unless_switched_on() {
        let faults = Faults::from_env(&env(&[])).unwrap();
        assert!(!faults.crashes("reserve-stock", 0));
        let faults = Faults::from_env(&env(&[("FAULT_INJECTION", "off")])).unwrap();
        assert!(!faults.crashes("reserve-stock", 0));
    }

    #[test]
    fn a_named_task_crashes_on_its_first_attempt_only() {
        let faults =
            Faults::from_env(&env(&[("FAULT_INJECTION", "price-order, reserve-stock")])).unwrap();
        assert!(faults.crashes("reserve-stock", 0));
        assert!(!faults.crashes("reserve-stock", 1));
        assert!(!faults.crashes("confirm-order", 0));
        let all = Faults::from_env(&env(&[("FAULT_INJECTION", "all")])).unwrap();
        assert!(all.crashes("confirm-order", 0));
    }

    #[test]
    fn faults_are_refused_in_prod() {
        assert!(Faults::from_env(&env(&[("FAULT_INJECTION", "all"), ("STAGE", "prod")])).is_err());
        assert!(Faults::from_env(&env(&[("FAULT_INJECTION", "off"), ("STAGE", "prod")])).is_ok());
    }

    #[derive(serde::Deserialize)]
    struct Input {
        n: u32,
    }

    async fn double(_: &(), input: Input) -> Result<u32, TaskFailure> {
        if input.n == 0 {
            return Err(TaskFailure::business("Zero", &json!({"n": 0})));
        }
        Ok(input.n * 2)
    }

    #[tokio::test]
    async fn a_call_parses_runs_and_names_its_failures() {
        let off = Faults::default();
        assert_eq!(call(&(), "t", &off, json!({"n": 2}), double).await, Ok(4));
        let failure = call(&(), "t", &off, json!({"n": 0}), double)
            .await
            .unwrap_err();
        assert_eq!(failure.error, "Zero");
        assert_eq!(failure.cause, r#"{"n":0}"#);
        let failure = call(&(), "t", &off, json!({"n": "x"}), double)
            .await
            .unwrap_err();
        assert_eq!(failure.error, INVALID_INPUT);
        let diagnostic = Diagnostic::from(failure);
        assert_eq!(diagnostic.error_type, INVALID_INPUT);
    }

    #[test]
    fn storage_failures_are_transient() {
        let failure = TaskFailure::from(ApiError::internal("write", "boom"));
        assert_eq!(failure.error, TRANSIENT);
        let failure = TaskFailure::from(ApiError::not_found("no such thing"));
        assert_eq!(failure.error, "NOT_FOUND");
    }
}
