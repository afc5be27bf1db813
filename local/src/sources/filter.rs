//! Event filtering of event source mappings (`FilterCriteria`): a record reaches the function
//! only when it matches at least one filter's pattern; the others are dropped as if processed.
//!
//! Patterns are the EventBridge-style patterns Lambda documents for event filtering:
//! - a pattern is a JSON object whose keys name fields of the record; a nested object descends
//!   into the field; a leaf is a list of matchers, and the field matches when any matcher does
//!   (when the field is a list, when any of its elements does);
//! - matchers: a literal (string, number, boolean, `null`), `{"prefix": s}`, `{"suffix": s}`,
//!   `{"equals-ignore-case": s}`, `{"anything-but": value or [values] or {"prefix": s}}`,
//!   `{"exists": bool}`, and `{"numeric": [op, n, (op, n)]}` with `=`, `<`, `<=`, `>`, `>=`;
//! - a field the record lacks matches only `{"exists": false}`.
//!
//! [`check`] validates a pattern when the stack starts, so an unsupported operator is a clear
//! start-up error instead of a record silently dropped.

use serde_json::{Map, Value};

/// Whether `record` matches one of `filters` (or there are no filters).
pub fn matches_any(filters: &[Value], record: &Value) -> bool {
    filters.is_empty()
        || filters
            .iter()
            .any(|f| f.as_object().is_some_and(|p| matches(p, record)))
}

/// Whether `record` matches the pattern object `pattern`.
pub fn matches(pattern: &Map<String, Value>, record: &Value) -> bool {
    pattern.iter().all(|(key, rule)| {
        let field = record.get(key);
        match rule {
            Value::Object(nested) => field.is_some_and(|f| matches(nested, f)),
            Value::Array(matchers) => matchers.iter().any(|m| leaf_matches(m, field)),
            _ => false,
        }
    })
}

fn leaf_matches(matcher: &Value, field: Option<&Value>) -> bool {
    if let Some(exists) = matcher.get("exists").and_then(Value::as_bool) {
        return field.is_some() == exists;
    }
    let Some(field) = field else {
        return false;
    };
    match field {
        Value::Array(items) => items.iter().any(|item| one_matches(matcher, item)),
        single => one_matches(matcher, single),
    }
}

fn one_matches(matcher: &Value, value: &Value) -> bool {
    let Value::Object(op) = matcher else {
        return literal_eq(matcher, value);
    };
    let text = value.as_str();
    if let Some(prefix) = op.get("prefix").and_then(Value::as_str) {
        return text.is_some_and(|t| t.starts_with(prefix));
    }
    if let Some(suffix) = op.get("suffix").and_then(Value::as_str) {
        return text.is_some_and(|t| t.ends_with(suffix));
    }
    if let Some(expected) = op.get("equals-ignore-case").and_then(Value::as_str) {
        return text.is_some_and(|t| t.eq_ignore_ascii_case(expected));
    }
    if let Some(excluded) = op.get("anything-but") {
        return match excluded {
            Value::Array(list) => !list.iter().any(|e| literal_eq(e, value)),
            Value::Object(inner) => match inner.get("prefix").and_then(Value::as_str) {
                Some(prefix) => text.is_some_and(|t| !t.starts_with(prefix)),
                None => false,
            },
            literal => !literal_eq(literal, value),
        };
    }
    if let Some(Value::Array(conditions)) = op.get("numeric") {
        let Some(n) = value.as_f64() else {
            return false;
        };
        return conditions.chunks(2).all(|pair| match pair {
            [Value::String(op), bound] => bound.as_f64().is_some_and(|b| compare(op, n, b)),
            _ => false,
        });
    }
    false
}

fn compare(op: &str, n: f64, bound: f64) -> bool {
    match op {
        "=" => n == bound,
        "<" => n < bound,
        "<=" => n <= bound,
        ">" => n > bound,
        ">=" => n >= bound,
        _ => false,
    }
}

fn literal_eq(expected: &Value, value: &Value) -> bool {
    match (expected, value) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (a, b) => a == b,
    }
}

/// Checks that `pattern` only uses what [`matches`] supports.
///
/// # Errors
/// A sentence naming the first unsupported part.
pub fn check(pattern: &Value) -> Result<(), String> {
    let Value::Object(map) = pattern else {
        return Err(format!("a pattern must be an object, got {pattern}"));
    };
    for (key, rule) in map {
        match rule {
            Value::Object(_) => check(rule)?,
            Value::Array(matchers) => {
                for matcher in matchers {
                    check_matcher(matcher).map_err(|e| format!("{key}: {e}"))?;
                }
            }
            other => return Err(format!("{key}: expected a list of matchers, got {other}")),
        }
    }
    Ok(())
}

fn check_matcher(matcher: &Value) -> Result<(), String> {
    let Value::Object(op) = matcher else {
        return match matcher {
            Value::Array(_) => Err("a matcher cannot be a list".into()),
            _ => Ok(()),
        };
    };
    let [(name, argument)] = op.iter().collect::<Vec<_>>()[..] else {
        return Err(format!("a matcher has exactly one operator, got {matcher}"));
    };
    let ok = match name.as_str() {
        "prefix" | "suffix" | "equals-ignore-case" => argument.is_string(),
        "exists" => argument.is_boolean(),
        "anything-but" => match argument {
            Value::Object(inner) => {
                inner.len() == 1 && inner.get("prefix").is_some_and(Value::is_string)
            }
            Value::Array(items) => items.iter().all(|i| !i.is_object() && !i.is_array()),
            _ => true,
        },
        "numeric" => argument.as_array().is_some_and(|items| {
            !items.is_empty()
                && items.len() <= 4
                && items.chunks(2).all(|pair| {
                    matches!(pair, [Value::String(op), Value::Number(_)]
                        if matches!(op.as_str(), "=" | "<" | "<=" | ">" | ">="))
                })
        }),
        _ => return Err(format!("unsupported operator {name:?}")),
    };
    if ok {
        Ok(())
    } else {
        Err(format!("invalid argument for {name:?}: {argument}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn outbox_insert() -> Value {
        json!({
            "eventName": "INSERT",
            "dynamodb": {
                "Keys": {"pk": {"S": "OUTBOX#0190"}, "sk": {"S": "OUTBOX"}},
                "NewImage": {"pk": {"S": "OUTBOX#0190"}, "amount": {"N": "42"}, "tags": {"SS": ["a", "b"]}},
            }
        })
    }

    fn pattern(value: Value) -> Vec<Value> {
        check(&value).unwrap();
        vec![value]
    }

    #[test]
    fn the_outbox_pattern_selects_outbox_inserts_only() {
        let filters = pattern(json!({
            "eventName": ["INSERT"],
            "dynamodb": {"Keys": {"pk": {"S": [{"prefix": "OUTBOX#"}]}}}
        }));
        assert!(matches_any(&filters, &outbox_insert()));
        let mut product = outbox_insert();
        product["dynamodb"]["Keys"]["pk"]["S"] = json!("PRODUCT#1");
        assert!(!matches_any(&filters, &product));
        let mut removal = outbox_insert();
        removal["eventName"] = json!("REMOVE");
        assert!(!matches_any(&filters, &removal));
    }

    #[test]
    fn no_filters_let_everything_through() {
        assert!(matches_any(&[], &outbox_insert()));
    }

    #[test]
    fn any_filter_may_match() {
        let filters = vec![
            json!({"eventName": ["MODIFY"]}),
            json!({"eventName": ["INSERT"]}),
        ];
        assert!(matches_any(&filters, &outbox_insert()));
    }

    #[test]
    fn operators_match_as_documented() {
        let record = outbox_insert();
        let cases = [
            (json!({"eventName": [{"suffix": "SERT"}]}), true),
            (
                json!({"eventName": [{"equals-ignore-case": "insert"}]}),
                true,
            ),
            (
                json!({"eventName": [{"anything-but": ["REMOVE", "MODIFY"]}]}),
                true,
            ),
            (json!({"eventName": [{"anything-but": "INSERT"}]}), false),
            (
                json!({"eventName": [{"anything-but": {"prefix": "IN"}}]}),
                false,
            ),
            (json!({"dynamodb": {"OldImage": [{"exists": false}]}}), true),
            (json!({"dynamodb": {"NewImage": [{"exists": true}]}}), true),
            (
                json!({"dynamodb": {"NewImage": {"tags": {"SS": ["b"]}}}}),
                true,
            ),
            (
                json!({"dynamodb": {"NewImage": {"tags": {"SS": ["z"]}}}}),
                false,
            ),
            (json!({"missing": ["x"]}), false),
        ];
        for (p, expected) in cases {
            check(&p).unwrap();
            assert_eq!(
                matches_any(std::slice::from_ref(&p), &record),
                expected,
                "{p}"
            );
        }
        let numbers = json!({"amount": 42});
        assert!(matches_any(
            &[json!({"amount": [{"numeric": [">", 10, "<=", 42]}]})],
            &numbers
        ));
        assert!(!matches_any(
            &[json!({"amount": [{"numeric": ["<", 10]}]})],
            &numbers
        ));
        assert!(matches_any(&[json!({"amount": [42.0]})], &numbers));
    }

    #[test]
    fn unsupported_patterns_are_refused_at_start() {
        for bad in [
            json!({"a": [{"wildcard": "x*"}]}),
            json!({"a": "INSERT"}),
            json!({"a": [{"numeric": ["!=", 1]}]}),
            json!({"a": [{"prefix": 1}]}),
            json!(["a"]),
        ] {
            assert!(check(&bad).is_err(), "{bad}");
        }
    }
}
