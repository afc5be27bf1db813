//! Shutdown, alone in its test binary so that every child of this process is one of ours.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use local_lambda::{FunctionConfig, InvokeError, InvokeRequest, Lambda};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_kills_busy_and_idle_instances_and_leaves_no_process_behind() {
    // Build the fixtures before counting children.
    let config = FunctionConfig {
        max_instances: 3,
        ..function("echo", "fixture-echo")
    };
    let lambda = Lambda::new(vec![config, function("http", "fixture-http")], options());

    // One idle instance of `echo`...
    let idle = lambda
        .invoke("echo", InvokeRequest::new("{}"))
        .await
        .unwrap();
    success(&idle);
    // ...two busy ones, and one queued invocation.
    let sleeper = |lambda: Arc<Lambda>| {
        tokio::spawn(async move {
            lambda
                .invoke(
                    "echo",
                    InvokeRequest::new(json!({ "sleepMs": 60_000 }).to_string()),
                )
                .await
        })
    };
    let busy: Vec<_> = (0..4).map(|_| sleeper(Arc::clone(&lambda))).collect();
    eventually(
        Duration::from_secs(10),
        "three busy instances and a queue",
        || {
            let stats = lambda.stats("echo").unwrap();
            stats.busy == 3 && stats.total == 3 && stats.waiting == 1
        },
    )
    .await;
    let before = children();
    assert_eq!(before.len(), 3, "{before:?}");
    assert!(before.contains(&idle.pid.unwrap()));

    lambda.shutdown().await;

    assert!(children().is_empty(), "children left: {:?}", children());
    for pid in before {
        assert!(!process_exists(pid), "process {pid} still exists");
    }
    for task in busy {
        assert!(matches!(
            task.await.unwrap(),
            Err(InvokeError::ShuttingDown)
        ));
    }
    assert!(matches!(
        lambda.invoke("echo", InvokeRequest::new("{}")).await,
        Err(InvokeError::ShuttingDown)
    ));
    assert_eq!(lambda.stats("echo").unwrap().total, 0);

    // A Lambda dropped without shutdown still takes its instances with it.
    let dropped = Lambda::new(vec![function("echo", "fixture-echo")], options());
    let invocation = dropped
        .invoke("echo", InvokeRequest::new("{}"))
        .await
        .unwrap();
    assert_eq!(children(), vec![invocation.pid.unwrap()]);
    drop(dropped);
    eventually(
        Duration::from_secs(5),
        "the dropped Lambda's instance to exit",
        || children().is_empty(),
    )
    .await;
}
