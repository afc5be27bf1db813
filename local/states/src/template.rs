//! Payload templates: `Parameters`, `ResultSelector` and `ItemSelector`.
//!
//! A field whose name ends in `.$` takes its value from a path (`$.x` on the input,
//! `$$.x` on the context object) or an intrinsic function; the `.$` is dropped from the
//! name. Other values are copied as written; objects nested in objects or arrays are
//! processed the same way.

use serde_json::{Map, Value};

use crate::error::StatesError;
use crate::intrinsic::Intrinsic;
use crate::path::{JsonPath, Root};

/// A parsed payload template.
#[derive(Debug, Clone, PartialEq)]
pub enum Template {
    /// A value copied as written.
    Literal(Value),
    /// An object whose fields may be dynamic.
    Object(Vec<(String, Template)>),
    /// An array whose items may contain dynamic objects.
    Array(Vec<Template>),
    /// A `.$` field whose value is a path.
    Path(JsonPath),
    /// A `.$` field whose value is an intrinsic function.
    Intrinsic(Intrinsic),
}

impl Template {
    /// Parses a template; `location` names it in error messages.
    pub fn parse(value: &Value, location: &str) -> Result<Self, (String, String)> {
        match value {
            Value::Object(map) => {
                let mut fields = Vec::with_capacity(map.len());
                for (key, v) in map {
                    let here = format!("{location}/{key}");
                    if let Some(name) = key.strip_suffix(".$") {
                        let Some(text) = v.as_str() else {
                            return Err((
                                here,
                                "the value of a field ending in '.$' must be a string".into(),
                            ));
                        };
                        let dynamic = if Intrinsic::looks_like(text) {
                            Template::Intrinsic(
                                Intrinsic::parse(text).map_err(|e| (here.clone(), e))?,
                            )
                        } else {
                            Template::Path(
                                JsonPath::parse(text).map_err(|e| (here.clone(), e.to_string()))?,
                            )
                        };
                        fields.push((name.to_owned(), dynamic));
                    } else {
                        fields.push((key.clone(), Template::parse(v, &here)?));
                    }
                }
                Ok(Template::Object(fields))
            }
            Value::Array(items) => {
                let parsed = items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| Template::parse(v, &format!("{location}/{i}")))
                    .collect::<Result<Vec<_>, _>>()?;
                if parsed.iter().all(|t| matches!(t, Template::Literal(_))) {
                    Ok(Template::Literal(value.clone()))
                } else {
                    Ok(Template::Array(parsed))
                }
            }
            other => Ok(Template::Literal(other.clone())),
        }
    }

    /// Whether evaluating the template may read the context object.
    pub fn uses_context(&self) -> bool {
        match self {
            Template::Literal(_) => false,
            Template::Object(fields) => fields.iter().any(|(_, t)| t.uses_context()),
            Template::Array(items) => items.iter().any(Template::uses_context),
            Template::Path(path) => path.root() != Root::Input,
            // Arguments may name the context object or variables.
            Template::Intrinsic(_) => true,
        }
    }

    /// Builds the payload from an input and the context object.
    pub fn eval(&self, input: &Value, context: &Value) -> Result<Value, StatesError> {
        self.eval_named(input, context, "")
    }

    fn eval_named(&self, input: &Value, context: &Value, name: &str) -> Result<Value, StatesError> {
        match self {
            Template::Literal(v) => Ok(v.clone()),
            Template::Object(fields) => {
                let mut out = Map::new();
                for (key, t) in fields {
                    out.insert(key.clone(), t.eval_named(input, context, key)?);
                }
                Ok(Value::Object(out))
            }
            Template::Array(items) => {
                items.iter().map(|t| t.eval_named(input, context, name)).collect::<Result<Vec<_>, _>>().map(Value::Array)
            }
            Template::Path(path) => path.resolve(input, context).ok_or_else(|| {
                let source = match path.root() {
                    Root::Input => input,
                    Root::Context => context,
                    Root::Variable => context.get(crate::path::VARIABLES_KEY).unwrap_or(&Value::Null),
                };
                StatesError::runtime(format!(
                    "The JSONPath '{path}' specified for the field '{name}.$' could not be found in the input '{source}'"
                ))
            }),
            Template::Intrinsic(i) => i.eval(input, context),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn the_specification_parameters_example() {
        let template = Template::parse(
            &json!({
                "flagged": true,
                "parts": {"first.$": "$.vals[0]", "last3.$": "$.vals[-3:]"},
                "weekday.$": "$$.DayOfWeek",
                "formattedOutput.$": "States.Format('Today is {}', $$.DayOfWeek)"
            }),
            "/Parameters",
        )
        .unwrap();
        let input = json!({"flagged": 7, "vals": [0, 10, 20, 30, 40, 50]});
        let context = json!({"DayOfWeek": "TUESDAY"});
        assert_eq!(
            template.eval(&input, &context).unwrap(),
            json!({
                "flagged": true,
                "parts": {"first": 0, "last3": [30, 40, 50]},
                "weekday": "TUESDAY",
                "formattedOutput": "Today is TUESDAY"
            })
        );
        assert!(template.uses_context());
    }

    #[test]
    fn objects_inside_arrays_are_processed() {
        let template = Template::parse(&json!({"list": [{"v.$": "$.a"}, 2]}), "").unwrap();
        assert_eq!(
            template.eval(&json!({"a": 1}), &Value::Null).unwrap(),
            json!({"list": [{"v": 1}, 2]})
        );
    }

    #[test]
    fn a_missing_path_is_a_runtime_error() {
        let template = Template::parse(&json!({"v.$": "$.missing"}), "").unwrap();
        assert_eq!(
            template.eval(&json!({}), &Value::Null).unwrap_err().error,
            "States.Runtime"
        );
    }

    #[test]
    fn non_string_dynamic_values_are_rejected() {
        assert!(Template::parse(&json!({"v.$": 3}), "").is_err());
        assert!(Template::parse(&json!({"v.$": "nope"}), "").is_err());
    }
}
