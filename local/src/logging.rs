//! The local stack's readable log: one line per request, invocation, delivery or
//! provisioned resource, with function logs interleaved.

use tracing_subscriber::EnvFilter;

/// The default filter: the stack's own lines, function output, and warnings from the rest.
pub const DEFAULT_FILTER: &str = "warn,local=info,local_lambda=info,function=info";

/// Installs the log subscriber for the `local` binary (`RUST_LOG` overrides the filter).
pub fn init() {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(true)
        .compact()
        .try_init();
}

/// Installs a quieter subscriber for tests (`RUST_LOG` to see more); idempotent.
pub fn init_for_tests() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .compact()
        .try_init();
}
