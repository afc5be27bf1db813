//! Structured logging through `tracing`.
//!
//! [`init`] is called once at the top of every binary's `main`. By default each event is one JSON
//! line whose top level holds `timestamp`, `level`, `target`, `message`, the event's fields and the
//! fields of every span it happened in (so every line logged while handling a request carries that
//! request's `request_id` and `correlation_id`, see [`crate::http::run_http`]):
//!
//! ```json
//! {"correlation_id":"abc","level":"INFO","message":"request completed","request_id":"Ab1=","status":200,...}
//! ```
//!
//! The level comes from `AWS_LAMBDA_LOG_LEVEL` (Lambda's logging controls), else `RUST_LOG` (full
//! `EnvFilter` directives), else `info`. `AWS_LAMBDA_LOG_FORMAT=Text` switches to plain text lines.

use std::{error::Error as StdError, fmt};

use serde_json::{Map, Value};
use tracing::{
    Event, Subscriber,
    field::{Field, Visit},
};
use tracing_subscriber::{
    EnvFilter,
    fmt::{
        FmtContext, FormatEvent, FormattedFields,
        format::{JsonFields, Writer},
    },
    layer::SubscriberExt as _,
    registry::LookupSpan,
};

use crate::{config::Env, error::cause_chain};

/// Output format of log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One flat JSON object per line (the default).
    Json,
    /// Human-readable text (`AWS_LAMBDA_LOG_FORMAT=Text`).
    Text,
}

/// What [`init_with`] installs: a format and an `EnvFilter` directive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Line format.
    pub format: LogFormat,
    /// `EnvFilter` directive, e.g. `info` or `platform=debug,info`.
    pub filter: String,
}

impl Settings {
    /// Reads `AWS_LAMBDA_LOG_LEVEL`, `RUST_LOG` and `AWS_LAMBDA_LOG_FORMAT` (see the [module docs](self)).
    #[must_use]
    pub fn from_env(env: &Env) -> Self {
        let format = match env.optional("AWS_LAMBDA_LOG_FORMAT") {
            Some(f) if f.trim().eq_ignore_ascii_case("text") => LogFormat::Text,
            _ => LogFormat::Json,
        };
        let filter = env
            .optional("AWS_LAMBDA_LOG_LEVEL")
            .and_then(|level| lambda_level(&level))
            .map(str::to_owned)
            .or_else(|| env.optional("RUST_LOG"))
            .unwrap_or_else(|| "info".to_owned());
        Self { format, filter }
    }
}

fn lambda_level(level: &str) -> Option<&'static str> {
    match level.trim().to_ascii_uppercase().as_str() {
        "TRACE" => Some("trace"),
        "DEBUG" => Some("debug"),
        "INFO" => Some("info"),
        "WARN" => Some("warn"),
        "ERROR" | "FATAL" => Some("error"),
        _ => None,
    }
}

/// Installs the global subscriber from the process environment, and the metrics recorder
/// ([`crate::metrics::init`]). Calling it again is harmless.
pub fn init() {
    init_with(&Settings::from_env(&Env::from_process()));
    crate::metrics::init();
}

/// Installs the global subscriber with explicit settings, writing to stdout.
///
/// Returns `false` when a global subscriber was already installed (it is left in place).
pub fn init_with(settings: &Settings) -> bool {
    let filter = EnvFilter::try_new(&settings.filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter);
    let installed = match settings.format {
        LogFormat::Json => {
            tracing::subscriber::set_global_default(registry.with(json_layer(std::io::stdout)))
        }
        LogFormat::Text => {
            let layer = tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(std::io::stdout);
            tracing::subscriber::set_global_default(registry.with(layer))
        }
    };
    installed.is_ok()
}

/// The JSON layer [`init`] installs, writing to `writer`: usable in tests with an in-memory writer.
pub fn json_layer<S, W>(writer: W) -> impl tracing_subscriber::Layer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt::layer()
        .fmt_fields(JsonFields::new())
        .event_format(FlatJson)
        .with_writer(writer)
}

/// Event formatter writing one flat JSON object per event, span fields merged in (innermost wins,
/// the event's own fields win over all).
#[derive(Debug, Clone, Copy, Default)]
pub struct FlatJson;

impl<S> FormatEvent<S, JsonFields> for FlatJson
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, JsonFields>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut line = Map::new();
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let extensions = span.extensions();
                if let Some(fields) = extensions.get::<FormattedFields<JsonFields>>()
                    && let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(fields)
                {
                    line.extend(fields);
                }
            }
        }
        event.record(&mut JsonVisitor(&mut line));
        let metadata = event.metadata();
        line.insert(
            "timestamp".into(),
            Value::String(crate::time::now_rfc3339()),
        );
        line.insert(
            "level".into(),
            Value::String(metadata.level().as_str().to_owned()),
        );
        line.insert("target".into(), Value::String(metadata.target().to_owned()));
        let text = serde_json::to_string(&line).map_err(|_| fmt::Error)?;
        writeln!(writer, "{text}")
    }
}

struct JsonVisitor<'a>(&'a mut Map<String, Value>);

impl Visit for JsonVisitor<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.0.insert(
            field.name().to_owned(),
            serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number),
        );
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), Value::from(value));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn StdError + 'static)) {
        self.0
            .insert(field.name().to_owned(), Value::from(cause_chain(value)));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().to_owned(), Value::from(format!("{value:?}")));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::{
        io,
        sync::{Arc, Mutex},
    };
    use tracing_subscriber::layer::SubscriberExt;

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Buffer {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn lines(buffer: &Buffer) -> Vec<Value> {
        let bytes = buffer.0.lock().unwrap().clone();
        String::from_utf8(bytes)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn every_line_inside_a_request_span_carries_its_ids() {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::registry().with(json_layer(move || writer.clone()));
        tracing::subscriber::with_default(subscriber, || {
            let request =
                tracing::info_span!("request", request_id = "req-1", correlation_id = "corr-1");
            let _request = request.enter();
            let inner = tracing::info_span!("reserve_stock", order_id = 42_u64);
            let _inner = inner.enter();
            tracing::info!(lines = 3, ok = true, "reserved");
            tracing::warn!(error = &io::Error::other("boom") as &dyn StdError, "failed");
        });
        let lines = lines(&buffer);
        assert_eq!(lines.len(), 2);
        let first = &lines[0];
        assert_eq!(first["message"], "reserved");
        assert_eq!(first["request_id"], "req-1");
        assert_eq!(first["correlation_id"], "corr-1");
        assert_eq!(first["order_id"], 42);
        assert_eq!(first["lines"], 3);
        assert_eq!(first["ok"], true);
        assert_eq!(first["level"], "INFO");
        assert!(first["timestamp"].as_str().unwrap().ends_with('Z'));
        assert_eq!(lines[1]["level"], "WARN");
        assert_eq!(lines[1]["error"], "boom");
        assert_eq!(lines[1]["correlation_id"], "corr-1");
    }

    #[test]
    fn lines_outside_spans_are_still_json() {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::registry().with(json_layer(move || writer.clone()));
        tracing::subscriber::with_default(subscriber, || tracing::info!("cold start"));
        assert_eq!(lines(&buffer)[0]["message"], "cold start");
    }

    #[test]
    fn lambda_log_level_wins_over_rust_log() {
        let env = Env::from_pairs([("AWS_LAMBDA_LOG_LEVEL", "DEBUG"), ("RUST_LOG", "warn")]);
        assert_eq!(
            Settings::from_env(&env),
            Settings {
                format: LogFormat::Json,
                filter: "debug".into()
            }
        );
        let env = Env::from_pairs([("AWS_LAMBDA_LOG_LEVEL", "FATAL")]);
        assert_eq!(Settings::from_env(&env).filter, "error");
    }

    #[test]
    fn rust_log_then_info_are_the_fallbacks() {
        let env = Env::from_pairs([("RUST_LOG", "platform=debug,info")]);
        assert_eq!(Settings::from_env(&env).filter, "platform=debug,info");
        let env = Env::from_pairs([("AWS_LAMBDA_LOG_LEVEL", "LOUD")]);
        assert_eq!(Settings::from_env(&env).filter, "info");
        assert_eq!(
            Settings::from_env(&Env::from_pairs::<&str, &str>([])).filter,
            "info"
        );
    }

    #[test]
    fn text_format_is_honoured() {
        let env = Env::from_pairs([("AWS_LAMBDA_LOG_FORMAT", "Text")]);
        assert_eq!(Settings::from_env(&env).format, LogFormat::Text);
        let env = Env::from_pairs([("AWS_LAMBDA_LOG_FORMAT", "JSON")]);
        assert_eq!(Settings::from_env(&env).format, LogFormat::Json);
    }
}
