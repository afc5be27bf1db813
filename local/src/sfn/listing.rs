//! `local executions`: the executions of a running stack, read from its Step Functions
//! endpoint (`GET /executions`, `GET /executions/<arn>/history`) and printed as tables.

use std::fmt::Write as _;

use anyhow::{Context as _, bail};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;
use time::OffsetDateTime;

/// `GET endpoint + path` as JSON.
async fn get_json(endpoint: &str, path: &str) -> anyhow::Result<Value> {
    let (url, status, body) = crate::mailbox::get_raw(endpoint, path).await?;
    let json: Value = serde_json::from_slice(&body)
        .with_context(|| format!("the response of {url} is not JSON"))?;
    if !status.is_success() {
        let message = json["message"].as_str().unwrap_or_default();
        bail!("GET {url}: {status} {message}");
    }
    Ok(json)
}

/// Every execution of the stack at `endpoint`, newest first.
pub async fn executions(endpoint: &str) -> anyhow::Result<Vec<Value>> {
    match get_json(endpoint, "/executions").await? {
        Value::Array(items) => Ok(items),
        other => bail!("GET /executions answered {other}, not a list"),
    }
}

/// One execution with its `events`.
pub async fn history(endpoint: &str, arn: &str) -> anyhow::Result<Value> {
    let path = format!(
        "/executions/{}/history",
        utf8_percent_encode(arn, NON_ALPHANUMERIC)
    );
    get_json(endpoint, &path).await
}

/// The executions as a table: status, machine, name, start, duration and ARN.
pub fn executions_table(items: &[Value]) -> String {
    let rows: Vec<[String; 6]> = items
        .iter()
        .map(|item| {
            let start = item["startDate"].as_f64();
            let stop = item["stopDate"].as_f64();
            let duration = match (start, stop) {
                (Some(start), Some(stop)) => {
                    format!("{:.0} ms", ((stop - start) * 1000.0).max(0.0))
                }
                _ => "-".to_owned(),
            };
            [
                text(&item["status"]),
                text(&item["machine"]),
                text(&item["name"]),
                start.map_or_else(|| "-".to_owned(), date_time),
                duration,
                text(&item["executionArn"]),
            ]
        })
        .collect();
    table(
        [
            "STATUS",
            "MACHINE",
            "NAME",
            "STARTED (UTC)",
            "DURATION",
            "ARN",
        ],
        &rows,
    )
}

/// An execution's history as a table: id, time, type and the event's main detail.
pub fn history_table(execution: &Value) -> String {
    let mut out = format!(
        "{} {} ({})\n",
        text(&execution["machine"]),
        text(&execution["name"]),
        text(&execution["status"])
    );
    let empty = Vec::new();
    let events = execution["events"].as_array().unwrap_or(&empty);
    let rows: Vec<[String; 4]> = events
        .iter()
        .map(|event| {
            [
                text(&event["id"]),
                event["timestamp"]
                    .as_f64()
                    .map_or_else(|| "-".to_owned(), date_time),
                text(&event["type"]),
                event_detail(event),
            ]
        })
        .collect();
    out.push_str(&table(["ID", "TIME (UTC)", "TYPE", "DETAIL"], &rows));
    out
}

/// What an event is about: a state's name, an error and its cause, or a resource.
fn event_detail(event: &Value) -> String {
    let Some(details) = event
        .as_object()
        .and_then(|map| map.iter().find(|(key, _)| key.ends_with("EventDetails")))
        .map(|(_, details)| details)
    else {
        return String::new();
    };
    if let Some(name) = details["name"].as_str() {
        return name.to_owned();
    }
    if let Some(error) = details["error"].as_str() {
        let cause = details["cause"].as_str().unwrap_or_default();
        return format!("{error}: {}", truncate(cause, 100));
    }
    if let Some(resource) = details["resource"].as_str() {
        return resource.to_owned();
    }
    String::new()
}

pub(crate) fn table<const N: usize>(headers: [&str; N], rows: &[[String; N]]) -> String {
    let mut widths = headers.map(str::len);
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let mut text = String::new();
        for (i, (cell, width)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == N {
                text.push_str(cell);
            } else {
                let _ = write!(text, "{cell:<width$}  ");
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(headers.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
    out
}

fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let cut: String = text.chars().take(max).collect();
    format!("{cut}…")
}

fn date_time(epoch_seconds: f64) -> String {
    let nanos = (epoch_seconds * 1e9) as i128;
    match OffsetDateTime::from_unix_timestamp_nanos(nanos) {
        Ok(t) => format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:03}",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.millisecond()
        ),
        Err(_) => epoch_seconds.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn executions_print_one_aligned_row_each() {
        let table = executions_table(&[json!({
            "executionArn": "arn:aws:states:us-east-1:123456789012:execution:m:o-1",
            "machine": "m", "name": "o-1", "status": "SUCCEEDED",
            "startDate": 1_700_000_000.0, "stopDate": 1_700_000_000.25,
        })]);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 2);
        assert!(lines[0].starts_with("STATUS     MACHINE"), "{table}");
        assert!(lines[1].contains("2023-11-14 22:13:20.000"), "{table}");
        assert!(lines[1].contains("250 ms"), "{table}");
    }

    #[test]
    fn history_rows_name_the_state_or_the_error() {
        let table = history_table(&json!({
            "machine": "m", "name": "o-1", "status": "FAILED",
            "events": [
                {"id": 2, "timestamp": 0.0, "type": "PassStateEntered", "stateEnteredEventDetails": {"name": "Hello"}},
                {"id": 3, "timestamp": 0.0, "type": "ExecutionFailed", "executionFailedEventDetails": {"error": "Oops", "cause": "because"}},
            ]
        }));
        assert!(table.contains("PassStateEntered  Hello"), "{table}");
        assert!(table.contains("Oops: because"), "{table}");
    }
}
