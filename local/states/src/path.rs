//! JSONPath as the States language uses it: reference paths (`$.a.b`, `$.a[0]`, `$['x']`,
//! `$$.Execution.Id`) and the wider JSONPath syntax accepted by `InputPath`, `OutputPath`,
//! `ItemsPath` and `.$` fields (wildcards, slices, unions, recursive descent and filters).

use std::fmt;

use serde_json::{Map, Value};

/// Which document a path reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Root {
    /// `$`: the state's input (or whatever value the field applies to).
    Input,
    /// `$$`: the context object.
    Context,
    /// `$name`: a workflow variable (the name is the path's first segment).
    Variable,
}

/// The key under which the context object value given to [`JsonPath::select`] and
/// [`JsonPath::resolve`] carries the workflow variables in scope (an object). It cannot collide
/// with a field of the context object, and `$$` never shows it.
pub const VARIABLES_KEY: &str = "\u{1}variables";

/// A parsed JSONPath.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonPath {
    source: String,
    root: Root,
    segments: Vec<Segment>,
}

#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Child(Selector),
    Descendant(Selector),
}

#[derive(Debug, Clone, PartialEq)]
enum Selector {
    Name(String),
    Index(i64),
    Wildcard,
    Slice(Option<i64>, Option<i64>, i64),
    Names(Vec<String>),
    Indices(Vec<i64>),
    Filter(Box<Filter>),
}

#[derive(Debug, Clone, PartialEq)]
enum Filter {
    Or(Box<Filter>, Box<Filter>),
    And(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    Compare(Operand, CmpOp, Operand),
    Exists(Operand),
}

#[derive(Debug, Clone, PartialEq)]
enum Operand {
    Current(Vec<Segment>),
    Root(Vec<Segment>),
    Literal(Value),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A path that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid path '{path}': {message}")]
pub struct PathError {
    /// The path text.
    pub path: String,
    /// What is wrong with it.
    pub message: String,
}

impl fmt::Display for JsonPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl JsonPath {
    /// Parses a path that starts with `$` (input) or `$$` (context object).
    pub fn parse(text: &str) -> Result<Self, PathError> {
        let err = |message: &str| PathError {
            path: text.to_owned(),
            message: message.to_owned(),
        };
        let trimmed = text.trim();
        let (root, rest) = if let Some(rest) = trimmed.strip_prefix("$$") {
            (Root::Context, rest)
        } else if let Some(rest) = trimmed.strip_prefix('$') {
            if rest.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
                (Root::Variable, rest)
            } else {
                (Root::Input, rest)
            }
        } else {
            return Err(err("a path must start with '$'"));
        };
        let (variable, rest) = if root == Root::Variable {
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            (Some(&rest[..end]), &rest[end..])
        } else {
            (None, rest)
        };
        let mut parser = Parser {
            chars: rest.chars().collect(),
            pos: 0,
        };
        let mut segments = parser.segments(false).map_err(|m| err(&m))?;
        if let Some(name) = variable {
            segments.insert(0, Segment::Child(Selector::Name(name.to_owned())));
        }
        if parser.pos != parser.chars.len() {
            return Err(err("unexpected characters"));
        }
        Ok(Self {
            source: trimmed.to_owned(),
            root,
            segments,
        })
    }

    /// The path `$`.
    pub fn identity() -> Self {
        Self {
            source: "$".to_owned(),
            root: Root::Input,
            segments: Vec::new(),
        }
    }

    /// Parses a reference path: a path that names a single node (no wildcards, slices,
    /// unions, filters or recursive descent).
    pub fn parse_reference(text: &str) -> Result<Self, PathError> {
        let path = Self::parse(text)?;
        if !path.is_definite() {
            return Err(PathError {
                path: text.to_owned(),
                message: "a reference path may only use field names and array indices".into(),
            });
        }
        Ok(path)
    }

    /// The path as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Which document the path reads.
    pub fn root(&self) -> Root {
        self.root
    }

    /// Whether the path is `$` (the whole input).
    pub fn is_identity(&self) -> bool {
        self.root == Root::Input && self.segments.is_empty()
    }

    /// Whether the path names at most one node.
    pub fn is_definite(&self) -> bool {
        self.segments
            .iter()
            .all(|s| matches!(s, Segment::Child(Selector::Name(_) | Selector::Index(_))))
    }

    /// Every node the path selects, in document order.
    pub fn select<'a>(&self, input: &'a Value, context: &'a Value) -> Vec<&'a Value> {
        let root = match self.root {
            Root::Input => input,
            Root::Context => context,
            Root::Variable => context.get(VARIABLES_KEY).unwrap_or(&Value::Null),
        };
        select_segments(&self.segments, root, input)
    }

    /// The variable a `$name` path reads.
    pub fn variable(&self) -> Option<&str> {
        match (self.root, self.segments.first()) {
            (Root::Variable, Some(Segment::Child(Selector::Name(name)))) => Some(name),
            _ => None,
        }
    }

    /// The value the path designates: the node itself for a definite path (`None` when it is
    /// missing), or the array of all matches for an indefinite one.
    pub fn resolve(&self, input: &Value, context: &Value) -> Option<Value> {
        if self.root == Root::Context && self.segments.is_empty() {
            let mut whole = context.clone();
            if let Value::Object(map) = &mut whole {
                map.remove(VARIABLES_KEY);
            }
            return Some(whole);
        }
        if self.is_definite() {
            let root = match self.root {
                Root::Input => input,
                Root::Context => context,
                Root::Variable => context.get(VARIABLES_KEY).unwrap_or(&Value::Null),
            };
            get_definite(&self.segments, root).cloned()
        } else {
            Some(Value::Array(
                self.select(input, context).into_iter().cloned().collect(),
            ))
        }
    }

    /// Like [`JsonPath::resolve`] but takes the input by value, avoiding a copy for `$`.
    pub fn resolve_owned(&self, input: Value, context: &Value) -> Option<Value> {
        if self.is_identity() {
            Some(input)
        } else {
            self.resolve(&input, context)
        }
    }

    /// Writes `value` at this (reference) path inside `target`, creating missing
    /// intermediate objects, as `ResultPath` does.
    pub fn set(&self, target: &mut Value, value: Value) -> Result<(), String> {
        if self.root != Root::Input {
            return Err(format!(
                "cannot write to the context object with '{}'",
                self.source
            ));
        }
        let mut current = target;
        let last = self.segments.len();
        for (i, segment) in self.segments.iter().enumerate() {
            let is_last = i + 1 == last;
            current = match segment {
                Segment::Child(Selector::Name(name)) => {
                    let Value::Object(map) = current else {
                        return Err(format!(
                            "cannot apply '{}': the value at field '{name}' is not inside an object",
                            self.source
                        ));
                    };
                    let entry = map.entry(name.clone());
                    if is_last {
                        entry.or_insert(Value::Null)
                    } else {
                        entry.or_insert_with(|| Value::Object(Map::new()))
                    }
                }
                Segment::Child(Selector::Index(index)) => {
                    let Value::Array(items) = current else {
                        return Err(format!(
                            "cannot apply '{}': index {index} of a non-array",
                            self.source
                        ));
                    };
                    let len = items.len() as i64;
                    let idx = if *index < 0 { len + index } else { *index };
                    if idx < 0 || idx >= len {
                        return Err(format!(
                            "cannot apply '{}': index {index} out of bounds",
                            self.source
                        ));
                    }
                    &mut items[idx as usize]
                }
                _ => return Err(format!("'{}' is not a reference path", self.source)),
            };
        }
        *current = value;
        Ok(())
    }
}

fn get_definite<'a>(segments: &[Segment], root: &'a Value) -> Option<&'a Value> {
    let mut current = root;
    for segment in segments {
        current = match segment {
            Segment::Child(Selector::Name(name)) => current.as_object()?.get(name)?,
            Segment::Child(Selector::Index(index)) => index_of(current.as_array()?, *index)?,
            _ => return None,
        };
    }
    Some(current)
}

fn index_of(items: &[Value], index: i64) -> Option<&Value> {
    let len = items.len() as i64;
    let idx = if index < 0 { len + index } else { index };
    if idx < 0 || idx >= len {
        None
    } else {
        items.get(idx as usize)
    }
}

fn select_segments<'a>(segments: &[Segment], start: &'a Value, doc: &'a Value) -> Vec<&'a Value> {
    let mut current = vec![start];
    for segment in segments {
        let mut next = Vec::new();
        for node in current {
            match segment {
                Segment::Child(selector) => apply_selector(selector, node, doc, &mut next),
                Segment::Descendant(selector) => descend(selector, node, doc, &mut next),
            }
        }
        current = next;
    }
    current
}

fn descend<'a>(selector: &Selector, node: &'a Value, doc: &'a Value, out: &mut Vec<&'a Value>) {
    apply_selector(selector, node, doc, out);
    match node {
        Value::Object(map) => map.values().for_each(|v| descend(selector, v, doc, out)),
        Value::Array(items) => items.iter().for_each(|v| descend(selector, v, doc, out)),
        _ => {}
    }
}

fn apply_selector<'a>(
    selector: &Selector,
    node: &'a Value,
    doc: &'a Value,
    out: &mut Vec<&'a Value>,
) {
    match selector {
        Selector::Name(name) => {
            if let Some(v) = node.as_object().and_then(|m| m.get(name)) {
                out.push(v);
            }
        }
        Selector::Names(names) => {
            if let Some(map) = node.as_object() {
                out.extend(names.iter().filter_map(|n| map.get(n)));
            }
        }
        Selector::Index(index) => {
            if let Some(v) = node.as_array().and_then(|items| index_of(items, *index)) {
                out.push(v);
            }
        }
        Selector::Indices(indices) => {
            if let Some(items) = node.as_array() {
                out.extend(indices.iter().filter_map(|i| index_of(items, *i)));
            }
        }
        Selector::Wildcard => match node {
            Value::Object(map) => out.extend(map.values()),
            Value::Array(items) => out.extend(items.iter()),
            _ => {}
        },
        Selector::Slice(start, end, step) => {
            if let Some(items) = node.as_array() {
                slice(items, *start, *end, *step, out);
            }
        }
        Selector::Filter(filter) => match node {
            Value::Array(items) => {
                out.extend(items.iter().filter(|item| eval_filter(filter, item, doc)))
            }
            Value::Object(_) if eval_filter(filter, node, doc) => out.push(node),
            _ => {}
        },
    }
}

fn slice<'a>(
    items: &'a [Value],
    start: Option<i64>,
    end: Option<i64>,
    step: i64,
    out: &mut Vec<&'a Value>,
) {
    let len = items.len() as i64;
    let norm = |i: i64| if i < 0 { (len + i).max(0) } else { i.min(len) };
    if step > 0 {
        let mut i = start.map_or(0, norm);
        let stop = end.map_or(len, norm);
        while i < stop {
            if let Some(v) = items.get(i as usize) {
                out.push(v);
            }
            i += step;
        }
    } else if step < 0 {
        let mut i = start.map_or(len - 1, |s| norm(s).min(len - 1));
        let stop = end.map_or(-1, norm);
        while i > stop {
            if let Some(v) = items.get(i as usize) {
                out.push(v);
            }
            i += step;
        }
    }
}

fn operand_value(operand: &Operand, current: &Value, doc: &Value) -> Option<Value> {
    match operand {
        Operand::Literal(v) => Some(v.clone()),
        Operand::Current(segs) => single(segs, current, doc),
        Operand::Root(segs) => single(segs, doc, doc),
    }
}

fn single(segments: &[Segment], start: &Value, doc: &Value) -> Option<Value> {
    let found = select_segments(segments, start, doc);
    match found.as_slice() {
        [one] => Some((*one).clone()),
        [] => None,
        many => Some(Value::Array(many.iter().map(|v| (*v).clone()).collect())),
    }
}

fn eval_filter(filter: &Filter, current: &Value, doc: &Value) -> bool {
    match filter {
        Filter::Or(a, b) => eval_filter(a, current, doc) || eval_filter(b, current, doc),
        Filter::And(a, b) => eval_filter(a, current, doc) && eval_filter(b, current, doc),
        Filter::Not(a) => !eval_filter(a, current, doc),
        Filter::Exists(op) => match operand_value(op, current, doc) {
            None | Some(Value::Bool(false)) => false,
            Some(_) => true,
        },
        Filter::Compare(a, op, b) => {
            let (Some(a), Some(b)) = (
                operand_value(a, current, doc),
                operand_value(b, current, doc),
            ) else {
                return false;
            };
            compare(&a, *op, &b)
        }
    }
}

fn compare(a: &Value, op: CmpOp, b: &Value) -> bool {
    use std::cmp::Ordering;
    let ordering = match (a, b) {
        (Value::Number(x), Value::Number(y)) => x
            .as_f64()
            .zip(y.as_f64())
            .and_then(|(x, y)| x.partial_cmp(&y)),
        (Value::String(x), Value::String(y)) => Some(x.cmp(y)),
        _ => None,
    };
    match op {
        CmpOp::Eq => ordering.map_or(a == b, |o| o == Ordering::Equal),
        CmpOp::Ne => ordering.map_or(a != b, |o| o != Ordering::Equal),
        CmpOp::Lt => ordering == Some(Ordering::Less),
        CmpOp::Le => matches!(ordering, Some(Ordering::Less | Ordering::Equal)),
        CmpOp::Gt => ordering == Some(Ordering::Greater),
        CmpOp::Ge => matches!(ordering, Some(Ordering::Greater | Ordering::Equal)),
    }
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<char> {
        self.chars.get(self.pos + offset).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, c: char) -> bool {
        if self.peek() == Some(c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect(&mut self, c: char) -> Result<(), String> {
        if self.eat(c) {
            Ok(())
        } else {
            Err(format!("expected '{c}' at position {}", self.pos))
        }
    }

    /// Segments until the end of input (or, inside a filter, until an operator).
    fn segments(&mut self, in_filter: bool) -> Result<Vec<Segment>, String> {
        let mut out = Vec::new();
        loop {
            match self.peek() {
                Some('.') if self.peek_at(1) == Some('.') => {
                    self.pos += 2;
                    let selector = if self.peek() == Some('[') {
                        self.bracket()?
                    } else {
                        self.dotted(in_filter)?
                    };
                    out.push(Segment::Descendant(selector));
                }
                Some('.') => {
                    self.pos += 1;
                    out.push(Segment::Child(self.dotted(in_filter)?));
                }
                Some('[') => out.push(Segment::Child(self.bracket()?)),
                _ => return Ok(out),
            }
        }
    }

    fn dotted(&mut self, in_filter: bool) -> Result<Selector, String> {
        if self.eat('*') {
            return Ok(Selector::Wildcard);
        }
        let start = self.pos;
        while let Some(c) = self.peek() {
            let stop =
                c == '.' || c == '[' || (in_filter && (c.is_whitespace() || "=!<>&|)".contains(c)));
            if stop {
                break;
            }
            self.pos += 1;
        }
        if start == self.pos {
            return Err(format!("empty field name at position {start}"));
        }
        Ok(Selector::Name(self.chars[start..self.pos].iter().collect()))
    }

    fn quoted(&mut self) -> Result<String, String> {
        let quote = self.peek().ok_or("expected a quote")?;
        self.pos += 1;
        let mut out = String::new();
        loop {
            match self.peek() {
                None => return Err("unterminated string".into()),
                Some('\\') => {
                    self.pos += 1;
                    let c = self.peek().ok_or("unterminated escape")?;
                    out.push(c);
                    self.pos += 1;
                }
                Some(c) if c == quote => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    fn integer(&mut self) -> Result<Option<i64>, String> {
        self.skip_ws();
        let start = self.pos;
        if self.peek() == Some('-') {
            self.pos += 1;
        }
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        if start == self.pos {
            return Ok(None);
        }
        let text: String = self.chars[start..self.pos].iter().collect();
        let value = text
            .parse::<i64>()
            .map_err(|_| format!("invalid integer '{text}'"))?;
        self.skip_ws();
        Ok(Some(value))
    }

    fn bracket(&mut self) -> Result<Selector, String> {
        self.expect('[')?;
        self.skip_ws();
        let selector = match self.peek() {
            Some('*') => {
                self.pos += 1;
                Selector::Wildcard
            }
            Some('?') => {
                self.pos += 1;
                self.skip_ws();
                self.expect('(')?;
                let filter = self.filter_or()?;
                self.skip_ws();
                self.expect(')')?;
                Selector::Filter(Box::new(filter))
            }
            Some('\'' | '"') => {
                let mut names = vec![self.quoted()?];
                self.skip_ws();
                while self.eat(',') {
                    self.skip_ws();
                    names.push(self.quoted()?);
                    self.skip_ws();
                }
                if names.len() == 1 {
                    Selector::Name(names.remove(0))
                } else {
                    Selector::Names(names)
                }
            }
            _ => {
                let first = self.integer()?;
                if self.peek() == Some(':') {
                    self.pos += 1;
                    let end = self.integer()?;
                    let step = if self.eat(':') {
                        self.integer()?.unwrap_or(1)
                    } else {
                        1
                    };
                    if step == 0 {
                        return Err("slice step cannot be zero".into());
                    }
                    Selector::Slice(first, end, step)
                } else {
                    let first = first
                        .ok_or_else(|| format!("expected an index at position {}", self.pos))?;
                    let mut indices = vec![first];
                    while self.eat(',') {
                        indices.push(self.integer()?.ok_or("expected an index")?);
                    }
                    if indices.len() == 1 {
                        Selector::Index(first)
                    } else {
                        Selector::Indices(indices)
                    }
                }
            }
        };
        self.skip_ws();
        self.expect(']')?;
        Ok(selector)
    }

    fn filter_or(&mut self) -> Result<Filter, String> {
        let mut left = self.filter_and()?;
        loop {
            self.skip_ws();
            if self.peek() == Some('|') && self.peek_at(1) == Some('|') {
                self.pos += 2;
                let right = self.filter_and()?;
                left = Filter::Or(Box::new(left), Box::new(right));
            } else {
                return Ok(left);
            }
        }
    }

    fn filter_and(&mut self) -> Result<Filter, String> {
        let mut left = self.filter_unary()?;
        loop {
            self.skip_ws();
            if self.peek() == Some('&') && self.peek_at(1) == Some('&') {
                self.pos += 2;
                let right = self.filter_unary()?;
                left = Filter::And(Box::new(left), Box::new(right));
            } else {
                return Ok(left);
            }
        }
    }

    fn filter_unary(&mut self) -> Result<Filter, String> {
        self.skip_ws();
        if self.peek() == Some('!') && self.peek_at(1) != Some('=') {
            self.pos += 1;
            return Ok(Filter::Not(Box::new(self.filter_unary()?)));
        }
        if self.eat('(') {
            let inner = self.filter_or()?;
            self.skip_ws();
            self.expect(')')?;
            return Ok(inner);
        }
        let left = self.operand()?;
        self.skip_ws();
        let op = match (self.peek(), self.peek_at(1)) {
            (Some('='), Some('=')) => Some((CmpOp::Eq, 2)),
            (Some('!'), Some('=')) => Some((CmpOp::Ne, 2)),
            (Some('<'), Some('=')) => Some((CmpOp::Le, 2)),
            (Some('>'), Some('=')) => Some((CmpOp::Ge, 2)),
            (Some('<'), _) => Some((CmpOp::Lt, 1)),
            (Some('>'), _) => Some((CmpOp::Gt, 1)),
            _ => None,
        };
        match op {
            Some((op, width)) => {
                self.pos += width;
                let right = self.operand()?;
                Ok(Filter::Compare(left, op, right))
            }
            None => Ok(Filter::Exists(left)),
        }
    }

    fn operand(&mut self) -> Result<Operand, String> {
        self.skip_ws();
        match self.peek() {
            Some('@') => {
                self.pos += 1;
                Ok(Operand::Current(self.segments(true)?))
            }
            Some('$') => {
                self.pos += 1;
                Ok(Operand::Root(self.segments(true)?))
            }
            Some('\'' | '"') => Ok(Operand::Literal(Value::String(self.quoted()?))),
            Some(_) => {
                let start = self.pos;
                while self
                    .peek()
                    .is_some_and(|c| c.is_ascii_alphanumeric() || "-+.eE".contains(c))
                {
                    self.pos += 1;
                }
                let word: String = self.chars[start..self.pos].iter().collect();
                let value: Value =
                    serde_json::from_str(&word).map_err(|_| format!("invalid literal '{word}'"))?;
                Ok(Operand::Literal(value))
            }
            None => Err("unexpected end of filter".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn get(path: &str, input: &Value) -> Option<Value> {
        JsonPath::parse(path).unwrap().resolve(input, &Value::Null)
    }

    #[test]
    fn reference_paths_read_fields_indices_and_brackets() {
        let input = json!({"a": {"b": [10, 20, {"c d": true}]}, "x": 1});
        assert_eq!(get("$", &input), Some(input.clone()));
        assert_eq!(get("$.a.b[1]", &input), Some(json!(20)));
        assert_eq!(get("$.a.b[-1]['c d']", &input), Some(json!(true)));
        assert_eq!(get("$['x']", &input), Some(json!(1)));
        assert_eq!(get("$.missing", &input), None);
        assert_eq!(get("$.a.b[7]", &input), None);
    }

    #[test]
    fn context_paths_read_the_context_object() {
        let ctx = json!({"Execution": {"Id": "arn:x"}});
        let path = JsonPath::parse("$$.Execution.Id").unwrap();
        assert_eq!(path.root(), Root::Context);
        assert_eq!(path.resolve(&Value::Null, &ctx), Some(json!("arn:x")));
    }

    #[test]
    fn indefinite_paths_return_arrays() {
        let input = json!({"items": [{"id": 1, "price": 5}, {"id": 2, "price": 15}, {"id": 3}]});
        assert_eq!(get("$.items[*].id", &input), Some(json!([1, 2, 3])));
        assert_eq!(get("$.items[0:2].id", &input), Some(json!([1, 2])));
        assert_eq!(get("$.items[-1:].id", &input), Some(json!([3])));
        assert_eq!(get("$.items[0,2].id", &input), Some(json!([1, 3])));
        assert_eq!(get("$..id", &input), Some(json!([1, 2, 3])));
        assert_eq!(get("$.items[?(@.price > 10)].id", &input), Some(json!([2])));
        assert_eq!(get("$.items[?(@.price)].id", &input), Some(json!([1, 2])));
        assert_eq!(
            get("$.items[?(@.price < 10 || @.id == 3)].id", &input),
            Some(json!([1, 3]))
        );
        assert_eq!(
            get("$.items[?(@.id != 1 && !(@.price))].id", &input),
            Some(json!([3]))
        );
        assert_eq!(get("$.nothing[*]", &input), Some(json!([])));
    }

    #[test]
    fn reference_paths_reject_wildcards() {
        assert!(JsonPath::parse_reference("$.a[*]").is_err());
        assert!(JsonPath::parse_reference("$.a[0].b").is_ok());
        assert!(JsonPath::parse("a.b").is_err());
        assert!(JsonPath::parse("$.a[").is_err());
    }

    #[test]
    fn set_creates_intermediate_objects() {
        let mut target = json!({"a": 1});
        JsonPath::parse("$.b.c")
            .unwrap()
            .set(&mut target, json!(2))
            .unwrap();
        assert_eq!(target, json!({"a": 1, "b": {"c": 2}}));
        JsonPath::parse("$")
            .unwrap()
            .set(&mut target, json!("all"))
            .unwrap();
        assert_eq!(target, json!("all"));
    }

    #[test]
    fn set_into_a_scalar_input_fails() {
        let mut target = json!("text");
        assert!(
            JsonPath::parse("$.x")
                .unwrap()
                .set(&mut target, json!(1))
                .is_err()
        );
    }
}
