//! Login latency through the local stack, and the authorizer's cold start: `bench/identity.sh`
//! (`cargo bench -p identity --bench auth`).
//!
//! Builds the functions in release, starts the local stack on free ports, registers a user, then:
//! - logs in `LOGINS` times one after another (default 200) and prints p50/p90/p99 of the client-side
//!   latency (API Gateway emulation, the function, argon2id and the emulator's DynamoDB);
//! - times one DynamoDB read against the emulator, for scale;
//! - starts the `authorizer` binary `COLD_STARTS` times (default 25) against the stack's Secrets Manager
//!   and prints process start → first Runtime API poll (which includes reading the public keys),
//!   → first decision, and peak RSS.

use std::{collections::BTreeSet, time::Instant};

use bytes::Bytes;
use http::Method;
use local::{bench, build::Profile, testing};
use serde_json::json;
use shared::config::Env;

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let env = Env::from_process();
    let logins: usize = env.parse_or("LOGINS", 200)?;
    let cold_starts: usize = env.parse_or("COLD_STARTS", 25)?;
    let stack = testing::spawn_with(|options| {
        options.profile = Profile::Release;
        // Measure the function, not the route's throttle.
        for limit in ["AuthRateLimit", "AuthBurstLimit"] {
            options
                .parameter_overrides
                .insert(limit.into(), "100000".into());
        }
    })
    .await?;
    let json_headers = [("content-type", "application/json")];
    let credentials = json!({"email": "bench@example.com", "password": "benchmark-password"});
    let registered = stack
        .request(
            Method::POST,
            "/v1/auth/register",
            &json_headers,
            credentials.to_string(),
        )
        .await?;
    anyhow::ensure!(registered.status == 202, "register: {}", registered.text());

    let mut times = Vec::with_capacity(logins);
    let mut token = String::new();
    for _ in 0..logins {
        let started = Instant::now();
        let answer = stack
            .request(
                Method::POST,
                "/v1/auth/login",
                &json_headers,
                credentials.to_string(),
            )
            .await?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(answer.status == 200, "login: {}", answer.text());
        token = answer.json()["accessToken"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
    }
    times.sort_by(f64::total_cmp);
    let pick = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
    println!(
        "login through the local stack ({logins} sequential, release): p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        pick(0.5),
        pick(0.9),
        pick(0.99),
        pick(1.0)
    );

    // For scale: one DynamoDB read against the same emulator (a login makes four DynamoDB calls).
    let dynamo = aws_sdk_dynamodb::Client::new(stack.stack().sdk_config());
    let table = stack
        .stack()
        .model()
        .tables
        .first()
        .map(|t| t.name.clone())
        .unwrap_or_default();
    let mut reads = Vec::with_capacity(logins);
    for _ in 0..logins {
        let started = Instant::now();
        dynamo
            .get_item()
            .table_name(&table)
            .key(
                "pk",
                aws_sdk_dynamodb::types::AttributeValue::S("EMAIL#bench@example.com".into()),
            )
            .key(
                "sk",
                aws_sdk_dynamodb::types::AttributeValue::S("EMAIL".into()),
            )
            .consistent_read(true)
            .send()
            .await?;
        reads.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    reads.sort_by(f64::total_cmp);
    println!(
        "one GetItem against the emulator, for scale: p50 {:.1} ms",
        reads[reads.len() / 2]
    );

    let model = stack.stack().model();
    let function = model
        .functions
        .iter()
        .find(|f| f.binary == "authorizer")
        .ok_or_else(|| anyhow::anyhow!("no authorizer function in the template"))?;
    let environment = local::stack::function_environment(
        function,
        model,
        stack.stack().emulator_endpoint(),
        &stack.stack().sfn_endpoint(),
    );
    let root = local::paths::repo_root();
    let executables = local::build::build_binaries(
        &root,
        &BTreeSet::from(["authorizer".to_owned()]),
        Profile::Release,
    )
    .await?;
    let executable = executables
        .get("authorizer")
        .cloned()
        .ok_or_else(|| anyhow::anyhow!("no authorizer executable"))?;
    let mut event: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(
        root.join("events/authorizer.json"),
    )?)?;
    event["identitySource"] = json!([format!("Bearer {token}")]);
    let result = bench::cold_start_with_env(
        "authorizer",
        executable,
        Bytes::from(event.to_string()),
        cold_starts,
        environment,
    )
    .await?;
    println!(
        "authorizer cold start ({} runs, release): to first poll {:.2} ms (min {:.2}, max {:.2}), to first decision {:.2} ms, peak RSS {:.1} MiB",
        result.runs,
        result.to_first_poll.median,
        result.to_first_poll.min,
        result.to_first_poll.max,
        result.to_first_response.median,
        result.peak_rss_kib.median / 1024.0
    );
    stack.shutdown().await;
    Ok(())
}
