//! Evaluation of parameters, conditions and intrinsic functions.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use serde_json::{Map, Value};

use crate::document::{Document, Resource};
use crate::error::{ResultExt, TemplateError};
use crate::model::{is_custom_resource_type, stack_id};
use crate::value::{as_bool, as_f64, as_string, as_u64};
use crate::{LoadOptions, PhysicalIds};

/// What `Ref` and `Fn::GetAtt` give for one resource.
#[derive(Debug, Clone)]
pub(crate) struct ResourceRef {
    pub kind: String,
    /// Physical name (the name property, or `<stack>-<LogicalId>`).
    pub name: String,
    pub reference: String,
    pub attributes: BTreeMap<String, String>,
    /// A custom resource not created yet: `Ref` gives a placeholder (its default name) and
    /// `Fn::GetAtt` any attribute as a placeholder, and each use is recorded.
    pub pending: bool,
}

impl ResourceRef {
    pub(crate) fn attribute(&self, id: &str, attribute: &str) -> Result<String, TemplateError> {
        self.attributes
            .get(attribute)
            .cloned()
            .ok_or_else(|| TemplateError::UnknownAttribute {
                resource: id.to_string(),
                kind: self.kind.clone(),
                attribute: attribute.to_string(),
            })
    }
}

pub(crate) struct Resolver<'a> {
    pub doc: &'a Document,
    pub opts: &'a LoadOptions,
    physical: &'a PhysicalIds,
    /// What `Ref` to each parameter gives (a string, or a list for list types).
    params: BTreeMap<String, Value>,
    /// Final parameter values as text.
    pub param_text: BTreeMap<String, String>,
    conditions: RefCell<BTreeMap<String, bool>>,
    conditions_visiting: RefCell<BTreeSet<String>>,
    refs: RefCell<BTreeMap<String, Rc<ResourceRef>>>,
    refs_visiting: RefCell<BTreeSet<String>>,
    /// Custom resources whose placeholder values were used since the last [`Resolver::take_pending`].
    pending_used: RefCell<BTreeSet<String>>,
}

impl<'a> Resolver<'a> {
    pub(crate) fn new(
        doc: &'a Document,
        opts: &'a LoadOptions,
        physical: &'a PhysicalIds,
    ) -> Result<Self, TemplateError> {
        for name in opts.parameter_overrides.keys() {
            if !doc.parameters.contains_key(name) {
                return Err(TemplateError::Parameter {
                    name: name.clone(),
                    message: "overridden but not declared in Parameters".into(),
                });
            }
        }
        let mut params = BTreeMap::new();
        let mut param_text = BTreeMap::new();
        for (name, decl) in &doc.parameters {
            let (text, value) = parameter(name, decl, opts.parameter_overrides.get(name))?;
            param_text.insert(name.clone(), text);
            params.insert(name.clone(), value);
        }
        Ok(Self {
            doc,
            opts,
            physical,
            params,
            param_text,
            conditions: RefCell::default(),
            conditions_visiting: RefCell::default(),
            refs: RefCell::default(),
            refs_visiting: RefCell::default(),
            pending_used: RefCell::default(),
        })
    }

    /// Whether a resource is created (it has no `Condition`, or a true one).
    pub(crate) fn enabled(&self, resource: &Resource) -> Result<bool, TemplateError> {
        match &resource.condition {
            None => Ok(true),
            Some(c) => self.condition(c),
        }
    }

    /// Resolves a value; `None` means `AWS::NoValue` (the caller drops the key).
    pub(crate) fn resolve(&self, v: &Value) -> Result<Option<Value>, TemplateError> {
        match v {
            Value::Object(map) => {
                if map.len() == 1
                    && let Some((key, arg)) = map.iter().next()
                {
                    if key == "Ref" {
                        let name = arg
                            .as_str()
                            .ok_or_else(|| TemplateError::invalid("Ref takes a name"))?;
                        return self.reference(name);
                    }
                    if key.starts_with("Fn::") {
                        return self.function(key, arg).at(|| key.clone());
                    }
                }
                let mut out = Map::new();
                for (k, v) in map {
                    if let Some(r) = self.resolve(v)? {
                        out.insert(k.clone(), r);
                    }
                }
                Ok(Some(Value::Object(out)))
            }
            Value::Array(items) => {
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    if let Some(r) = self.resolve(item)? {
                        out.push(r);
                    }
                }
                Ok(Some(Value::Array(out)))
            }
            other => Ok(Some(other.clone())),
        }
    }

    /// Resolves a value that must be present (`AWS::NoValue` gives `Null`).
    pub(crate) fn resolve_value(&self, v: &Value) -> Result<Value, TemplateError> {
        Ok(self.resolve(v)?.unwrap_or(Value::Null))
    }

    fn resolve_string(&self, v: &Value, what: &str) -> Result<String, TemplateError> {
        let resolved = self.resolve_value(v)?;
        as_string(&resolved).ok_or_else(|| {
            TemplateError::invalid(format!("{what} must be a string, got {resolved}"))
        })
    }

    fn resolve_list(&self, v: &Value, what: &str) -> Result<Vec<Value>, TemplateError> {
        match self.resolve_value(v)? {
            Value::Array(items) => Ok(items),
            other => Err(TemplateError::invalid(format!(
                "{what} must be a list, got {other}"
            ))),
        }
    }

    /// `Ref`: pseudo parameter, parameter or resource.
    pub(crate) fn reference(&self, name: &str) -> Result<Option<Value>, TemplateError> {
        let o = self.opts;
        let pseudo = match name {
            "AWS::NoValue" => return Ok(None),
            "AWS::StackName" => Some(o.stack_name.clone()),
            "AWS::Region" => Some(o.region.clone()),
            "AWS::AccountId" => Some(o.account_id.clone()),
            "AWS::Partition" => Some("aws".into()),
            "AWS::URLSuffix" => Some("amazonaws.com".into()),
            "AWS::StackId" => Some(stack_id(&o.region, &o.account_id, &o.stack_name)),
            "AWS::NotificationARNs" => return Ok(Some(Value::Array(Vec::new()))),
            _ => None,
        };
        if let Some(p) = pseudo {
            return Ok(Some(Value::String(p)));
        }
        if let Some(v) = self.params.get(name) {
            return Ok(Some(v.clone()));
        }
        if self.doc.resources.contains_key(name) {
            let rref = self.resource_ref(name)?;
            if rref.pending {
                self.pending_used.borrow_mut().insert(name.to_string());
            }
            return Ok(Some(Value::String(rref.reference.clone())));
        }
        Err(TemplateError::UnknownRef(name.to_string()))
    }

    pub(crate) fn get_att(&self, id: &str, attribute: &str) -> Result<String, TemplateError> {
        if !self.doc.resources.contains_key(id) {
            return Err(TemplateError::invalid(format!(
                "Fn::GetAtt names `{id}`, which is not a resource"
            )));
        }
        let rref = self.resource_ref(id)?;
        if rref.pending {
            self.pending_used.borrow_mut().insert(id.to_string());
            return Ok(format!("{}.{attribute}", rref.reference));
        }
        rref.attribute(id, attribute)
    }

    /// The custom resources whose placeholder values were used since the last call: what
    /// was just resolved needs their results, which only exist once they are created.
    pub(crate) fn take_pending(&self) -> BTreeSet<String> {
        std::mem::take(&mut *self.pending_used.borrow_mut())
    }

    pub(crate) fn condition(&self, name: &str) -> Result<bool, TemplateError> {
        if let Some(v) = self.conditions.borrow().get(name) {
            return Ok(*v);
        }
        let definition = self
            .doc
            .conditions
            .get(name)
            .ok_or_else(|| TemplateError::invalid(format!("unknown condition `{name}`")))?;
        if !self
            .conditions_visiting
            .borrow_mut()
            .insert(name.to_string())
        {
            return Err(TemplateError::invalid(format!(
                "condition `{name}` depends on itself"
            )));
        }
        let result = self
            .eval_condition(definition)
            .at(|| format!("condition `{name}`"));
        self.conditions_visiting.borrow_mut().remove(name);
        let value = result?;
        self.conditions.borrow_mut().insert(name.to_string(), value);
        Ok(value)
    }

    /// Evaluates `Fn::Equals`, `Fn::Not`, `Fn::And`, `Fn::Or` and `Condition`.
    pub(crate) fn eval_condition(&self, v: &Value) -> Result<bool, TemplateError> {
        if let Some(b) = as_bool(v) {
            return Ok(b);
        }
        let Some((key, arg)) = v
            .as_object()
            .filter(|m| m.len() == 1)
            .and_then(|m| m.iter().next())
        else {
            return Err(TemplateError::invalid(format!(
                "expected a condition (Fn::Equals, Fn::Not, Fn::And, Fn::Or, Condition), got {v}"
            )));
        };
        let operands = || -> Result<&Vec<Value>, TemplateError> {
            arg.as_array()
                .ok_or_else(|| TemplateError::invalid(format!("{key} takes a list")))
        };
        match key.as_str() {
            "Condition" => {
                let name = arg
                    .as_str()
                    .ok_or_else(|| TemplateError::invalid("Condition takes a condition name"))?;
                self.condition(name)
            }
            "Fn::Equals" => {
                let ops = operands()?;
                let [a, b] = ops.as_slice() else {
                    return Err(TemplateError::invalid("Fn::Equals takes two values"));
                };
                let a = self.resolve_value(a)?;
                let b = self.resolve_value(b)?;
                Ok(match (as_string(&a), as_string(&b)) {
                    (Some(a), Some(b)) => a == b,
                    _ => a == b,
                })
            }
            "Fn::Not" => {
                let ops = operands()?;
                let [c] = ops.as_slice() else {
                    return Err(TemplateError::invalid("Fn::Not takes one condition"));
                };
                Ok(!self.eval_condition(c)?)
            }
            "Fn::And" => {
                let mut all = true;
                for c in operands()? {
                    all &= self.eval_condition(c)?;
                }
                Ok(all)
            }
            "Fn::Or" => {
                let mut any = false;
                for c in operands()? {
                    any |= self.eval_condition(c)?;
                }
                Ok(any)
            }
            other => Err(TemplateError::invalid(format!(
                "{other} cannot be used as a condition"
            ))),
        }
    }

    fn function(&self, name: &str, arg: &Value) -> Result<Option<Value>, TemplateError> {
        let args = |n: usize| -> Result<&[Value], TemplateError> {
            match arg.as_array() {
                Some(a) if a.len() == n => Ok(a.as_slice()),
                _ => Err(TemplateError::invalid(format!(
                    "{name} takes a list of {n}"
                ))),
            }
        };
        let string = |s: String| Ok(Some(Value::String(s)));
        match name {
            "Fn::Sub" => string(self.sub(arg)?),
            "Fn::GetAtt" => {
                let (id, attribute) = match arg {
                    Value::String(s) => s
                        .split_once('.')
                        .map(|(a, b)| (a.to_string(), b.to_string()))
                        .ok_or_else(|| TemplateError::invalid("expected Resource.Attribute"))?,
                    _ => {
                        let a = args(2)?;
                        (
                            self.resolve_string(&a[0], "the resource")?,
                            self.resolve_string(&a[1], "the attribute")?,
                        )
                    }
                };
                string(self.get_att(&id, &attribute)?)
            }
            "Fn::Join" => {
                let a = args(2)?;
                let delimiter = self.resolve_string(&a[0], "the delimiter")?;
                let parts = self
                    .resolve_list(&a[1], "the values")?
                    .iter()
                    .map(|p| {
                        as_string(p).ok_or_else(|| {
                            TemplateError::invalid(format!("cannot join {p}: not a string"))
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                string(parts.join(&delimiter))
            }
            "Fn::Select" => {
                let a = args(2)?;
                let index = self.resolve_value(&a[0])?;
                let index = as_u64(&index)
                    .ok_or_else(|| TemplateError::invalid(format!("bad index {index}")))?;
                let list = self.resolve_list(&a[1], "the list")?;
                let len = list.len();
                usize::try_from(index)
                    .ok()
                    .and_then(|i| list.into_iter().nth(i))
                    .map(Some)
                    .ok_or_else(|| {
                        TemplateError::invalid(format!("index {index} is out of a list of {len}"))
                    })
            }
            "Fn::Split" => {
                let a = args(2)?;
                let delimiter = self.resolve_string(&a[0], "the delimiter")?;
                let source = self.resolve_string(&a[1], "the source string")?;
                if delimiter.is_empty() {
                    return Err(TemplateError::invalid("the delimiter is empty"));
                }
                Ok(Some(Value::Array(
                    source.split(&delimiter).map(Value::from).collect(),
                )))
            }
            "Fn::If" => {
                let a = args(3)?;
                let condition = a[0].as_str().ok_or_else(|| {
                    TemplateError::invalid("the first item must be a condition name")
                })?;
                if self.condition(condition)? {
                    self.resolve(&a[1])
                } else {
                    self.resolve(&a[2])
                }
            }
            "Fn::Equals" | "Fn::Not" | "Fn::And" | "Fn::Or" => {
                let mut map = Map::new();
                map.insert(name.to_string(), arg.clone());
                Ok(Some(Value::Bool(self.eval_condition(&Value::Object(map))?)))
            }
            "Fn::FindInMap" => {
                let a = match arg.as_array() {
                    Some(a) if a.len() == 3 || a.len() == 4 => a,
                    _ => return Err(TemplateError::invalid("Fn::FindInMap takes a list of 3")),
                };
                let map = self.resolve_string(&a[0], "the map name")?;
                let top = self.resolve_string(&a[1], "the top-level key")?;
                let second = self.resolve_string(&a[2], "the second-level key")?;
                let found = self
                    .doc
                    .mappings
                    .get(&map)
                    .and_then(|m| m.get(&top))
                    .and_then(|m| m.get(&second));
                match (found, a.get(3)) {
                    (Some(v), _) => self.resolve(v),
                    (None, Some(default)) => {
                        let default = self.resolve_value(default)?;
                        default
                            .get("DefaultValue")
                            .cloned()
                            .map(Some)
                            .ok_or_else(|| {
                                TemplateError::invalid(format!(
                                    "no {map}.{top}.{second} in Mappings"
                                ))
                            })
                    }
                    (None, None) => Err(TemplateError::invalid(format!(
                        "no {map}.{top}.{second} in Mappings"
                    ))),
                }
            }
            "Fn::GetAZs" => {
                let region = self.resolve_string(arg, "the region")?;
                let region = if region.is_empty() {
                    self.opts.region.clone()
                } else {
                    region
                };
                Ok(Some(Value::Array(
                    ["a", "b", "c"]
                        .iter()
                        .map(|z| Value::String(format!("{region}{z}")))
                        .collect(),
                )))
            }
            "Fn::Base64" => string(base64(
                self.resolve_string(arg, "the value to encode")?.as_bytes(),
            )),
            "Fn::ToJsonString" => string(self.resolve_value(arg)?.to_string()),
            "Fn::Length" => Ok(Some(Value::from(
                self.resolve_list(arg, "the value")?.len(),
            ))),
            "Fn::ImportValue" => Err(TemplateError::Unsupported(
                "Fn::ImportValue (no other stacks export values locally)".into(),
            )),
            other => Err(TemplateError::Unsupported(other.to_string())),
        }
    }

    /// `Fn::Sub` in both forms: `"text"` and `["text", {vars}]`.
    fn sub(&self, arg: &Value) -> Result<String, TemplateError> {
        let (text, vars) = match arg {
            Value::String(s) => (s.as_str(), BTreeMap::new()),
            Value::Array(a) => {
                let [text, vars] = a.as_slice() else {
                    return Err(TemplateError::invalid(
                        "Fn::Sub takes a string or [string, {vars}]",
                    ));
                };
                let text = text.as_str().ok_or_else(|| {
                    TemplateError::invalid("Fn::Sub: the first item must be a string")
                })?;
                let vars = vars.as_object().ok_or_else(|| {
                    TemplateError::invalid("Fn::Sub: the second item must be a mapping")
                })?;
                let mut resolved = BTreeMap::new();
                for (k, v) in vars {
                    resolved.insert(
                        k.clone(),
                        self.resolve_string(v, &format!("variable `{k}`"))?,
                    );
                }
                (text, resolved)
            }
            _ => {
                return Err(TemplateError::invalid(
                    "Fn::Sub takes a string or [string, {vars}]",
                ));
            }
        };
        let mut out = String::with_capacity(text.len());
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                out.push_str(&rest[start..]);
                rest = "";
                break;
            };
            let name = &after[..end];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            } else {
                let name = name.trim();
                out.push_str(&self.sub_variable(name, &vars)?);
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    fn sub_variable(
        &self,
        name: &str,
        vars: &BTreeMap<String, String>,
    ) -> Result<String, TemplateError> {
        if let Some(v) = vars.get(name) {
            return Ok(v.clone());
        }
        if !name.starts_with("AWS::")
            && let Some((id, attribute)) = name.split_once('.')
        {
            return self.get_att(id, attribute);
        }
        match self.reference(name)? {
            Some(v) => as_string(&v).ok_or_else(|| {
                TemplateError::invalid(format!("${{{name}}} is a list, not a string"))
            }),
            None => Ok(String::new()),
        }
    }

    /// `Ref` and `Fn::GetAtt` values of one resource, computed once.
    pub(crate) fn resource_ref(&self, id: &str) -> Result<Rc<ResourceRef>, TemplateError> {
        let cached = self.refs.borrow().get(id).cloned();
        if let Some(r) = cached {
            return Ok(r);
        }
        let resource = self
            .doc
            .resources
            .get(id)
            .ok_or_else(|| TemplateError::UnknownRef(id.to_string()))?;
        if !self.enabled(resource)? {
            return Err(TemplateError::invalid(format!(
                "resource `{id}` is referenced but not created (its condition `{}` is false)",
                resource.condition.as_deref().unwrap_or_default()
            )));
        }
        if !self.refs_visiting.borrow_mut().insert(id.to_string()) {
            return Err(TemplateError::invalid(format!(
                "the name of resource `{id}` depends on itself"
            )));
        }
        let computed = self.compute_ref(id, resource);
        self.refs_visiting.borrow_mut().remove(id);
        let computed = Rc::new(computed.at(|| format!("resource `{id}`"))?);
        self.refs
            .borrow_mut()
            .insert(id.to_string(), computed.clone());
        Ok(computed)
    }

    fn compute_ref(&self, id: &str, resource: &Resource) -> Result<ResourceRef, TemplateError> {
        let LoadOptions {
            stack_name,
            region,
            account_id: account,
            sqs_endpoint,
            ..
        } = self.opts;
        let props = &resource.properties;
        let property = |key: &str| -> Result<Option<String>, TemplateError> {
            match props.get(key) {
                None => Ok(None),
                Some(v) => match self.resolve(v)? {
                    None | Some(Value::Null) => Ok(None),
                    Some(v) => as_string(&v).map(Some).ok_or_else(|| {
                        TemplateError::invalid(format!("{key} must be a string, got {v}"))
                    }),
                },
            }
        };
        let flag = |key: &str| -> Result<bool, TemplateError> {
            Ok(property(key)?.is_some_and(|v| v.eq_ignore_ascii_case("true")))
        };
        let default_name = format!("{stack_name}-{id}");
        let named = |key: &str| -> Result<String, TemplateError> {
            Ok(property(key)?.unwrap_or_else(|| default_name.clone()))
        };
        let fifo = |name: String| {
            if name.ends_with(".fifo") {
                name
            } else {
                format!("{name}.fifo")
            }
        };
        let mut attributes = BTreeMap::new();
        let mut attr = |k: &str, v: &str| {
            attributes.insert(k.to_string(), v.to_string());
        };
        let kind = resource.kind.as_str();
        let (name, reference) = match kind {
            "AWS::Serverless::Function" | "AWS::Lambda::Function" => {
                let name = named("FunctionName")?;
                attr(
                    "Arn",
                    &format!("arn:aws:lambda:{region}:{account}:function:{name}"),
                );
                (name.clone(), name)
            }
            "AWS::DynamoDB::Table" | "AWS::Serverless::SimpleTable" => {
                let name = named("TableName")?;
                let arn = format!("arn:aws:dynamodb:{region}:{account}:table/{name}");
                attr(
                    "StreamArn",
                    &format!("{arn}/stream/1970-01-01T00:00:00.000"),
                );
                attr("Arn", &arn);
                (name.clone(), name)
            }
            "AWS::SNS::Topic" => {
                let mut name = named("TopicName")?;
                if flag("FifoTopic")? && property("TopicName")?.is_none() {
                    name = fifo(name);
                }
                let arn = format!("arn:aws:sns:{region}:{account}:{name}");
                attr("TopicArn", &arn);
                attr("TopicName", &name);
                (name, arn)
            }
            "AWS::SQS::Queue" => {
                let mut name = named("QueueName")?;
                if flag("FifoQueue")? && property("QueueName")?.is_none() {
                    name = fifo(name);
                }
                let url = format!("{}/{account}/{name}", sqs_endpoint.trim_end_matches('/'));
                attr("Arn", &format!("arn:aws:sqs:{region}:{account}:{name}"));
                attr("QueueName", &name);
                attr("QueueUrl", &url);
                (name, url)
            }
            "AWS::SecretsManager::Secret" => {
                let name = named("Name")?;
                let arn = format!("arn:aws:secretsmanager:{region}:{account}:secret:{name}");
                attr("Id", &arn);
                (name, arn)
            }
            // The identity itself is the name and the `Ref`; SES gives it no ARN attribute.
            "AWS::SES::EmailIdentity" => {
                let name = property("EmailIdentity")?
                    .ok_or_else(|| TemplateError::invalid("has no EmailIdentity"))?;
                (name.clone(), name)
            }
            "AWS::Serverless::StateMachine" | "AWS::StepFunctions::StateMachine" => {
                let key = if kind == "AWS::Serverless::StateMachine" {
                    "Name"
                } else {
                    "StateMachineName"
                };
                let name = named(key)?;
                let arn = format!("arn:aws:states:{region}:{account}:stateMachine:{name}");
                attr("Arn", &arn);
                attr("Name", &name);
                (name, arn)
            }
            "AWS::Serverless::HttpApi" | "AWS::ApiGatewayV2::Api" => {
                let api_id = api_id(id);
                attr("ApiId", &api_id);
                attr(
                    "ApiEndpoint",
                    &format!("https://{api_id}.execute-api.{region}.amazonaws.com"),
                );
                (property("Name")?.unwrap_or(default_name), api_id)
            }
            "AWS::IAM::Role" => {
                let name = named("RoleName")?;
                attr("Arn", &format!("arn:aws:iam::{account}:role/{name}"));
                attr("RoleId", &format!("AROA{}", api_id(&name).to_uppercase()));
                (name.clone(), name)
            }
            "AWS::Logs::LogGroup" => {
                let name = named("LogGroupName")?;
                attr(
                    "Arn",
                    &format!("arn:aws:logs:{region}:{account}:log-group:{name}:*"),
                );
                (name.clone(), name)
            }
            // A custom resource's function decides its physical id and attributes.
            _ => (default_name.clone(), default_name),
        };
        let pending = is_custom_resource_type(kind) && !self.physical.contains_key(id);
        let mut reference = reference;
        if let Some(p) = self.physical.get(id) {
            reference = p.reference.clone();
            for (k, v) in &p.attributes {
                attributes.insert(k.clone(), v.clone());
            }
        }
        Ok(ResourceRef {
            kind: kind.to_string(),
            name,
            reference,
            attributes,
            pending,
        })
    }
}

/// Final value of one parameter: its text, and what `Ref` gives.
fn parameter(
    name: &str,
    decl: &Value,
    given: Option<&String>,
) -> Result<(String, Value), TemplateError> {
    let err = |message: String| TemplateError::Parameter {
        name: name.to_string(),
        message,
    };
    let kind = decl.get("Type").and_then(Value::as_str).unwrap_or("String");
    let text = match (given, decl.get("Default")) {
        (Some(v), _) => v.clone(),
        (None, Some(Value::Array(items))) => items
            .iter()
            .map(|i| as_string(i).unwrap_or_default())
            .collect::<Vec<_>>()
            .join(","),
        (None, Some(d)) => {
            as_string(d).ok_or_else(|| err(format!("Default must be a scalar, got {d}")))?
        }
        (None, None) if kind.starts_with("AWS::SSM::Parameter::Value") => {
            return Err(TemplateError::Unsupported(format!(
                "parameter `{name}` of type {kind} without an override (SSM Parameter Store)"
            )));
        }
        (None, None) => return Err(err("no value: give a Default or an override".into())),
    };
    let is_list = kind == "CommaDelimitedList" || kind.starts_with("List<");
    let items: Vec<String> = if is_list {
        text.split(',').map(str::to_string).collect()
    } else {
        vec![text.clone()]
    };
    if kind == "Number" || kind == "List<Number>" {
        for item in &items {
            let n = item
                .trim()
                .parse::<f64>()
                .map_err(|_| err(format!("`{item}` is not a number")))?;
            if let Some(min) = decl.get("MinValue").and_then(as_f64)
                && n < min
            {
                return Err(err(format!("{n} is below MinValue {min}")));
            }
            if let Some(max) = decl.get("MaxValue").and_then(as_f64)
                && n > max
            {
                return Err(err(format!("{n} is above MaxValue {max}")));
            }
        }
    }
    if kind == "String" {
        let len = text.chars().count() as u64;
        if let Some(min) = decl.get("MinLength").and_then(as_u64)
            && len < min
        {
            return Err(err(format!("`{text}` is shorter than MinLength {min}")));
        }
        if let Some(max) = decl.get("MaxLength").and_then(as_u64)
            && len > max
        {
            return Err(err(format!("`{text}` is longer than MaxLength {max}")));
        }
    }
    if let Some(allowed) = decl.get("AllowedValues").and_then(Value::as_array) {
        let allowed: Vec<String> = allowed.iter().filter_map(as_string).collect();
        for item in &items {
            if !allowed.contains(item) {
                return Err(err(format!(
                    "`{item}` is not one of the AllowedValues {}",
                    allowed.join(", ")
                )));
            }
        }
    }
    let value = if is_list {
        Value::Array(items.into_iter().map(Value::String).collect())
    } else {
        Value::String(text.clone())
    };
    Ok((text, value))
}

/// A stable, API-Gateway-shaped id: 10 lowercase base-36 characters.
pub(crate) fn api_id(seed: &str) -> String {
    // FNV-1a: stable across runs and platforms, unlike the std hasher.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in seed.bytes() {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    (0..10)
        .map(|_| {
            let d = DIGITS[(hash % 36) as usize];
            hash /= 36;
            char::from(d)
        })
        .collect()
}

/// Standard base64 with padding.
pub(crate) fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}
