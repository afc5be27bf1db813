//! JSONata for Step Functions: the `{% … %}` expressions of JSONata states.
//!
//! Expressions are evaluated by the `jsonata-rs` crate, with the variables in scope and
//! `$states` bound, and with the functions Step Functions adds to JSONata (`$partition`,
//! `$range`, `$hash`, `$random`, `$uuid`, `$parse`; `$random` takes no seed here) and some of the standard library that the
//! crate lacks (`$average`, `$type`, `$spread`, `$sift`, `$formatBase`, `$shuffle` and the URL
//! encoders). `tests/jsonata.rs` holds the crate to the reference implementation (the `jsonata`
//! npm package, the version Step Functions runs) on a corpus of expressions; what the crate
//! still lacks is listed there and in the README (the parent operator `%`, `$formatNumber`,
//! `$formatInteger`, `$parseInteger`). `$eval` is absent, as on Step Functions.
//!
//! A failing expression, or a panic inside the evaluator, is `States.QueryEvaluationError`.

use std::panic::{AssertUnwindSafe, catch_unwind};

use bumpalo::Bump;
use jsonata_rs::{ArrayFlags, Error as JError, FunctionContext, JsonAta, Value as JValue};
use serde_json::Value;

use crate::error::{StatesError, names};

/// The deepest recursion an expression may reach.
const MAX_DEPTH: usize = 500;

/// The longest an expression may run, in milliseconds.
const TIME_LIMIT_MS: usize = 5_000;

/// The expression inside `{% … %}`, when the whole string is one.
pub fn expression(text: &str) -> Option<&str> {
    let inner = text.strip_prefix("{%")?.strip_suffix("%}")?;
    Some(inner.trim())
}

/// Whether `expr` parses.
pub fn check(expr: &str) -> Result<(), String> {
    let arena = Bump::new();
    JsonAta::new(expr, &arena)
        .map(|_| ())
        .map_err(|e| format!("{} ({})", e, e.code()))
}

/// Evaluates `expr` with `bindings` as variables (`states`, and the workflow's variables).
/// `None` is JSONata's undefined.
pub fn evaluate(expr: &str, bindings: &[(&str, &Value)]) -> Result<Option<Value>, StatesError> {
    evaluate_raw(expr, bindings).map_err(|message| {
        StatesError::new(
            names::QUERY_EVALUATION_ERROR,
            format!("The JSONata expression '{expr}' threw an error during evaluation. {message}"),
        )
    })
}

/// [`evaluate`], failing with the evaluator's message.
pub(crate) fn evaluate_raw(
    expr: &str,
    bindings: &[(&str, &Value)],
) -> Result<Option<Value>, String> {
    let expr = &rewrite_calls(expr);
    let outcome = catch_unwind(AssertUnwindSafe(|| -> Result<Option<Value>, String> {
        let arena = Bump::new();
        let jsonata = JsonAta::new(expr, &arena).map_err(|e| describe(&e))?;
        register(&jsonata);
        for (name, value) in bindings {
            jsonata.assign_var(name, to_jsonata(&arena, value));
        }
        let result = jsonata
            .evaluate_timeboxed(None, Some(MAX_DEPTH), Some(TIME_LIMIT_MS))
            .map_err(|e| describe(&e))?;
        from_jsonata(result)
    }));
    match outcome {
        Ok(result) => result,
        Err(_) => {
            Err("the expression uses a feature the local JSONata evaluator does not have".into())
        }
    }
}

/// A JSON value whose `{% … %}` strings, at any depth, are JSONata expressions: the value of
/// `Arguments`, `Output`, an `Assign` entry, `Items`, `ItemSelector`, and so on.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Jv {
    Literal(Value),
    Expr(String),
    Object(Vec<(String, Jv)>),
    Array(Vec<Jv>),
}

/// Why a [`Jv`] could not be evaluated: the expression, where it is, and what happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldError {
    pub(crate) expr: String,
    pub(crate) field: String,
    /// `None` when the expression returned nothing (undefined).
    pub(crate) message: Option<String>,
}

impl FieldError {
    /// The cause Step Functions gives, after its "An error occurred while executing the
    /// state ..." prefix.
    pub(crate) fn describe(&self) -> String {
        match &self.message {
            None => format!(
                "The JSONata expression '{}' specified for the field '{}' returned nothing (undefined).",
                self.expr, self.field
            ),
            Some(message) => format!(
                "The JSONata expression '{}' specified for the field '{}' threw an error during evaluation. {message}",
                self.expr, self.field
            ),
        }
    }
}

impl Jv {
    /// Reads a field's value; every expression must parse.
    pub(crate) fn parse(value: &Value, location: &str) -> Result<Self, (String, String)> {
        Ok(match value {
            Value::String(text) => {
                let opens = text.starts_with("{%");
                let closes = text.ends_with("%}");
                match (opens, closes, expression(text)) {
                    (true, true, Some(expr)) => {
                        check(expr).map_err(|e| {
                            (
                                location.to_owned(),
                                format!("INVALID_JSONATA_EXPRESSION: '{expr}': {e}"),
                            )
                        })?;
                        Jv::Expr(expr.to_owned())
                    }
                    (true, _, _) | (_, true, _) => {
                        return Err((
                            location.to_owned(),
                            "a JSONata expression must be the whole string, opened with '{%' and closed with '%}'".into(),
                        ));
                    }
                    _ => Jv::Literal(value.clone()),
                }
            }
            Value::Object(map) => {
                let fields = map
                    .iter()
                    .map(|(k, v)| {
                        Ok::<_, (String, String)>((
                            k.clone(),
                            Jv::parse(v, &format!("{location}/{k}"))?,
                        ))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                if fields.iter().all(|(_, v)| matches!(v, Jv::Literal(_))) {
                    Jv::Literal(value.clone())
                } else {
                    Jv::Object(fields)
                }
            }
            Value::Array(items) => {
                let parsed = items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| Jv::parse(v, &format!("{location}[{i}]")))
                    .collect::<Result<Vec<_>, _>>()?;
                if parsed.iter().all(|v| matches!(v, Jv::Literal(_))) {
                    Jv::Literal(value.clone())
                } else {
                    Jv::Array(parsed)
                }
            }
            other => Jv::Literal(other.clone()),
        })
    }

    /// Whether any expression mentions `text` (as `$states.result` or `$states.errorOutput`).
    pub(crate) fn mentions(&self, text: &str) -> bool {
        match self {
            Jv::Literal(_) => false,
            Jv::Expr(expr) => expr.contains(text),
            Jv::Object(fields) => fields.iter().any(|(_, v)| v.mentions(text)),
            Jv::Array(items) => items.iter().any(|v| v.mentions(text)),
        }
    }

    /// The value, each expression replaced by its result. `field` names the position for
    /// errors (`Output`, `Output/result`, `Output/values[0]`).
    pub(crate) fn eval(
        &self,
        field: &str,
        bindings: &[(&str, &Value)],
    ) -> Result<Value, FieldError> {
        match self {
            Jv::Literal(v) => Ok(v.clone()),
            Jv::Expr(expr) => match evaluate_raw(expr, bindings) {
                Ok(Some(v)) => Ok(v),
                Ok(None) => Err(FieldError {
                    expr: expr.clone(),
                    field: field.to_owned(),
                    message: None,
                }),
                Err(message) => Err(FieldError {
                    expr: expr.clone(),
                    field: field.to_owned(),
                    message: Some(message),
                }),
            },
            Jv::Object(fields) => {
                let mut out = serde_json::Map::new();
                for (key, v) in fields {
                    out.insert(key.clone(), v.eval(&format!("{field}/{key}"), bindings)?);
                }
                Ok(Value::Object(out))
            }
            Jv::Array(items) => items
                .iter()
                .enumerate()
                .map(|(i, v)| v.eval(&format!("{field}[{i}]"), bindings))
                .collect::<Result<Vec<_>, _>>()
                .map(Value::Array),
        }
    }

    /// The expression, when the whole value is one.
    pub(crate) fn as_expr(&self) -> Option<&str> {
        match self {
            Jv::Expr(expr) => Some(expr),
            _ => None,
        }
    }
}

fn describe(error: &JError) -> String {
    let text = error.to_string();
    let code = error.code();
    // "T1006 @ 12: Attempted to ..." reads as Step Functions' "T1006: Attempted to ...".
    match text.split_once(": ") {
        Some((head, message)) if head.starts_with(code) => format!("{code}: {message}"),
        _ => format!("{code}: {text}"),
    }
}

/// A JSON value as a JSONata value in `arena`.
pub(crate) fn to_jsonata<'a>(arena: &'a Bump, value: &Value) -> &'a JValue<'a> {
    match value {
        Value::Null => JValue::null(arena),
        Value::Bool(b) => JValue::bool(*b),
        Value::Number(n) => JValue::number(arena, n.as_f64().unwrap_or(f64::NAN)),
        Value::String(s) => JValue::string(arena, s),
        Value::Array(items) => {
            let array = JValue::array_with_capacity(arena, items.len(), ArrayFlags::empty());
            for item in items {
                array.push(to_jsonata(arena, item));
            }
            array
        }
        Value::Object(map) => {
            let object = JValue::object_with_capacity(arena, map.len());
            for (key, item) in map {
                object.insert(key, to_jsonata(arena, item));
            }
            object
        }
    }
}

/// A JSONata result as JSON (`None` for undefined); functions and non-finite numbers have no
/// JSON form.
fn from_jsonata<'a>(value: &'a JValue<'a>) -> Result<Option<Value>, String> {
    if value.is_undefined() {
        return Ok(None);
    }
    if value.is_function() {
        return Err("the expression returned a function, which has no JSON form".into());
    }
    if value.is_number() && !value.is_finite() {
        return Err("the expression returned a number that is not finite".into());
    }
    let text = value.serialize(false);
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| format!("the result {text} is not JSON: {e}"))
}

/// Standard functions whose crate version gives wrong answers, and the names under which
/// they are replaced (the crate binds its own built-ins over any registered with their name).
const REPLACED: &[(&str, &str)] = &[("$substring", "$__substring")];

/// `expr` with calls to the [`REPLACED`] functions renamed, outside string literals and
/// comments.
fn rewrite_calls(expr: &str) -> String {
    let chars: Vec<char> = expr.chars().collect();
    let mut out = String::with_capacity(expr.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '"' || c == '\'' || c == '`' {
            // A string literal or a quoted name: copied as it is, escapes included.
            out.push(c);
            i += 1;
            while i < chars.len() {
                out.push(chars[i]);
                if chars[i] == '\\' && c != '`' {
                    if let Some(next) = chars.get(i + 1) {
                        out.push(*next);
                    }
                    i += 2;
                    continue;
                }
                i += 1;
                if chars[i - 1] == c {
                    break;
                }
            }
            continue;
        }
        if c == '/' && chars.get(i + 1) == Some(&'*') {
            let end = expr_find(&chars, i + 2, "*/").map_or(chars.len(), |e| e + 2);
            out.extend(&chars[i..end]);
            i = end;
            continue;
        }
        if c == '$' {
            let replaced = REPLACED.iter().find(|(name, _)| {
                let name: Vec<char> = name.chars().collect();
                chars.get(i..i + name.len()) == Some(&name[..])
                    && chars[i + name.len()..].iter().find(|c| !c.is_whitespace()) == Some(&'(')
            });
            if let Some((name, replacement)) = replaced {
                out.push_str(replacement);
                i += name.chars().count();
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    out
}

fn expr_find(chars: &[char], from: usize, needle: &str) -> Option<usize> {
    let needle: Vec<char> = needle.chars().collect();
    (from..chars.len()).find(|&i| chars.get(i..i + needle.len()) == Some(&needle[..]))
}

/// The functions Step Functions adds, and standard ones the crate lacks.
fn register(jsonata: &JsonAta<'_>) {
    jsonata.register_function("__substring", 3, fn_substring);
    jsonata.register_function("partition", 2, fn_partition);
    jsonata.register_function("range", 3, fn_range);
    jsonata.register_function("hash", 2, fn_hash);
    jsonata.register_function("uuid", 0, fn_uuid);
    jsonata.register_function("parse", 1, fn_parse);
    jsonata.register_function("average", 1, fn_average);
    jsonata.register_function("type", 1, fn_type);
    jsonata.register_function("spread", 1, fn_spread);
    jsonata.register_function("sift", 2, fn_sift);
    jsonata.register_function("formatBase", 2, fn_format_base);
    jsonata.register_function("shuffle", 1, fn_shuffle);
    jsonata.register_function("encodeUrlComponent", 1, fn_encode_url_component);
    jsonata.register_function("encodeUrl", 1, fn_encode_url);
    jsonata.register_function("decodeUrlComponent", 1, fn_decode_url);
    jsonata.register_function("decodeUrl", 1, fn_decode_url);
}

type Args<'a, 'b> = &'b [&'a JValue<'a>];
type Out<'a> = jsonata_rs::Result<&'a JValue<'a>>;

fn bad(context: &FunctionContext<'_, '_>, index: usize) -> JError {
    JError::T0410ArgumentNotValid(context.char_index, index, context.name.to_string())
}

fn custom(context: &FunctionContext<'_, '_>, message: &str) -> JError {
    JError::D3137Error(format!("${}: {message}", context.name))
}

fn arg<'a>(args: Args<'a, '_>, index: usize) -> &'a JValue<'a> {
    args.get(index).copied().unwrap_or_else(JValue::undefined)
}

/// The members of an array, or the value itself as one member.
fn members<'a>(value: &'a JValue<'a>) -> Vec<&'a JValue<'a>> {
    if value.is_array() {
        value.members().collect()
    } else if value.is_undefined() {
        Vec::new()
    } else {
        vec![value]
    }
}

/// `$substring(text, start[, length])`, counting characters (not bytes): a negative start
/// counts from the end, a start past the end gives "".
fn fn_substring<'a>(context: FunctionContext<'a, '_>, args: Args<'a, '_>) -> Out<'a> {
    let (text, start, length) = (arg(args, 0), arg(args, 1), arg(args, 2));
    if text.is_undefined() {
        return Ok(JValue::undefined());
    }
    if !text.is_string() {
        return Err(bad(&context, 1));
    }
    if !start.is_number() {
        return Err(bad(&context, 2));
    }
    if !length.is_undefined() && !length.is_number() {
        return Err(bad(&context, 3));
    }
    let chars: Vec<char> = text.as_str().chars().collect();
    let len = chars.len() as i64;
    let mut from = start.as_f64().floor() as i64;
    if from < 0 {
        from = (len + from).max(0);
    }
    let from = from.min(len);
    let to = if length.is_undefined() {
        len
    } else {
        let n = length.as_f64().floor() as i64;
        if n <= 0 { from } else { (from + n).min(len) }
    };
    let slice: String = chars[from as usize..to as usize].iter().collect();
    Ok(JValue::string(context.arena, &slice))
}

/// `$partition(array, size)`: the array in chunks of `size` (the last one shorter).
fn fn_partition<'a>(context: FunctionContext<'a, '_>, args: Args<'a, '_>) -> Out<'a> {
    let (array, size) = (arg(args, 0), arg(args, 1));
    if array.is_undefined() {
        return Ok(JValue::undefined());
    }
    if !size.is_integer() || size.as_f64() < 1.0 {
        return Err(custom(
            &context,
            "the chunk size must be a positive integer",
        ));
    }
    let size = size.as_usize();
    let out = JValue::array(context.arena, ArrayFlags::empty());
    for chunk in members(array).chunks(size) {
        let part = JValue::array_with_capacity(context.arena, chunk.len(), ArrayFlags::empty());
        for item in chunk {
            part.push(item);
        }
        out.push(part);
    }
    Ok(out)
}

/// `$range(start, end, step)`: the numbers from `start` to `end` (included) by `step`.
fn fn_range<'a>(context: FunctionContext<'a, '_>, args: Args<'a, '_>) -> Out<'a> {
    let (start, end, step) = (arg(args, 0), arg(args, 1), arg(args, 2));
    if !start.is_integer() {
        return Err(bad(&context, 1));
    }
    if !end.is_integer() {
        return Err(bad(&context, 2));
    }
    if !step.is_integer() || step.as_f64() == 0.0 {
        return Err(custom(&context, "the step must be a non-zero integer"));
    }
    let (start, end, step) = (start.as_isize(), end.as_isize(), step.as_isize());
    let count = ((end - start) / step).max(-1) + 1;
    if count > 1_000 {
        return Err(custom(
            &context,
            "the range would hold more than 1,000 numbers",
        ));
    }
    let out = JValue::array(context.arena, ArrayFlags::empty());
    let mut n = start;
    while (step > 0 && n <= end) || (step < 0 && n >= end) {
        out.push(JValue::number(context.arena, n as f64));
        n += step;
    }
    Ok(out)
}

/// `$hash(value, algorithm)`: the hex digest of a string with MD5, SHA-1, SHA-256, SHA-384
/// or SHA-512.
fn fn_hash<'a>(context: FunctionContext<'a, '_>, args: Args<'a, '_>) -> Out<'a> {
    use sha1::Digest as _;
    let (value, algorithm) = (arg(args, 0), arg(args, 1));
    if !value.is_string() {
        return Err(bad(&context, 1));
    }
    let data = value.as_str();
    let digest: Vec<u8> = match algorithm.as_str().as_ref() {
        "MD5" => md5::Md5::digest(data.as_bytes()).to_vec(),
        "SHA-1" => sha1::Sha1::digest(data.as_bytes()).to_vec(),
        "SHA-256" => sha2::Sha256::digest(data.as_bytes()).to_vec(),
        "SHA-384" => sha2::Sha384::digest(data.as_bytes()).to_vec(),
        "SHA-512" => sha2::Sha512::digest(data.as_bytes()).to_vec(),
        _ => {
            return Err(custom(
                &context,
                "the algorithm must be one of MD5, SHA-1, SHA-256, SHA-384 and SHA-512",
            ));
        }
    };
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    Ok(JValue::string(context.arena, &hex))
}

/// `$uuid()`: a random version 4 UUID.
fn fn_uuid<'a>(context: FunctionContext<'a, '_>, _args: Args<'a, '_>) -> Out<'a> {
    Ok(JValue::string(
        context.arena,
        &uuid::Uuid::new_v4().to_string(),
    ))
}

/// `$parse(text)`: the JSON value a string holds.
fn fn_parse<'a>(context: FunctionContext<'a, '_>, args: Args<'a, '_>) -> Out<'a> {
    let text = arg(args, 0);
    if text.is_undefined() {
        return Ok(JValue::undefined());
    }
    if !text.is_string() {
        return Err(bad(&context, 1));
    }
    let value: Value = serde_json::from_str(&text.as_str())
        .map_err(|e| custom(&context, &format!("not JSON: {e}")))?;
    Ok(to_jsonata(context.arena, &value))
}

/// `$average(array)`: the mean of the numbers.
fn fn_average<'a>(context: FunctionContext<'a, '_>, args: Args<'a, '_>) -> Out<'a> {
    let values = members(arg(args, 0));
    if values.is_empty() {
        return Ok(JValue::undefined());
    }
    if values.iter().any(|v| !v.is_number()) {
        return Err(JError::T0412ArgumentMustBeArrayOfType(
            context.char_index,
            1,
            context.name.to_string(),
            "number".into(),
        ));
    }
    let sum: f64 = values.iter().map(|v| v.as_f64()).sum();
    Ok(JValue::number(context.arena, sum / values.len() as f64))
}

/// `$type(value)`: "null", "number", "string", "boolean", "array", "object" or "function".
fn fn_type<'a>(context: FunctionContext<'a, '_>, args: Args<'a, '_>) -> Out<'a> {
    let value = arg(args, 0);
    let name = if value.is_undefined() {
        return Ok(JValue::undefined());
    } else if value.is_null() {
        "null"
    } else if value.is_number() {
        "number"
    } else if value.is_string() {
        "string"
    } else if value.is_bool() {
        "boolean"
    } else if value.is_array() {
        "array"
    } else if value.is_function() {
        "function"
    } else {
        "object"
    };
    Ok(JValue::string(context.arena, name))
}

/// `$spread(object)`: an array of one-entry objects.
fn fn_spread<'a>(context: FunctionContext<'a, '_>, args: Args<'a, '_>) -> Out<'a> {
    let value = arg(args, 0);
    if value.is_undefined() {
        return Ok(JValue::undefined());
    }
    let out = JValue::array(context.arena, ArrayFlags::SEQUENCE);
    for item in members(value) {
        if item.is_object() {
            let mut entries: Vec<_> = item.entries().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            for (key, v) in entries {
                let one = JValue::object_with_capacity(context.arena, 1);
                one.insert(key, v);
                out.push(one);
            }
        } else {
            out.push(item);
        }
    }
    Ok(out)
}

/// `$sift(object, function)`: the entries for which the function is truthy.
fn fn_sift<'a>(context: FunctionContext<'a, '_>, args: Args<'a, '_>) -> Out<'a> {
    let (object, function) = (arg(args, 0), arg(args, 1));
    if object.is_undefined() {
        return Ok(JValue::undefined());
    }
    if !object.is_object() {
        return Err(bad(&context, 1));
    }
    if !function.is_function() {
        return Err(bad(&context, 2));
    }
    let out = JValue::object(context.arena);
    let mut kept_any = false;
    let mut entries: Vec<_> = object.entries().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    for (key, value) in entries {
        let key_value = JValue::string(context.arena, key);
        let all = [*value, &*key_value, object];
        let arity = function.arity().clamp(1, 3);
        let kept = context.evaluate_function(function, &all[..arity])?;
        if kept.is_truthy() {
            out.insert(key, value);
            kept_any = true;
        }
    }
    if !kept_any {
        return Ok(JValue::undefined());
    }
    Ok(out)
}

/// `$formatBase(number, radix)`: the integer in base 2 to 36.
fn fn_format_base<'a>(context: FunctionContext<'a, '_>, args: Args<'a, '_>) -> Out<'a> {
    let (number, radix) = (arg(args, 0), arg(args, 1));
    if number.is_undefined() {
        return Ok(JValue::undefined());
    }
    if !number.is_number() {
        return Err(bad(&context, 1));
    }
    let radix = if radix.is_undefined() {
        10
    } else {
        radix.as_f64() as u32
    };
    if !(2..=36).contains(&radix) {
        return Err(JError::D3137Error(format!(
            "The radix of the formatBase function must be between 2 and 36. It was given {radix}"
        )));
    }
    let mut n = number.as_f64().round() as i64;
    let negative = n < 0;
    n = n.abs();
    let mut digits = Vec::new();
    loop {
        let digit = (n % i64::from(radix)) as u32;
        digits.push(std::char::from_digit(digit, radix).unwrap_or('0'));
        n /= i64::from(radix);
        if n == 0 {
            break;
        }
    }
    if negative {
        digits.push('-');
    }
    let text: String = digits.into_iter().rev().collect();
    Ok(JValue::string(context.arena, &text))
}

/// `$shuffle(array)`: the members in random order.
fn fn_shuffle<'a>(context: FunctionContext<'a, '_>, args: Args<'a, '_>) -> Out<'a> {
    use rand::seq::SliceRandom as _;
    let value = arg(args, 0);
    if value.is_undefined() {
        return Ok(JValue::undefined());
    }
    let mut items = members(value);
    items.shuffle(&mut rand::thread_rng());
    let out = JValue::array_with_capacity(context.arena, items.len(), ArrayFlags::empty());
    for item in items {
        out.push(item);
    }
    Ok(out)
}

/// Characters `encodeURIComponent` leaves as they are.
const COMPONENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'!')
    .remove(b'~')
    .remove(b'*')
    .remove(b'\'')
    .remove(b'(')
    .remove(b')');

/// Characters `encodeURI` leaves as they are.
const URL: &percent_encoding::AsciiSet = &COMPONENT
    .remove(b';')
    .remove(b',')
    .remove(b'/')
    .remove(b'?')
    .remove(b':')
    .remove(b'@')
    .remove(b'&')
    .remove(b'=')
    .remove(b'+')
    .remove(b'$')
    .remove(b'#');

fn encode<'a>(
    context: &FunctionContext<'a, '_>,
    args: Args<'a, '_>,
    set: &'static percent_encoding::AsciiSet,
) -> Out<'a> {
    let value = arg(args, 0);
    if value.is_undefined() {
        return Ok(JValue::undefined());
    }
    if !value.is_string() {
        return Err(bad(context, 1));
    }
    let text = percent_encoding::utf8_percent_encode(&value.as_str(), set).to_string();
    Ok(JValue::string(context.arena, &text))
}

/// `$encodeUrlComponent(text)`, as JavaScript's `encodeURIComponent`.
fn fn_encode_url_component<'a>(context: FunctionContext<'a, '_>, args: Args<'a, '_>) -> Out<'a> {
    encode(&context, args, COMPONENT)
}

/// `$encodeUrl(text)`, as JavaScript's `encodeURI`.
fn fn_encode_url<'a>(context: FunctionContext<'a, '_>, args: Args<'a, '_>) -> Out<'a> {
    encode(&context, args, URL)
}

/// `$decodeUrl(text)` and `$decodeUrlComponent(text)`.
fn fn_decode_url<'a>(context: FunctionContext<'a, '_>, args: Args<'a, '_>) -> Out<'a> {
    let value = arg(args, 0);
    if value.is_undefined() {
        return Ok(JValue::undefined());
    }
    if !value.is_string() {
        return Err(bad(&context, 1));
    }
    let text = percent_encoding::percent_decode_str(&value.as_str())
        .decode_utf8()
        .map_err(|_| JError::D3137Error("Malformed URL".into()))?
        .into_owned();
    Ok(JValue::string(context.arena, &text))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn eval(expr: &str) -> Option<Value> {
        evaluate(expr, &[]).unwrap_or_else(|e| panic!("{expr}: {e:?}"))
    }

    #[test]
    fn only_a_whole_string_is_an_expression() {
        assert_eq!(expression("{% $x %}"), Some("$x"));
        assert_eq!(expression("{%$x%}"), Some("$x"));
        assert_eq!(expression(" {% $x %}"), None);
        assert_eq!(expression("{% $x"), None);
        assert_eq!(expression("$x"), None);
    }

    #[test]
    fn bindings_are_variables() {
        let states = json!({"input": {"a": [1, 2, 3]}});
        let got = evaluate(
            "$sum($states.input.a) * $k",
            &[("states", &states), ("k", &json!(2))],
        );
        assert_eq!(got.ok().flatten(), Some(json!(12)));
    }

    #[test]
    fn undefined_is_none_and_failures_are_query_evaluation_errors() {
        assert_eq!(eval("$nothing"), None);
        let error = evaluate("1 +", &[]).expect_err("a syntax error");
        assert_eq!(error.error, "States.QueryEvaluationError");
        let error = evaluate("\"a\" + 1", &[]).expect_err("a type error");
        assert_eq!(error.error, "States.QueryEvaluationError");
        // The parent operator makes the crate panic: that is an error too, not a crash.
        let error = evaluate("a.b.%.c", &[]).expect_err("unsupported");
        assert_eq!(error.error, "States.QueryEvaluationError");
    }

    #[test]
    fn step_functions_functions() {
        assert_eq!(
            eval("$partition([1,2,3,4,5], 2)"),
            Some(json!([[1, 2], [3, 4], [5]]))
        );
        assert_eq!(eval("$range(0, 10, 3)"), Some(json!([0, 3, 6, 9])));
        assert_eq!(eval("$range(5, 1, -2)"), Some(json!([5, 3, 1])));
        assert_eq!(
            eval("$hash(\"hello\", \"SHA-256\")"),
            Some(json!(
                "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
            ))
        );
        let r = eval("$random()").and_then(|v| v.as_f64()).unwrap_or(-1.0);
        assert!((0.0..1.0).contains(&r));
        assert_eq!(eval("$length($uuid())"), Some(json!(36)));
        assert_eq!(eval("$parse('{\"a\": [1]}').a"), Some(json!([1])));
        assert!(evaluate("$eval('1')", &[]).is_err());
    }

    #[test]
    fn substring_counts_characters() {
        assert_eq!(eval("$substring('héllo wörld', 7)"), Some(json!("örld")));
        assert_eq!(eval("$substring('héllo', 1, 3)"), Some(json!("éll")));
        assert_eq!(eval("$substring('abc', 5)"), Some(json!("")));
        assert_eq!(eval("$substring('abcdef', -2)"), Some(json!("ef")));
        assert_eq!(eval("$substring('abc', 1, -1)"), Some(json!("")));
        assert_eq!(eval("'abc' ~> $substring(1)"), Some(json!("bc")));
        // Only calls are renamed: text that mentions the function stays as it is.
        assert_eq!(
            eval("'$substring(1)' & \"/*$substring(*/\""),
            Some(json!("$substring(1)/*$substring(*/"))
        );
        assert_eq!(eval("$substringBefore('a-b', '-')"), Some(json!("a")));
    }

    #[test]
    fn standard_functions_the_crate_lacks() {
        assert_eq!(eval("$average([1,2,3])"), Some(json!(2)));
        assert_eq!(eval("$type(1)"), Some(json!("number")));
        assert_eq!(eval("$type([])"), Some(json!("array")));
        assert_eq!(
            eval("$spread({\"a\":1,\"b\":2})"),
            Some(json!([{"a": 1}, {"b": 2}]))
        );
        assert_eq!(
            eval("$sift({\"a\":1,\"b\":2}, function($v) { $v > 1 })"),
            Some(json!({"b": 2}))
        );
        assert_eq!(eval("$formatBase(255, 16)"), Some(json!("ff")));
        assert_eq!(eval("$shuffle([1])"), Some(json!([1])));
        assert_eq!(
            eval("$encodeUrlComponent(\"a b/c\")"),
            Some(json!("a%20b%2Fc"))
        );
        assert_eq!(eval("$encodeUrl(\"a b/c\")"), Some(json!("a%20b/c")));
        assert_eq!(eval("$decodeUrlComponent(\"a%20b\")"), Some(json!("a b")));
    }
}
