//! Turning a function's result into the HTTP response, as HTTP APIs do, and
//! the answers API Gateway gives itself.
//!
//! From "Working with AWS Lambda proxy integrations for HTTP APIs" (API
//! Gateway developer guide, "Lambda function response format"): with format
//! 2.0, a result that is valid JSON without `statusCode` is taken as the body
//! of a 200 with `content-type: application/json` (a JSON string is the body
//! itself); otherwise `statusCode`, `headers`, `cookies` (each one a
//! `set-cookie`), `body` and `isBase64Encoded`. Format 1.0 needs `statusCode`
//! and takes `headers` and `multiValueHeaders`. A result that does not fit
//! is a 500 `{"message":"Internal Server Error"}`.
//!
//! The guide gives `statusCode` no type: API Gateway's Lambda proxy
//! integrations take a string of digits (`"statusCode": "201"`) as well as a
//! number, and so does the SAM CLI's local API, so both are accepted here in
//! either format; anything else there is a result that does not fit.

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use serde_json::{Map, Value};

/// A response on its way to the client.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// Why a function's result could not be turned into a response.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("malformed integration response: {0}")]
pub struct MalformedResponse(pub String);

fn malformed(why: impl Into<String>) -> MalformedResponse {
    MalformedResponse(why.into())
}

/// Base64 as functions write it: padding optional.
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// An answer API Gateway gives itself: `{"message":"..."}`.
pub fn gateway(status: StatusCode, message: &str) -> HttpResponse {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    HttpResponse {
        status,
        headers,
        body: Bytes::from(serde_json::json!({ "message": message }).to_string()),
    }
}

/// 404 `{"message":"Not Found"}`.
pub fn not_found() -> HttpResponse {
    gateway(StatusCode::NOT_FOUND, "Not Found")
}

/// 500 `{"message":"Internal Server Error"}`.
pub fn internal_error() -> HttpResponse {
    gateway(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
}

/// Maps a format 2.0 result.
pub fn map_v2(payload: &[u8]) -> Result<HttpResponse, MalformedResponse> {
    let value: Value =
        serde_json::from_slice(payload).map_err(|e| malformed(format!("not JSON: {e}")))?;
    let object = match &value {
        Value::Object(o) if o.contains_key("statusCode") => o,
        Value::String(s) => return Ok(json_200(Bytes::from(s.clone()))),
        _ => return Ok(json_200(Bytes::copy_from_slice(payload))),
    };
    let status = status_code(object)?;
    let mut headers = HeaderMap::new();
    if let Some(h) = non_null(object, "headers") {
        let h = h
            .as_object()
            .ok_or_else(|| malformed("headers is not an object"))?;
        for (name, value) in h {
            if let Some(text) = scalar_text(value)? {
                insert(&mut headers, name, &text, false)?;
            }
        }
    }
    if let Some(c) = non_null(object, "cookies") {
        let c = c
            .as_array()
            .ok_or_else(|| malformed("cookies is not an array"))?;
        for cookie in c {
            let cookie = cookie
                .as_str()
                .ok_or_else(|| malformed("a cookie is not a string"))?;
            insert(&mut headers, "set-cookie", cookie, true)?;
        }
    }
    if !headers.contains_key(header::CONTENT_TYPE) {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
    }
    Ok(HttpResponse {
        status,
        headers,
        body: body(object)?,
    })
}

/// Maps a format 1.0 result.
pub fn map_v1(payload: &[u8]) -> Result<HttpResponse, MalformedResponse> {
    let value: Value =
        serde_json::from_slice(payload).map_err(|e| malformed(format!("not JSON: {e}")))?;
    let object = value
        .as_object()
        .ok_or_else(|| malformed("not a JSON object"))?;
    if !object.contains_key("statusCode") {
        return Err(malformed("no statusCode"));
    }
    let status = status_code(object)?;
    let mut headers = HeaderMap::new();
    let multi = match non_null(object, "multiValueHeaders") {
        Some(m) => Some(
            m.as_object()
                .ok_or_else(|| malformed("multiValueHeaders is not an object"))?,
        ),
        None => None,
    };
    if let Some(h) = non_null(object, "headers") {
        let h = h
            .as_object()
            .ok_or_else(|| malformed("headers is not an object"))?;
        for (name, value) in h {
            // A key in both keeps only the multi-value values.
            let in_multi = multi.is_some_and(|m| m.keys().any(|k| k.eq_ignore_ascii_case(name)));
            if in_multi {
                continue;
            }
            if let Some(text) = scalar_text(value)? {
                insert(&mut headers, name, &text, false)?;
            }
        }
    }
    if let Some(m) = multi {
        for (name, values) in m {
            let values = values
                .as_array()
                .ok_or_else(|| malformed("a multiValueHeaders entry is not an array"))?;
            for value in values {
                if let Some(text) = scalar_text(value)? {
                    insert(&mut headers, name, &text, true)?;
                }
            }
        }
    }
    Ok(HttpResponse {
        status,
        headers,
        body: body(object)?,
    })
}

fn json_200(body: Bytes) -> HttpResponse {
    let mut headers = HeaderMap::new();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    HttpResponse {
        status: StatusCode::OK,
        headers,
        body,
    }
}

fn non_null<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    object.get(key).filter(|v| !v.is_null())
}

/// `statusCode` as a JSON integer or a string of ASCII digits.
fn status_code(object: &Map<String, Value>) -> Result<StatusCode, MalformedResponse> {
    let code = match object.get("statusCode") {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse::<u64>().ok()
        }
        _ => None,
    }
    .ok_or_else(|| malformed("statusCode is not an integer"))?;
    u16::try_from(code)
        .ok()
        .filter(|c| (100..=599).contains(c))
        .and_then(|c| StatusCode::from_u16(c).ok())
        .ok_or_else(|| malformed(format!("statusCode {code} is out of range")))
}

/// Header values may be strings, numbers or booleans; `null` is skipped.
fn scalar_text(value: &Value) -> Result<Option<String>, MalformedResponse> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.clone())),
        Value::Number(n) => Ok(Some(n.to_string())),
        Value::Bool(b) => Ok(Some(b.to_string())),
        _ => Err(malformed("a header value is not a scalar")),
    }
}

fn insert(
    headers: &mut HeaderMap,
    name: &str,
    value: &str,
    append: bool,
) -> Result<(), MalformedResponse> {
    let name = HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| malformed(format!("invalid header name {name:?}")))?;
    // The gateway frames the body itself.
    if matches!(
        name.as_str(),
        "content-length" | "transfer-encoding" | "connection" | "keep-alive" | "upgrade"
    ) {
        return Ok(());
    }
    let value = HeaderValue::from_str(value)
        .map_err(|_| malformed(format!("invalid value for header {name}")))?;
    if append {
        headers.append(name, value);
    } else {
        headers.insert(name, value);
    }
    Ok(())
}

fn body(object: &Map<String, Value>) -> Result<Bytes, MalformedResponse> {
    let text = match non_null(object, "body") {
        None => return Ok(Bytes::new()),
        Some(Value::String(s)) => s,
        Some(_) => return Err(malformed("body is not a string")),
    };
    let is_base64 = match non_null(object, "isBase64Encoded") {
        None => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(malformed("isBase64Encoded is not a boolean")),
    };
    if is_base64 {
        LENIENT_BASE64
            .decode(text.trim())
            .map(Bytes::from)
            .map_err(|e| malformed(format!("body is not valid base64: {e}")))
    } else {
        Ok(Bytes::from(text.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v2(json: &str) -> HttpResponse {
        map_v2(json.as_bytes()).unwrap()
    }

    #[test]
    fn a_string_result_is_a_json_200_with_that_body() {
        let r = v2(r#""Hello from Lambda!""#);
        assert_eq!(r.status, 200);
        assert_eq!(r.headers["content-type"], "application/json");
        assert_eq!(r.body, "Hello from Lambda!");
    }

    #[test]
    fn an_object_without_status_code_is_the_body_as_returned() {
        let raw = r#"{ "message": "Hello from Lambda!" }"#;
        let r = v2(raw);
        assert_eq!(r.status, 200);
        assert_eq!(r.headers["content-type"], "application/json");
        assert_eq!(r.body, raw);
        let r = v2("[1, 2]");
        assert_eq!(r.body, "[1, 2]");
        let r = v2("42");
        assert_eq!(r.body, "42");
    }

    #[test]
    fn a_full_response_sets_status_headers_cookies_and_body() {
        let r = v2(
            r#"{"statusCode": 201, "headers": {"Content-Type": "application/problem+json", "X-Count": 3, "x-flag": true},
                "cookies": ["a=1; Path=/", "b=2"], "body": "{\"id\":1}"}"#,
        );
        assert_eq!(r.status, 201);
        assert_eq!(r.headers["content-type"], "application/problem+json");
        assert_eq!(r.headers["x-count"], "3");
        assert_eq!(r.headers["x-flag"], "true");
        let cookies: Vec<_> = r.headers.get_all("set-cookie").iter().collect();
        assert_eq!(cookies, ["a=1; Path=/", "b=2"]);
        assert_eq!(r.body, "{\"id\":1}");
    }

    #[test]
    fn a_full_response_without_content_type_is_plain_text_and_may_have_no_body() {
        let r = v2(r#"{"statusCode": 204}"#);
        assert_eq!(r.status, 204);
        assert_eq!(r.headers["content-type"], "text/plain; charset=utf-8");
        assert!(r.body.is_empty());
    }

    #[test]
    fn base64_bodies_are_decoded() {
        let r = v2(r#"{"statusCode": 200, "isBase64Encoded": true, "body": "AJ+Slg=="}"#);
        assert_eq!(&r.body[..], &[0, 159, 146, 150]);
        let r = v2(r#"{"statusCode": 200, "isBase64Encoded": true, "body": "aGk"}"#);
        assert_eq!(r.body, "hi");
    }

    #[test]
    fn a_status_code_may_be_a_string_of_digits_in_either_format() {
        let r = v2(r#"{"statusCode": "201", "body": "made"}"#);
        assert_eq!(r.status, 201);
        assert_eq!(r.body, "made");
        let r = map_v1(br#"{"statusCode": "404", "body": "none"}"#).unwrap();
        assert_eq!(r.status, 404);
        assert!(map_v1(br#"{"statusCode": "4o4"}"#).is_err());
    }

    #[test]
    fn multi_value_headers_are_not_part_of_format_2() {
        let r = v2(r#"{"statusCode": 200, "multiValueHeaders": {"x-a": ["1", "2"]}}"#);
        assert!(r.headers.get("x-a").is_none());
    }

    #[test]
    fn malformed_results_are_errors() {
        for bad in [
            r#"{"statusCode": "two hundred"}"#,
            r#"{"statusCode": "200.0"}"#,
            r#"{"statusCode": " 200"}"#,
            r#"{"statusCode": ""}"#,
            r#"{"statusCode": "99"}"#,
            r#"{"statusCode": 99}"#,
            r#"{"statusCode": 200.5}"#,
            r#"{"statusCode": null}"#,
            r#"{"statusCode": 200, "headers": []}"#,
            r#"{"statusCode": 200, "headers": {"x": {"a": 1}}}"#,
            r#"{"statusCode": 200, "cookies": "a=1"}"#,
            r#"{"statusCode": 200, "body": {"a": 1}}"#,
            r#"{"statusCode": 200, "isBase64Encoded": true, "body": "!!"}"#,
            r#"{"statusCode": 200, "headers": {"bad name": "x"}}"#,
            "not json",
        ] {
            assert!(map_v2(bad.as_bytes()).is_err(), "{bad} should be malformed");
        }
    }

    #[test]
    fn framing_headers_from_the_function_are_dropped() {
        let r = v2(
            r#"{"statusCode": 200, "headers": {"content-length": "999", "connection": "close"}, "body": "x"}"#,
        );
        assert!(r.headers.get("content-length").is_none());
        assert!(r.headers.get("connection").is_none());
    }

    #[test]
    fn format_1_needs_a_status_code_and_merges_multi_value_headers() {
        assert!(map_v1(br#""hello""#).is_err());
        assert!(map_v1(br#"{"body": "x"}"#).is_err());
        let r = map_v1(
            br#"{"statusCode": 200, "headers": {"x-a": "h", "x-b": "h"},
                "multiValueHeaders": {"x-a": ["m1", "m2"], "set-cookie": ["a=1", "b=2"]}, "body": "ok"}"#,
        )
        .unwrap();
        let a: Vec<_> = r.headers.get_all("x-a").iter().collect();
        assert_eq!(a, ["m1", "m2"]);
        assert_eq!(r.headers["x-b"], "h");
        assert_eq!(r.headers.get_all("set-cookie").iter().count(), 2);
        assert_eq!(r.body, "ok");
    }

    #[test]
    fn gateway_answers_are_json_messages() {
        let r = gateway(StatusCode::TOO_MANY_REQUESTS, "Too Many Requests");
        assert_eq!(r.status, 429);
        assert_eq!(r.headers["content-type"], "application/json");
        assert_eq!(r.body, r#"{"message":"Too Many Requests"}"#);
        assert_eq!(not_found().body, r#"{"message":"Not Found"}"#);
        assert_eq!(
            internal_error().body,
            r#"{"message":"Internal Server Error"}"#
        );
    }
}
