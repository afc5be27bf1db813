//! Benchmark: the local Step Functions service's overhead per Lambda task, beyond the
//! function's own time.
//!
//! Starts a stack with one function and a state machine of `TASKS` Lambda tasks in a row,
//! measures the mean latency of a warm direct invocation of the function, then the wall time
//! of executions of the machine; the overhead per task is the execution time per task minus
//! the direct invocation latency. Run with `bench/sfn.sh` (release build).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use bytes::Bytes;
use local_lambda::{InvokeRequest, Outcome};

const TASKS: usize = 50;
const RUNS: usize = 10;

fn template(dir: &std::path::Path) -> std::path::PathBuf {
    let mut states = String::new();
    for i in 0..TASKS {
        let next = if i + 1 == TASKS {
            r#""End": true"#.to_owned()
        } else {
            format!(r#""Next": "T{}""#, i + 1)
        };
        let _ = write!(
            states,
            r#"{}"T{i}": {{"Type": "Task", "Resource": "${{EchoArn}}", "ResultPath": null, {next}}}"#,
            if i == 0 { "" } else { ", " }
        );
    }
    let definition = format!(r#"{{"StartAt": "T0", "States": {{{states}}}}}"#);
    std::fs::write(dir.join("chain.asl.json"), definition).unwrap();
    let yaml = r#"
Transform: AWS::Serverless-2016-10-31
Resources:
  EchoFunction:
    Type: AWS::Serverless::Function
    Metadata: {BuildMethod: rust-cargolambda, BuildProperties: {Binary: fixture-echo}}
    Properties: {Runtime: provided.al2023, Handler: bootstrap, CodeUri: .}
  Chain:
    Type: AWS::Serverless::StateMachine
    Properties:
      DefinitionUri: chain.asl.json
      DefinitionSubstitutions:
        EchoArn: !GetAtt EchoFunction.Arn
"#;
    let path = dir.join("template.yaml");
    std::fs::write(&path, yaml).unwrap();
    path
}

#[tokio::main]
async fn main() {
    let dir = std::env::temp_dir().join(format!("sfn-overhead-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let template = template(&dir);
    let profile = if cfg!(debug_assertions) {
        local::build::Profile::Dev
    } else {
        local::build::Profile::Release
    };
    let stack = local::testing::spawn_with(|options| {
        options.template = template;
        options.profile = profile;
    })
    .await
    .unwrap();
    let lambda = stack.stack().lambda().clone();
    let function = stack.stack().function("EchoFunction").unwrap().name.clone();

    // Warm direct invocations: the function's own time plus the runtime API round trip.
    let payload = Bytes::from_static(br#"{"orderId":"o-1"}"#);
    for _ in 0..20 {
        lambda
            .invoke(&function, InvokeRequest::new(payload.clone()))
            .await
            .unwrap();
    }
    let started = Instant::now();
    let direct_runs = 500;
    for _ in 0..direct_runs {
        let invocation = lambda
            .invoke(&function, InvokeRequest::new(payload.clone()))
            .await
            .unwrap();
        assert!(matches!(invocation.outcome, Outcome::Success(_)));
    }
    let direct = started.elapsed() / direct_runs;

    let sfn = stack.stack().sfn().clone();
    let machine = sfn.machines()[0].arn.clone();
    let mut per_task = Vec::new();
    for run in 0..RUNS {
        let started = Instant::now();
        let execution = sfn
            .start_execution(
                &machine,
                Some(&format!("run-{run}")),
                Some(r#"{"orderId":"o-1"}"#),
            )
            .unwrap();
        let progress = execution.wait().await;
        let elapsed = started.elapsed();
        assert_eq!(progress.status.as_str(), "SUCCEEDED", "{progress:?}");
        per_task.push(elapsed / TASKS as u32);
    }
    per_task.sort();
    let median: Duration = per_task[per_task.len() / 2];
    let overhead = median.saturating_sub(direct);
    println!(
        "Lambda task in a state machine: {:.3} ms per task (median of {RUNS} executions of {TASKS} tasks); direct warm invoke {:.3} ms; overhead per task {:.3} ms",
        median.as_secs_f64() * 1000.0,
        direct.as_secs_f64() * 1000.0,
        overhead.as_secs_f64() * 1000.0,
    );
    stack.shutdown().await;
    let _ = std::fs::remove_dir_all(&dir);
}
