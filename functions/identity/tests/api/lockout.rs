//! The login lockout per email and source address through the local stack.
//!
//! The local API gateway gives each request the address it came from as `sourceIp`, as API Gateway
//! does, and all of 127.0.0.0/8 is loopback: a client bound to 127.0.0.N is a source of its own.

use std::net::{IpAddr, Ipv4Addr};

use http_body_util::{BodyExt as _, Full};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::TokioExecutor,
};
use identity::lockout::Policy;

use super::*;

const WRONG: &str = "not the password at all";

/// A client sending from its own loopback address.
struct Source {
    client: Client<HttpConnector, Full<Bytes>>,
}

/// The client at 127.0.0.`host`.
fn source(host: u8) -> Source {
    let mut connector = HttpConnector::new();
    connector.set_local_address(Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, host))));
    Source {
        client: Client::builder(TokioExecutor::new()).build(connector),
    }
}

impl Source {
    async fn login(&self, stack: &TestStack, email: &str, password: &str) -> TestResponse {
        let body = json!({"email": email, "password": password}).to_string();
        let request = http::Request::builder()
            .method(Method::POST)
            .uri(stack.url("/v1/auth/login"))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body)))
            .unwrap();
        let response = self.client.request(request).await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        TestResponse {
            status,
            headers,
            body,
        }
    }

    /// Logs in and says how long the answer took.
    async fn timed_login(
        &self,
        stack: &TestStack,
        email: &str,
        password: &str,
    ) -> (TestResponse, Duration) {
        let started = Instant::now();
        let answer = self.login(stack, email, password).await;
        (answer, started.elapsed())
    }
}

/// Registers `email` with [`PASSWORD`].
async fn with_account(stack: &TestStack, email: &str) {
    let created = register(stack, email).await;
    assert!(
        matches!(created.status, 201 | 202),
        "{}: {}",
        created.status,
        created.text()
    );
}

fn retry_after(locked: &TestResponse) -> u64 {
    assert_eq!(locked.status, 429, "{}", locked.text());
    locked.header("retry-after").unwrap().parse().unwrap()
}

/// Sends `each` wrong passwords for `email` from every source of `hosts` (the sources at once,
/// each source's one after the other); every one is checked and refused with 401.
async fn fail_from(stack: &TestStack, email: &str, hosts: std::ops::Range<u8>, each: u32) {
    let answers = futures::future::join_all(hosts.map(|host| async move {
        let from = source(host);
        let mut statuses = Vec::new();
        for _ in 0..each {
            statuses.push(from.login(stack, email, WRONG).await.status);
        }
        statuses
    }))
    .await;
    assert!(
        answers.iter().flatten().all(|&status| status == 401),
        "{answers:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_source_that_keeps_failing_is_locked_out_while_the_owner_logs_in_from_elsewhere() {
    let stack = stack().await;
    let policy = Policy::default();
    let email = "targeted@example.com";
    with_account(&stack, email).await;
    let (attacker, owner, other) = (source(2), source(3), source(4));

    for _ in 0..policy.max_failures {
        assert_eq!(attacker.login(&stack, email, WRONG).await.status, 401);
    }
    let locked = attacker.login(&stack, email, WRONG).await;
    assert!((1..=policy.base_lock.as_secs()).contains(&retry_after(&locked)));
    // The lock holds for the right password too, from that source.
    let still = attacker.login(&stack, email, PASSWORD).await;
    assert_eq!(still.status, 429, "{}", still.text());

    // The owner, elsewhere, logs in.
    let login = owner.login(&stack, email, PASSWORD).await;
    assert_eq!(login.status, 200, "{}", login.text());
    assert!(login.json()["accessToken"].is_string());
    // Another source gets its own checks, not the attacker's lock.
    assert_eq!(other.login(&stack, email, WRONG).await.status, 401);
    // And the attacker's source is locked out of that email only.
    let own = "attacker@example.com";
    with_account(&stack, own).await;
    assert_eq!(attacker.login(&stack, own, PASSWORD).await.status, 200);
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn failures_spread_over_many_sources_slow_every_source_down_within_a_bound() {
    let stack = stack().await;
    let policy = Policy::default();
    let email = "spread@example.com";
    with_account(&stack, email).await;
    let owner = source(2);
    // Warm, then the time of a login nobody attacks.
    assert_eq!(owner.login(&stack, email, PASSWORD).await.status, 200);
    let (first, first_took) = owner.timed_login(&stack, email, PASSWORD).await;
    let (second, second_took) = owner.timed_login(&stack, email, PASSWORD).await;
    assert_eq!((first.status, second.status), (200, 200));
    let unhindered = first_took.min(second_took);

    // 12 sources, 2 failures each: every source stays under its own lock.
    fail_from(&stack, email, 10..22, 2).await;
    let delay = policy.delay_for(24);
    assert!(delay > Duration::ZERO);
    let (login, took) = source(3).timed_login(&stack, email, PASSWORD).await;
    assert_eq!(login.status, 200, "{}", login.text());
    assert!(took >= delay, "{took:?} < {delay:?}");
    assert!(
        took >= unhindered + delay / 2,
        "{took:?} vs {unhindered:?} unhindered"
    );

    // 16 more: the delay has grown to its cap, and stays well under a doubling without one.
    fail_from(&stack, email, 22..30, 2).await;
    assert_eq!(policy.delay_for(40), policy.max_delay);
    let doublings = (40 - policy.slow_after - 1) / policy.failures_per_doubling;
    let uncapped = policy.first_delay * 2_u32.pow(doublings);
    assert!(uncapped > policy.max_delay + Duration::from_secs(4));
    let (login, took) = source(4).timed_login(&stack, email, PASSWORD).await;
    assert_eq!(login.status, 200, "{}", login.text());
    assert!(took >= policy.max_delay, "{took:?}");
    assert!(took < uncapped, "{took:?}");
    // The sources that failed are slowed down, not locked out.
    let (login, took) = source(10).timed_login(&stack, email, PASSWORD).await;
    assert_eq!(login.status, 200, "{}", login.text());
    assert!(took >= policy.max_delay, "{took:?}");
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_login_from_the_failing_source_after_its_lock_forgets_its_failures_and_locks() {
    let stack = stack().await;
    let policy = Policy::default();
    let email = "returning@example.com";
    with_account(&stack, email).await;
    let from = source(2);

    for _ in 0..policy.max_failures {
        assert_eq!(from.login(&stack, email, WRONG).await.status, 401);
    }
    let wait = retry_after(&from.login(&stack, email, WRONG).await);
    tokio::time::sleep(Duration::from_secs(wait + 1)).await;
    let login = from.login(&stack, email, PASSWORD).await;
    assert_eq!(login.status, 200, "{}", login.text());

    // A clean slate: all the checks again, then a first lock, not a doubled one.
    for _ in 0..policy.max_failures {
        assert_eq!(from.login(&stack, email, WRONG).await.status, 401);
    }
    let again = retry_after(&from.login(&stack, email, WRONG).await);
    assert!(again <= policy.base_lock.as_secs(), "{again}");
    assert!(policy.lock_for(1) > policy.base_lock);
    stack.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn counts_past_their_forget_time_start_afresh_before_the_table_removes_them() {
    use aws_sdk_dynamodb::types::AttributeValue;
    use identity::store::Attempt;

    let stack = stack().await;
    let store = store(&stack);
    let policy = Policy::default();
    let client = aws_sdk_dynamodb::Client::new(stack.stack().sdk_config());
    let table = stack.stack().model().tables[0].name.clone();
    let now = shared::time::now();
    let past = now.unix_timestamp() - 1;
    let (email, from, elsewhere) = ("stale@example.com", "192.0.2.9", "192.0.2.10");
    let text = |value: &str| AttributeValue::S(value.to_owned());
    let number = |value: i64| AttributeValue::N(value.to_string());
    // The table's TTL removes expired items only later: a source locked four times, the last
    // lock long over, and a heavy count over all sources, both forgotten but still there.
    for item in [
        vec![
            ("pk", text(&format!("LOGIN#{email}#{from}"))),
            ("failures", number(0)),
            ("lockouts", number(4)),
            ("lockedUntil", number(past - 60)),
        ],
        vec![
            ("pk", text(&format!("LOGIN#{email}"))),
            ("failures", number(40)),
        ],
    ] {
        client
            .put_item()
            .table_name(&table)
            .set_item(Some(
                item.into_iter()
                    .map(|(name, value)| (name.to_owned(), value))
                    .chain([
                        ("sk".to_owned(), text("LOCK")),
                        ("expiresAt".to_owned(), number(past)),
                    ])
                    .collect(),
            ))
            .send()
            .await
            .unwrap();
    }

    // No delay from the forgotten count, and all the checks of a new one for the source...
    for _ in 0..policy.max_failures {
        let attempt = store
            .begin_login_attempt(email, from, &policy, now)
            .await
            .unwrap();
        assert_eq!(
            attempt,
            Attempt::Allowed {
                delay: Duration::ZERO
            }
        );
        store.login_failed(email, from, &policy, now).await.unwrap();
    }
    // ...then a first lock, not a doubled fifth one.
    let locked = store
        .begin_login_attempt(email, from, &policy, now)
        .await
        .unwrap();
    assert_eq!(
        locked,
        Attempt::Locked {
            retry_after_secs: policy.base_lock.as_secs()
        }
    );
    // The count over all sources started again from those five failures, not from 40.
    let past_the_threshold = policy.slow_after + 1 - policy.max_failures;
    for _ in 0..past_the_threshold {
        store
            .login_failed(email, elsewhere, &policy, now)
            .await
            .unwrap();
    }
    let attempt = store
        .begin_login_attempt(email, elsewhere, &policy, now)
        .await
        .unwrap();
    assert_eq!(
        attempt,
        Attempt::Allowed {
            delay: policy.delay_for(policy.slow_after + 1)
        }
    );
    // Had it gone on from 40, the delay would be the longest.
    assert_eq!(
        policy.delay_for(40 + policy.slow_after + 1),
        policy.max_delay
    );
    stack.shutdown().await;
}
