//! Schedules end to end, with `tests/fixtures/schedules.yaml` on a clock 200 times as fast as
//! real time (a minute lasts 300 ms): a `rate(1 minute)` schedule runs its function again and
//! again with its `Input`, context attributes filled in; an EventBridge rule runs too; disabled
//! schedules never run; a failing run is retried as its `RetryPolicy` says, and no more.

// Helpers outside the test functions fail the test on a setup error too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use local::paths;
use local::testing::{self, TestStack};

const FIXTURES: &str = "local/tests/fixtures/schedules.yaml";

/// A minute of schedule time lasts 300 ms.
const TIME_SCALE: f64 = 0.005;

/// Receives every body from `url` (deleting them) until `done` says the bodies so far are
/// enough, or `within` passes.
async fn receive_until(
    stack: &TestStack,
    url: &str,
    bodies: &mut Vec<String>,
    within: Duration,
    done: impl Fn(&[String]) -> bool,
) {
    let sqs = aws_sdk_sqs::Client::new(stack.stack().sdk_config());
    let deadline = Instant::now() + within;
    while !done(bodies) && Instant::now() < deadline {
        let output = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        for message in output.messages() {
            bodies.push(message.body().unwrap_or_default().to_owned());
            sqs.delete_message()
                .queue_url(url)
                .receipt_handle(message.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
}

/// The scheduled times of the `tick|<time>` bodies, in seconds since the epoch.
fn tick_times(bodies: &[String]) -> BTreeSet<i64> {
    bodies
        .iter()
        .filter_map(|b| b.strip_prefix("tick|"))
        .map(|time| {
            time::OffsetDateTime::parse(time, &time::format_description::well_known::Rfc3339)
                .unwrap_or_else(|e| panic!("{time}: {e}"))
                .unix_timestamp()
        })
        .collect()
}

/// The attempts of each failing run (`fail|<run>|<attempt>`), by run.
fn failing_runs(bodies: &[String]) -> BTreeMap<String, Vec<u32>> {
    let mut runs: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for body in bodies {
        if let Some(rest) = body.strip_prefix("fail|") {
            let (run, attempt) = rest.rsplit_once('|').unwrap();
            runs.entry(run.to_owned())
                .or_default()
                .push(attempt.parse().unwrap());
        }
    }
    for attempts in runs.values_mut() {
        attempts.sort_unstable();
    }
    runs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn schedules_run_their_functions_on_a_scaled_clock_and_retry_failures() {
    let stack = testing::spawn_with(|options| {
        options.template = paths::repo_root().join(FIXTURES);
        options.stack_name = "schedules".into();
        options.schedule_time_scale = TIME_SCALE;
    })
    .await
    .unwrap();
    let seen = stack.stack().model().queue("Seen").unwrap().url.clone();

    let mut bodies = Vec::new();
    receive_until(
        &stack,
        &seen,
        &mut bodies,
        Duration::from_secs(60),
        |bodies| {
            tick_times(bodies).len() >= 4
                && bodies.iter().filter(|b| *b == "rule").count() >= 3
                && failing_runs(bodies)
                    .values()
                    .any(|attempts| attempts == &[1, 2, 3])
        },
    )
    .await;
    // Runs still retrying get time to make any attempt too many.
    receive_until(&stack, &seen, &mut bodies, Duration::from_secs(3), |_| {
        false
    })
    .await;

    // The ScheduleV2 runs once a minute of schedule time, with its Input, the scheduled time
    // filled in.
    let times: Vec<i64> = tick_times(&bodies).into_iter().collect();
    assert!(times.len() >= 4, "too few ticks: {bodies:?}");
    for pair in times.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            gap > 0 && gap % 60 == 0,
            "ticks are not whole minutes apart: {times:?}"
        );
    }
    assert!(
        times.windows(2).any(|pair| pair[1] - pair[0] == 60),
        "no two ticks a minute apart: {times:?}"
    );

    // The EventBridge rule runs as well, with its Input as written.
    assert!(
        bodies.iter().filter(|b| *b == "rule").count() >= 3,
        "{bodies:?}"
    );

    // A failing run is tried once and retried twice (MaximumRetryAttempts: 2), never more;
    // every run has its own execution id.
    let runs = failing_runs(&bodies);
    assert!(
        runs.values().any(|attempts| attempts == &[1, 2, 3]),
        "no run was retried twice: {runs:?}"
    );
    for (run, attempts) in &runs {
        assert!(
            attempts.iter().all(|a| (1..=3).contains(a)),
            "run {run} made attempts {attempts:?}"
        );
        let distinct: BTreeSet<_> = attempts.iter().collect();
        assert_eq!(distinct.len(), attempts.len(), "run {run}: {attempts:?}");
    }

    // Disabled schedules never ran.
    assert!(
        !bodies.iter().any(|b| b == "paused" || b == "off"),
        "a disabled schedule ran: {bodies:?}"
    );
    // Nothing else reached the queue.
    assert!(
        bodies
            .iter()
            .all(|b| b.starts_with("tick|") || b == "rule" || b.starts_with("fail|")),
        "{bodies:?}"
    );

    stack.shutdown().await;
}
