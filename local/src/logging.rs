//! The local stack's readable log: one line per request, invocation, delivery,
//! provisioned resource or custom resource, with function output interleaved.
//!
//! ```text
//! 10:15:02.114 stack  emulator ready endpoint=http://127.0.0.1:38425
//! 10:15:02.466 prov   created kind=secret name=local/jwt-signing-keys
//! 10:15:03.812 cfn    Create FirstAdmin (Custom::FirstAdmin) by local-BootstrapAdminFunction: SUCCESS 412ms physical_id=admin
//! 10:15:04.950 fn     local-HealthFunction#1 | {"level":"INFO","message":"request completed",...}
//! 10:15:04.951 http   GET /v1/health 200 19ms local-HealthFunction cold correlation_id=MTWd6mjl
//! 10:15:05.020 sfn    checkout TaskStateEntered PriceOrder execution=o-1 correlation_id=MTWd6mjl
//! ```

use std::fmt::{self, Write as _};
use std::io::IsTerminal as _;

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The default filter: the stack's own lines, function output, and warnings from the rest.
pub const DEFAULT_FILTER: &str = "warn,local=info,local_lambda=info,function=info";

/// Installs the log subscriber for the `local` binary (`RUST_LOG` overrides the filter).
pub fn init() {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .event_format(Readable)
        .try_init();
}

/// Installs a quieter subscriber for tests (`RUST_LOG` to see more); idempotent.
pub fn init_for_tests() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .event_format(Readable)
        .try_init();
}

/// One short line per event: time, what it is about, message, then its other fields.
struct Readable;

impl<S, N> FormatEvent<S, N> for Readable
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let now = time::OffsetDateTime::now_utc();
        write!(
            writer,
            "{:02}:{:02}:{:02}.{:03} ",
            now.hour(),
            now.minute(),
            now.second(),
            now.millisecond()
        )?;
        let metadata = event.metadata();
        let target = metadata.target();
        let label = match target {
            "function" => "fn",
            "local::http" => "http",
            "local::sqs" => "sqs",
            "local::sns" => "sns",
            "local::streams" => "stream",
            "local::events" => "event",
            "local::sfn" => "sfn",
            "local::schedule" => "sched",
            "local::provision" => "prov",
            "local::cfn" => "cfn",
            "local::emulator" => "emu",
            t if t.starts_with("local") => "stack",
            t => t,
        };
        write!(writer, "{label:<6} ")?;
        match *metadata.level() {
            Level::ERROR => write!(writer, "ERROR ")?,
            Level::WARN => write!(writer, "WARN ")?,
            _ => {}
        }

        let mut fields = Fields::default();
        event.record(&mut fields);
        if target == "function" {
            let function = fields.take("function").unwrap_or_default();
            let instance = fields.take("instance").unwrap_or_default();
            let stream = fields.take("stream").unwrap_or_default();
            let bar = if stream == "stderr" { "!" } else { "|" };
            write!(writer, "{function}#{instance} {bar} ")?;
        }
        writer.write_str(&fields.message)?;
        for (name, value) in &fields.rest {
            write!(writer, " {name}={value}")?;
        }
        writeln!(writer)
    }
}

/// An event's message and other fields, as text.
#[derive(Default)]
struct Fields {
    message: String,
    rest: Vec<(&'static str, String)>,
}

impl Fields {
    fn take(&mut self, name: &str) -> Option<String> {
        let at = self.rest.iter().position(|(n, _)| *n == name)?;
        Some(self.rest.remove(at).1)
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_owned();
        } else {
            self.rest.push((field.name(), value.to_owned()));
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let mut text = String::new();
        let _ = write!(text, "{value:?}");
        if field.name() == "message" {
            self.message = text;
        } else {
            self.rest.push((field.name(), text));
        }
    }
}
