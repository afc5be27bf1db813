//! The validated model of a state machine definition.

use std::collections::{BTreeSet, HashMap};

use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::choice::{self, Rule};
use crate::error::{DefinitionError, names};
use crate::intrinsic::Intrinsic;
use crate::jsonata::Jv;
use crate::path::JsonPath;
use crate::template::Template;

/// A parsed and validated state machine (or a Parallel branch / Map item processor).
#[derive(Debug, Clone)]
pub struct StateMachine {
    pub(crate) comment: Option<String>,
    pub(crate) start: usize,
    pub(crate) states: Vec<State>,
    pub(crate) timeout_seconds: Option<f64>,
    index: HashMap<String, usize>,
    /// The variables the states of this scope assign (in `Assign`, Choice rules and
    /// Catchers), for the rule that inner scopes must not reuse their names.
    assigned: BTreeSet<String>,
}

/// One state of a machine.
#[derive(Debug, Clone)]
pub struct State {
    pub(crate) name: String,
    pub(crate) kind: StateKind,
    pub(crate) language: Language,
    /// `Assign`: the variables the state sets when it ends (not on a caught error).
    pub(crate) assign: Option<Assign>,
    /// `Output` (JSONata states).
    pub(crate) output: Option<Jv>,
    /// `Arguments` (JSONata Task and Parallel states).
    pub(crate) arguments: Option<Jv>,
    pub(crate) input_path: Option<JsonPath>,
    pub(crate) output_path: Option<JsonPath>,
    pub(crate) result_path: Option<JsonPath>,
    pub(crate) parameters: Option<Template>,
    pub(crate) result_selector: Option<Template>,
    /// The next state, or `None` for `"End": true` (and for Choice/Succeed/Fail).
    pub(crate) next: Option<usize>,
    pub(crate) retry: Vec<Retrier>,
    pub(crate) catch: Vec<Catcher>,
}

#[derive(Debug, Clone)]
pub(crate) enum StateKind {
    Pass {
        result: Option<Value>,
    },
    Task(TaskSpec),
    Choice {
        choices: Vec<ChoiceRule>,
        default: Option<usize>,
    },
    Wait(WaitSpec),
    Succeed,
    Fail {
        error: Option<Dynamic>,
        cause: Option<Dynamic>,
    },
    Parallel {
        branches: Vec<StateMachine>,
    },
    Map(Box<MapSpec>),
}

/// The query language of a state: `QueryLanguage`, the state's own or the machine's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Language {
    JsonPath,
    Jsonata,
}

/// `Assign`: payload-template rules (`.$` keys) in a JSONPath state, `{% %}` expressions in
/// a JSONata state.
#[derive(Debug, Clone)]
pub(crate) enum Assign {
    Path(Template),
    Jsonata(Jv),
}

/// One rule of a Choice state with where it leads and what it assigns and outputs.
#[derive(Debug, Clone)]
pub(crate) struct ChoiceRule {
    pub(crate) test: ChoiceTest,
    pub(crate) next: usize,
    pub(crate) assign: Option<Assign>,
    /// `Output` (JSONata).
    pub(crate) output: Option<Jv>,
}

/// A JSONPath rule (`Variable` and a comparison) or a JSONata `Condition`.
#[derive(Debug, Clone)]
pub(crate) enum ChoiceTest {
    Rule(Rule),
    Condition(Jv),
}

/// A string taken literally, from a path, from an intrinsic function, or from a JSONata
/// expression.
#[derive(Debug, Clone)]
pub(crate) enum Dynamic {
    Literal(String),
    Path(JsonPath),
    Intrinsic(Intrinsic),
    Expr(String),
}

/// A number written in the definition, read from the input with a `...Path` field, or the
/// result of a JSONata expression.
#[derive(Debug, Clone)]
pub(crate) enum Number {
    Fixed(f64),
    Path(JsonPath),
    Expr(String),
}

#[derive(Debug, Clone)]
pub(crate) struct TaskSpec {
    pub(crate) resource: String,
    pub(crate) timeout: Option<Number>,
    pub(crate) heartbeat: Option<Number>,
}

#[derive(Debug, Clone)]
pub(crate) enum WaitSpec {
    Seconds(f64),
    Timestamp(OffsetDateTime),
    SecondsPath(JsonPath),
    TimestampPath(JsonPath),
    SecondsExpr(String),
    TimestampExpr(String),
}

#[derive(Debug, Clone)]
pub(crate) struct MapSpec {
    pub(crate) items_path: JsonPath,
    pub(crate) item_selector: Option<Template>,
    /// `Items` (JSONata): the array to iterate; the state input when absent.
    pub(crate) items: Option<Jv>,
    /// `ItemSelector` (JSONata).
    pub(crate) selector: Option<Jv>,
    pub(crate) processor: StateMachine,
    pub(crate) max_concurrency: Number,
    pub(crate) tolerated_count: Option<Number>,
    pub(crate) tolerated_percentage: Option<Number>,
}

#[derive(Debug, Clone)]
pub(crate) struct Retrier {
    pub(crate) error_equals: Vec<String>,
    pub(crate) interval_seconds: f64,
    pub(crate) max_attempts: u32,
    pub(crate) backoff_rate: f64,
    pub(crate) max_delay_seconds: Option<f64>,
    pub(crate) full_jitter: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct Catcher {
    pub(crate) error_equals: Vec<String>,
    pub(crate) next: usize,
    pub(crate) result_path: Option<JsonPath>,
    pub(crate) assign: Option<Assign>,
    /// `Output` (JSONata): the state's output; the error output when absent.
    pub(crate) output: Option<Jv>,
}

impl StateMachine {
    /// Parses and validates a definition (the JSON of a `DefinitionString`).
    pub fn parse(definition: &Value) -> Result<Self, DefinitionError> {
        let map = definition
            .as_object()
            .ok_or_else(|| DefinitionError::new("/", "a definition must be a JSON object"))?;
        let language = match map.get("QueryLanguage") {
            None => Language::JsonPath,
            Some(v) => language(v, "/QueryLanguage")?,
        };
        for key in map.keys() {
            if !matches!(
                key.as_str(),
                "StartAt" | "States" | "Comment" | "Version" | "TimeoutSeconds" | "QueryLanguage"
            ) {
                return Err(DefinitionError::new(
                    format!("/{key}"),
                    "unknown top-level field",
                ));
            }
        }
        let mut machine = Self::parse_states(map, "", language)?;
        if let Some(t) = map.get("TimeoutSeconds") {
            machine.timeout_seconds = Some(positive_integer(t, "/TimeoutSeconds")?);
        }
        machine.check_scopes(&BTreeSet::new(), "")?;
        Ok(machine)
    }

    /// A variable assigned in a Parallel branch or a Map iteration must not have the name of
    /// one assigned in an enclosing scope.
    fn check_scopes(
        &self,
        outer: &BTreeSet<String>,
        location: &str,
    ) -> Result<(), DefinitionError> {
        if let Some(name) = self.assigned.intersection(outer).next() {
            return Err(DefinitionError::new(
                location,
                format!(
                    "the variable '{name}' is assigned in an outer scope: a Parallel branch or Map iteration may read it but not assign it"
                ),
            ));
        }
        let visible: BTreeSet<String> = outer.union(&self.assigned).cloned().collect();
        for state in &self.states {
            let here = format!("{location}/States/{}", state.name);
            match &state.kind {
                StateKind::Parallel { branches } => {
                    for (i, branch) in branches.iter().enumerate() {
                        branch.check_scopes(&visible, &format!("{here}/Branches/{i}"))?;
                    }
                }
                StateKind::Map(spec) => {
                    spec.processor
                        .check_scopes(&visible, &format!("{here}/ItemProcessor"))?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn parse_states(
        map: &Map<String, Value>,
        location: &str,
        top: Language,
    ) -> Result<Self, DefinitionError> {
        let start_at = map.get("StartAt").and_then(Value::as_str).ok_or_else(|| {
            DefinitionError::new(
                format!("{location}/StartAt"),
                "a 'StartAt' string is required",
            )
        })?;
        let states = map
            .get("States")
            .and_then(Value::as_object)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                DefinitionError::new(
                    format!("{location}/States"),
                    "a non-empty 'States' object is required",
                )
            })?;
        let index: HashMap<String, usize> = states
            .keys()
            .enumerate()
            .map(|(i, k)| (k.clone(), i))
            .collect();
        let start = *index.get(start_at).ok_or_else(|| {
            DefinitionError::new(
                format!("{location}/StartAt"),
                format!("'StartAt' names a missing state '{start_at}'"),
            )
        })?;
        let mut assigned = BTreeSet::new();
        let parsed = states
            .iter()
            .map(|(name, v)| {
                parse_state(
                    name,
                    v,
                    &format!("{location}/States/{name}"),
                    &index,
                    top,
                    &mut assigned,
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            comment: map
                .get("Comment")
                .and_then(Value::as_str)
                .map(str::to_owned),
            start,
            states: parsed,
            timeout_seconds: None,
            index,
            assigned,
        })
    }

    /// The name of the first state.
    pub fn start_at(&self) -> &str {
        &self.states[self.start].name
    }

    /// The definition's `Comment`, if any.
    pub fn comment(&self) -> Option<&str> {
        self.comment.as_deref()
    }

    /// The machine-level `TimeoutSeconds`, if any.
    pub fn timeout_seconds(&self) -> Option<f64> {
        self.timeout_seconds
    }

    /// The names of the top-level states.
    pub fn state_names(&self) -> impl Iterator<Item = &str> {
        self.states.iter().map(|s| s.name.as_str())
    }

    /// The `Type` of a top-level state, by name.
    pub fn state_type(&self, name: &str) -> Option<&'static str> {
        self.index
            .get(name)
            .and_then(|i| self.states.get(*i))
            .map(State::type_name)
    }
}

impl State {
    /// The state's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The state's `Type`.
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            StateKind::Pass { .. } => "Pass",
            StateKind::Task(_) => "Task",
            StateKind::Choice { .. } => "Choice",
            StateKind::Wait(_) => "Wait",
            StateKind::Succeed => "Succeed",
            StateKind::Fail { .. } => "Fail",
            StateKind::Parallel { .. } => "Parallel",
            StateKind::Map(_) => "Map",
        }
    }
}

const COMMON: &[&str] = &["Type", "Comment", "QueryLanguage"];
const FLOW: &[&str] = &["Next", "End"];
const IO: &[&str] = &["InputPath", "OutputPath"];
const RESULT: &[&str] = &["ResultPath", "Parameters"];
const ERRORS: &[&str] = &["Retry", "Catch", "ResultSelector"];
const ASSIGN: &[&str] = &["Assign"];
const DISTRIBUTED: &[&str] = &["ItemReader", "ItemBatcher", "ResultWriter"];

fn allowed(kind: &str, language: Language) -> Option<Vec<&'static str>> {
    let mut fields: Vec<&'static str> = COMMON.to_vec();
    let extra: &[&[&'static str]] = match (language, kind) {
        (Language::JsonPath, "Pass") => &[FLOW, IO, RESULT, ASSIGN, &["Result"]],
        (Language::JsonPath, "Task") => &[
            FLOW,
            IO,
            RESULT,
            ERRORS,
            ASSIGN,
            &[
                "Resource",
                "TimeoutSeconds",
                "TimeoutSecondsPath",
                "HeartbeatSeconds",
                "HeartbeatSecondsPath",
                "Credentials",
            ],
        ],
        (Language::JsonPath, "Choice") => &[IO, ASSIGN, &["Choices", "Default"]],
        (Language::JsonPath, "Wait") => &[
            FLOW,
            IO,
            ASSIGN,
            &["Seconds", "Timestamp", "SecondsPath", "TimestampPath"],
        ],
        (Language::JsonPath, "Succeed") => &[IO],
        (Language::JsonPath, "Fail") => &[&["Error", "ErrorPath", "Cause", "CausePath"]],
        (Language::JsonPath, "Parallel") => &[FLOW, IO, RESULT, ERRORS, ASSIGN, &["Branches"]],
        (Language::JsonPath, "Map") => &[
            FLOW,
            IO,
            RESULT,
            ERRORS,
            ASSIGN,
            DISTRIBUTED,
            &[
                "ItemsPath",
                "ItemSelector",
                "ItemProcessor",
                "Iterator",
                "MaxConcurrency",
                "MaxConcurrencyPath",
                "ToleratedFailureCount",
                "ToleratedFailureCountPath",
                "ToleratedFailurePercentage",
                "ToleratedFailurePercentagePath",
                "Label",
            ],
        ],
        (Language::Jsonata, "Pass") => &[FLOW, ASSIGN, &["Output"]],
        (Language::Jsonata, "Task") => &[
            FLOW,
            ASSIGN,
            &[
                "Output",
                "Arguments",
                "Resource",
                "TimeoutSeconds",
                "HeartbeatSeconds",
                "Credentials",
                "Retry",
                "Catch",
            ],
        ],
        (Language::Jsonata, "Choice") => &[ASSIGN, &["Choices", "Default", "Output"]],
        (Language::Jsonata, "Wait") => &[FLOW, ASSIGN, &["Seconds", "Timestamp", "Output"]],
        (Language::Jsonata, "Succeed") => &[&["Output"]],
        (Language::Jsonata, "Fail") => &[&["Error", "Cause"]],
        (Language::Jsonata, "Parallel") => &[
            FLOW,
            ASSIGN,
            &["Branches", "Arguments", "Output", "Retry", "Catch"],
        ],
        (Language::Jsonata, "Map") => &[
            FLOW,
            ASSIGN,
            DISTRIBUTED,
            &[
                "Items",
                "ItemSelector",
                "ItemProcessor",
                "Iterator",
                "MaxConcurrency",
                "ToleratedFailureCount",
                "ToleratedFailurePercentage",
                "Label",
                "Output",
                "Retry",
                "Catch",
            ],
        ],
        _ => return None,
    };
    for group in extra {
        fields.extend_from_slice(group);
    }
    Some(fields)
}

/// `"JSONPath"` or `"JSONata"`.
fn language(v: &Value, location: &str) -> Result<Language, DefinitionError> {
    match v.as_str() {
        Some("JSONPath") => Ok(Language::JsonPath),
        Some("JSONata") => Ok(Language::Jsonata),
        _ => Err(DefinitionError::new(
            location,
            "'QueryLanguage' must be 'JSONPath' or 'JSONata'",
        )),
    }
}

fn language_name(language: Language) -> &'static str {
    match language {
        Language::JsonPath => "JSONPath",
        Language::Jsonata => "JSONata",
    }
}

/// Whether a variable name is one a state may assign: an identifier of at most 80
/// characters, and not `states`.
fn variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_alphabetic() || c == '_');
    first_ok
        && chars.all(|c| c.is_alphanumeric() || c == '_')
        && name.chars().count() <= 80
        && name != "states"
}

/// `Assign`, recording the names it assigns in `assigned`.
fn parse_assign(
    value: &Value,
    language: Language,
    location: &str,
    assigned: &mut BTreeSet<String>,
) -> Result<Assign, DefinitionError> {
    let here = format!("{location}/Assign");
    let map = value
        .as_object()
        .ok_or_else(|| DefinitionError::new(&here, "'Assign' must be a JSON object"))?;
    for key in map.keys() {
        let name = match language {
            Language::JsonPath => key.strip_suffix(".$").unwrap_or(key),
            Language::Jsonata => key.as_str(),
        };
        if !variable_name(name) {
            return Err(DefinitionError::new(
                format!("{here}/{key}"),
                "a variable name must be an identifier of at most 80 characters (letters, digits and '_', not starting with a digit), other than 'states'",
            ));
        }
        assigned.insert(name.to_owned());
    }
    match language {
        Language::JsonPath => Template::parse(value, &here)
            .map(Assign::Path)
            .map_err(|(l, m)| DefinitionError::new(l, m)),
        Language::Jsonata => Jv::parse(value, &here)
            .map(Assign::Jsonata)
            .map_err(|(l, m)| DefinitionError::new(l, m)),
    }
}

fn jv_field(
    map: &Map<String, Value>,
    key: &str,
    location: &str,
) -> Result<Option<Jv>, DefinitionError> {
    map.get(key)
        .map(|v| {
            Jv::parse(v, &format!("{location}/{key}")).map_err(|(l, m)| DefinitionError::new(l, m))
        })
        .transpose()
}

/// A JSONata state's number field: a number, or a `{% %}` expression.
fn jsonata_number(
    map: &Map<String, Value>,
    key: &str,
    location: &str,
    parse: fn(&Value, &str) -> Result<f64, DefinitionError>,
) -> Result<Option<Number>, DefinitionError> {
    let here = format!("{location}/{key}");
    match map.get(key) {
        None => Ok(None),
        Some(v @ Value::String(_)) => {
            match Jv::parse(v, &here).map_err(|(l, m)| DefinitionError::new(l, m))? {
                Jv::Expr(expr) => Ok(Some(Number::Expr(expr))),
                _ => Err(DefinitionError::new(
                    here,
                    "must be a number or a JSONata expression",
                )),
            }
        }
        Some(v) => Ok(Some(Number::Fixed(parse(v, &here)?))),
    }
}

/// A JSONata state's string field (`Error`, `Cause`): a string, or a `{% %}` expression.
fn jsonata_string(
    map: &Map<String, Value>,
    key: &str,
    location: &str,
) -> Result<Option<Dynamic>, DefinitionError> {
    let here = format!("{location}/{key}");
    match map.get(key) {
        None => Ok(None),
        Some(v @ Value::String(text)) => {
            match Jv::parse(v, &here).map_err(|(l, m)| DefinitionError::new(l, m))? {
                Jv::Expr(expr) => Ok(Some(Dynamic::Expr(expr))),
                _ => Ok(Some(Dynamic::Literal(text.clone()))),
            }
        }
        Some(_) => Err(DefinitionError::new(here, "must be a string")),
    }
}

/// `$states.result` and `$states.errorOutput` only where Step Functions provides them.
fn check_states_use(
    jv: Option<&Jv>,
    location: &str,
    result: bool,
    error_output: bool,
) -> Result<(), DefinitionError> {
    let Some(jv) = jv else {
        return Ok(());
    };
    if !result && jv.mentions("$states.result") {
        return Err(DefinitionError::new(
            location,
            "'$states.result' is only available in the Output and Assign of Task, Parallel and Map states",
        ));
    }
    if !error_output && jv.mentions("$states.errorOutput") {
        return Err(DefinitionError::new(
            location,
            "'$states.errorOutput' is only available in the Output and Assign of a Catcher",
        ));
    }
    Ok(())
}

fn assign_jv(assign: Option<&Assign>) -> Option<&Jv> {
    match assign {
        Some(Assign::Jsonata(jv)) => Some(jv),
        _ => None,
    }
}

fn positive_integer(v: &Value, location: &str) -> Result<f64, DefinitionError> {
    match v.as_u64() {
        Some(n) if n > 0 => Ok(n as f64),
        _ => Err(DefinitionError::new(location, "must be a positive integer")),
    }
}

fn non_negative(v: &Value, location: &str) -> Result<f64, DefinitionError> {
    match v.as_f64() {
        Some(n) if n >= 0.0 => Ok(n),
        _ => Err(DefinitionError::new(
            location,
            "must be a non-negative number",
        )),
    }
}

fn path_field(
    map: &Map<String, Value>,
    key: &str,
    location: &str,
    reference: bool,
) -> Result<Option<Option<JsonPath>>, DefinitionError> {
    match map.get(key) {
        None => Ok(None),
        Some(Value::Null) => Ok(Some(None)),
        Some(Value::String(text)) => {
            let parsed = if reference {
                JsonPath::parse_reference(text)
            } else {
                JsonPath::parse(text)
            };
            parsed
                .map(|p| Some(Some(p)))
                .map_err(|e| DefinitionError::new(format!("{location}/{key}"), e.to_string()))
        }
        Some(_) => Err(DefinitionError::new(
            format!("{location}/{key}"),
            "must be a path string or null",
        )),
    }
}

fn required_path(
    map: &Map<String, Value>,
    key: &str,
    location: &str,
    reference: bool,
) -> Result<Option<JsonPath>, DefinitionError> {
    match path_field(map, key, location, reference)? {
        None => Ok(None),
        Some(Some(p)) => Ok(Some(p)),
        Some(None) => Err(DefinitionError::new(
            format!("{location}/{key}"),
            "must be a path string",
        )),
    }
}

fn template_field(
    map: &Map<String, Value>,
    key: &str,
    location: &str,
) -> Result<Option<Template>, DefinitionError> {
    map.get(key)
        .map(|v| {
            if !v.is_object() {
                return Err(DefinitionError::new(
                    format!("{location}/{key}"),
                    "must be a JSON object",
                ));
            }
            Template::parse(v, &format!("{location}/{key}"))
                .map_err(|(l, m)| DefinitionError::new(l, m))
        })
        .transpose()
}

fn number_field(
    map: &Map<String, Value>,
    key: &str,
    location: &str,
    parse: fn(&Value, &str) -> Result<f64, DefinitionError>,
) -> Result<Option<Number>, DefinitionError> {
    let path_key = format!("{key}Path");
    match (map.get(key), map.contains_key(&path_key)) {
        (Some(_), true) => Err(DefinitionError::new(
            location,
            format!("'{key}' and '{path_key}' are mutually exclusive"),
        )),
        (Some(v), false) => Ok(Some(Number::Fixed(parse(v, &format!("{location}/{key}"))?))),
        (None, true) => Ok(required_path(map, &path_key, location, true)?.map(Number::Path)),
        (None, false) => Ok(None),
    }
}

fn target(
    name: &str,
    index: &HashMap<String, usize>,
    location: &str,
) -> Result<usize, DefinitionError> {
    index
        .get(name)
        .copied()
        .ok_or_else(|| DefinitionError::new(location, format!("names a missing state '{name}'")))
}

fn error_equals(map: &Map<String, Value>, location: &str) -> Result<Vec<String>, DefinitionError> {
    let here = format!("{location}/ErrorEquals");
    let list = map
        .get("ErrorEquals")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| {
            DefinitionError::new(&here, "a non-empty 'ErrorEquals' array is required")
        })?;
    let names = list
        .iter()
        .map(|v| {
            v.as_str()
                .map(str::to_owned)
                .ok_or_else(|| DefinitionError::new(&here, "error names must be strings"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if names.len() > 1 && names.iter().any(|n| n == names::ALL) {
        return Err(DefinitionError::new(
            &here,
            "'States.ALL' must appear alone",
        ));
    }
    Ok(names)
}

fn check_all_last(lists: &[Vec<String>], location: &str) -> Result<(), DefinitionError> {
    if let Some(pos) = lists.iter().position(|l| l.iter().any(|n| n == names::ALL))
        && pos + 1 != lists.len()
    {
        return Err(DefinitionError::new(
            location,
            "a rule with 'States.ALL' must be the last one",
        ));
    }
    Ok(())
}

fn parse_retry(v: &Value, location: &str) -> Result<Vec<Retrier>, DefinitionError> {
    let list = v
        .as_array()
        .ok_or_else(|| DefinitionError::new(location, "'Retry' must be an array"))?;
    let mut out = Vec::with_capacity(list.len());
    for (i, r) in list.iter().enumerate() {
        let here = format!("{location}/{i}");
        let map = r
            .as_object()
            .ok_or_else(|| DefinitionError::new(&here, "a Retrier must be an object"))?;
        for key in map.keys() {
            if !matches!(
                key.as_str(),
                "ErrorEquals"
                    | "IntervalSeconds"
                    | "MaxAttempts"
                    | "BackoffRate"
                    | "MaxDelaySeconds"
                    | "JitterStrategy"
                    | "Comment"
            ) {
                return Err(DefinitionError::new(
                    format!("{here}/{key}"),
                    "unknown Retrier field",
                ));
            }
        }
        let interval_seconds = map
            .get("IntervalSeconds")
            .map(|v| positive_integer(v, &format!("{here}/IntervalSeconds")))
            .transpose()?
            .unwrap_or(1.0);
        let max_attempts = match map.get("MaxAttempts") {
            None => 3,
            Some(v) => v
                .as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| {
                    DefinitionError::new(
                        format!("{here}/MaxAttempts"),
                        "must be a non-negative integer",
                    )
                })?,
        };
        let backoff_rate = match map.get("BackoffRate") {
            None => 2.0,
            Some(v) => match v.as_f64() {
                Some(n) if n >= 1.0 => n,
                _ => {
                    return Err(DefinitionError::new(
                        format!("{here}/BackoffRate"),
                        "must be a number >= 1.0",
                    ));
                }
            },
        };
        let max_delay_seconds = map
            .get("MaxDelaySeconds")
            .map(|v| positive_integer(v, &format!("{here}/MaxDelaySeconds")))
            .transpose()?;
        let full_jitter = match map.get("JitterStrategy").map(|v| v.as_str()) {
            None | Some(Some("NONE")) => false,
            Some(Some("FULL")) => true,
            _ => {
                return Err(DefinitionError::new(
                    format!("{here}/JitterStrategy"),
                    "must be FULL or NONE",
                ));
            }
        };
        out.push(Retrier {
            error_equals: error_equals(map, &here)?,
            interval_seconds,
            max_attempts,
            backoff_rate,
            max_delay_seconds,
            full_jitter,
        });
    }
    check_all_last(
        &out.iter()
            .map(|r| r.error_equals.clone())
            .collect::<Vec<_>>(),
        location,
    )?;
    Ok(out)
}

fn parse_catch(
    v: &Value,
    location: &str,
    index: &HashMap<String, usize>,
    language: Language,
    assigned: &mut BTreeSet<String>,
) -> Result<Vec<Catcher>, DefinitionError> {
    let list = v
        .as_array()
        .ok_or_else(|| DefinitionError::new(location, "'Catch' must be an array"))?;
    let mut out = Vec::with_capacity(list.len());
    for (i, c) in list.iter().enumerate() {
        let here = format!("{location}/{i}");
        let map = c
            .as_object()
            .ok_or_else(|| DefinitionError::new(&here, "a Catcher must be an object"))?;
        for key in map.keys() {
            let known = match language {
                Language::JsonPath => matches!(
                    key.as_str(),
                    "ErrorEquals" | "Next" | "ResultPath" | "Assign" | "Comment"
                ),
                Language::Jsonata => matches!(
                    key.as_str(),
                    "ErrorEquals" | "Next" | "Output" | "Assign" | "Comment"
                ),
            };
            if !known {
                return Err(DefinitionError::new(
                    format!("{here}/{key}"),
                    format!(
                        "unknown Catcher field in a {} state",
                        language_name(language)
                    ),
                ));
            }
        }
        let next_name = map.get("Next").and_then(Value::as_str).ok_or_else(|| {
            DefinitionError::new(format!("{here}/Next"), "a Catcher needs a 'Next' string")
        })?;
        let result_path =
            path_field(map, "ResultPath", &here, true)?.unwrap_or_else(|| Some(identity()));
        let assign = map
            .get("Assign")
            .map(|a| parse_assign(a, language, &here, assigned))
            .transpose()?;
        let output = jv_field(map, "Output", &here)?;
        check_states_use(output.as_ref(), &format!("{here}/Output"), false, true)?;
        check_states_use(
            assign_jv(assign.as_ref()),
            &format!("{here}/Assign"),
            false,
            true,
        )?;
        out.push(Catcher {
            error_equals: error_equals(map, &here)?,
            next: target(next_name, index, &format!("{here}/Next"))?,
            result_path,
            assign,
            output,
        });
    }
    check_all_last(
        &out.iter()
            .map(|c| c.error_equals.clone())
            .collect::<Vec<_>>(),
        location,
    )?;
    Ok(out)
}

fn identity() -> JsonPath {
    JsonPath::identity()
}

fn dynamic(
    map: &Map<String, Value>,
    key: &str,
    location: &str,
) -> Result<Option<Dynamic>, DefinitionError> {
    let path_key = format!("{key}Path");
    match (map.get(key), map.get(&path_key)) {
        (Some(_), Some(_)) => Err(DefinitionError::new(
            location,
            format!("'{key}' and '{path_key}' are mutually exclusive"),
        )),
        (Some(Value::String(s)), None) => Ok(Some(Dynamic::Literal(s.clone()))),
        (Some(_), None) => Err(DefinitionError::new(
            format!("{location}/{key}"),
            "must be a string",
        )),
        (None, Some(Value::String(s))) => {
            let here = format!("{location}/{path_key}");
            if Intrinsic::looks_like(s) {
                Intrinsic::parse(s)
                    .map(|i| Some(Dynamic::Intrinsic(i)))
                    .map_err(|e| DefinitionError::new(here, e))
            } else {
                JsonPath::parse_reference(s)
                    .map(|p| Some(Dynamic::Path(p)))
                    .map_err(|e| DefinitionError::new(here, e.to_string()))
            }
        }
        (None, Some(_)) => Err(DefinitionError::new(
            format!("{location}/{path_key}"),
            "must be a string",
        )),
        (None, None) => Ok(None),
    }
}

fn parse_state(
    name: &str,
    v: &Value,
    location: &str,
    index: &HashMap<String, usize>,
    top: Language,
    assigned: &mut BTreeSet<String>,
) -> Result<State, DefinitionError> {
    if name.is_empty() || name.chars().count() > 80 {
        return Err(DefinitionError::new(
            location,
            "state names must be 1 to 80 characters long",
        ));
    }
    let map = v
        .as_object()
        .ok_or_else(|| DefinitionError::new(location, "a state must be an object"))?;
    let kind_name = map.get("Type").and_then(Value::as_str).ok_or_else(|| {
        DefinitionError::new(format!("{location}/Type"), "a 'Type' string is required")
    })?;
    let language = match map.get("QueryLanguage") {
        None => top,
        Some(v) => match (top, language(v, &format!("{location}/QueryLanguage"))?) {
            (Language::Jsonata, Language::JsonPath) => {
                return Err(DefinitionError::new(
                    location,
                    "'QueryLanguage' can not be 'JSONPath' if set to 'JSONata' for whole state machine",
                ));
            }
            (_, language) => language,
        },
    };
    let fields = allowed(kind_name, language).ok_or_else(|| {
        DefinitionError::new(
            format!("{location}/Type"),
            format!("unknown state type '{kind_name}'"),
        )
    })?;
    let other = match language {
        Language::JsonPath => Language::Jsonata,
        Language::Jsonata => Language::JsonPath,
    };
    for key in map.keys() {
        if !fields.contains(&key.as_str()) {
            let message = if allowed(kind_name, other).is_some_and(|f| f.contains(&key.as_str())) {
                format!(
                    "The QueryLanguage is set to '{}', but field '{key}' is only supported for the '{}' QueryLanguage",
                    language_name(language),
                    language_name(other)
                )
            } else {
                format!("field not allowed in a {kind_name} state")
            };
            return Err(DefinitionError::new(format!("{location}/{key}"), message));
        }
    }
    let jsonata = language == Language::Jsonata;

    let terminal = matches!(kind_name, "Choice" | "Succeed" | "Fail");
    let next = match (map.get("Next"), map.get("End")) {
        _ if terminal => None,
        (Some(Value::String(n)), None | Some(Value::Bool(false))) => {
            Some(target(n, index, &format!("{location}/Next"))?)
        }
        (None, Some(Value::Bool(true))) => None,
        (Some(_), Some(Value::Bool(true))) => {
            return Err(DefinitionError::new(
                location,
                "a state must have exactly one of 'Next' and 'End'",
            ));
        }
        (Some(_), _) => {
            return Err(DefinitionError::new(
                format!("{location}/Next"),
                "'Next' must be a string",
            ));
        }
        (None, _) => {
            return Err(DefinitionError::new(
                location,
                "a state must have 'Next' or \"End\": true",
            ));
        }
    };

    let kind = match kind_name {
        "Pass" => StateKind::Pass {
            result: map.get("Result").cloned(),
        },
        "Task" => {
            let resource = map.get("Resource").and_then(Value::as_str).ok_or_else(|| {
                DefinitionError::new(
                    format!("{location}/Resource"),
                    "a 'Resource' string is required",
                )
            })?;
            let (timeout, heartbeat) = if jsonata {
                (
                    jsonata_number(map, "TimeoutSeconds", location, positive_integer)?,
                    jsonata_number(map, "HeartbeatSeconds", location, positive_integer)?,
                )
            } else {
                (
                    number_field(map, "TimeoutSeconds", location, positive_integer)?,
                    number_field(map, "HeartbeatSeconds", location, positive_integer)?,
                )
            };
            if let (Some(Number::Fixed(t)), Some(Number::Fixed(h))) = (&timeout, &heartbeat)
                && h >= t
            {
                return Err(DefinitionError::new(
                    format!("{location}/HeartbeatSeconds"),
                    "must be smaller than 'TimeoutSeconds'",
                ));
            }
            StateKind::Task(TaskSpec {
                resource: resource.to_owned(),
                timeout,
                heartbeat,
            })
        }
        "Choice" => {
            let here = format!("{location}/Choices");
            let list = map
                .get("Choices")
                .and_then(Value::as_array)
                .filter(|a| !a.is_empty())
                .ok_or_else(|| {
                    DefinitionError::new(&here, "a non-empty 'Choices' array is required")
                })?;
            let mut choices = Vec::with_capacity(list.len());
            for (i, c) in list.iter().enumerate() {
                let at = format!("{here}/{i}");
                let obj = c
                    .as_object()
                    .ok_or_else(|| DefinitionError::new(&at, "a Choice rule must be an object"))?;
                let next_name = obj.get("Next").and_then(Value::as_str).ok_or_else(|| {
                    DefinitionError::new(
                        format!("{at}/Next"),
                        "a top-level Choice rule needs 'Next'",
                    )
                })?;
                let test = if jsonata {
                    for key in obj.keys() {
                        if !matches!(
                            key.as_str(),
                            "Condition" | "Next" | "Assign" | "Output" | "Comment"
                        ) {
                            return Err(DefinitionError::new(
                                format!("{at}/{key}"),
                                "a JSONata Choice rule has 'Condition', 'Next', 'Assign', 'Output' and 'Comment' only",
                            ));
                        }
                    }
                    let condition = obj.get("Condition").ok_or_else(|| {
                        DefinitionError::new(&at, "a JSONata Choice rule needs a 'Condition'")
                    })?;
                    let condition = Jv::parse(condition, &format!("{at}/Condition"))
                        .map_err(|(l, m)| DefinitionError::new(l, m))?;
                    if !matches!(condition, Jv::Expr(_) | Jv::Literal(Value::Bool(_))) {
                        return Err(DefinitionError::new(
                            format!("{at}/Condition"),
                            "must be true, false or a JSONata expression",
                        ));
                    }
                    check_states_use(Some(&condition), &format!("{at}/Condition"), false, false)?;
                    ChoiceTest::Condition(condition)
                } else {
                    let mut rule_map = obj.clone();
                    rule_map.remove("Assign");
                    ChoiceTest::Rule(
                        choice::parse_rule(&rule_map, &at, true)
                            .map_err(|(l, m)| DefinitionError::new(l, m))?,
                    )
                };
                let assign = obj
                    .get("Assign")
                    .map(|a| parse_assign(a, language, &at, assigned))
                    .transpose()?;
                let output = jv_field(obj, "Output", &at)?;
                check_states_use(output.as_ref(), &format!("{at}/Output"), false, false)?;
                check_states_use(
                    assign_jv(assign.as_ref()),
                    &format!("{at}/Assign"),
                    false,
                    false,
                )?;
                choices.push(ChoiceRule {
                    test,
                    next: target(next_name, index, &format!("{at}/Next"))?,
                    assign,
                    output,
                });
            }
            let default = match map.get("Default") {
                None => None,
                Some(Value::String(d)) => Some(target(d, index, &format!("{location}/Default"))?),
                Some(_) => {
                    return Err(DefinitionError::new(
                        format!("{location}/Default"),
                        "must be a string",
                    ));
                }
            };
            StateKind::Choice { choices, default }
        }
        "Wait" => {
            let present: Vec<&str> = ["Seconds", "Timestamp", "SecondsPath", "TimestampPath"]
                .into_iter()
                .filter(|k| map.contains_key(*k))
                .collect();
            if present.len() != 1 {
                return Err(DefinitionError::new(
                    location,
                    "a Wait state needs exactly one of Seconds, Timestamp, SecondsPath and TimestampPath",
                ));
            }
            let expr = |key: &str| -> Result<Option<String>, DefinitionError> {
                if !jsonata {
                    return Ok(None);
                }
                match map.get(key) {
                    Some(v @ Value::String(_)) => Ok(Jv::parse(v, &format!("{location}/{key}"))
                        .map_err(|(l, m)| DefinitionError::new(l, m))?
                        .as_expr()
                        .map(str::to_owned)),
                    _ => Ok(None),
                }
            };
            let spec = match present[0] {
                "Seconds" if expr("Seconds")?.is_some() => {
                    WaitSpec::SecondsExpr(expr("Seconds")?.unwrap_or_default())
                }
                "Timestamp" if expr("Timestamp")?.is_some() => {
                    WaitSpec::TimestampExpr(expr("Timestamp")?.unwrap_or_default())
                }
                "Seconds" => WaitSpec::Seconds(non_negative(
                    &map["Seconds"],
                    &format!("{location}/Seconds"),
                )?),
                "Timestamp" => {
                    let ts = map["Timestamp"]
                        .as_str()
                        .and_then(choice::parse_timestamp)
                        .ok_or_else(|| {
                            DefinitionError::new(
                                format!("{location}/Timestamp"),
                                "must be an RFC 3339 timestamp",
                            )
                        })?;
                    WaitSpec::Timestamp(ts)
                }
                key => {
                    let path = required_path(map, key, location, true)?.ok_or_else(|| {
                        DefinitionError::new(format!("{location}/{key}"), "must be a path")
                    })?;
                    if key == "SecondsPath" {
                        WaitSpec::SecondsPath(path)
                    } else {
                        WaitSpec::TimestampPath(path)
                    }
                }
            };
            StateKind::Wait(spec)
        }
        "Succeed" => StateKind::Succeed,
        "Fail" if jsonata => StateKind::Fail {
            error: jsonata_string(map, "Error", location)?,
            cause: jsonata_string(map, "Cause", location)?,
        },
        "Fail" => StateKind::Fail {
            error: dynamic(map, "Error", location)?,
            cause: dynamic(map, "Cause", location)?,
        },
        "Parallel" => {
            let here = format!("{location}/Branches");
            let list = map
                .get("Branches")
                .and_then(Value::as_array)
                .filter(|a| !a.is_empty())
                .ok_or_else(|| {
                    DefinitionError::new(&here, "a non-empty 'Branches' array is required")
                })?;
            let branches = list
                .iter()
                .enumerate()
                .map(|(i, b)| {
                    let at = format!("{here}/{i}");
                    let obj = b
                        .as_object()
                        .ok_or_else(|| DefinitionError::new(&at, "a branch must be an object"))?;
                    StateMachine::parse_states(obj, &at, top)
                })
                .collect::<Result<Vec<_>, _>>()?;
            StateKind::Parallel { branches }
        }
        "Map" => {
            for unsupported in ["ItemReader", "ItemBatcher", "ResultWriter"] {
                if map.contains_key(unsupported) {
                    return Err(DefinitionError::new(
                        format!("{location}/{unsupported}"),
                        "distributed Map features are not supported locally",
                    ));
                }
            }
            let (key, processor) = match (map.get("ItemProcessor"), map.get("Iterator")) {
                (Some(p), None) => ("ItemProcessor", p),
                (None, Some(p)) => ("Iterator", p),
                _ => {
                    return Err(DefinitionError::new(
                        location,
                        "a Map state needs exactly one of 'ItemProcessor' and 'Iterator'",
                    ));
                }
            };
            let at = format!("{location}/{key}");
            let obj = processor
                .as_object()
                .ok_or_else(|| DefinitionError::new(&at, "must be an object"))?;
            if let Some(mode) = obj
                .get("ProcessorConfig")
                .and_then(|c| c.get("Mode"))
                .and_then(Value::as_str)
                && mode != "INLINE"
            {
                return Err(DefinitionError::new(
                    format!("{at}/ProcessorConfig/Mode"),
                    "only INLINE Map states are supported locally",
                ));
            }
            let processor = StateMachine::parse_states(obj, &at, top)?;
            if map.contains_key("ItemSelector") && map.contains_key("Parameters") {
                return Err(DefinitionError::new(
                    location,
                    "'ItemSelector' and 'Parameters' are mutually exclusive",
                ));
            }
            let (item_selector, selector, items) = if jsonata {
                let selector = jv_field(map, "ItemSelector", location)?;
                let items = jv_field(map, "Items", location)?;
                check_states_use(
                    selector.as_ref(),
                    &format!("{location}/ItemSelector"),
                    false,
                    false,
                )?;
                check_states_use(items.as_ref(), &format!("{location}/Items"), false, false)?;
                (None, selector, items)
            } else {
                let item_selector = match template_field(map, "ItemSelector", location)? {
                    Some(t) => Some(t),
                    None => template_field(map, "Parameters", location)?,
                };
                (item_selector, None, None)
            };
            let items_path =
                required_path(map, "ItemsPath", location, true)?.unwrap_or_else(identity);
            let number = |key: &str, parse: fn(&Value, &str) -> Result<f64, DefinitionError>| {
                if jsonata {
                    jsonata_number(map, key, location, parse)
                } else {
                    number_field(map, key, location, parse)
                }
            };
            let max_concurrency =
                number("MaxConcurrency", non_negative)?.unwrap_or(Number::Fixed(0.0));
            let tolerated_count = number("ToleratedFailureCount", non_negative)?;
            let tolerated_percentage = number("ToleratedFailurePercentage", |v, l| {
                let n = non_negative(v, l)?;
                if n > 100.0 {
                    Err(DefinitionError::new(l, "must be between 0 and 100"))
                } else {
                    Ok(n)
                }
            })?;
            StateKind::Map(Box::new(MapSpec {
                items_path,
                item_selector,
                items,
                selector,
                processor,
                max_concurrency,
                tolerated_count,
                tolerated_percentage,
            }))
        }
        other => {
            return Err(DefinitionError::new(
                format!("{location}/Type"),
                format!("unknown state type '{other}'"),
            ));
        }
    };

    let is_map = matches!(kind, StateKind::Map(_));
    let has_result = matches!(
        kind,
        StateKind::Task(_) | StateKind::Parallel { .. } | StateKind::Map(_)
    );
    let assign = map
        .get("Assign")
        .map(|a| parse_assign(a, language, location, assigned))
        .transpose()?;
    let output = jv_field(map, "Output", location)?;
    let arguments = jv_field(map, "Arguments", location)?;
    check_states_use(
        output.as_ref(),
        &format!("{location}/Output"),
        has_result,
        false,
    )?;
    check_states_use(
        assign_jv(assign.as_ref()),
        &format!("{location}/Assign"),
        has_result,
        false,
    )?;
    check_states_use(
        arguments.as_ref(),
        &format!("{location}/Arguments"),
        false,
        false,
    )?;
    Ok(State {
        name: name.to_owned(),
        language,
        assign,
        output,
        arguments,
        input_path: path_field(map, "InputPath", location, false)?
            .unwrap_or_else(|| Some(identity())),
        output_path: path_field(map, "OutputPath", location, false)?
            .unwrap_or_else(|| Some(identity())),
        result_path: path_field(map, "ResultPath", location, true)?
            .unwrap_or_else(|| Some(identity())),
        parameters: if is_map {
            None
        } else {
            template_field(map, "Parameters", location)?
        },
        result_selector: template_field(map, "ResultSelector", location)?,
        next,
        retry: map
            .get("Retry")
            .map(|r| parse_retry(r, &format!("{location}/Retry")))
            .transpose()?
            .unwrap_or_default(),
        catch: map
            .get("Catch")
            .map(|c| parse_catch(c, &format!("{location}/Catch"), index, language, assigned))
            .transpose()?
            .unwrap_or_default(),
        kind,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn parse(v: Value) -> Result<StateMachine, DefinitionError> {
        StateMachine::parse(&v)
    }

    #[test]
    fn a_minimal_machine_parses() {
        let m =
            parse(json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true}}})).unwrap();
        assert_eq!(m.start_at(), "A");
        assert_eq!(m.state_type("A"), Some("Pass"));
    }

    #[test]
    fn start_at_must_name_a_state() {
        let e = parse(json!({"StartAt": "B", "States": {"A": {"Type": "Pass", "End": true}}}))
            .unwrap_err();
        assert_eq!(e.location, "/StartAt");
    }

    #[test]
    fn next_and_end_are_exclusive_and_required() {
        assert!(parse(json!({"StartAt": "A", "States": {"A": {"Type": "Pass"}}})).is_err());
        assert!(
            parse(
                json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "A", "End": true}}})
            )
            .is_err()
        );
        let e = parse(json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Z"}}}))
            .unwrap_err();
        assert_eq!(e.location, "/States/A/Next");
    }

    #[test]
    fn choice_needs_choices_and_valid_targets() {
        assert!(
            parse(json!({"StartAt": "C", "States": {"C": {"Type": "Choice", "Choices": []}}}))
                .is_err()
        );
        let bad_default = json!({"StartAt": "C", "States": {"C": {"Type": "Choice",
            "Choices": [{"Variable": "$.a", "IsNull": true, "Next": "C"}], "Default": "Nope"}}});
        assert_eq!(
            parse(bad_default).unwrap_err().location,
            "/States/C/Default"
        );
        let choice_with_end = json!({"StartAt": "C", "States": {"C": {"Type": "Choice", "End": true,
            "Choices": [{"Variable": "$.a", "IsNull": true, "Next": "C"}]}}});
        assert!(parse(choice_with_end).is_err());
    }

    #[test]
    fn catch_targets_and_states_all_placement_are_checked() {
        let bad_next = json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "r", "End": true,
            "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Missing"}]}}});
        assert_eq!(
            parse(bad_next).unwrap_err().location,
            "/States/T/Catch/0/Next"
        );
        let all_not_last = json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "r", "End": true,
            "Retry": [{"ErrorEquals": ["States.ALL"]}, {"ErrorEquals": ["X"]}]}}});
        assert!(parse(all_not_last).is_err());
        let all_not_alone = json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "r", "End": true,
            "Retry": [{"ErrorEquals": ["States.ALL", "X"]}]}}});
        assert!(parse(all_not_alone).is_err());
    }

    #[test]
    fn nested_branches_are_validated() {
        let bad = json!({"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": true,
            "Branches": [{"StartAt": "X", "States": {"X": {"Type": "Pass", "Next": "Outside"}}}]}, "Outside": {"Type": "Succeed"}}});
        assert_eq!(
            parse(bad).unwrap_err().location,
            "/States/P/Branches/0/States/X/Next"
        );
    }

    #[test]
    fn unknown_fields_and_types_are_rejected() {
        assert!(parse(json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true, "Resource": "x"}}})).is_err());
        assert!(
            parse(json!({"StartAt": "A", "States": {"A": {"Type": "Sleep", "End": true}}}))
                .is_err()
        );
        assert!(
            parse(json!({"StartAt": "A", "States": {"A": {"Type": "Wait", "End": true}}})).is_err()
        );
        assert!(parse(json!({"StartAt": "A", "States": {"A": {"Type": "Wait", "Seconds": 1, "SecondsPath": "$.s", "End": true}}})).is_err());
        assert!(parse(json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true, "ResultPath": "$.a[*]"}}})).is_err());
        assert!(parse(json!({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": true, "Parameters": {"x.$": "$$..bad["}}}})).is_err());
    }

    #[test]
    fn task_timeouts_are_checked() {
        let bad = json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "r", "End": true,
            "TimeoutSeconds": 5, "HeartbeatSeconds": 10}}});
        assert!(parse(bad).is_err());
        let both = json!({"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "r", "End": true,
            "TimeoutSeconds": 5, "TimeoutSecondsPath": "$.t"}}});
        assert!(parse(both).is_err());
    }
}
