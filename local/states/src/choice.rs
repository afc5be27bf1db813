//! Choice rules: comparison operators, their `*Path` variants, type tests and the
//! boolean combinators `And`, `Or` and `Not`.

use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::StatesError;
use crate::path::JsonPath;

/// A Choice rule (top-level rules carry a `Next` separately).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Rule {
    And(Vec<Rule>),
    Or(Vec<Rule>),
    Not(Box<Rule>),
    Test {
        variable: JsonPath,
        op: Op,
        operand: Operand,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    StringEquals,
    StringLessThan,
    StringGreaterThan,
    StringLessThanEquals,
    StringGreaterThanEquals,
    StringMatches,
    NumericEquals,
    NumericLessThan,
    NumericGreaterThan,
    NumericLessThanEquals,
    NumericGreaterThanEquals,
    BooleanEquals,
    TimestampEquals,
    TimestampLessThan,
    TimestampGreaterThan,
    TimestampLessThanEquals,
    TimestampGreaterThanEquals,
    IsPresent,
    IsNull,
    IsString,
    IsNumeric,
    IsBoolean,
    IsTimestamp,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Operand {
    Literal(Value),
    Path(JsonPath),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    String,
    Numeric,
    Boolean,
    Timestamp,
    Matches,
    Test,
}

const OPS: &[(&str, Op, Kind)] = &[
    ("StringEquals", Op::StringEquals, Kind::String),
    ("StringLessThan", Op::StringLessThan, Kind::String),
    ("StringGreaterThan", Op::StringGreaterThan, Kind::String),
    (
        "StringLessThanEquals",
        Op::StringLessThanEquals,
        Kind::String,
    ),
    (
        "StringGreaterThanEquals",
        Op::StringGreaterThanEquals,
        Kind::String,
    ),
    ("StringMatches", Op::StringMatches, Kind::Matches),
    ("NumericEquals", Op::NumericEquals, Kind::Numeric),
    ("NumericLessThan", Op::NumericLessThan, Kind::Numeric),
    ("NumericGreaterThan", Op::NumericGreaterThan, Kind::Numeric),
    (
        "NumericLessThanEquals",
        Op::NumericLessThanEquals,
        Kind::Numeric,
    ),
    (
        "NumericGreaterThanEquals",
        Op::NumericGreaterThanEquals,
        Kind::Numeric,
    ),
    ("BooleanEquals", Op::BooleanEquals, Kind::Boolean),
    ("TimestampEquals", Op::TimestampEquals, Kind::Timestamp),
    ("TimestampLessThan", Op::TimestampLessThan, Kind::Timestamp),
    (
        "TimestampGreaterThan",
        Op::TimestampGreaterThan,
        Kind::Timestamp,
    ),
    (
        "TimestampLessThanEquals",
        Op::TimestampLessThanEquals,
        Kind::Timestamp,
    ),
    (
        "TimestampGreaterThanEquals",
        Op::TimestampGreaterThanEquals,
        Kind::Timestamp,
    ),
    ("IsPresent", Op::IsPresent, Kind::Test),
    ("IsNull", Op::IsNull, Kind::Test),
    ("IsString", Op::IsString, Kind::Test),
    ("IsNumeric", Op::IsNumeric, Kind::Test),
    ("IsBoolean", Op::IsBoolean, Kind::Test),
    ("IsTimestamp", Op::IsTimestamp, Kind::Test),
];

/// Parses a rule object; `top_level` rules may (and must) carry `Next`, handled by the caller.
pub(crate) fn parse_rule(
    map: &Map<String, Value>,
    location: &str,
    top_level: bool,
) -> Result<Rule, (String, String)> {
    let err = |m: String| (location.to_owned(), m);
    let mut operator: Option<(&str, &Value)> = None;
    for (key, value) in map {
        let known = matches!(key.as_str(), "And" | "Or" | "Not")
            || OPS.iter().any(|(name, _, kind)| {
                key == name
                    || (*kind != Kind::Test
                        && *kind != Kind::Matches
                        && key.strip_suffix("Path") == Some(name))
            });
        match key.as_str() {
            "Variable" | "Comment" => {}
            "Next" if top_level => {}
            "Next" => return Err(err("a nested rule must not have 'Next'".into())),
            _ if known => {
                if operator.is_some() {
                    return Err(err(
                        "a rule must have exactly one comparison operator".into()
                    ));
                }
                operator = Some((key.as_str(), value));
            }
            other => return Err(err(format!("unknown field '{other}' in a Choice rule"))),
        }
    }
    let Some((name, value)) = operator else {
        return Err(err(
            "a rule must have a comparison operator or And/Or/Not".into()
        ));
    };
    let nested = |v: &Value, here: String| -> Result<Rule, (String, String)> {
        let obj = v
            .as_object()
            .ok_or_else(|| (here.clone(), "a nested rule must be an object".to_owned()))?;
        parse_rule(obj, &here, false)
    };
    match name {
        "And" | "Or" => {
            if map.contains_key("Variable") {
                return Err(err(format!("'{name}' rules do not take 'Variable'")));
            }
            let items = value
                .as_array()
                .filter(|a| !a.is_empty())
                .ok_or_else(|| err(format!("'{name}' needs a non-empty array of rules")))?;
            let rules = items
                .iter()
                .enumerate()
                .map(|(i, v)| nested(v, format!("{location}/{name}/{i}")))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(if name == "And" {
                Rule::And(rules)
            } else {
                Rule::Or(rules)
            })
        }
        "Not" => {
            if map.contains_key("Variable") {
                return Err(err("'Not' rules do not take 'Variable'".into()));
            }
            Ok(Rule::Not(Box::new(nested(
                value,
                format!("{location}/Not"),
            )?)))
        }
        _ => {
            let variable = map
                .get("Variable")
                .and_then(Value::as_str)
                .ok_or_else(|| err("a comparison needs a 'Variable' string".into()))?;
            let variable = JsonPath::parse(variable).map_err(|e| err(e.to_string()))?;
            let (base, is_path) = match OPS.iter().find(|(n, _, _)| *n == name) {
                Some(_) => (name, false),
                None => (name.strip_suffix("Path").unwrap_or(name), true),
            };
            let Some((_, op, kind)) = OPS.iter().find(|(n, _, _)| *n == base) else {
                return Err(err(format!("unknown operator '{name}'")));
            };
            let operand = if is_path {
                let text = value
                    .as_str()
                    .ok_or_else(|| err(format!("'{name}' must be a path string")))?;
                Operand::Path(JsonPath::parse_reference(text).map_err(|e| err(e.to_string()))?)
            } else {
                let ok = match kind {
                    Kind::String | Kind::Matches => value.is_string(),
                    Kind::Numeric => value.is_number(),
                    Kind::Boolean | Kind::Test => value.is_boolean(),
                    Kind::Timestamp => value.as_str().and_then(parse_timestamp).is_some(),
                };
                if !ok {
                    return Err(err(format!("invalid value for '{name}': {value}")));
                }
                Operand::Literal(value.clone())
            };
            Ok(Rule::Test {
                variable,
                op: *op,
                operand,
            })
        }
    }
}

/// Parses an RFC 3339 timestamp as the States language requires (uppercase `T`, a `Z` or an offset).
pub(crate) fn parse_timestamp(text: &str) -> Option<OffsetDateTime> {
    // The States language takes RFC 3339 with an uppercase `T` between date and time (no
    // space, which RFC 3339 would allow) and an uppercase `Z`.
    if text.contains('t') || text.contains('z') || text.get(10..11) != Some("T") {
        return None;
    }
    OffsetDateTime::parse(text, &Rfc3339).ok()
}

impl Rule {
    /// Evaluates the rule against the Choice state's effective input.
    pub(crate) fn eval(&self, input: &Value, context: &Value) -> Result<bool, StatesError> {
        match self {
            Rule::And(rules) => {
                for r in rules {
                    if !r.eval(input, context)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Rule::Or(rules) => {
                for r in rules {
                    if r.eval(input, context)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Rule::Not(rule) => Ok(!rule.eval(input, context)?),
            Rule::Test {
                variable,
                op,
                operand,
            } => test(variable, *op, operand, input, context),
        }
    }
}

fn test(
    variable: &JsonPath,
    op: Op,
    operand: &Operand,
    input: &Value,
    context: &Value,
) -> Result<bool, StatesError> {
    let value = variable.resolve(input, context);
    if op == Op::IsPresent {
        let expected = matches!(operand, Operand::Literal(Value::Bool(true)));
        return Ok(value.is_some() == expected);
    }
    let Some(value) = value else {
        return Err(StatesError::runtime(format!(
            "Invalid path '{variable}': The choice state's condition path references an invalid value."
        )));
    };
    let expected = match operand {
        Operand::Literal(v) => v.clone(),
        Operand::Path(path) => path.resolve(input, context).ok_or_else(|| {
            StatesError::runtime(format!("Invalid path '{path}': The choice state's condition path references an invalid value."))
        })?,
    };
    use std::cmp::Ordering::{Equal, Greater, Less};
    let string_cmp = || match (value.as_str(), expected.as_str()) {
        (Some(a), Some(b)) => Some(a.cmp(b)),
        _ => None,
    };
    let numeric_cmp = || match (value.as_f64(), expected.as_f64()) {
        (Some(a), Some(b)) => a.partial_cmp(&b),
        _ => None,
    };
    let timestamp_cmp = || match (
        value.as_str().and_then(parse_timestamp),
        expected.as_str().and_then(parse_timestamp),
    ) {
        (Some(a), Some(b)) => Some(a.cmp(&b)),
        _ => None,
    };
    let flag = expected.as_bool() == Some(true);
    Ok(match op {
        Op::StringEquals => string_cmp() == Some(Equal),
        Op::StringLessThan => string_cmp() == Some(Less),
        Op::StringGreaterThan => string_cmp() == Some(Greater),
        Op::StringLessThanEquals => matches!(string_cmp(), Some(Less | Equal)),
        Op::StringGreaterThanEquals => matches!(string_cmp(), Some(Greater | Equal)),
        Op::StringMatches => match (value.as_str(), expected.as_str()) {
            (Some(text), Some(pattern)) => string_matches(text, pattern),
            _ => false,
        },
        Op::NumericEquals => numeric_cmp() == Some(Equal),
        Op::NumericLessThan => numeric_cmp() == Some(Less),
        Op::NumericGreaterThan => numeric_cmp() == Some(Greater),
        Op::NumericLessThanEquals => matches!(numeric_cmp(), Some(Less | Equal)),
        Op::NumericGreaterThanEquals => matches!(numeric_cmp(), Some(Greater | Equal)),
        Op::BooleanEquals => value.is_boolean() && value.as_bool() == expected.as_bool(),
        Op::TimestampEquals => timestamp_cmp() == Some(Equal),
        Op::TimestampLessThan => timestamp_cmp() == Some(Less),
        Op::TimestampGreaterThan => timestamp_cmp() == Some(Greater),
        Op::TimestampLessThanEquals => matches!(timestamp_cmp(), Some(Less | Equal)),
        Op::TimestampGreaterThanEquals => matches!(timestamp_cmp(), Some(Greater | Equal)),
        Op::IsPresent => true,
        Op::IsNull => value.is_null() == flag,
        Op::IsString => value.is_string() == flag,
        Op::IsNumeric => value.is_number() == flag,
        Op::IsBoolean => value.is_boolean() == flag,
        Op::IsTimestamp => value.as_str().and_then(parse_timestamp).is_some() == flag,
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Glob {
    Star,
    Char(char),
}

/// `StringMatches`: `*` matches any run of characters; `\*` and `\\` are a literal star and backslash.
pub(crate) fn string_matches(text: &str, pattern: &str) -> bool {
    let mut tokens = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => tokens.push(Glob::Char(chars.next().unwrap_or('\\'))),
            '*' => tokens.push(Glob::Star),
            c => tokens.push(Glob::Char(c)),
        }
    }
    let text: Vec<char> = text.chars().collect();
    let (mut t, mut p) = (0usize, 0usize);
    let mut backtrack: Option<(usize, usize)> = None;
    while t < text.len() {
        match tokens.get(p) {
            Some(Glob::Char(c)) if *c == text[t] => {
                t += 1;
                p += 1;
            }
            Some(Glob::Star) => {
                backtrack = Some((p, t));
                p += 1;
            }
            _ => match backtrack {
                Some((bp, bt)) => {
                    p = bp + 1;
                    t = bt + 1;
                    backtrack = Some((bp, bt + 1));
                }
                None => return false,
            },
        }
    }
    tokens[p..].iter().all(|g| *g == Glob::Star)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn rule(v: Value) -> Rule {
        parse_rule(v.as_object().unwrap(), "/r", true).unwrap()
    }

    fn eval(r: Value, input: Value) -> bool {
        rule(r).eval(&input, &Value::Null).unwrap()
    }

    #[test]
    fn string_matches_handles_wildcards_and_escapes() {
        assert!(string_matches("log.txt", "*.txt"));
        assert!(string_matches("a.log.txt", "*.log*"));
        assert!(!string_matches("log.txt", "*.log"));
        assert!(string_matches("a*b", "a\\*b"));
        assert!(!string_matches("axb", "a\\*b"));
        assert!(string_matches("a\\b", "a\\\\b"));
        assert!(string_matches("", "*"));
    }

    #[test]
    fn the_specification_choice_examples() {
        let r = json!({"Not": {"Variable": "$.type", "StringEquals": "Private"}, "Next": "Public"});
        assert!(eval(r.clone(), json!({"type": "Public"})));
        assert!(!eval(r, json!({"type": "Private"})));
        let r = json!({"And": [
            {"Variable": "$.value", "NumericGreaterThanEquals": 20},
            {"Variable": "$.value", "NumericLessThan": 30}
        ], "Next": "ValueInTwenties"});
        assert!(eval(r.clone(), json!({"value": 20})));
        assert!(!eval(r, json!({"value": 30})));
    }

    #[test]
    fn comparisons_of_the_wrong_type_are_false() {
        assert!(!eval(
            json!({"Variable": "$.v", "StringEquals": "1"}),
            json!({"v": 1})
        ));
        assert!(!eval(
            json!({"Variable": "$.v", "NumericEquals": 1}),
            json!({"v": "1"})
        ));
        assert!(eval(
            json!({"Variable": "$.v", "NumericEquals": 1}),
            json!({"v": 1.0})
        ));
    }

    #[test]
    fn path_variants_compare_two_fields() {
        let r = json!({"Variable": "$.a", "NumericLessThanPath": "$.b"});
        assert!(eval(r, json!({"a": 1, "b": 2})));
        let r = json!({"Variable": "$.t", "TimestampLessThanPath": "$.u"});
        assert!(eval(
            r,
            json!({"t": "2016-08-18T17:33:00Z", "u": "2016-08-18T17:33:01+00:00"})
        ));
    }

    #[test]
    fn type_tests() {
        let input = json!({"n": null, "s": "x", "i": 3, "b": false, "t": "2001-01-01T00:00:00Z"});
        assert!(eval(
            json!({"Variable": "$.n", "IsNull": true}),
            input.clone()
        ));
        assert!(eval(
            json!({"Variable": "$.s", "IsString": true}),
            input.clone()
        ));
        assert!(eval(
            json!({"Variable": "$.i", "IsNumeric": true}),
            input.clone()
        ));
        assert!(eval(
            json!({"Variable": "$.b", "IsBoolean": true}),
            input.clone()
        ));
        assert!(eval(
            json!({"Variable": "$.t", "IsTimestamp": true}),
            input.clone()
        ));
        assert!(eval(
            json!({"Variable": "$.s", "IsTimestamp": false}),
            input.clone()
        ));
        assert!(eval(
            json!({"Variable": "$.missing", "IsPresent": false}),
            input.clone()
        ));
        assert!(eval(json!({"Variable": "$.n", "IsPresent": true}), input));
    }

    #[test]
    fn a_missing_variable_is_a_runtime_error() {
        let err = rule(json!({"Variable": "$.x", "StringEquals": "a"}))
            .eval(&json!({}), &Value::Null)
            .unwrap_err();
        assert_eq!(err.error, "States.Runtime");
    }

    #[test]
    fn malformed_rules_are_rejected() {
        let bad = |v: Value| parse_rule(v.as_object().unwrap(), "/r", true).is_err();
        assert!(bad(json!({"Variable": "$.x", "NumericEquals": "1"})));
        assert!(bad(json!({"Variable": "$.x"})));
        assert!(bad(
            json!({"Variable": "$.x", "StringEquals": "a", "StringLessThan": "b"})
        ));
        assert!(bad(
            json!({"Variable": "$.x", "TimestampEquals": "yesterday"})
        ));
        assert!(bad(
            json!({"And": [{"Variable": "$.x", "IsNull": true, "Next": "A"}]})
        ));
        assert!(bad(json!({"Variable": "$.x", "Bogus": 1})));
    }
}
