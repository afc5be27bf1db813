//! The functions' metrics, read from the embedded-metric-format (EMF) lines they write on stdout,
//! as CloudWatch Logs reads them on AWS. The console shows them at `/metrics`.
//!
//! A line is an EMF document when it is a JSON object with an `_aws.CloudWatchMetrics` list; each
//! entry names a namespace, dimension sets and metrics, whose values (a number or a list of
//! numbers) and dimension values are top-level members of the document.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;

use serde::Serialize;
use serde_json::Value;

/// Values kept per series for percentiles; counts, sums and extremes cover every value.
const KEPT_VALUES: usize = 2_000;

/// One metric series: namespace, name and dimension values.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct SeriesKey {
    namespace: String,
    name: String,
    dimensions: Vec<(String, String)>,
}

#[derive(Debug, Default)]
struct Series {
    unit: Option<String>,
    samples: u64,
    sum: f64,
    min: f64,
    max: f64,
    recent: VecDeque<f64>,
}

/// One series as the console shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricRow {
    /// The CloudWatch namespace.
    pub namespace: String,
    /// The metric's name.
    pub name: String,
    /// Dimension names and values, e.g. `Route=GET /v1/health`.
    pub dimensions: Vec<(String, String)>,
    /// The unit, when the document gave one.
    pub unit: Option<String>,
    /// How many values were recorded.
    pub samples: u64,
    /// Their sum (for a counter: the total).
    pub sum: f64,
    /// The smallest value.
    pub min: f64,
    /// The largest value.
    pub max: f64,
    /// The median of the recent values.
    pub p50: f64,
    /// The 99th percentile of the recent values.
    pub p99: f64,
}

/// Every series the functions reported since the stack started.
#[derive(Debug, Default)]
pub struct MetricsBoard {
    series: Mutex<BTreeMap<SeriesKey, Series>>,
}

impl MetricsBoard {
    /// An empty board.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `line` when it is an EMF document; returns whether it was one.
    pub fn record_line(&self, line: &str) -> bool {
        let line = line.trim();
        if !line.starts_with('{') || !line.contains("\"_aws\"") {
            return false;
        }
        let Ok(document) = serde_json::from_str::<Value>(line) else {
            return false;
        };
        let Some(directives) = document
            .pointer("/_aws/CloudWatchMetrics")
            .and_then(Value::as_array)
        else {
            return false;
        };
        let Ok(mut series) = self.series.lock() else {
            return true;
        };
        for directive in directives {
            let namespace = directive["Namespace"].as_str().unwrap_or_default();
            let dimension_sets: Vec<Vec<&str>> = directive["Dimensions"]
                .as_array()
                .map(|sets| {
                    sets.iter()
                        .map(|set| {
                            set.as_array()
                                .map(|names| names.iter().filter_map(Value::as_str).collect())
                                .unwrap_or_default()
                        })
                        .collect()
                })
                .unwrap_or_default();
            let dimension_sets = if dimension_sets.is_empty() {
                vec![Vec::new()]
            } else {
                dimension_sets
            };
            for metric in directive["Metrics"].as_array().into_iter().flatten() {
                let Some(name) = metric["Name"].as_str() else {
                    continue;
                };
                let values: Vec<f64> = match &document[name] {
                    Value::Array(items) => items.iter().filter_map(Value::as_f64).collect(),
                    value => value.as_f64().into_iter().collect(),
                };
                for set in &dimension_sets {
                    let key = SeriesKey {
                        namespace: namespace.to_owned(),
                        name: name.to_owned(),
                        dimensions: set
                            .iter()
                            .map(|dimension| {
                                let value = match &document[*dimension] {
                                    Value::String(text) => text.clone(),
                                    other => other.to_string(),
                                };
                                ((*dimension).to_owned(), value)
                            })
                            .collect(),
                    };
                    let entry = series.entry(key).or_default();
                    if entry.unit.is_none() {
                        entry.unit = metric["Unit"].as_str().map(str::to_owned);
                    }
                    for value in &values {
                        entry.add(*value);
                    }
                }
            }
        }
        true
    }

    /// Every series, by namespace, name and dimensions.
    #[must_use]
    pub fn snapshot(&self) -> Vec<MetricRow> {
        let Ok(series) = self.series.lock() else {
            return Vec::new();
        };
        series
            .iter()
            .map(|(key, series)| {
                let mut sorted: Vec<f64> = series.recent.iter().copied().collect();
                sorted.sort_by(f64::total_cmp);
                MetricRow {
                    namespace: key.namespace.clone(),
                    name: key.name.clone(),
                    dimensions: key.dimensions.clone(),
                    unit: series.unit.clone(),
                    samples: series.samples,
                    sum: series.sum,
                    min: series.min,
                    max: series.max,
                    p50: percentile(&sorted, 0.50),
                    p99: percentile(&sorted, 0.99),
                }
            })
            .collect()
    }
}

impl Series {
    fn add(&mut self, value: f64) {
        if self.samples == 0 {
            self.min = value;
            self.max = value;
        } else {
            self.min = self.min.min(value);
            self.max = self.max.max(value);
        }
        self.samples += 1;
        self.sum += value;
        if self.recent.len() == KEPT_VALUES {
            self.recent.pop_front();
        }
        self.recent.push_back(value);
    }
}

/// The nearest-rank percentile `q` of `sorted` (0 when empty).
#[must_use]
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQUEST: &str = r#"{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"Storefront","Dimensions":[["Route"]],"Metrics":[{"Name":"Requests"},{"Name":"Latency","Unit":"Milliseconds"}]}]},"Route":"GET /v1/health","Requests":1,"Latency":[4.0,6.0]}"#;

    #[test]
    fn emf_documents_become_series_and_other_lines_are_left_alone() {
        let board = MetricsBoard::new();
        assert!(board.record_line(REQUEST));
        assert!(board.record_line(REQUEST));
        assert!(!board.record_line(r#"{"level":"INFO","message":"request completed"}"#));
        assert!(!board.record_line("plain text"));
        let rows = board.snapshot();
        let latency = rows.iter().find(|r| r.name == "Latency").unwrap();
        assert_eq!(
            latency.dimensions,
            [("Route".to_owned(), "GET /v1/health".to_owned())]
        );
        assert_eq!(latency.unit.as_deref(), Some("Milliseconds"));
        assert_eq!((latency.samples, latency.min, latency.max), (4, 4.0, 6.0));
        assert_eq!(latency.p50, 4.0);
        assert_eq!(latency.p99, 6.0);
        let requests = rows.iter().find(|r| r.name == "Requests").unwrap();
        assert_eq!(requests.sum, 2.0);
    }

    #[test]
    fn a_document_without_dimensions_is_one_series() {
        let board = MetricsBoard::new();
        board.record_line(r#"{"_aws":{"CloudWatchMetrics":[{"Namespace":"N","Dimensions":[[]],"Metrics":[{"Name":"Logins"}]}]},"Logins":1}"#);
        let rows = board.snapshot();
        assert_eq!(rows.len(), 1);
        assert!(rows[0].dimensions.is_empty());
        assert_eq!(rows[0].sum, 1.0);
    }
}
