//! Holds `local_states::jsonata` to the reference JSONata implementation (the `jsonata` npm
//! package, at the version Step Functions runs) on the corpus in `tests/jsonata/`.
//!
//! * `cases.json`: the expressions, each `{"expr", "bindings"}` (`bindings` maps a variable
//!   name to its value, e.g. `states` for `$states`).
//! * `expected.json`: each case with its `result`, `{"value": json}`, `{"undefined": true}` or
//!   `{"error": "<JSONata code>"}`, recorded by `record.js` with the npm package; cases marked
//!   `"reference": "aws-docs"` use the functions only Step Functions has and carry results
//!   written from AWS's documentation.
//! * `known-differences.json`: `[{"expr", "why"}]`, the cases where the local evaluator still
//!   differs from the reference. Every other case must match, and every listed case must still
//!   differ, so that the list stays true.
//!
//! Values match when they are equal as JSON, with numbers compared as `f64` to a relative
//! tolerance of 1e-12 and objects compared without regard to key order. An expected error
//! matches any `States.QueryEvaluationError`, whatever its JSONata code.
//!
//! The local evaluator iterates over an object's keys in an order that changes from one
//! evaluation to the next, so a case is evaluated up to [`RUNS`] times: it matches when every
//! evaluation matches, and it differs when one evaluation does.

// Helpers outside the test functions fail the test on a setup error too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use local_states::jsonata::evaluate;
use serde_json::Value;

/// The greatest relative difference between two numbers that still match.
const TOLERANCE: f64 = 1e-12;

/// How many times a case that matches is evaluated again before it is taken to match.
const RUNS: usize = 30;

fn read_json(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/jsonata")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

fn same_number(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= TOLERANCE * a.abs().max(b.abs())
}

fn same(expected: &Value, actual: &Value) -> bool {
    match (expected, actual) {
        (Value::Number(a), Value::Number(b)) => match (a.as_f64(), b.as_f64()) {
            (Some(a), Some(b)) => same_number(a, b),
            _ => false,
        },
        (Value::Array(a), Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y))
        }
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len() && a.iter().all(|(k, v)| b.get(k).is_some_and(|w| same(v, w)))
        }
        _ => expected == actual,
    }
}

/// What an expression gave: a value, undefined, or an error with its JSONata code (the
/// reference) or its message (the local evaluator).
enum Outcome {
    Value(Value),
    Undefined,
    Error(String),
    /// A local error that is not `States.QueryEvaluationError`.
    OtherError(String),
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Outcome::Value(v) => write!(f, "{v}"),
            Outcome::Undefined => write!(f, "undefined"),
            Outcome::Error(e) => write!(f, "error {e}"),
            Outcome::OtherError(e) => write!(f, "error {e}, not a States.QueryEvaluationError"),
        }
    }
}

fn expected_outcome(result: &Value) -> Outcome {
    if let Some(value) = result.get("value") {
        Outcome::Value(value.clone())
    } else if result.get("undefined") == Some(&Value::Bool(true)) {
        Outcome::Undefined
    } else if let Some(code) = result.get("error").and_then(Value::as_str) {
        Outcome::Error(code.to_owned())
    } else {
        panic!("a result must be a value, undefined or an error: {result}")
    }
}

fn local_outcome(expr: &str, bindings: &serde_json::Map<String, Value>) -> Outcome {
    let bindings: Vec<(&str, &Value)> = bindings.iter().map(|(k, v)| (k.as_str(), v)).collect();
    match evaluate(expr, &bindings) {
        Ok(Some(value)) => Outcome::Value(value),
        Ok(None) => Outcome::Undefined,
        Err(e) if e.error == "States.QueryEvaluationError" => {
            Outcome::Error(e.cause.unwrap_or_default())
        }
        Err(e) => Outcome::OtherError(format!("{}: {}", e.error, e.cause.unwrap_or_default())),
    }
}

/// The JSONata code (e.g. `T2001`) in a local error message about `expr`, or `-`.
fn jsonata_code<'m>(message: &'m str, expr: &str) -> &'m str {
    let is_code = |word: &&str| {
        let mut chars = word.chars();
        word.len() == 5
            && chars.next().is_some_and(|c| c.is_ascii_uppercase())
            && chars.all(|c| c.is_ascii_digit())
    };
    message
        .split(expr)
        .flat_map(|part| part.split(|c: char| !c.is_ascii_alphanumeric()))
        .find(is_code)
        .unwrap_or("-")
}

fn matches(expected: &Outcome, local: &Outcome) -> bool {
    match (expected, local) {
        (Outcome::Value(a), Outcome::Value(b)) => same(a, b),
        (Outcome::Undefined, Outcome::Undefined) => true,
        (Outcome::Error(_), Outcome::Error(_)) => true,
        _ => false,
    }
}

/// The `(expr, bindings)` of each case of a corpus file.
fn expressions(cases: &Value, file: &str) -> Vec<(String, Value)> {
    cases
        .as_array()
        .unwrap_or_else(|| panic!("{file} must be an array"))
        .iter()
        .map(|case| {
            let expr = case["expr"]
                .as_str()
                .unwrap_or_else(|| panic!("a case of {file} without an expression: {case}"));
            let bindings = case
                .get("bindings")
                .cloned()
                .unwrap_or_else(|| Value::Object(serde_json::Map::new()));
            (expr.to_owned(), bindings)
        })
        .collect()
}

#[test]
fn the_evaluator_matches_the_reference_implementation() {
    let cases = read_json("cases.json");
    let expected = read_json("expected.json");
    let known = read_json("known-differences.json");

    let written = expressions(&cases, "cases.json");
    let recorded = expressions(&expected, "expected.json");
    assert!(
        written == recorded,
        "expected.json does not hold the cases of cases.json: re-record it with \
         `node local/states/tests/jsonata/record.js`"
    );
    let mut seen = BTreeSet::new();
    for (expr, _) in &recorded {
        assert!(
            seen.insert(expr.as_str()),
            "`{expr}` is in the corpus twice"
        );
    }

    let mut differences: BTreeMap<String, String> = BTreeMap::new();
    for entry in known
        .as_array()
        .expect("known-differences.json must be an array")
    {
        let expr = entry["expr"]
            .as_str()
            .expect("a known difference without an expression");
        let why = entry["why"].as_str().unwrap_or_default();
        assert!(
            !why.is_empty(),
            "the known difference `{expr}` does not say why"
        );
        assert!(
            seen.contains(expr),
            "the known difference `{expr}` is not in the corpus"
        );
        assert!(
            differences
                .insert(expr.to_owned(), why.to_owned())
                .is_none(),
            "`{expr}` is in known-differences.json twice"
        );
    }

    let mut matched = 0;
    let mut failures = Vec::new();
    let mut error_codes = Vec::new();
    let mut known_outcomes = Vec::new();
    for case in expected.as_array().expect("expected.json must be an array") {
        let expr = case["expr"].as_str().expect("a case without an expression");
        let bindings = case
            .get("bindings")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let want = expected_outcome(&case["result"]);
        let mut got = local_outcome(expr, &bindings);
        let mut ok = matches(&want, &got);
        let mut run = 1;
        while ok && run < RUNS {
            got = local_outcome(expr, &bindings);
            ok = matches(&want, &got);
            run += 1;
        }
        if let (Outcome::Error(code), Outcome::Error(message)) = (&want, &got) {
            error_codes.push(format!(
                "  {code:>6} {:>6}  {expr}",
                jsonata_code(message, expr)
            ));
        }
        let got = if ok {
            got.to_string()
        } else {
            format!("{got} (evaluation {run} of up to {RUNS})")
        };
        match (ok, differences.contains_key(expr)) {
            (true, false) => matched += 1,
            (false, true) => known_outcomes.push(format!("  `{expr}`: expected {want}, got {got}")),
            (false, false) => failures.push(format!("`{expr}`: expected {want}, got {got}")),
            (true, true) => failures.push(format!(
                "`{expr}` now matches the reference in {RUNS} evaluations ({got}): remove it \
                 from known-differences.json"
            )),
        }
    }
    println!("error cases, with the JSONata code of the reference and of the local evaluator:");
    for line in &error_codes {
        println!("{line}");
    }
    println!("known differences:");
    for line in &known_outcomes {
        println!("{line}");
    }
    assert!(
        failures.is_empty(),
        "{} of {} JSONata cases disagree with the reference:\n{}",
        failures.len(),
        recorded.len(),
        failures.join("\n")
    );
    println!(
        "jsonata corpus: {matched} cases match the reference, {} known differences (listed in \
         known-differences.json)",
        differences.len()
    );
}
