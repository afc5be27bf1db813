//! Execution-level behaviour: the shape of history events, task calls, cancellation and
//! the transition rate of the interpreter.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use local_states::{
    EventType, ExecutionOptions, ExecutionOutcome, HistoryEvent, MemoryHistory, StateMachine,
    TaskCall, TaskError, TaskRunner, execute,
};
use serde_json::{Value, json};

/// Echoes its input and remembers every call.
#[derive(Default)]
struct Recorder {
    calls: Mutex<Vec<TaskCall>>,
}

impl TaskRunner for Recorder {
    fn run<'a>(&'a self, task: TaskCall) -> BoxFuture<'a, Result<Value, TaskError>> {
        Box::pin(async move {
            self.calls.lock().unwrap().push(task.clone());
            if task.input.get("fail").is_some() {
                return Err(TaskError::new("Custom.Error", "it failed"));
            }
            Ok(task.input)
        })
    }
}

async fn run(
    definition: Value,
    input: Value,
) -> (ExecutionOutcome, Vec<HistoryEvent>, Arc<Recorder>) {
    let machine = StateMachine::parse(&definition).unwrap();
    let runner = Arc::new(Recorder::default());
    let history = MemoryHistory::new();
    let options = ExecutionOptions::new("Checkout", "run-1").with_time_scale(0.001);
    let outcome = execute(&machine, input, runner.clone(), options, &history).await;
    (outcome, history.events(), runner)
}

fn details(events: &[HistoryEvent], event_type: EventType) -> Vec<Value> {
    events
        .iter()
        .filter(|e| e.event_type == event_type)
        .map(|e| e.to_json()[event_type.details_key()].clone())
        .collect()
}

#[tokio::test]
async fn state_events_carry_name_and_json_text_input_and_output() {
    let definition = json!({"StartAt": "Hello", "States": {"Hello": {"Type": "Pass", "Result": {"b": 2}, "ResultPath": "$.r", "End": true}}});
    let (outcome, events, _) = run(definition, json!({"a": 1})).await;
    assert_eq!(
        outcome,
        ExecutionOutcome::Succeeded(json!({"a": 1, "r": {"b": 2}}))
    );
    let started = &events[0].to_json();
    assert_eq!(started["type"], "ExecutionStarted");
    assert_eq!(
        started["executionStartedEventDetails"]["input"],
        "{\"a\":1}"
    );
    assert_eq!(
        started["executionStartedEventDetails"]["roleArn"],
        "arn:aws:iam::123456789012:role/Checkout-role"
    );
    assert_eq!(
        details(&events, EventType::PassStateEntered),
        vec![json!({"name": "Hello", "input": "{\"a\":1}", "inputDetails": {"truncated": false}})]
    );
    assert_eq!(
        details(&events, EventType::PassStateExited),
        vec![
            json!({"name": "Hello", "output": "{\"a\":1,\"r\":{\"b\":2}}", "outputDetails": {"truncated": false}})
        ]
    );
    let ids: Vec<(u64, u64)> = events.iter().map(|e| (e.id, e.previous_event_id)).collect();
    assert_eq!(ids, vec![(1, 0), (2, 0), (3, 2), (4, 3)]);
    assert!(events[0].to_json()["timestamp"].is_f64());
}

#[tokio::test]
async fn task_events_describe_the_resource_and_its_parameters() {
    let definition = json!({"StartAt": "Put", "States": {
        "Put": {"Type": "Task", "Resource": "arn:aws:states:::dynamodb:putItem", "TimeoutSeconds": 30, "HeartbeatSeconds": 10,
                "Parameters": {"TableName": "orders", "Item.$": "$.item"}, "Next": "Invoke"},
        "Invoke": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:123456789012:function:notify", "End": true}}});
    let (outcome, events, runner) = run(definition, json!({"item": {"id": "o-1"}})).await;
    assert!(matches!(outcome, ExecutionOutcome::Succeeded(_)));
    assert_eq!(
        details(&events, EventType::TaskScheduled),
        vec![
            json!({"resourceType": "dynamodb", "resource": "putItem", "region": "us-east-1",
            "parameters": "{\"Item\":{\"id\":\"o-1\"},\"TableName\":\"orders\"}", "timeoutInSeconds": 30, "heartbeatInSeconds": 10})
        ]
    );
    assert_eq!(
        details(&events, EventType::TaskStarted),
        vec![json!({"resourceType": "dynamodb", "resource": "putItem"})]
    );
    assert_eq!(
        details(&events, EventType::LambdaFunctionScheduled),
        vec![
            json!({"resource": "arn:aws:lambda:us-east-1:123456789012:function:notify",
            "input": "{\"Item\":{\"id\":\"o-1\"},\"TableName\":\"orders\"}", "inputDetails": {"truncated": false}})
        ]
    );
    let started = events
        .iter()
        .find(|e| e.event_type == EventType::LambdaFunctionStarted)
        .unwrap();
    assert!(
        started
            .to_json()
            .get("lambdaFunctionStartedEventDetails")
            .is_none()
    );
    let calls = runner.calls.lock().unwrap();
    assert_eq!(calls[0].state_name, "Put");
    assert_eq!(calls[0].heartbeat, Some(Duration::from_millis(10)));
    assert_eq!(calls[0].task_token, None);
    assert_eq!(calls[0].context["State"]["Name"], "Put");
    assert_eq!(
        calls[0].context["Execution"]["Id"],
        "arn:aws:states:us-east-1:123456789012:execution:Checkout:run-1"
    );
}

#[tokio::test]
async fn failures_are_reported_with_error_and_cause() {
    let definition = json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "arn:aws:lambda:us-east-1:1:function:f", "End": true}}});
    let (outcome, events, _) = run(definition, json!({"fail": true})).await;
    assert_eq!(
        outcome,
        ExecutionOutcome::Failed {
            error: "Custom.Error".into(),
            cause: Some("it failed".into())
        }
    );
    assert_eq!(
        details(&events, EventType::LambdaFunctionFailed),
        vec![json!({"error": "Custom.Error", "cause": "it failed"})]
    );
    assert_eq!(
        details(&events, EventType::ExecutionFailed),
        vec![json!({"error": "Custom.Error", "cause": "it failed"})]
    );
}

#[tokio::test]
async fn map_events_carry_length_name_and_index() {
    let definition = json!({"StartAt": "Each", "States": {"Each": {"Type": "Map", "ItemsPath": "$.items",
        "ItemProcessor": {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": true}}}, "End": true}}});
    let (_, events, _) = run(definition, json!({"items": [10, 20]})).await;
    assert_eq!(
        details(&events, EventType::MapStateStarted),
        vec![json!({"length": 2})]
    );
    assert_eq!(
        details(&events, EventType::MapIterationSucceeded),
        vec![
            json!({"name": "Each", "index": 0}),
            json!({"name": "Each", "index": 1})
        ]
    );
}

#[tokio::test]
async fn wait_for_task_token_hands_the_token_to_the_runner() {
    let definition = json!({"StartAt": "Ask", "States": {"Ask": {"Type": "Task",
        "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
        "Parameters": {"MessageBody": {"TaskToken.$": "$$.Task.Token"}}, "End": true}}});
    let (_, _, runner) = run(definition, json!({})).await;
    let calls = runner.calls.lock().unwrap();
    let token = calls[0].task_token.clone().unwrap();
    assert!(token.len() >= 32);
    assert_eq!(calls[0].input["MessageBody"]["TaskToken"], token);
    assert_eq!(calls[0].context["Task"]["Token"], token);
}

#[tokio::test]
async fn stopping_an_execution_aborts_it() {
    let machine = StateMachine::parse(
        &json!({"StartAt": "W", "States": {"W": {"Type": "Wait", "Seconds": 3600, "End": true}}}),
    )
    .unwrap();
    let options = ExecutionOptions::new("Checkout", "run-2");
    let token = options.cancellation.clone();
    let history = MemoryHistory::new();
    let stopper = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(10)).await;
        token.cancel();
    });
    let outcome = execute(
        &machine,
        json!({}),
        Arc::new(Recorder::default()),
        options,
        &history,
    )
    .await;
    stopper.await.unwrap();
    assert_eq!(outcome, ExecutionOutcome::Aborted);
    assert_eq!(history.types().last(), Some(&"ExecutionAborted"));
}

#[tokio::test]
async fn a_chain_of_pass_states_runs_thousands_of_transitions_per_second() {
    let report = local_states::run_pass_chain(5_000).await.unwrap();
    println!(
        "{} transitions in {:?}: {:.0}/s",
        report.transitions,
        report.elapsed,
        report.per_second()
    );
    assert!(
        report.per_second() >= 2_000.0,
        "only {:.0} transitions/s",
        report.per_second()
    );
}

#[test]
fn executions_can_be_spawned_on_a_multi_threaded_runtime() {
    fn assert_send<T: Send>(_: &T) {}
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<StateMachine>();
    let machine = StateMachine::parse(
        &json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}}}),
    )
    .unwrap();
    let history = MemoryHistory::new();
    let future = execute(
        &machine,
        json!({}),
        Arc::new(Recorder::default()),
        ExecutionOptions::default(),
        &history,
    );
    assert_send(&future);
}
