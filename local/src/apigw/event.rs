//! The Lambda events API Gateway HTTP APIs send: payload format 2.0 and 1.0.
//!
//! Shapes from "Working with AWS Lambda proxy integrations for HTTP APIs"
//! (API Gateway developer guide, "Payload format version"): format 2.0 has
//! no multi-value fields; duplicate headers and query strings are joined with
//! commas; cookies move from the `Cookie` header to `cookies`; header names
//! are lower case.
//!
//! The path reaches the function percent-decoded (`rawPath` and
//! `requestContext.http.path`, and `path` in format 1.0): requests captured on
//! AWS show `/capture/space%20value` arriving as `/capture/space value` and
//! `%2F` as `/`, while the query string stays as it was sent. The captures
//! also show HTTP APIs decoding some paths a second time (`%252F` arrives as
//! `/`), cutting the path at a decoded `?` and refusing a path whose second
//! decoding fails; the local API decodes once and does none of that.

use std::collections::BTreeMap;

use base64::Engine as _;
use bytes::Bytes;
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::macros::format_description;

/// What the gateway knows about one request, already read from the wire.
#[derive(Debug, Clone)]
pub struct RequestInfo {
    /// API Gateway's request id (`requestContext.requestId`, `apigw-requestid`).
    pub request_id: String,
    pub method: String,
    /// The request path, percent-decoded once, as HTTP APIs pass it on in
    /// `rawPath` and `requestContext.http.path` (and `path` in format 1.0).
    pub path: String,
    /// The query string as the client sent it, without `?`.
    pub raw_query: String,
    /// Headers in arrival order, names lower case (including those API Gateway adds).
    pub headers: Vec<(String, String)>,
    pub source_ip: String,
    pub body: Bytes,
    pub time: OffsetDateTime,
    /// `requestContext.domainName`.
    pub domain_name: String,
}

/// The API a request arrived at.
#[derive(Debug, Clone)]
pub struct ApiContext {
    pub account_id: String,
    pub api_id: String,
    pub stage: String,
    pub region: String,
}

impl RequestInfo {
    /// The first value of a header (names are lower case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// All values of a header joined with commas, as format 2.0 joins them.
    pub fn header_joined(&self, name: &str) -> Option<String> {
        let values: Vec<&str> = self
            .headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect();
        (!values.is_empty()).then(|| values.join(","))
    }

    pub fn user_agent(&self) -> &str {
        self.header("user-agent").unwrap_or("")
    }

    /// `requestContext.domainPrefix`: the first label of the domain name
    /// (the API id when the domain is a bare IP address).
    pub fn domain_prefix(&self, api_id: &str) -> String {
        let host = self
            .domain_name
            .rsplit_once(':')
            .map_or(self.domain_name.as_str(), |(h, _)| h);
        if host.parse::<std::net::IpAddr>().is_ok() {
            return api_id.to_string();
        }
        host.split('.').next().unwrap_or(host).to_string()
    }

    /// `12/Mar/2020:19:03:58 +0000`.
    pub fn time_text(&self) -> String {
        let format =
            format_description!("[day]/[month repr:short]/[year]:[hour]:[minute]:[second] +0000");
        self.time
            .to_offset(time::UtcOffset::UTC)
            .format(&format)
            .unwrap_or_default()
    }

    pub fn time_epoch_millis(&self) -> i64 {
        i64::try_from(self.time.unix_timestamp_nanos() / 1_000_000).unwrap_or_default()
    }
}

/// Format 2.0 headers (duplicates joined with `,`, no `cookie`) and cookies.
pub fn headers_v2(info: &RequestInfo) -> (Map<String, Value>, Vec<String>) {
    let mut joined: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut cookies = Vec::new();
    for (name, value) in &info.headers {
        if name == "cookie" {
            cookies.extend(
                value
                    .split(';')
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(str::to_string),
            );
        } else {
            joined.entry(name).or_default().push(value);
        }
    }
    let headers = joined
        .into_iter()
        .map(|(k, v)| (k.to_string(), Value::String(v.join(","))))
        .collect();
    (headers, cookies)
}

/// Query parameters, decoded, each name with all its values in order.
pub fn query_multi(raw_query: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for pair in raw_query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        out.entry(super::routes::decode(k))
            .or_default()
            .push(super::routes::decode(v));
    }
    out
}

/// Format 2.0 `queryStringParameters`: duplicates joined with `,`.
pub fn query_v2(raw_query: &str) -> Map<String, Value> {
    query_multi(raw_query)
        .into_iter()
        .map(|(k, v)| (k, Value::String(v.join(","))))
        .collect()
}

/// Whether HTTP APIs hand a request body of this content type to the function
/// as text. HTTP APIs have no binary media types setting: only `text/*`,
/// `application/json`, `application/xml` and `application/javascript` (and
/// structured-syntax variants such as `application/problem+json`) arrive as
/// text; anything else, a missing content type and form bodies included,
/// arrives base64-encoded.
pub fn is_text_content_type(content_type: Option<&str>) -> bool {
    let Some(ct) = content_type else {
        return false;
    };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence.starts_with("text/")
        || matches!(
            essence.as_str(),
            "application/json" | "application/xml" | "application/javascript"
        )
        || (essence.starts_with("application/")
            && (essence.ends_with("+json") || essence.ends_with("+xml")))
}

/// `(body, isBase64Encoded)`; no body field for an empty body.
pub fn body_fields(info: &RequestInfo) -> (Option<String>, bool) {
    if info.body.is_empty() {
        return (None, false);
    }
    if is_text_content_type(info.header("content-type"))
        && let Ok(text) = std::str::from_utf8(&info.body)
    {
        return (Some(text.to_string()), false);
    }
    (
        Some(base64::engine::general_purpose::STANDARD.encode(&info.body)),
        true,
    )
}

/// Format 2.0 `requestContext`.
pub fn request_context_v2(
    info: &RequestInfo,
    api: &ApiContext,
    route_key: &str,
    authorizer: Option<&Value>,
) -> Value {
    let mut ctx = json!({
        "accountId": api.account_id,
        "apiId": api.api_id,
        "domainName": info.domain_name,
        "domainPrefix": info.domain_prefix(&api.api_id),
        "http": {
            "method": info.method,
            "path": info.path,
            "protocol": "HTTP/1.1",
            "sourceIp": info.source_ip,
            "userAgent": info.user_agent(),
        },
        "requestId": info.request_id,
        "routeKey": route_key,
        "stage": api.stage,
        "time": info.time_text(),
        "timeEpoch": info.time_epoch_millis(),
    });
    if let (Some(lambda), Some(obj)) = (authorizer, ctx.as_object_mut()) {
        obj.insert("authorizer".into(), json!({ "lambda": lambda }));
    }
    ctx
}

/// The payload format 2.0 event for an integration.
pub fn event_v2(
    info: &RequestInfo,
    api: &ApiContext,
    route_key: &str,
    path_parameters: &BTreeMap<String, String>,
    authorizer: Option<&Value>,
) -> Value {
    let (headers, cookies) = headers_v2(info);
    let mut event = Map::new();
    event.insert("version".into(), json!("2.0"));
    event.insert("routeKey".into(), json!(route_key));
    event.insert("rawPath".into(), json!(info.path));
    event.insert("rawQueryString".into(), json!(info.raw_query));
    if !cookies.is_empty() {
        event.insert("cookies".into(), json!(cookies));
    }
    event.insert("headers".into(), Value::Object(headers));
    let query = query_v2(&info.raw_query);
    if !query.is_empty() {
        event.insert("queryStringParameters".into(), Value::Object(query));
    }
    if !path_parameters.is_empty() {
        event.insert("pathParameters".into(), json!(path_parameters));
    }
    event.insert(
        "requestContext".into(),
        request_context_v2(info, api, route_key, authorizer),
    );
    let (body, is_base64) = body_fields(info);
    if let Some(body) = body {
        event.insert("body".into(), json!(body));
    }
    event.insert("isBase64Encoded".into(), json!(is_base64));
    Value::Object(event)
}

/// Format 1.0 headers and multi-value headers (the `Cookie` header stays).
pub fn headers_v1(info: &RequestInfo) -> (Map<String, Value>, Map<String, Value>) {
    let mut multi: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (name, value) in &info.headers {
        multi.entry(name).or_default().push(value);
    }
    let single = multi
        .iter()
        .filter_map(|(k, v)| v.last().map(|last| (k.to_string(), json!(last))))
        .collect();
    let multi = multi
        .into_iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    (single, multi)
}

/// Format 1.0 `requestContext`.
pub fn request_context_v1(
    info: &RequestInfo,
    api: &ApiContext,
    resource: &str,
    authorizer: Option<&Value>,
) -> Value {
    json!({
        "accountId": api.account_id,
        "apiId": api.api_id,
        "authorizer": authorizer.cloned().unwrap_or(Value::Null),
        "domainName": info.domain_name,
        "domainPrefix": info.domain_prefix(&api.api_id),
        "extendedRequestId": info.request_id,
        "httpMethod": info.method,
        "identity": {
            "accessKey": null,
            "accountId": null,
            "caller": null,
            "cognitoAuthenticationProvider": null,
            "cognitoAuthenticationType": null,
            "cognitoIdentityId": null,
            "cognitoIdentityPoolId": null,
            "principalOrgId": null,
            "sourceIp": info.source_ip,
            "user": null,
            "userAgent": info.user_agent(),
            "userArn": null,
        },
        "path": info.path,
        "protocol": "HTTP/1.1",
        "requestId": info.request_id,
        "requestTime": info.time_text(),
        "requestTimeEpoch": info.time_epoch_millis(),
        "resourceId": null,
        "resourcePath": resource,
        "stage": api.stage,
    })
}

/// The payload format 1.0 event for an integration (the REST API shape).
pub fn event_v1(
    info: &RequestInfo,
    api: &ApiContext,
    resource: &str,
    path_parameters: &BTreeMap<String, String>,
    authorizer: Option<&Value>,
) -> Value {
    let (headers, multi_headers) = headers_v1(info);
    let multi_query = query_multi(&info.raw_query);
    let (query, multi_query) = if multi_query.is_empty() {
        (Value::Null, Value::Null)
    } else {
        (
            Value::Object(
                multi_query
                    .iter()
                    .filter_map(|(k, v)| v.last().map(|last| (k.clone(), json!(last))))
                    .collect(),
            ),
            json!(multi_query),
        )
    };
    let (body, is_base64) = body_fields(info);
    json!({
        "version": "1.0",
        "resource": resource,
        "path": info.path,
        "httpMethod": info.method,
        "headers": headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": query,
        "multiValueQueryStringParameters": multi_query,
        "requestContext": request_context_v1(info, api, resource, authorizer),
        "pathParameters": if path_parameters.is_empty() { Value::Null } else { json!(path_parameters) },
        "stageVariables": null,
        "body": body,
        "isBase64Encoded": is_base64,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn sample_info() -> RequestInfo {
        RequestInfo {
            request_id: "JKJaXmPLvHcESHA=".into(),
            method: "POST".into(),
            path: "/my/path".into(),
            raw_query: "parameter1=value1&parameter1=value2&parameter2=value".into(),
            headers: vec![
                ("header1".into(), "value1".into()),
                ("header2".into(), "value1".into()),
                ("cookie".into(), "cookie1; cookie2".into()),
                ("header2".into(), "value2".into()),
                ("user-agent".into(), "agent".into()),
                ("content-type".into(), "text/plain".into()),
            ],
            source_ip: "192.0.2.1".into(),
            body: Bytes::from_static(b"Hello from Lambda"),
            time: OffsetDateTime::from_unix_timestamp_nanos(1_583_348_638_390_000_000).unwrap(),
            domain_name: "id.execute-api.us-east-1.amazonaws.com".into(),
        }
    }

    pub(crate) fn sample_api() -> ApiContext {
        ApiContext {
            account_id: "123456789012".into(),
            api_id: "api-id".into(),
            stage: "$default".into(),
            region: "us-east-1".into(),
        }
    }

    /// The documented sample event of payload format 2.0, less the fields a
    /// local API has no source for (client certificates, JWT claims, stage
    /// variables).
    #[test]
    fn the_v2_event_matches_the_documented_sample() {
        let info = sample_info();
        let params = BTreeMap::from([("parameter1".to_string(), "value1".to_string())]);
        let lambda = json!({"exampleKey1": "exampleValue1"});
        let event = event_v2(&info, &sample_api(), "$default", &params, Some(&lambda));
        let expected = json!({
            "version": "2.0",
            "routeKey": "$default",
            "rawPath": "/my/path",
            "rawQueryString": "parameter1=value1&parameter1=value2&parameter2=value",
            "cookies": ["cookie1", "cookie2"],
            "headers": {
                "header1": "value1",
                "header2": "value1,value2",
                "user-agent": "agent",
                "content-type": "text/plain"
            },
            "queryStringParameters": {"parameter1": "value1,value2", "parameter2": "value"},
            "requestContext": {
                "accountId": "123456789012",
                "apiId": "api-id",
                "authorizer": {"lambda": {"exampleKey1": "exampleValue1"}},
                "domainName": "id.execute-api.us-east-1.amazonaws.com",
                "domainPrefix": "id",
                "http": {
                    "method": "POST",
                    "path": "/my/path",
                    "protocol": "HTTP/1.1",
                    "sourceIp": "192.0.2.1",
                    "userAgent": "agent"
                },
                "requestId": "JKJaXmPLvHcESHA=",
                "routeKey": "$default",
                "stage": "$default",
                "time": "04/Mar/2020:19:03:58 +0000",
                "timeEpoch": 1583348638390i64
            },
            "body": "Hello from Lambda",
            "pathParameters": {"parameter1": "value1"},
            "isBase64Encoded": false
        });
        assert_eq!(event, expected);
    }

    #[test]
    fn absent_parts_are_omitted_from_the_v2_event() {
        let mut info = sample_info();
        info.raw_query = String::new();
        info.headers = vec![("host".into(), "127.0.0.1:3000".into())];
        info.body = Bytes::new();
        info.domain_name = "127.0.0.1:3000".into();
        let event = event_v2(&info, &sample_api(), "GET /x", &BTreeMap::new(), None);
        let obj = event.as_object().unwrap();
        for absent in [
            "cookies",
            "queryStringParameters",
            "pathParameters",
            "body",
            "stageVariables",
        ] {
            assert!(!obj.contains_key(absent), "{absent} should be omitted");
        }
        assert_eq!(event["rawQueryString"], "");
        assert_eq!(event["isBase64Encoded"], false);
        assert!(event["requestContext"].get("authorizer").is_none());
        assert_eq!(event["requestContext"]["domainPrefix"], "api-id");
        assert_eq!(event["requestContext"]["http"]["userAgent"], "");
    }

    #[test]
    fn query_parameters_are_decoded_and_valueless_ones_are_empty() {
        let q = query_v2("q=red%20shoes&flag&a%5B%5D=1&a%5B%5D=2&plus=a+b");
        assert_eq!(q["q"], "red shoes");
        assert_eq!(q["flag"], "");
        assert_eq!(q["a[]"], "1,2");
        assert_eq!(q["plus"], "a+b");
    }

    #[test]
    fn text_bodies_are_text_and_others_are_base64() {
        assert!(is_text_content_type(Some(
            "application/json; charset=utf-8"
        )));
        assert!(is_text_content_type(Some("text/html")));
        assert!(is_text_content_type(Some("application/xml")));
        assert!(is_text_content_type(Some("application/problem+json")));
        assert!(!is_text_content_type(Some("application/octet-stream")));
        assert!(!is_text_content_type(Some("image/png")));
        assert!(!is_text_content_type(Some(
            "application/x-www-form-urlencoded"
        )));
        assert!(!is_text_content_type(None));

        let mut info = sample_info();
        info.headers = vec![("content-type".into(), "application/octet-stream".into())];
        info.body = Bytes::from_static(&[0, 159, 146, 150]);
        assert_eq!(body_fields(&info), (Some("AJ+Slg==".to_string()), true));
        info.headers = vec![("content-type".into(), "application/json".into())];
        assert_eq!(body_fields(&info), (Some("AJ+Slg==".to_string()), true));
        info.body = Bytes::from_static(b"{\"a\":1}");
        assert_eq!(body_fields(&info), (Some("{\"a\":1}".to_string()), false));
    }

    #[test]
    fn the_v1_event_has_the_rest_shape() {
        let info = sample_info();
        let event = event_v1(
            &info,
            &sample_api(),
            "/my/{id}",
            &BTreeMap::from([("id".to_string(), "path".to_string())]),
            None,
        );
        assert_eq!(event["version"], "1.0");
        assert_eq!(event["resource"], "/my/{id}");
        assert_eq!(event["httpMethod"], "POST");
        assert_eq!(event["headers"]["header2"], "value2");
        assert_eq!(
            event["multiValueHeaders"]["header2"],
            json!(["value1", "value2"])
        );
        assert_eq!(event["headers"]["cookie"], "cookie1; cookie2");
        assert_eq!(event["queryStringParameters"]["parameter1"], "value2");
        assert_eq!(
            event["multiValueQueryStringParameters"]["parameter1"],
            json!(["value1", "value2"])
        );
        assert_eq!(event["pathParameters"]["id"], "path");
        assert_eq!(
            event["requestContext"]["requestTimeEpoch"],
            1583348638390i64
        );
        assert_eq!(event["requestContext"]["identity"]["sourceIp"], "192.0.2.1");
        assert_eq!(event["stageVariables"], Value::Null);
        assert_eq!(event["body"], "Hello from Lambda");
    }
}
