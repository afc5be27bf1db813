//! Invocation outcomes and the error payloads Lambda's Invoke API returns for them.

use std::process::ExitStatus;
use std::time::Duration;

use bytes::Bytes;
use serde_json::json;

/// The result of an invocation that ran (or tried to).
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The body the function posted to `/response`.
    Success(Bytes),
    Error(FunctionError),
}

/// How an invocation failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FunctionErrorKind {
    /// The function posted to `/error` and said the error was handled.
    Handled,
    /// The function posted to `/error`; what `lambda_runtime` does for every `Err` and panic.
    Unhandled,
    /// No answer within the function's timeout; the instance was killed.
    Timeout,
    /// The process exited during the invocation.
    Crash,
    /// The instance failed before its first poll: `/init/error`, exit, or init timeout.
    Init,
}

/// A failed invocation, with the body Lambda's Invoke API would return for it.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionError {
    pub kind: FunctionErrorKind,
    pub error_type: String,
    pub error_message: String,
    /// The JSON body of the Invoke API's answer.
    pub payload: Bytes,
}

impl FunctionError {
    /// Value of the Invoke API's `X-Amz-Function-Error` header for this error.
    pub fn function_error_header(&self) -> &'static str {
        match self.kind {
            FunctionErrorKind::Handled => "Handled",
            _ => "Unhandled",
        }
    }

    /// An error the function posted to `/invocation/{id}/error`.
    pub(crate) fn reported(header_type: Option<&str>, body: Bytes) -> Self {
        let parsed = parse_error_body(&body);
        let error_type = parsed
            .error_type
            .or_else(|| header_type.map(str::to_string))
            .unwrap_or_else(|| "Unhandled".to_string());
        let handled = header_type.is_some_and(|t| t.eq_ignore_ascii_case("handled"))
            || error_type.eq_ignore_ascii_case("handled");
        let error_message = parsed.error_message.unwrap_or_default();
        let payload = if parsed.is_json {
            body
        } else {
            error_payload(&error_type, &error_message)
        };
        Self {
            kind: if handled {
                FunctionErrorKind::Handled
            } else {
                FunctionErrorKind::Unhandled
            },
            error_type,
            error_message,
            payload,
        }
    }

    /// A response Lambda refuses because of its size.
    pub(crate) fn response_too_large(limit: usize) -> Self {
        let error_type = "Function.ResponseSizeTooLarge".to_string();
        let error_message =
            format!("Response payload size exceeded maximum allowed payload size ({limit} bytes).");
        Self {
            kind: FunctionErrorKind::Unhandled,
            payload: error_payload(&error_type, &error_message),
            error_type,
            error_message,
        }
    }

    pub(crate) fn timeout(request_id: &str, timeout: Duration) -> Self {
        let error_message = format!(
            "{} {request_id} Task timed out after {:.2} seconds",
            timestamp(),
            timeout.as_secs_f64()
        );
        Self {
            kind: FunctionErrorKind::Timeout,
            error_type: "Sandbox.Timedout".to_string(),
            payload: Bytes::from(json!({ "errorMessage": error_message }).to_string()),
            error_message,
        }
    }

    pub(crate) fn crash(request_id: &str, status: &ExitStatus) -> Self {
        let error_type = "Runtime.ExitError".to_string();
        let error_message = format!("RequestId: {request_id} Error: {}", exit_reason(status));
        Self {
            kind: FunctionErrorKind::Crash,
            payload: error_payload(&error_type, &error_message),
            error_type,
            error_message,
        }
    }

    /// The runtime posted to `/init/error`.
    pub(crate) fn init_reported(header_type: Option<String>, body: Bytes) -> Self {
        let mut error = Self::reported(header_type.as_deref(), body);
        if header_type.is_none() && error.error_type == "Unhandled" {
            error.error_type = "Runtime.InitError".to_string();
        }
        error.kind = FunctionErrorKind::Init;
        error
    }

    /// The process exited before its first poll (Lambda reports `Runtime.ExitError` for this).
    pub(crate) fn init_exit(request_id: &str, status: &ExitStatus) -> Self {
        Self {
            kind: FunctionErrorKind::Init,
            ..Self::crash(request_id, status)
        }
    }

    pub(crate) fn init_timeout(request_id: &str, timeout: Duration) -> Self {
        let error_type = "Runtime.InitError".to_string();
        let error_message = format!(
            "RequestId: {request_id} Error: Init phase timed out after {:.2} seconds",
            timeout.as_secs_f64()
        );
        Self {
            kind: FunctionErrorKind::Init,
            payload: error_payload(&error_type, &error_message),
            error_type,
            error_message,
        }
    }
}

struct ErrorBody {
    is_json: bool,
    error_type: Option<String>,
    error_message: Option<String>,
}

fn parse_error_body(body: &[u8]) -> ErrorBody {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(value) => {
            let field = |name: &str| value.get(name).and_then(|v| v.as_str()).map(str::to_string);
            ErrorBody {
                is_json: true,
                error_type: field("errorType").filter(|t| !t.is_empty()),
                error_message: field("errorMessage"),
            }
        }
        Err(_) => ErrorBody {
            is_json: false,
            error_type: None,
            error_message: Some(String::from_utf8_lossy(body).into_owned()),
        },
    }
}

fn error_payload(error_type: &str, error_message: &str) -> Bytes {
    Bytes::from(json!({ "errorType": error_type, "errorMessage": error_message }).to_string())
}

/// Lambda's wording for a runtime that exited (Go's `ProcessState` text).
fn exit_reason(status: &ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;

    if status.code() == Some(0) {
        return "Runtime exited without providing a reason".to_string();
    }
    let detail = match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit status {code}"),
        (None, Some(signal)) if status.core_dumped() => {
            format!("signal: {} (core dumped)", signal_name(signal))
        }
        (None, Some(signal)) => format!("signal: {}", signal_name(signal)),
        (None, None) => "unknown exit status".to_string(),
    };
    format!("Runtime exited with error: {detail}")
}

fn signal_name(signal: i32) -> String {
    match signal {
        libc::SIGHUP => "hangup".to_string(),
        libc::SIGINT => "interrupt".to_string(),
        libc::SIGQUIT => "quit".to_string(),
        libc::SIGILL => "illegal instruction".to_string(),
        libc::SIGTRAP => "trace/breakpoint trap".to_string(),
        libc::SIGABRT => "aborted".to_string(),
        libc::SIGBUS => "bus error".to_string(),
        libc::SIGFPE => "floating point exception".to_string(),
        libc::SIGKILL => "killed".to_string(),
        libc::SIGSEGV => "segmentation fault".to_string(),
        libc::SIGPIPE => "broken pipe".to_string(),
        libc::SIGTERM => "terminated".to_string(),
        other => format!("signal {other}"),
    }
}

/// Current UTC time as Lambda writes it in timeout messages (`2024-01-31T12:00:00.000Z`).
fn timestamp() -> String {
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    time::OffsetDateTime::now_utc()
        .format(&format)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;

    #[test]
    fn lambda_runtime_errors_are_unhandled_and_keep_their_type() {
        let body = Bytes::from_static(br#"{"errorType":"SomeType","errorMessage":"boom"}"#);
        let error = FunctionError::reported(Some("unhandled"), body.clone());
        assert_eq!(error.kind, FunctionErrorKind::Unhandled);
        assert_eq!(error.error_type, "SomeType");
        assert_eq!(error.error_message, "boom");
        assert_eq!(error.payload, body);
        assert_eq!(error.function_error_header(), "Unhandled");
    }

    #[test]
    fn handled_errors_are_recognised_by_header() {
        let body = Bytes::from_static(br#"{"errorType":"Oops","errorMessage":"x"}"#);
        let error = FunctionError::reported(Some("Handled"), body);
        assert_eq!(error.kind, FunctionErrorKind::Handled);
        assert_eq!(error.error_type, "Oops");
    }

    #[test]
    fn a_non_json_error_body_gets_a_json_payload() {
        let error = FunctionError::reported(Some("Custom.Type"), Bytes::from_static(b"plain text"));
        assert_eq!(error.error_type, "Custom.Type");
        let payload: serde_json::Value = serde_json::from_slice(&error.payload).unwrap();
        assert_eq!(payload["errorType"], "Custom.Type");
        assert_eq!(payload["errorMessage"], "plain text");
    }

    #[test]
    fn exits_are_worded_like_lambda() {
        let status = ExitStatus::from_raw(1 << 8);
        assert_eq!(
            FunctionError::crash("id", &status).error_message,
            "RequestId: id Error: Runtime exited with error: exit status 1"
        );
        let killed = ExitStatus::from_raw(libc::SIGKILL);
        assert_eq!(
            exit_reason(&killed),
            "Runtime exited with error: signal: killed"
        );
        assert_eq!(
            exit_reason(&ExitStatus::from_raw(0)),
            "Runtime exited without providing a reason"
        );
    }

    #[test]
    fn timeout_payload_has_only_the_message() {
        let error = FunctionError::timeout("abc", Duration::from_secs(3));
        let payload: serde_json::Value = serde_json::from_slice(&error.payload).unwrap();
        let message = payload["errorMessage"].as_str().unwrap();
        assert!(
            message.ends_with(" abc Task timed out after 3.00 seconds"),
            "{message}"
        );
        assert_eq!(payload.as_object().unwrap().len(), 1);
        assert_eq!(error.error_type, "Sandbox.Timedout");
    }
}
