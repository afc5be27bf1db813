//! Reading the YAML: short-form tags to long JSON form, SAM `Globals`, and
//! the resources SAM would add implicitly.

use std::collections::BTreeMap;

use saphyr::{LoadableYamlNode as _, Scalar, Yaml};
use serde_json::{Map, Value};

use crate::error::TemplateError;

/// Functions whose short form is `!Name` and long form `{"Fn::Name": ...}`.
const FN_TAGS: &[&str] = &[
    "Sub",
    "Join",
    "If",
    "Select",
    "Split",
    "Equals",
    "Not",
    "And",
    "Or",
    "FindInMap",
    "GetAZs",
    "Base64",
    "ImportValue",
    "Cidr",
    "ToJsonString",
    "Length",
    "Transform",
];

/// Name of the API SAM creates for `HttpApi` events without `ApiId`.
pub(crate) const IMPLICIT_HTTP_API: &str = "ServerlessHttpApi";

/// One entry of `Resources`.
#[derive(Debug, Clone)]
pub(crate) struct Resource {
    pub kind: String,
    /// `Properties` (an object; `{}` when absent), Globals applied.
    pub properties: Value,
    pub metadata: Value,
    pub condition: Option<String>,
    /// `DependsOn`, as a list.
    pub depends_on: Vec<String>,
}

/// The template in long JSON form.
#[derive(Debug, Clone, Default)]
pub(crate) struct Document {
    pub parameters: Map<String, Value>,
    pub mappings: Map<String, Value>,
    pub conditions: Map<String, Value>,
    pub resources: BTreeMap<String, Resource>,
    /// Logical ids in template order (implicit resources after the function that causes them).
    pub order: Vec<String>,
    pub outputs: Vec<(String, Value)>,
    /// The whole template in long JSON form, before Globals were applied.
    pub raw: Value,
}

/// Reads one YAML document (an empty text is `null`). Duplicate keys are an error, as YAML and
/// CloudFormation make them; anchors and aliases are expanded.
pub(crate) fn load(text: &str) -> Result<Yaml<'_>, TemplateError> {
    let mut documents = Yaml::load_from_str(text)?.into_iter();
    let root = documents.next().unwrap_or(Yaml::Value(Scalar::Null));
    if documents.next().is_some() {
        return Err(TemplateError::invalid(
            "a template is one YAML document, this text holds several",
        ));
    }
    Ok(root)
}

pub(crate) fn parse(yaml: &str) -> Result<Document, TemplateError> {
    let root = load(yaml)?;
    // Outputs and resources keep template order: the long-form maps may be sorted.
    let output_order = section_keys(&root, "Outputs");
    let mut order = section_keys(&root, "Resources");
    let raw = to_json(root)?;
    let Value::Object(top) = &raw else {
        return Err(TemplateError::invalid("a template must be a mapping"));
    };
    let section = |name: &str| -> Result<Map<String, Value>, TemplateError> {
        match top.get(name) {
            None | Some(Value::Null) => Ok(Map::new()),
            Some(Value::Object(m)) => Ok(m.clone()),
            Some(_) => Err(TemplateError::invalid(format!(
                "`{name}` must be a mapping"
            ))),
        }
    };
    let globals = section("Globals")?;
    let mut doc = Document {
        parameters: section("Parameters")?,
        mappings: section("Mappings")?,
        conditions: section("Conditions")?,
        outputs: section("Outputs")?.into_iter().collect(),
        raw: raw.clone(),
        ..Document::default()
    };
    doc.outputs
        .sort_by_key(|(k, _)| output_order.iter().position(|o| o == k));

    let resources = section("Resources")?;
    order.retain(|id| resources.contains_key(id));
    for id in resources.keys() {
        if !order.contains(id) {
            order.push(id.clone());
        }
    }
    let mut needs_implicit_api = false;
    for id in &order {
        let Some(entry) = resources.get(id) else {
            continue;
        };
        let resource = read_resource(id, entry, &globals)?;
        if resource.kind == "AWS::Serverless::Function"
            && has_http_api_event_without_api_id(&resource.properties)
        {
            needs_implicit_api = true;
        }
        // SAM gives functions and state machines without a Role one named `<LogicalId>Role`.
        let role_id = format!("{id}Role");
        let implicit_role = (resource.kind == "AWS::Serverless::Function"
            || resource.kind == "AWS::Serverless::StateMachine")
            && resource.properties.get("Role").is_none()
            && !resources.contains_key(&role_id);
        let role = implicit_role.then(|| Resource {
            kind: "AWS::IAM::Role".into(),
            properties: Value::Object(Map::new()),
            metadata: Value::Null,
            condition: resource.condition.clone(),
            depends_on: Vec::new(),
        });
        doc.order.push(id.clone());
        doc.resources.insert(id.clone(), resource);
        if let Some(role) = role {
            doc.order.push(role_id.clone());
            doc.resources.insert(role_id, role);
        }
    }
    if needs_implicit_api && !doc.resources.contains_key(IMPLICIT_HTTP_API) {
        let properties = match globals.get("HttpApi") {
            Some(g @ Value::Object(_)) => g.clone(),
            _ => Value::Object(Map::new()),
        };
        doc.order.push(IMPLICIT_HTTP_API.into());
        doc.resources.insert(
            IMPLICIT_HTTP_API.into(),
            Resource {
                kind: "AWS::Serverless::HttpApi".into(),
                properties,
                metadata: Value::Null,
                condition: None,
                depends_on: Vec::new(),
            },
        );
    }
    for (id, resource) in &doc.resources {
        if let Some(unknown) = resource
            .depends_on
            .iter()
            .find(|d| !doc.resources.contains_key(*d))
        {
            return Err(TemplateError::invalid(format!(
                "resource `{id}`: DependsOn names `{unknown}`, which is not a resource"
            )));
        }
    }
    Ok(doc)
}

fn read_resource(
    id: &str,
    entry: &Value,
    globals: &Map<String, Value>,
) -> Result<Resource, TemplateError> {
    let Value::Object(entry) = entry else {
        return Err(TemplateError::invalid(format!(
            "resource `{id}` must be a mapping"
        )));
    };
    let kind = entry
        .get("Type")
        .and_then(Value::as_str)
        .ok_or_else(|| TemplateError::invalid(format!("resource `{id}` has no Type")))?
        .to_string();
    let mut properties = match entry.get("Properties") {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(p @ Value::Object(_)) => p.clone(),
        Some(_) => {
            return Err(TemplateError::invalid(format!(
                "resource `{id}`: Properties must be a mapping"
            )));
        }
    };
    if let Some(section) = kind.strip_prefix("AWS::Serverless::")
        && let Some(global) = globals.get(section)
    {
        properties = merge_globals(global, &properties);
    }
    let condition = match entry.get("Condition") {
        None => None,
        Some(Value::String(c)) => Some(c.clone()),
        Some(_) => {
            return Err(TemplateError::invalid(format!(
                "resource `{id}`: Condition must be a condition name"
            )));
        }
    };
    let depends_on = match entry.get("DependsOn") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(d)) => vec![d.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .map(|d| d.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                TemplateError::invalid(format!(
                    "resource `{id}`: DependsOn must be a resource name or a list of them"
                ))
            })?,
        Some(_) => {
            return Err(TemplateError::invalid(format!(
                "resource `{id}`: DependsOn must be a resource name or a list of them"
            )));
        }
    };
    Ok(Resource {
        kind,
        properties,
        metadata: entry.get("Metadata").cloned().unwrap_or(Value::Null),
        condition,
        depends_on,
    })
}

fn has_http_api_event_without_api_id(properties: &Value) -> bool {
    properties
        .get("Events")
        .and_then(Value::as_object)
        .is_some_and(|events| {
            events.values().any(|e| {
                e.get("Type").and_then(Value::as_str) == Some("HttpApi")
                    && e.get("Properties").and_then(|p| p.get("ApiId")).is_none()
            })
        })
}

/// True for `{"Ref": ..}` and `{"Fn::X": ..}`: values that SAM does not merge
/// into, the resource's own value wins whole.
fn is_intrinsic(v: &Value) -> bool {
    v.as_object()
        .is_some_and(|m| m.len() == 1 && m.keys().all(|k| k == "Ref" || k.starts_with("Fn::")))
}

/// SAM `Globals` rules: mappings merge key by key (the resource's keys win),
/// lists are concatenated (globals first), anything else the resource's value wins.
pub(crate) fn merge_globals(global: &Value, local: &Value) -> Value {
    match (global, local) {
        (Value::Object(g), Value::Object(l)) if !is_intrinsic(global) && !is_intrinsic(local) => {
            let mut out = g.clone();
            for (k, lv) in l {
                let merged = match g.get(k) {
                    Some(gv) => merge_globals(gv, lv),
                    None => lv.clone(),
                };
                out.insert(k.clone(), merged);
            }
            Value::Object(out)
        }
        (Value::Array(g), Value::Array(l)) => Value::Array(g.iter().chain(l).cloned().collect()),
        (_, l) => l.clone(),
    }
}

/// Keys of a top-level section, in the order the YAML lists them.
fn section_keys(root: &Yaml<'_>, section: &str) -> Vec<String> {
    let Yaml::Mapping(top) = root else {
        return Vec::new();
    };
    top.iter()
        .find(|(k, _)| k.as_str() == Some(section))
        .and_then(|(_, v)| v.as_mapping())
        .map(|m| m.keys().filter_map(|k| key_string(k).ok()).collect())
        .unwrap_or_default()
}

fn key_string(k: &Yaml<'_>) -> Result<String, TemplateError> {
    match k {
        Yaml::Value(Scalar::String(s)) => Ok(s.to_string()),
        Yaml::Value(Scalar::Integer(i)) => Ok(i.to_string()),
        Yaml::Value(Scalar::FloatingPoint(f)) => Ok(f.to_string()),
        Yaml::Value(Scalar::Boolean(b)) => Ok(b.to_string()),
        Yaml::Value(Scalar::Null) => Ok("null".to_owned()),
        _ => Err(TemplateError::invalid("mapping keys must be scalars")),
    }
}

/// Converts YAML to JSON, turning short-form tags into long-form functions.
pub(crate) fn to_json(v: Yaml<'_>) -> Result<Value, TemplateError> {
    Ok(match v {
        Yaml::Value(scalar) => match scalar {
            Scalar::Null => Value::Null,
            Scalar::Boolean(b) => Value::Bool(b),
            Scalar::Integer(i) => Value::from(i),
            Scalar::FloatingPoint(f) => serde_json::Number::from_f64(f.into_inner())
                .map(Value::Number)
                .ok_or_else(|| TemplateError::invalid(format!("number {f} has no JSON form")))?,
            Scalar::String(s) => Value::String(s.into_owned()),
        },
        Yaml::Sequence(items) => {
            Value::Array(items.into_iter().map(to_json).collect::<Result<_, _>>()?)
        }
        Yaml::Mapping(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                out.insert(key_string(&k)?, to_json(v)?);
            }
            Value::Object(out)
        }
        Yaml::Tagged(tag, inner) => {
            if tag.handle != "!" {
                return Err(TemplateError::UnknownTag(
                    tag.to_string().trim_start_matches('!').to_owned(),
                ));
            }
            let (key, arg) = match tag.suffix.as_str() {
                "Ref" => ("Ref".to_string(), to_json(*inner)?),
                "Condition" => ("Condition".to_string(), to_json(*inner)?),
                "GetAtt" => {
                    let arg = match *inner {
                        Yaml::Value(Scalar::String(s)) => match s.split_once('.') {
                            Some((res, attr)) => Value::Array(vec![res.into(), attr.into()]),
                            None => {
                                return Err(TemplateError::invalid(format!(
                                    "!GetAtt {s}: expected Resource.Attribute"
                                )));
                            }
                        },
                        other => to_json(other)?,
                    };
                    ("Fn::GetAtt".to_string(), arg)
                }
                n if FN_TAGS.contains(&n) => (format!("Fn::{n}"), to_json(*inner)?),
                other => return Err(TemplateError::UnknownTag(other.to_string())),
            };
            let mut out = Map::new();
            out.insert(key, arg);
            Value::Object(out)
        }
        Yaml::Representation(text, ..) => to_json(Yaml::Value(Scalar::parse_from_cow(text)))?,
        Yaml::Alias(_) | Yaml::BadValue => {
            return Err(TemplateError::invalid(
                "a value does not match its YAML tag (for example `!!int` on text)",
            ));
        }
    })
}
