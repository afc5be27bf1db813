//! Metrics in CloudWatch's embedded metric format (EMF).
//!
//! Functions record through the [`metrics`] facade; [`init`] (called by
//! [`crate::telemetry::init`]) installs `metrics_cloudwatch_embedded` as its recorder, and
//! [`flush`] writes what was recorded as one JSON line on stdout, which CloudWatch Logs turns into
//! metrics in the namespace `METRICS_NAMESPACE` (default [`DEFAULT_NAMESPACE`]) and which the local
//! stack reads from the functions' output. [`crate::http::run_http`] flushes after every request.
//!
//! - Per route (dimension `Route`, API Gateway's route key such as `POST /v1/auth/login`),
//!   recorded by [`crate::http::run_http`]: `Requests`, `ClientErrors` (4xx), `ServerErrors` (5xx),
//!   and `Latency` in milliseconds.
//! - Business counts (no dimension), recorded where they happen with [`count`]: see [`Business`].

use std::sync::OnceLock;

/// The namespace unless `METRICS_NAMESPACE` names another.
pub const DEFAULT_NAMESPACE: &str = "Storefront";

/// Requests answered, per route.
pub const REQUESTS: &str = "Requests";
/// 4xx answers, per route.
pub const CLIENT_ERRORS: &str = "ClientErrors";
/// 5xx answers, per route.
pub const SERVER_ERRORS: &str = "ServerErrors";
/// Time to answer in milliseconds, per route.
pub const LATENCY: &str = "Latency";
/// The dimension of the per-route metrics.
pub const ROUTE: &str = "Route";

/// The business events counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Business {
    /// An account was created.
    Registrations,
    /// A login succeeded.
    Logins,
    /// A login was refused for a wrong email or password.
    LoginsFailed,
    /// A login was refused because the email is locked after repeated failures.
    LoginsLocked,
    /// An order was placed (its checkout started).
    OrdersPlaced,
    /// An order's checkout confirmed it.
    OrdersConfirmed,
    /// An order's checkout failed it.
    OrdersFailed,
    /// A confirmed order was cancelled.
    OrdersCancelled,
    /// A payment was refunded by an admin.
    PaymentsRefunded,
    /// An email went out (the provider accepted it).
    EmailsSent,
    /// An SMS went out (the provider accepted it).
    SmsSent,
    /// The provider refused a notification for good (a rejected address, an invalid number).
    NotificationsFailed,
    /// A consumer received an event it had already applied (SQS and the outboxes deliver at
    /// least once; a crash mid-batch brings its batch back).
    DuplicateEvents,
}

impl Business {
    /// The metric's name.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Registrations => "Registrations",
            Self::Logins => "Logins",
            Self::LoginsFailed => "LoginsFailed",
            Self::LoginsLocked => "LoginsLocked",
            Self::OrdersPlaced => "OrdersPlaced",
            Self::OrdersConfirmed => "OrdersConfirmed",
            Self::OrdersFailed => "OrdersFailed",
            Self::OrdersCancelled => "OrdersCancelled",
            Self::PaymentsRefunded => "PaymentsRefunded",
            Self::EmailsSent => "EmailsSent",
            Self::SmsSent => "SmsSent",
            Self::NotificationsFailed => "NotificationsFailed",
            Self::DuplicateEvents => "DuplicateEvents",
        }
    }
}

/// Writes the recorded metrics on stdout (the collector's type is not nameable outside its crate).
type Flush = Box<dyn Fn() -> std::io::Result<()> + Send + Sync>;

static FLUSH: OnceLock<Flush> = OnceLock::new();

/// Installs the EMF recorder for this process (once; later calls do nothing).
pub fn init() {
    if FLUSH.get().is_some() {
        return;
    }
    let namespace = std::env::var("METRICS_NAMESPACE")
        .ok()
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| DEFAULT_NAMESPACE.to_owned());
    match metrics_cloudwatch_embedded::Builder::new()
        .cloudwatch_namespace(namespace)
        // Error counts are written as 0 too, so rates have their denominator in every document.
        .emit_zeros(true)
        .init()
    {
        Ok(collector) => {
            metrics::describe_histogram!(LATENCY, metrics::Unit::Milliseconds, "Time to answer");
            let _ = FLUSH.set(Box::new(move || collector.flush(std::io::stdout().lock())));
        }
        Err(error) => tracing::warn!(%error, "metrics are off: no recorder"),
    }
}

/// Writes what was recorded since the last flush as one EMF line on stdout; does nothing before
/// [`init`].
pub fn flush() {
    if let Some(flush) = FLUSH.get()
        && let Err(error) = flush()
    {
        tracing::warn!(%error, "could not write metrics");
    }
}

/// Records one answered request of `route`.
pub fn request(route: &str, status: u16, elapsed_ms: u64) {
    let route = route.to_owned();
    metrics::counter!(REQUESTS, ROUTE => route.clone()).increment(1);
    // Both error counts are written every time, zero or not, so error rates have a denominator.
    let (client, server) = match status {
        400..=499 => (1, 0),
        500.. => (0, 1),
        _ => (0, 0),
    };
    metrics::counter!(CLIENT_ERRORS, ROUTE => route.clone()).increment(client);
    metrics::counter!(SERVER_ERRORS, ROUTE => route.clone()).increment(server);
    #[allow(clippy::cast_precision_loss)] // milliseconds stay far below 2^52
    metrics::histogram!(LATENCY, ROUTE => route).record(elapsed_ms as f64);
}

/// Counts one business event.
pub fn count(event: Business) {
    metrics::counter!(event.name()).increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn business_names_are_the_metric_names() {
        assert_eq!(Business::LoginsLocked.name(), "LoginsLocked");
        assert_eq!(Business::Registrations.name(), "Registrations");
    }

    #[test]
    fn recording_without_a_recorder_is_harmless() {
        request("GET /v1/health", 200, 3);
        count(Business::Logins);
        flush();
    }
}
