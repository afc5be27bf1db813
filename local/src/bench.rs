//! Cold-start measurement of function binaries (used by `bench/cold-start.sh`).
//!
//! Each run starts a fresh instance of the binary behind the local Runtime API and sends it
//! one event: the time from process start to its first `/next` poll is its init, and init plus
//! the invocation is the time to the first response. Peak RSS is read from `/proc` after the
//! response.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use bytes::Bytes;
use local_lambda::{FunctionConfig, InvokeRequest, Lambda, LogSink, Outcome, RuntimeOptions};

/// Figures of one binary.
#[derive(Debug, Clone)]
pub struct ColdStart {
    pub binary: String,
    pub runs: usize,
    pub to_first_poll: Summary,
    pub to_first_response: Summary,
    pub peak_rss_kib: Summary,
}

/// Median, minimum and maximum of a sample.
#[derive(Debug, Clone, Copy)]
pub struct Summary {
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Summary {
    fn of(mut values: Vec<f64>) -> Self {
        values.sort_by(f64::total_cmp);
        let median = if values.is_empty() {
            0.0
        } else if values.len() % 2 == 1 {
            values[values.len() / 2]
        } else {
            (values[values.len() / 2 - 1] + values[values.len() / 2]) / 2.0
        };
        Self {
            median,
            min: values.first().copied().unwrap_or(0.0),
            max: values.last().copied().unwrap_or(0.0),
        }
    }
}

/// Measures `runs` cold starts of `executable`, each answering `event`.
pub async fn cold_start(
    binary: &str,
    executable: PathBuf,
    event: Bytes,
    runs: usize,
) -> anyhow::Result<ColdStart> {
    cold_start_with_env(binary, executable, event, runs, BTreeMap::new()).await
}

/// Like [`cold_start`], with `extra` added to the function's environment (a function that reads a
/// table name or a secret at start needs its variables, and an emulator to reach).
pub async fn cold_start_with_env(
    binary: &str,
    executable: PathBuf,
    event: Bytes,
    runs: usize,
    extra: BTreeMap<String, String>,
) -> anyhow::Result<ColdStart> {
    let mut init = Vec::new();
    let mut first_response = Vec::new();
    let mut rss = Vec::new();
    let mut environment: BTreeMap<String, String> = [
        ("AWS_REGION", "us-east-1"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
        ("AWS_LAMBDA_LOG_LEVEL", "WARN"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    environment.extend(extra);
    for _ in 0..runs {
        let lambda = Lambda::new(
            vec![FunctionConfig {
                name: binary.to_owned(),
                arn: format!("arn:aws:lambda:us-east-1:123456789012:function:{binary}"),
                executable: executable.clone(),
                environment: environment.clone(),
                timeout: Duration::from_secs(10),
                memory_mb: 128,
                max_instances: 1,
            }],
            RuntimeOptions {
                log_sink: LogSink::discard(),
                ..RuntimeOptions::default()
            },
        );
        let invocation = lambda
            .invoke(binary, InvokeRequest::new(event.clone()))
            .await?;
        if let Outcome::Error(error) = &invocation.outcome {
            bail!(
                "{binary} failed: {} {}",
                error.error_type,
                error.error_message
            );
        }
        let Some(init_duration) = invocation.init_duration else {
            bail!("{binary}: the first invocation was not a cold start");
        };
        init.push(init_duration.as_secs_f64() * 1000.0);
        first_response.push((init_duration + invocation.duration).as_secs_f64() * 1000.0);
        if let Some(kib) = invocation.pid.and_then(peak_rss_kib) {
            rss.push(kib as f64);
        }
        lambda.shutdown().await;
    }
    Ok(ColdStart {
        binary: binary.to_owned(),
        runs,
        to_first_poll: Summary::of(init),
        to_first_response: Summary::of(first_response),
        peak_rss_kib: Summary::of(rss),
    })
}

/// `VmHWM` of a live process, in KiB.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Parses `binary=events/file.json`.
pub fn parse_target(spec: &str) -> anyhow::Result<(String, PathBuf)> {
    let (binary, event) = spec
        .split_once('=')
        .with_context(|| format!("{spec:?} is not BINARY=EVENT_FILE"))?;
    Ok((binary.to_owned(), PathBuf::from(event)))
}

/// Prints the figures as a table.
pub fn print(results: &[ColdStart]) {
    println!(
        "{:<14} {:>5}  {:>22}  {:>22}  {:>18}",
        "binary", "runs", "to first /next ms", "to first response ms", "peak RSS MiB"
    );
    println!(
        "{:<14} {:>5}  {:>22}  {:>22}  {:>18}",
        "", "", "median (min-max)", "median (min-max)", "median"
    );
    for r in results {
        println!(
            "{:<14} {:>5}  {:>7.2} ({:>5.2}-{:>6.2})  {:>7.2} ({:>5.2}-{:>6.2})  {:>18.1}",
            r.binary,
            r.runs,
            r.to_first_poll.median,
            r.to_first_poll.min,
            r.to_first_poll.max,
            r.to_first_response.median,
            r.to_first_response.min,
            r.to_first_response.max,
            r.peak_rss_kib.median / 1024.0,
        );
    }
}
