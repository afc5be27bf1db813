//! An Amazon States Language interpreter for the local stack: it runs Step Functions state
//! machines (JSONPath and JSONata query languages, with workflow variables) on one machine,
//! with task execution left to a pluggable [`TaskRunner`].
//!
//! ```no_run
//! # async fn demo(runner: std::sync::Arc<dyn local_states::TaskRunner>) -> Result<(), local_states::DefinitionError> {
//! use local_states::{ExecutionOptions, MemoryHistory, StateMachine, execute};
//! let machine = StateMachine::parse(&serde_json::json!({
//!     "StartAt": "Hello",
//!     "States": {"Hello": {"Type": "Pass", "Result": "world", "End": true}}
//! }))?;
//! let history = MemoryHistory::new();
//! let outcome = execute(&machine, serde_json::json!({}), runner, ExecutionOptions::default(), &history).await;
//! # let _ = outcome;
//! # Ok(())
//! # }
//! ```
//!
//! * [`StateMachine::parse`] validates a definition into a model ([`DefinitionError`] says
//!   where it is wrong).
//! * [`execute`] runs it: input/output processing (`InputPath` → `Parameters` → task →
//!   `ResultSelector` → `ResultPath` → `OutputPath` in JSONPath states, `Arguments` → task →
//!   `Output` in JSONata states, see [`jsonata`]), `Assign` and variable scopes, every state
//!   type (inline Map only), Choice rules, intrinsic functions, Retry/Catch, timeouts and
//!   cancellation.
//! * Every step is reported as a [`HistoryEvent`] shaped like `GetExecutionHistory`'s.
//! * [`ExecutionOptions::time_scale`] shrinks every wait so tests need not sleep.

mod choice;
pub mod error;
pub mod exec;
pub mod history;
pub mod intrinsic;
pub mod jsonata;
pub mod model;
pub mod path;
pub mod template;

use std::sync::Arc;
use std::time::{Duration, Instant};

pub use error::{DefinitionError, StatesError, names};
pub use exec::{ExecutionOptions, ExecutionOutcome, TaskCall, TaskError, TaskRunner, execute};
pub use history::{EventType, HistoryEvent, HistorySink, MemoryHistory, NoHistory};
pub use intrinsic::Intrinsic;
pub use model::{State, StateMachine};
pub use path::JsonPath;

/// The result of [`run_pass_chain`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PassChainReport {
    /// State transitions performed (one per Pass state).
    pub transitions: usize,
    /// Wall-clock time of the execution.
    pub elapsed: Duration,
}

impl PassChainReport {
    /// Transitions per second.
    pub fn per_second(&self) -> f64 {
        self.transitions as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// A definition made of `n` chained Pass states (each adds a field with `Parameters`-free
/// `Result`/`ResultPath` processing), for measuring the interpreter's transition rate.
pub fn pass_chain_definition(n: usize) -> serde_json::Value {
    let n = n.max(1);
    let mut states = serde_json::Map::new();
    for i in 0..n {
        let mut state = serde_json::json!({"Type": "Pass", "Result": i, "ResultPath": "$.step"});
        if i + 1 == n {
            state["End"] = serde_json::Value::Bool(true);
        } else {
            state["Next"] = serde_json::Value::String(format!("S{:06}", i + 1));
        }
        states.insert(format!("S{i:06}"), state);
    }
    serde_json::json!({"StartAt": "S000000", "States": states})
}

/// Runs a chain of `n` Pass states with history recorded in memory, and reports the
/// transition rate. Used by `examples/pass_chain.rs` and the benchmarks.
pub async fn run_pass_chain(n: usize) -> Result<PassChainReport, StatesError> {
    struct NoTasks;
    impl TaskRunner for NoTasks {
        fn run<'a>(
            &'a self,
            task: TaskCall,
        ) -> futures::future::BoxFuture<'a, Result<serde_json::Value, TaskError>> {
            Box::pin(async move {
                Err(TaskError::new(
                    "States.TaskFailed",
                    format!("no runner for {}", task.resource),
                ))
            })
        }
    }
    let machine = StateMachine::parse(&pass_chain_definition(n))
        .map_err(|e| StatesError::runtime(e.to_string()))?;
    let history = MemoryHistory::new();
    let started = Instant::now();
    let outcome = execute(
        &machine,
        serde_json::json!({"order": "o-1"}),
        Arc::new(NoTasks),
        ExecutionOptions::default(),
        &history,
    )
    .await;
    let elapsed = started.elapsed();
    match outcome {
        ExecutionOutcome::Succeeded(_) => Ok(PassChainReport {
            transitions: n.max(1),
            elapsed,
        }),
        ExecutionOutcome::Failed { error, cause } => Err(StatesError { error, cause }),
        other => Err(StatesError::runtime(format!(
            "the pass chain ended with {other:?}"
        ))),
    }
}
