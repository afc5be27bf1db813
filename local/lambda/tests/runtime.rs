//! The local Runtime API driving the fixture functions as real child processes.

mod common;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;
use local_lambda::{
    FunctionConfig, FunctionErrorKind, InvokeError, InvokeRequest, Lambda, LogSink, LogStream,
    RuntimeOptions,
};
use serde_json::{Value, json};

/// Function, instance, stream, text.
type CapturedLine = (String, u64, LogStream, String);

fn event(value: Value) -> InvokeRequest {
    InvokeRequest::new(value.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_invocation_is_cold_and_the_next_reuses_the_warm_instance() {
    let lambda = Lambda::new(vec![function("echo", "fixture-echo")], options());

    let first = lambda
        .invoke("echo", event(json!({ "hello": "world" })))
        .await
        .unwrap();
    assert!(first.cold_start);
    assert!(first.init_duration.is_some());
    let body = success(&first);
    assert_eq!(body["event"], json!({ "hello": "world" }));
    assert_eq!(body["requestId"], first.request_id.as_str());
    assert_eq!(body["pid"], first.pid.unwrap());
    assert_eq!(
        body["functionArn"],
        "arn:aws:lambda:us-east-1:123456789012:function:echo"
    );
    assert_eq!(body["env"]["AWS_LAMBDA_FUNCTION_NAME"], "echo");
    assert_eq!(body["env"]["FIXTURE_GREETING"], "hello");
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let deadline = body["deadlineMs"].as_u64().unwrap();
    assert!(
        deadline > now_ms + 8_000 && deadline <= now_ms + 10_000,
        "{deadline} vs {now_ms}"
    );
    assert!(body["traceId"].as_str().unwrap().starts_with("Root=1-"));

    let second = lambda
        .invoke("echo", event(json!({ "n": 2 })))
        .await
        .unwrap();
    assert!(!second.cold_start);
    assert_eq!(second.init_duration, None);
    assert_eq!(second.instance, first.instance);
    assert_eq!(second.pid, first.pid);
    assert_ne!(second.request_id, first.request_id);

    let stats = lambda.stats("echo").unwrap();
    assert_eq!(
        (stats.total, stats.idle, stats.busy, stats.started),
        (1, 1, 0, 1)
    );
    lambda.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_id_and_client_context_reach_the_function() {
    let lambda = Lambda::new(vec![function("echo", "fixture-echo")], options());
    let trace = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
    let request = InvokeRequest {
        trace_id: Some(trace.to_string()),
        client_context: Some(r#"{"custom":{"tenant":"t1"}}"#.to_string()),
        ..event(json!({}))
    };
    let body = success(&lambda.invoke("echo", request).await.unwrap());
    assert_eq!(body["traceId"], trace);
    assert_eq!(body["clientContext"]["custom"]["tenant"], "t1");
    lambda.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_invocations_start_instances_up_to_the_limit_and_queue_the_rest() {
    let lambda = Lambda::new(
        vec![FunctionConfig {
            max_instances: 4,
            ..function("echo", "fixture-echo")
        }],
        options(),
    );

    let sleepers: Vec<_> = (0..4)
        .map(|_| {
            let lambda = Arc::clone(&lambda);
            tokio::spawn(async move {
                lambda
                    .invoke("echo", event(json!({ "sleepMs": 1500 })))
                    .await
            })
        })
        .collect();
    eventually(Duration::from_secs(10), "four busy instances", || {
        let stats = lambda.stats("echo").unwrap();
        stats.busy == 4 && stats.total == 4
    })
    .await;

    let fifth = {
        let lambda = Arc::clone(&lambda);
        tokio::spawn(async move { lambda.invoke("echo", event(json!({ "n": 5 }))).await })
    };
    eventually(
        Duration::from_secs(2),
        "the fifth invocation to queue",
        || lambda.stats("echo").unwrap().waiting == 1,
    )
    .await;
    assert_eq!(lambda.stats("echo").unwrap().total, 4);

    let mut instances = BTreeSet::new();
    let mut pids = BTreeSet::new();
    for sleeper in sleepers {
        let invocation = sleeper.await.unwrap().unwrap();
        assert!(invocation.cold_start);
        success(&invocation);
        instances.insert(invocation.instance);
        pids.insert(invocation.pid.unwrap());
    }
    assert_eq!(instances.len(), 4);
    assert_eq!(pids.len(), 4);

    let fifth = fifth.await.unwrap().unwrap();
    assert!(
        !fifth.cold_start,
        "the fifth invocation reuses a warm instance"
    );
    assert!(instances.contains(&fifth.instance));
    let stats = lambda.stats("echo").unwrap();
    assert_eq!((stats.started, stats.total, stats.waiting), (4, 4, 0));
    lambda.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_kills_the_instance_and_the_next_invocation_starts_cold() {
    let lambda = Lambda::new(
        vec![FunctionConfig {
            timeout: Duration::from_secs(1),
            ..function("echo", "fixture-echo")
        }],
        options(),
    );

    let timed_out = lambda
        .invoke("echo", event(json!({ "sleepMs": 20_000 })))
        .await
        .unwrap();
    let error = failure(&timed_out);
    assert_eq!(error.kind, FunctionErrorKind::Timeout);
    assert_eq!(error.error_type, "Sandbox.Timedout");
    let payload = json(&error.payload);
    let message = payload["errorMessage"].as_str().unwrap();
    let expected_end = format!(
        " {} Task timed out after 1.00 seconds",
        timed_out.request_id
    );
    assert!(message.ends_with(&expected_end), "{message}");
    assert_eq!(payload.as_object().unwrap().len(), 1);
    assert!(timed_out.duration >= Duration::from_secs(1));
    assert!(timed_out.duration < Duration::from_secs(5));
    let old_pid = timed_out.pid.unwrap();
    assert!(
        !process_exists(old_pid),
        "the timed-out process was killed and reaped"
    );

    let next = lambda.invoke("echo", event(json!({}))).await.unwrap();
    assert!(next.cold_start);
    assert_ne!(next.pid.unwrap(), old_pid);
    assert_ne!(next.instance, timed_out.instance);
    success(&next);
    assert_eq!(lambda.stats("echo").unwrap().started, 2);
    lambda.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_is_reported_like_lambda_and_the_instance_is_replaced() {
    let lambda = Lambda::new(vec![function("echo", "fixture-echo")], options());
    let warm = lambda.invoke("echo", event(json!({}))).await.unwrap();

    let crashed = lambda
        .invoke("echo", event(json!({ "crash": true })))
        .await
        .unwrap();
    assert_eq!(crashed.instance, warm.instance);
    let error = failure(&crashed);
    assert_eq!(error.kind, FunctionErrorKind::Crash);
    assert_eq!(error.error_type, "Runtime.ExitError");
    let expected = format!(
        "RequestId: {} Error: Runtime exited with error: exit status 3",
        crashed.request_id
    );
    assert_eq!(error.error_message, expected);
    assert_eq!(
        json(&error.payload),
        json!({ "errorType": "Runtime.ExitError", "errorMessage": expected })
    );

    let next = lambda.invoke("echo", event(json!({}))).await.unwrap();
    assert!(next.cold_start);
    assert_ne!(next.pid, warm.pid);
    success(&next);
    lambda.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_that_exits_before_polling_fails_init() {
    let lambda = Lambda::new(vec![function("broken", "fixture-init-fail")], options());
    let invocation = lambda.invoke("broken", event(json!({}))).await.unwrap();
    assert!(invocation.cold_start);
    assert!(invocation.init_duration.is_some());
    let error = failure(&invocation);
    assert_eq!(error.kind, FunctionErrorKind::Init);
    assert_eq!(error.error_type, "Runtime.ExitError");
    assert_eq!(
        error.error_message,
        format!(
            "RequestId: {} Error: Runtime exited with error: exit status 2",
            invocation.request_id
        )
    );
    assert_eq!(lambda.stats("broken").unwrap().total, 0);

    let again = lambda.invoke("broken", event(json!({}))).await.unwrap();
    assert_ne!(
        again.instance, invocation.instance,
        "every attempt starts afresh"
    );
    lambda.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_init_error_posted_by_the_runtime_is_reported_with_its_type() {
    let mut config = function("broken", "fixture-init-fail");
    config
        .environment
        .insert("FIXTURE_INIT_MODE".to_string(), "post".to_string());
    let lambda = Lambda::new(vec![config], options());
    let invocation = lambda.invoke("broken", event(json!({}))).await.unwrap();
    let error = failure(&invocation);
    assert_eq!(error.kind, FunctionErrorKind::Init);
    assert_eq!(error.error_type, "Fixture.InitFailed");
    assert_eq!(error.error_message, "fixture-init-fail could not start");
    assert_eq!(json(&error.payload)["errorType"], "Fixture.InitFailed");
    lambda.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_that_never_polls_fails_init_after_the_init_timeout() {
    let mut config = function("stuck", "fixture-init-fail");
    config
        .environment
        .insert("FIXTURE_INIT_MODE".to_string(), "hang".to_string());
    let lambda = Lambda::new(
        vec![config],
        RuntimeOptions {
            init_timeout: Duration::from_millis(500),
            ..options()
        },
    );
    let invocation = lambda.invoke("stuck", event(json!({}))).await.unwrap();
    let error = failure(&invocation);
    assert_eq!(error.kind, FunctionErrorKind::Init);
    assert_eq!(error.error_type, "Runtime.InitError");
    assert!(!process_exists(invocation.pid.unwrap()));
    lambda.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_error_keeps_its_type_and_the_instance_stays_warm() {
    let lambda = Lambda::new(vec![function("echo", "fixture-echo")], options());
    let failed = lambda
        .invoke("echo", event(json!({ "fail": "SomeType" })))
        .await
        .unwrap();
    let error = failure(&failed);
    assert_eq!(error.kind, FunctionErrorKind::Unhandled);
    assert_eq!(error.function_error_header(), "Unhandled");
    assert_eq!(error.error_type, "SomeType");
    assert_eq!(error.error_message, "fixture-echo failed on purpose");
    assert_eq!(
        json(&error.payload),
        json!({ "errorType": "SomeType", "errorMessage": "fixture-echo failed on purpose" })
    );

    let panicked = lambda
        .invoke("echo", event(json!({ "panic": true })))
        .await
        .unwrap();
    let error = failure(&panicked);
    assert_eq!(error.kind, FunctionErrorKind::Unhandled);
    assert!(error.error_message.contains("panicked"), "{error:?}");

    let next = lambda.invoke("echo", event(json!({}))).await.unwrap();
    assert!(!next.cold_start);
    assert_eq!(next.pid, failed.pid);
    lambda.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_environment_is_exactly_the_given_one_plus_the_lambda_variables() {
    let mut config = function("echo-env", "fixture-echo");
    config.environment.insert(
        "AWS_LAMBDA_FUNCTION_NAME".to_string(),
        "spoofed".to_string(),
    );
    let lambda = Lambda::new(vec![config], options());
    let invocation = lambda
        .invoke("echo-env", event(json!({ "allEnv": true })))
        .await
        .unwrap();
    let env = success(&invocation)["env"].as_object().unwrap().clone();

    let names: BTreeSet<&str> = env.keys().map(String::as_str).collect();
    let expected: BTreeSet<&str> = [
        "AWS_REGION",
        "FIXTURE_GREETING",
        "AWS_LAMBDA_RUNTIME_API",
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_VERSION",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_LAMBDA_LOG_GROUP_NAME",
        "AWS_LAMBDA_LOG_STREAM_NAME",
        "AWS_LAMBDA_INITIALIZATION_TYPE",
        "_HANDLER",
        "LAMBDA_TASK_ROOT",
        "LAMBDA_RUNTIME_DIR",
        "TZ",
        "LANG",
        "PATH",
        "LD_LIBRARY_PATH",
        // Set by lambda_runtime itself for each invocation, as on Lambda.
        "_X_AMZN_TRACE_ID",
    ]
    .into_iter()
    .collect();
    assert_eq!(names, expected);
    assert!(!env.contains_key("HOME"));

    assert_eq!(env["AWS_LAMBDA_FUNCTION_NAME"], "echo-env");
    assert_eq!(env["AWS_LAMBDA_FUNCTION_VERSION"], "$LATEST");
    assert_eq!(env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"], "256");
    assert_eq!(env["AWS_LAMBDA_LOG_GROUP_NAME"], "/aws/lambda/echo-env");
    assert_eq!(env["AWS_LAMBDA_INITIALIZATION_TYPE"], "on-demand");
    assert_eq!(env["TZ"], ":UTC");
    assert_eq!(env["AWS_REGION"], "us-east-1");
    assert!(
        env["AWS_LAMBDA_RUNTIME_API"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:")
    );
    assert!(
        env["AWS_LAMBDA_LOG_STREAM_NAME"]
            .as_str()
            .unwrap()
            .contains("/[$LATEST]")
    );
    let task_root = fixture("fixture-echo")
        .parent()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert_eq!(env["LAMBDA_TASK_ROOT"], task_root.as_str());
    lambda.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn function_output_goes_to_the_log_sink_line_by_line() {
    let lines: Arc<Mutex<Vec<CapturedLine>>> = Arc::default();
    let sink = {
        let lines = Arc::clone(&lines);
        LogSink::new(move |line| {
            lines.lock().unwrap().push((
                line.function.to_string(),
                line.instance,
                line.stream,
                line.line.to_string(),
            ));
        })
    };
    let lambda = Lambda::new(
        vec![function("echo", "fixture-echo")],
        RuntimeOptions {
            log_sink: sink,
            ..options()
        },
    );
    let invocation = lambda
        .invoke("echo", event(json!({ "log": "hello from the function" })))
        .await
        .unwrap();
    eventually(Duration::from_secs(5), "both log lines", || {
        let lines = lines.lock().unwrap();
        [LogStream::Stdout, LogStream::Stderr].iter().all(|stream| {
            lines.iter().any(|(function, instance, s, line)| {
                function == "echo"
                    && *instance == invocation.instance
                    && s == stream
                    && line == "hello from the function"
            })
        })
    })
    .await;
    lambda.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_functions_are_refused() {
    let lambda = Lambda::new(vec![function("echo", "fixture-echo")], options());
    let result = lambda.invoke("nope", event(json!({}))).await;
    assert!(matches!(result, Err(InvokeError::UnknownFunction(name)) if name == "nope"));
    assert!(lambda.function("echo").is_some());
    assert!(lambda.function("nope").is_none());
    assert!(lambda.stats("nope").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_executable_is_a_spawn_error() {
    let mut config = function("ghost", "fixture-echo");
    config.executable = "/nonexistent/bootstrap".into();
    let lambda = Lambda::new(vec![config], options());
    let result = lambda.invoke("ghost", event(json!({}))).await;
    assert!(matches!(result, Err(InvokeError::Spawn { function, .. }) if function == "ghost"));
    assert_eq!(lambda.stats("ghost").unwrap().busy, 0);
    lambda.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runtime_api_answers_like_lambda() {
    let lambda = Lambda::new(vec![function("probe", "fixture-probe")], options());

    let first = success(
        &lambda
            .invoke("probe", event(json!({ "n": 1 })))
            .await
            .unwrap(),
    );
    assert_eq!(
        first["event"],
        json!({ "n": 1 }),
        "chunked responses are read whole"
    );
    assert_eq!(first["notFound"], 404);
    assert_eq!(first["wrongMethod"], 405);
    assert_eq!(first["bogusId"], 400);
    assert_eq!(first["lateInitError"], 403);
    assert_eq!(first["staleId"], Value::Null);
    assert!(first["deadlineMs"].as_str().unwrap().parse::<u64>().is_ok());
    assert_eq!(
        first["functionArn"],
        "arn:aws:lambda:us-east-1:123456789012:function:probe"
    );

    let second = success(&lambda.invoke("probe", event(json!({}))).await.unwrap());
    assert_eq!(
        second["staleId"], 400,
        "a second answer to a finished invocation is refused"
    );

    let handled = lambda
        .invoke(
            "probe",
            event(json!({ "error": { "type": "Probe.Declined", "header": "Handled" } })),
        )
        .await
        .unwrap();
    let error = failure(&handled);
    assert_eq!(error.kind, FunctionErrorKind::Handled);
    assert_eq!(error.function_error_header(), "Handled");
    assert_eq!(error.error_type, "Probe.Declined");
    assert_eq!(json(&error.payload)["stackTrace"], json!([]));
    assert!(!handled.cold_start);
    lambda.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_invocation_finishes_in_the_background_and_keeps_its_instance() {
    let lambda = Lambda::new(
        vec![FunctionConfig {
            max_instances: 1,
            ..function("echo", "fixture-echo")
        }],
        options(),
    );
    let warm = lambda.invoke("echo", event(json!({}))).await.unwrap();

    let abandoned = tokio::time::timeout(
        Duration::from_millis(200),
        lambda.invoke("echo", event(json!({ "sleepMs": 800 }))),
    )
    .await;
    assert!(abandoned.is_err(), "the caller gave up");
    assert_eq!(
        lambda.stats("echo").unwrap().busy,
        1,
        "the invocation still runs"
    );

    let next = lambda.invoke("echo", event(json!({}))).await.unwrap();
    assert!(!next.cold_start);
    assert_eq!(
        next.pid, warm.pid,
        "the instance was neither killed nor replaced"
    );
    assert_eq!(lambda.stats("echo").unwrap().started, 1);
    lambda.shutdown().await;
}
