//! Intrinsic functions (`States.Format(...)`, `States.Array(...)`, ...) used in `.$` fields.
//!
//! An invocation is parsed once, when the definition is parsed, into a small syntax tree;
//! arguments are string literals (`'it\'s'`), numbers, `true`/`false`/`null`, paths
//! (`$.a`, `$$.Execution.Id`) or nested invocations. Every failure at run time is
//! `States.IntrinsicFailure`, except a path argument that matches nothing (`States.Runtime`).

use base64::Engine as _;
use rand::{Rng as _, SeedableRng as _};
use serde_json::{Map, Value};
use sha1::Digest as _;

use crate::error::StatesError;
use crate::path::JsonPath;

/// A parsed intrinsic function invocation.
#[derive(Debug, Clone, PartialEq)]
pub struct Intrinsic {
    source: String,
    call: Call,
}

#[derive(Debug, Clone, PartialEq)]
struct Call {
    func: Func,
    args: Vec<Arg>,
}

#[derive(Debug, Clone, PartialEq)]
enum Arg {
    /// A string literal; `placeholders` are byte offsets of unescaped `{}` pairs.
    Str {
        value: String,
        placeholders: Vec<usize>,
    },
    Literal(Value),
    Path(JsonPath),
    Call(Box<Call>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Func {
    Format,
    StringToJson,
    JsonToString,
    Array,
    ArrayPartition,
    ArrayContains,
    ArrayRange,
    ArrayGetItem,
    ArrayLength,
    ArrayUnique,
    Base64Encode,
    Base64Decode,
    Hash,
    JsonMerge,
    MathRandom,
    MathAdd,
    StringSplit,
    Uuid,
}

impl Func {
    fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "States.Format" => Self::Format,
            "States.StringToJson" => Self::StringToJson,
            "States.JsonToString" => Self::JsonToString,
            "States.Array" => Self::Array,
            "States.ArrayPartition" => Self::ArrayPartition,
            "States.ArrayContains" => Self::ArrayContains,
            "States.ArrayRange" => Self::ArrayRange,
            "States.ArrayGetItem" => Self::ArrayGetItem,
            "States.ArrayLength" => Self::ArrayLength,
            "States.ArrayUnique" => Self::ArrayUnique,
            "States.Base64Encode" => Self::Base64Encode,
            "States.Base64Decode" => Self::Base64Decode,
            "States.Hash" => Self::Hash,
            "States.JsonMerge" => Self::JsonMerge,
            "States.MathRandom" => Self::MathRandom,
            "States.MathAdd" => Self::MathAdd,
            "States.StringSplit" => Self::StringSplit,
            "States.UUID" => Self::Uuid,
            _ => return None,
        })
    }

    /// Allowed argument counts (inclusive range).
    fn arity(self) -> (usize, usize) {
        match self {
            Self::Format => (1, usize::MAX),
            Self::Array => (0, usize::MAX),
            Self::StringToJson
            | Self::JsonToString
            | Self::ArrayLength
            | Self::ArrayUnique
            | Self::Base64Encode
            | Self::Base64Decode => (1, 1),
            Self::ArrayPartition
            | Self::ArrayContains
            | Self::ArrayGetItem
            | Self::Hash
            | Self::MathAdd
            | Self::StringSplit => (2, 2),
            Self::ArrayRange | Self::JsonMerge => (3, 3),
            Self::MathRandom => (2, 3),
            Self::Uuid => (0, 0),
        }
    }
}

/// Nesting limit for invocations inside one field.
const MAX_DEPTH: usize = 10;

impl Intrinsic {
    /// Parses an invocation such as `States.Format('{} items', $.count)`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut parser = Parser {
            chars: text.chars().collect(),
            pos: 0,
        };
        parser.skip_ws();
        let call = parser.call(1)?;
        parser.skip_ws();
        if parser.pos != parser.chars.len() {
            return Err(format!(
                "unexpected text after the invocation at position {}",
                parser.pos
            ));
        }
        Ok(Self {
            source: text.to_owned(),
            call,
        })
    }

    /// Whether a `.$` value looks like an intrinsic invocation rather than a path.
    pub fn looks_like(text: &str) -> bool {
        text.trim_start().starts_with("States.")
    }

    /// The invocation as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Evaluates the invocation against a state's input and the context object.
    pub fn eval(&self, input: &Value, context: &Value) -> Result<Value, StatesError> {
        eval_call(&self.call, input, context)
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

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn ident(&mut self) -> String {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_')
        {
            self.pos += 1;
        }
        self.chars[start..self.pos].iter().collect()
    }

    fn call(&mut self, depth: usize) -> Result<Call, String> {
        if depth > MAX_DEPTH {
            return Err(format!("intrinsic functions nest at most {MAX_DEPTH} deep"));
        }
        let name = self.ident();
        let func =
            Func::from_name(&name).ok_or_else(|| format!("unknown intrinsic function '{name}'"))?;
        self.skip_ws();
        if self.peek() != Some('(') {
            return Err(format!("expected '(' after {name}"));
        }
        self.pos += 1;
        let mut args = Vec::new();
        self.skip_ws();
        if self.peek() == Some(')') {
            self.pos += 1;
        } else {
            loop {
                self.skip_ws();
                args.push(self.arg(depth)?);
                self.skip_ws();
                match self.peek() {
                    Some(',') => self.pos += 1,
                    Some(')') => {
                        self.pos += 1;
                        break;
                    }
                    _ => {
                        return Err(format!(
                            "expected ',' or ')' in {name} at position {}",
                            self.pos
                        ));
                    }
                }
            }
        }
        let (min, max) = func.arity();
        if args.len() < min || args.len() > max {
            return Err(format!(
                "{name} takes {} arguments, got {}",
                arity_text(min, max),
                args.len()
            ));
        }
        Ok(Call { func, args })
    }

    fn arg(&mut self, depth: usize) -> Result<Arg, String> {
        match self.peek() {
            Some('\'') => self.string(),
            Some('$') => self.path(),
            Some(c) if c == '-' || c.is_ascii_digit() => self.number(),
            Some(c) if c.is_ascii_alphabetic() => {
                let save = self.pos;
                let word = self.ident();
                match word.as_str() {
                    "true" => Ok(Arg::Literal(Value::Bool(true))),
                    "false" => Ok(Arg::Literal(Value::Bool(false))),
                    "null" => Ok(Arg::Literal(Value::Null)),
                    _ => {
                        self.pos = save;
                        Ok(Arg::Call(Box::new(self.call(depth + 1)?)))
                    }
                }
            }
            _ => Err(format!("unexpected character at position {}", self.pos)),
        }
    }

    fn string(&mut self) -> Result<Arg, String> {
        self.pos += 1;
        let mut value = String::new();
        let mut placeholders = Vec::new();
        loop {
            match self.peek() {
                None => return Err("unterminated string literal".into()),
                Some('\'') => {
                    self.pos += 1;
                    return Ok(Arg::Str {
                        value,
                        placeholders,
                    });
                }
                Some('\\') => {
                    self.pos += 1;
                    let c = self.peek().ok_or("unterminated escape in string literal")?;
                    value.push(c);
                    self.pos += 1;
                }
                Some('{') if self.chars.get(self.pos + 1) == Some(&'}') => {
                    placeholders.push(value.len());
                    value.push_str("{}");
                    self.pos += 2;
                }
                Some(c) => {
                    value.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    fn number(&mut self) -> Result<Arg, String> {
        let start = self.pos;
        self.pos += 1;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_digit() || "eE.+-".contains(c))
        {
            self.pos += 1;
        }
        let text: String = self.chars[start..self.pos].iter().collect();
        let value: Value =
            serde_json::from_str(&text).map_err(|_| format!("invalid number '{text}'"))?;
        if !value.is_number() {
            return Err(format!("invalid number '{text}'"));
        }
        Ok(Arg::Literal(value))
    }

    fn path(&mut self) -> Result<Arg, String> {
        let start = self.pos;
        let mut depth = 0usize;
        let mut quote: Option<char> = None;
        while let Some(c) = self.peek() {
            match quote {
                Some(q) if c == q => quote = None,
                Some(_) => {}
                None => match c {
                    '\'' | '"' if depth > 0 => quote = Some(c),
                    '[' | '(' => depth += 1,
                    ']' | ')' if depth > 0 => depth -= 1,
                    ',' | ')' => break,
                    c if c.is_whitespace() && depth == 0 => break,
                    _ => {}
                },
            }
            self.pos += 1;
        }
        let text: String = self.chars[start..self.pos].iter().collect();
        JsonPath::parse(&text)
            .map(Arg::Path)
            .map_err(|e| e.to_string())
    }
}

fn arity_text(min: usize, max: usize) -> String {
    if min == max {
        min.to_string()
    } else if max == usize::MAX {
        format!("at least {min}")
    } else {
        format!("{min} to {max}")
    }
}

fn eval_arg(arg: &Arg, input: &Value, context: &Value) -> Result<Value, StatesError> {
    match arg {
        Arg::Str { value, .. } => Ok(Value::String(value.clone())),
        Arg::Literal(v) => Ok(v.clone()),
        Arg::Path(path) => path.resolve(input, context).ok_or_else(|| {
            StatesError::runtime(format!(
                "The JsonPath argument '{path}' could not be found in the input"
            ))
        }),
        Arg::Call(call) => eval_call(call, input, context),
    }
}

fn fail(func: Func, message: impl std::fmt::Display) -> StatesError {
    StatesError::intrinsic(format!("Invalid arguments in States.{func:?}: {message}"))
}

fn int_arg(func: Func, v: &Value, what: &str) -> Result<i64, StatesError> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                    .map(|f| f as i64)
            })
            .ok_or_else(|| fail(func, format!("{what} must be an integer"))),
        _ => Err(fail(func, format!("{what} must be an integer"))),
    }
}

/// A number rounded to the nearest integer, halves rounding up (as `Math.round` does), for
/// the math functions, which accept non-integer arguments.
fn rounded_arg(func: Func, v: &Value, what: &str) -> Result<i64, StatesError> {
    match v {
        Value::Number(n) => match n.as_i64() {
            Some(i) => Ok(i),
            None => n
                .as_f64()
                .map(|f| (f + 0.5).floor())
                .filter(|f| f.abs() < 9.0e15)
                .map(|f| f as i64)
                .ok_or_else(|| fail(func, format!("{what} must be a number"))),
        },
        _ => Err(fail(func, format!("{what} must be a number"))),
    }
}

fn str_arg<'a>(func: Func, v: &'a Value, what: &str) -> Result<&'a str, StatesError> {
    v.as_str()
        .ok_or_else(|| fail(func, format!("{what} must be a string")))
}

fn array_arg<'a>(func: Func, v: &'a Value, what: &str) -> Result<&'a Vec<Value>, StatesError> {
    v.as_array()
        .ok_or_else(|| fail(func, format!("{what} must be an array")))
}

/// JSON equality that treats `1` and `1.0` as equal.
pub(crate) fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_eq(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

fn format_value(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn eval_call(call: &Call, input: &Value, context: &Value) -> Result<Value, StatesError> {
    let func = call.func;
    if func == Func::Format {
        return eval_format(call, input, context);
    }
    let args = call
        .args
        .iter()
        .map(|a| eval_arg(a, input, context))
        .collect::<Result<Vec<_>, _>>()?;
    match (func, args.as_slice()) {
        (Func::StringToJson, [s]) => {
            let s = str_arg(func, s, "the argument")?;
            serde_json::from_str(s).map_err(|e| fail(func, format!("not valid JSON: {e}")))
        }
        (Func::JsonToString, [v]) => Ok(Value::String(v.to_string())),
        (Func::Array, items) => Ok(Value::Array(items.to_vec())),
        (Func::ArrayPartition, [array, size]) => {
            let array = array_arg(func, array, "the first argument")?;
            let size = int_arg(func, size, "the chunk size")?;
            if size <= 0 {
                return Err(fail(func, "the chunk size must be positive"));
            }
            Ok(Value::Array(
                array
                    .chunks(size as usize)
                    .map(|c| Value::Array(c.to_vec()))
                    .collect(),
            ))
        }
        (Func::ArrayContains, [array, needle]) => {
            let array = array_arg(func, array, "the first argument")?;
            Ok(Value::Bool(array.iter().any(|v| json_eq(v, needle))))
        }
        (Func::ArrayRange, [start, end, step]) => {
            let (start, end, step) = (
                int_arg(func, start, "the start")?,
                int_arg(func, end, "the end")?,
                int_arg(func, step, "the step")?,
            );
            if step == 0 {
                return Err(fail(func, "the step must not be zero"));
            }
            let count = if (step > 0 && start > end) || (step < 0 && start < end) {
                0
            } else {
                (end - start) / step + 1
            };
            if count > 1000 {
                return Err(fail(func, "the range has more than 1000 items"));
            }
            Ok(Value::Array(
                (0..count).map(|i| Value::from(start + i * step)).collect(),
            ))
        }
        (Func::ArrayGetItem, [array, index]) => {
            let array = array_arg(func, array, "the first argument")?;
            let index = int_arg(func, index, "the index")?;
            usize::try_from(index)
                .ok()
                .and_then(|i| array.get(i))
                .cloned()
                .ok_or_else(|| fail(func, format!("index {index} is out of bounds")))
        }
        (Func::ArrayLength, [array]) => {
            Ok(Value::from(array_arg(func, array, "the argument")?.len()))
        }
        (Func::ArrayUnique, [array]) => {
            let array = array_arg(func, array, "the argument")?;
            let mut out: Vec<Value> = Vec::with_capacity(array.len());
            for v in array {
                if !out.iter().any(|seen| json_eq(seen, v)) {
                    out.push(v.clone());
                }
            }
            Ok(Value::Array(out))
        }
        (Func::Base64Encode, [s]) => {
            let s = str_arg(func, s, "the argument")?;
            if s.chars().count() > 10_000 {
                return Err(fail(func, "the input is longer than 10000 characters"));
            }
            Ok(Value::String(
                base64::engine::general_purpose::STANDARD.encode(s.as_bytes()),
            ))
        }
        (Func::Base64Decode, [s]) => {
            let s = str_arg(func, s, "the argument")?;
            if s.len() > 10_000 {
                return Err(fail(func, "the input is longer than 10000 characters"));
            }
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(s.as_bytes())
                .map_err(|e| fail(func, format!("not valid base64: {e}")))?;
            String::from_utf8(bytes)
                .map(Value::String)
                .map_err(|_| fail(func, "the decoded data is not UTF-8"))
        }
        (Func::Hash, [data, algorithm]) => {
            let data = format_value(data);
            let algorithm = str_arg(func, algorithm, "the algorithm")?;
            let digest = match algorithm {
                "MD5" => hex(&md5::Md5::digest(data.as_bytes())),
                "SHA-1" => hex(&sha1::Sha1::digest(data.as_bytes())),
                "SHA-256" => hex(&sha2::Sha256::digest(data.as_bytes())),
                "SHA-384" => hex(&sha2::Sha384::digest(data.as_bytes())),
                "SHA-512" => hex(&sha2::Sha512::digest(data.as_bytes())),
                other => return Err(fail(func, format!("unsupported algorithm '{other}'"))),
            };
            Ok(Value::String(digest))
        }
        (Func::JsonMerge, [a, b, deep]) => {
            let (Value::Object(a), Value::Object(b)) = (a, b) else {
                return Err(fail(func, "both inputs must be objects"));
            };
            match deep {
                Value::Bool(false) => {}
                Value::Bool(true) => {
                    return Err(fail(func, "only shallow merging (false) is supported"));
                }
                _ => return Err(fail(func, "the third argument must be a boolean")),
            }
            let mut merged: Map<String, Value> = a.clone();
            for (k, v) in b {
                merged.insert(k.clone(), v.clone());
            }
            Ok(Value::Object(merged))
        }
        (Func::MathRandom, [start, end, rest @ ..]) => {
            let start = rounded_arg(func, start, "the start")?;
            let end = rounded_arg(func, end, "the end")?;
            if start > end {
                return Err(fail(func, "the start must not be greater than the end"));
            }
            let value = match rest.first() {
                Some(seed) => {
                    let seed = rounded_arg(func, seed, "the seed")?;
                    rand::rngs::StdRng::seed_from_u64(seed as u64).gen_range(start..=end)
                }
                None => rand::thread_rng().gen_range(start..=end),
            };
            Ok(Value::from(value))
        }
        (Func::MathAdd, [a, b]) => {
            let a = rounded_arg(func, a, "the first argument")?;
            let b = rounded_arg(func, b, "the second argument")?;
            a.checked_add(b)
                .map(Value::from)
                .ok_or_else(|| fail(func, "the sum overflows"))
        }
        (Func::StringSplit, [s, delimiters]) => {
            let s = str_arg(func, s, "the first argument")?;
            let delimiters = str_arg(func, delimiters, "the delimiter")?;
            let parts = s
                .split(|c| delimiters.contains(c))
                .filter(|p| !p.is_empty())
                .map(|p| Value::String(p.to_owned()))
                .collect();
            Ok(Value::Array(parts))
        }
        (Func::Uuid, []) => Ok(Value::String(uuid::Uuid::new_v4().to_string())),
        (func, args) => Err(fail(
            func,
            format!("wrong number of arguments ({})", args.len()),
        )),
    }
}

fn eval_format(call: &Call, input: &Value, context: &Value) -> Result<Value, StatesError> {
    let func = Func::Format;
    let Some((template, rest)) = call.args.split_first() else {
        return Err(fail(func, "a template is required"));
    };
    let (text, placeholders) = match template {
        Arg::Str {
            value,
            placeholders,
        } => (value.clone(), placeholders.clone()),
        other => {
            let value = eval_arg(other, input, context)?;
            let text = str_arg(func, &value, "the template")?.to_owned();
            let placeholders = text.match_indices("{}").map(|(i, _)| i).collect();
            (text, placeholders)
        }
    };
    if placeholders.len() != rest.len() {
        return Err(fail(
            func,
            format!(
                "the template has {} placeholders but {} values were given",
                placeholders.len(),
                rest.len()
            ),
        ));
    }
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for (offset, arg) in placeholders.iter().zip(rest) {
        let value = eval_arg(arg, input, context)?;
        if value.is_object() || value.is_array() {
            return Err(fail(
                func,
                "values must be strings, numbers, booleans or null",
            ));
        }
        out.push_str(text.get(last..*offset).unwrap_or_default());
        out.push_str(&format_value(&value));
        last = offset + 2;
    }
    out.push_str(text.get(last..).unwrap_or_default());
    Ok(Value::String(out))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn run(expr: &str, input: Value) -> Result<Value, StatesError> {
        Intrinsic::parse(expr)
            .unwrap()
            .eval(&input, &json!({"Execution": {"Name": "run-1"}}))
    }

    #[test]
    fn format_interpolates_paths_and_literals() {
        let input = json!({"name": "Arnav", "template": "Hello, my name is {}."});
        assert_eq!(
            run(
                "States.Format('Hello, my name is {}.', $.name)",
                input.clone()
            )
            .unwrap(),
            json!("Hello, my name is Arnav.")
        );
        assert_eq!(
            run("States.Format($.template, $.name)", input).unwrap(),
            json!("Hello, my name is Arnav.")
        );
        assert_eq!(
            run("States.Format('{} {} {}', 1, true, null)", json!({})).unwrap(),
            json!("1 true null")
        );
    }

    #[test]
    fn string_literals_support_escapes() {
        assert_eq!(
            run(r"States.Format('it\'s \{\} {}', 'x')", json!({})).unwrap(),
            json!("it's {} x")
        );
        assert_eq!(
            run(r"States.Array('a\\b', 'c,d)')", json!({})).unwrap(),
            json!(["a\\b", "c,d)"])
        );
    }

    #[test]
    fn format_rejects_a_wrong_number_of_values() {
        let err = run("States.Format('{} {}', 'x')", json!({})).unwrap_err();
        assert_eq!(err.error, "States.IntrinsicFailure");
    }

    #[test]
    fn json_round_trips() {
        let input = json!({"escaped": "{\"foo\": \"bar\"}", "raw": {"foo": "bar"}});
        assert_eq!(
            run("States.StringToJson($.escaped)", input.clone()).unwrap(),
            json!({"foo": "bar"})
        );
        assert_eq!(
            run("States.JsonToString($.raw)", input).unwrap(),
            json!("{\"foo\":\"bar\"}")
        );
    }

    #[test]
    fn array_functions_follow_the_documented_examples() {
        let input = json!({"inputArray": [1, 2, 3, 4, 5, 6, 7, 8, 9], "lookingFor": 5, "dups": [1, 2, 3, 3, 3, 3, 3, 3, 4]});
        assert_eq!(
            run(
                "States.Array($.lookingFor, 'x', States.Array())",
                input.clone()
            )
            .unwrap(),
            json!([5, "x", []])
        );
        assert_eq!(
            run("States.ArrayPartition($.inputArray, 4)", input.clone()).unwrap(),
            json!([[1, 2, 3, 4], [5, 6, 7, 8], [9]])
        );
        assert_eq!(
            run(
                "States.ArrayContains($.inputArray, $.lookingFor)",
                input.clone()
            )
            .unwrap(),
            json!(true)
        );
        assert_eq!(
            run("States.ArrayRange(1, 9, 2)", input.clone()).unwrap(),
            json!([1, 3, 5, 7, 9])
        );
        assert_eq!(
            run("States.ArrayRange(5, 1, -2)", input.clone()).unwrap(),
            json!([5, 3, 1])
        );
        assert_eq!(
            run("States.ArrayGetItem($.inputArray, 5)", input.clone()).unwrap(),
            json!(6)
        );
        assert_eq!(
            run("States.ArrayLength($.inputArray)", input.clone()).unwrap(),
            json!(9)
        );
        assert_eq!(
            run("States.ArrayUnique($.dups)", input.clone()).unwrap(),
            json!([1, 2, 3, 4])
        );
        assert!(run("States.ArrayRange(1, 2000, 1)", input.clone()).is_err());
        assert!(run("States.ArrayGetItem($.inputArray, 9)", input).is_err());
    }

    #[test]
    fn encoding_and_hashing() {
        assert_eq!(
            run("States.Base64Encode('Data to encode')", json!({})).unwrap(),
            json!("RGF0YSB0byBlbmNvZGU=")
        );
        assert_eq!(
            run("States.Base64Decode('RGF0YSB0byBlbmNvZGU=')", json!({})).unwrap(),
            json!("Data to encode")
        );
        assert_eq!(
            run("States.Hash('input data', 'SHA-1')", json!({})).unwrap(),
            json!("aaff4a450a104cd177d28d18d74485e8cae074b7")
        );
        assert_eq!(
            run("States.Hash('', 'MD5')", json!({})).unwrap(),
            json!("d41d8cd98f00b204e9800998ecf8427e")
        );
        assert!(run("States.Hash('x', 'SHA-3')", json!({})).is_err());
    }

    #[test]
    fn merge_math_split_and_uuid() {
        let input = json!({"a": {"x": 1, "in": {"p": 1}}, "b": {"y": 2, "in": {"q": 2}}});
        assert_eq!(
            run("States.JsonMerge($.a, $.b, false)", input.clone()).unwrap(),
            json!({"x": 1, "y": 2, "in": {"q": 2}})
        );
        assert!(run("States.JsonMerge($.a, $.b, true)", input).is_err());
        assert_eq!(
            run("States.MathAdd(111, -1)", json!({})).unwrap(),
            json!(110)
        );
        // Both ends can come out (100 draws miss one of three values with odds of 1e-17).
        let drawn: std::collections::BTreeSet<i64> = (0..100)
            .map(|_| {
                run("States.MathRandom(1, 3)", json!({}))
                    .unwrap()
                    .as_i64()
                    .unwrap()
            })
            .collect();
        assert_eq!(drawn, [1, 2, 3].into());
        let r = run("States.MathRandom(1, 999)", json!({}))
            .unwrap()
            .as_i64()
            .unwrap();
        assert!((1..=999).contains(&r), "{r}");
        let seeded_a = run("States.MathRandom(1, 999, 7)", json!({})).unwrap();
        assert_eq!(
            seeded_a,
            run("States.MathRandom(1, 999, 7)", json!({})).unwrap()
        );
        assert_eq!(
            run(
                "States.StringSplit('This.is+a,test=string', '.+,=')",
                json!({})
            )
            .unwrap(),
            json!(["This", "is", "a", "test", "string"])
        );
        assert_eq!(
            run("States.UUID()", json!({}))
                .unwrap()
                .as_str()
                .unwrap()
                .len(),
            36
        );
    }

    #[test]
    fn nested_calls_and_context_paths() {
        let input = json!({"ImageRecipe": {"Arn": "arn:aws:imagebuilder:us-east-1:1:image-recipe/my.recipe/1.0.0"}});
        let expr = "States.Format('{}.{}', States.ArrayGetItem(States.StringSplit(States.ArrayGetItem(States.StringSplit($.ImageRecipe.Arn, '/'), 1), '.'), 0), $$.Execution.Name)";
        assert_eq!(run(expr, input).unwrap(), json!("my.run-1"));
    }

    #[test]
    fn parse_errors_are_reported() {
        assert!(Intrinsic::parse("States.Nope(1)").is_err());
        assert!(Intrinsic::parse("States.ArrayLength(1, 2)").is_err());
        assert!(Intrinsic::parse("States.Format('x'").is_err());
        assert!(Intrinsic::parse("States.UUID() extra").is_err());
    }

    #[test]
    fn missing_path_arguments_are_runtime_errors() {
        assert_eq!(
            run("States.Array($.missing)", json!({})).unwrap_err().error,
            "States.Runtime"
        );
    }
}
