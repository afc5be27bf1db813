//! Runs every conformance case in `tests/corpus/*.json` with a scripted task runner.
//!
//! A case is `{ "name", "definition", "input", "tasks", "options", "expected" }`:
//! * `tasks` maps a resource ARN to a behaviour: `{"echo": true}`, `{"return": value}`,
//!   `{"fail": {"error", "cause"}}`, `{"sleep_ms": n, "then": behaviour}`, `{"call": true}`
//!   (returns what the runner received) or `{"sequence": [behaviour, ...]}` (one per call,
//!   the last one repeating).
//! * `options`: `time_scale` (default 0.001), `abort_after_ms`, `execution_name`.
//! * `expected`: `status` (SUCCEEDED, FAILED, TIMED_OUT, ABORTED), `output`, `error`,
//!   `cause`, `history` (event types in order), `calls` (resource → count), or
//!   `definition_error` (the error's location) for definitions that must be rejected.
//!   In `output`, the string `"<any>"` matches any value.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use local_states::{
    ExecutionOptions, ExecutionOutcome, MemoryHistory, StateMachine, TaskCall, TaskError,
    TaskRunner, execute,
};
use serde_json::{Value, json};

struct Scripted {
    tasks: Value,
    calls: Mutex<HashMap<String, usize>>,
}

fn behave(behaviour: Value, call: &TaskCall) -> BoxFuture<'_, Result<Value, TaskError>> {
    Box::pin(async move {
        if let Some(ms) = behaviour.get("sleep_ms").and_then(Value::as_u64) {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            let then = behaviour
                .get("then")
                .cloned()
                .unwrap_or(json!({"echo": true}));
            return behave(then, call).await;
        }
        if let Some(fail) = behaviour.get("fail") {
            return Err(TaskError {
                error: fail["error"].as_str().unwrap_or("Error").to_owned(),
                cause: fail.get("cause").and_then(Value::as_str).map(str::to_owned),
            });
        }
        if let Some(v) = behaviour.get("return") {
            return Ok(v.clone());
        }
        if behaviour.get("call").is_some() {
            return Ok(json!({
                "resource": call.resource,
                "input": call.input,
                "state_name": call.state_name,
                "task_token": call.task_token,
                "heartbeat_ms": call.heartbeat.map(|h| h.as_millis() as u64),
                "context": call.context,
            }));
        }
        Ok(call.input.clone())
    })
}

impl TaskRunner for Scripted {
    fn run<'a>(&'a self, task: TaskCall) -> BoxFuture<'a, Result<Value, TaskError>> {
        Box::pin(async move {
            let n = {
                let mut calls = self.calls.lock().unwrap();
                let n = calls.entry(task.resource.clone()).or_default();
                *n += 1;
                *n
            };
            let Some(mut behaviour) = self.tasks.get(&task.resource).cloned() else {
                return Err(TaskError::new(
                    "Local.NoSuchTask",
                    format!("no script for {}", task.resource),
                ));
            };
            if let Some(seq) = behaviour.get("sequence").and_then(Value::as_array) {
                behaviour = seq
                    .get(n - 1)
                    .or(seq.last())
                    .cloned()
                    .unwrap_or(json!({"echo": true}));
            }
            behave(behaviour, &task).await
        })
    }
}

fn matches(expected: &Value, actual: &Value) -> bool {
    match (expected, actual) {
        (Value::String(s), _) if s == "<any>" => true,
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| matches(x, y))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len()
                && a.iter()
                    .all(|(k, v)| b.get(k).is_some_and(|w| matches(v, w)))
        }
        _ => expected == actual,
    }
}

async fn run_case(case: &Value) -> Result<(), String> {
    let expected = &case["expected"];
    let machine = match StateMachine::parse(&case["definition"]) {
        Ok(m) => m,
        Err(e) => {
            return match expected.get("definition_error").and_then(Value::as_str) {
                Some(location) if location == e.location => Ok(()),
                Some(location) => Err(format!(
                    "definition error at {} ({}), expected at {location}",
                    e.location, e.message
                )),
                None => Err(format!("unexpected definition error: {e}")),
            };
        }
    };
    if expected.get("definition_error").is_some() {
        return Err("the definition was accepted but should have been rejected".into());
    }
    let options_json = case.get("options").cloned().unwrap_or(json!({}));
    let name = options_json
        .get("execution_name")
        .and_then(Value::as_str)
        .unwrap_or("exec-1");
    let mut options = ExecutionOptions::new("CorpusMachine", name).with_time_scale(
        options_json
            .get("time_scale")
            .and_then(Value::as_f64)
            .unwrap_or(0.001),
    );
    if let Some(ms) = options_json.get("abort_after_ms").and_then(Value::as_u64) {
        let token = options.cancellation.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(ms)).await;
            token.cancel();
        });
    }
    options.start_time = time::OffsetDateTime::UNIX_EPOCH;
    let runner = Arc::new(Scripted {
        tasks: case.get("tasks").cloned().unwrap_or(json!({})),
        calls: Mutex::new(HashMap::new()),
    });
    let history = MemoryHistory::new();
    let input = case.get("input").cloned().unwrap_or(json!({}));
    let outcome = execute(&machine, input, runner.clone(), options, &history).await;

    let (status, output, error, cause) = match &outcome {
        ExecutionOutcome::Succeeded(v) => ("SUCCEEDED", Some(v.clone()), None, None),
        ExecutionOutcome::Failed { error, cause } => {
            ("FAILED", None, Some(error.clone()), cause.clone())
        }
        ExecutionOutcome::TimedOut => ("TIMED_OUT", None, None, None),
        ExecutionOutcome::Aborted => ("ABORTED", None, None, None),
    };
    let mut problems = Vec::new();
    let want_status = expected["status"].as_str().unwrap_or("SUCCEEDED");
    if status != want_status {
        problems.push(format!(
            "status {status} (error {error:?}, cause {cause:?}), expected {want_status}"
        ));
    }
    if let (Some(want), Some(got)) = (expected.get("output"), &output)
        && !matches(want, got)
    {
        problems.push(format!("output {got}, expected {want}"));
    }
    if let Some(want) = expected.get("error").and_then(Value::as_str)
        && error.as_deref() != Some(want)
    {
        problems.push(format!("error {error:?}, expected {want}"));
    }
    if let Some(want) = expected.get("cause").and_then(Value::as_str)
        && cause.as_deref() != Some(want)
    {
        problems.push(format!("cause {cause:?}, expected {want}"));
    }
    let events = history.events();
    for (i, e) in events.iter().enumerate() {
        if e.id != i as u64 + 1 || e.previous_event_id >= e.id {
            problems.push(format!(
                "event {i} has id {} and previousEventId {}",
                e.id, e.previous_event_id
            ));
        }
    }
    if let Some(want) = expected.get("history").and_then(Value::as_array) {
        let got = history.types();
        let want: Vec<&str> = want.iter().filter_map(Value::as_str).collect();
        if got != want {
            problems.push(format!("history {got:?}, expected {want:?}"));
        }
    }
    if let Some(want) = expected.get("calls").and_then(Value::as_object) {
        let calls = runner.calls.lock().unwrap().clone();
        for (resource, n) in want {
            let got = calls.get(resource).copied().unwrap_or(0);
            if Some(got as u64) != n.as_u64() {
                problems.push(format!("{resource} called {got} times, expected {n}"));
            }
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_corpus_case_behaves_as_recorded() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no corpus files in {}", dir.display());
    let mut failures = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let case: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let name = case["name"].as_str().unwrap_or("?").to_owned();
        if let Err(problem) = run_case(&case).await {
            failures.push(format!(
                "{} ({name}): {problem}",
                file.file_name().unwrap().to_string_lossy()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} corpus cases failed:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
    println!("{} corpus cases passed", files.len());
}
