//! Lambda authorizers (REQUEST type) of HTTP APIs.
//!
//! From "Working with AWS Lambda authorizers for HTTP APIs" (API Gateway
//! developer guide):
//! - identity sources (`$request.header.X`, `$request.querystring.X`) must all
//!   be present and non-empty, or the client gets a 401 and the authorizer is
//!   not invoked; header names are case-insensitive, query string names are not;
//! - `$context.X` identity sources (SAM's `Identity.Context`) take the request
//!   context variable's value, so `$context.routeKey` caches per route; the
//!   variables the local API knows are [`CONTEXT_VARIABLES`], and an API
//!   naming another is refused when the gateway is built;
//! - payload 2.0 events carry `routeArn` and `identitySource` as a list,
//!   payload 1.0 events carry `methodArn` and `identitySource` as one string;
//! - a 2.0 authorizer with simple responses answers `{isAuthorized, context}`;
//!   otherwise it answers an IAM policy (`principalId`, `policyDocument`,
//!   `context`) whose `Allow` must cover the route ARN;
//! - with a TTL, results are cached keyed by the identity source values and
//!   serve every route that uses the authorizer (a cached policy is evaluated
//!   against each request's own route ARN);
//! - an authorizer that fails or answers in an invalid format gives a 500;
//! - API Gateway waits [`AUTHORIZER_TIMEOUT`] (10 s, "Timeout for Lambda
//!   authorizer response" in the HTTP API quotas) for the authorizer, whatever
//!   the function's own timeout; a slower authorizer is a 500
//!   `{"message":"Internal Server Error"}`, like a failed one, and is not cached.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::sync::lock;

use local_template::model::Authorizer;
use serde_json::{Map, Value, json};

use super::cors::wildcard_match;
use super::event::{self, ApiContext, RequestInfo};

/// What an authorizer decided, as parsed from its response.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// A simple response.
    Simple {
        authorized: bool,
        context: Map<String, Value>,
    },
    /// An IAM policy response.
    Policy {
        principal_id: Option<Value>,
        statements: Vec<Statement>,
        context: Map<String, Value>,
    },
}

/// One statement of a policy document.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub allow: bool,
    pub actions: Vec<String>,
    pub resources: Vec<String>,
}

impl Verdict {
    /// The context the integration receives if this verdict allows `route_arn`.
    pub fn decide(&self, route_arn: &str) -> Option<Map<String, Value>> {
        match self {
            Verdict::Simple {
                authorized,
                context,
            } => authorized.then(|| context.clone()),
            Verdict::Policy {
                principal_id,
                statements,
                context,
            } => {
                let applies = |s: &&Statement| {
                    s.actions
                        .iter()
                        .any(|a| wildcard_match(&a.to_ascii_lowercase(), "execute-api:invoke"))
                        && s.resources.iter().any(|r| wildcard_match(r, route_arn))
                };
                // An explicit Deny wins over any Allow; no Allow is an implicit Deny.
                if statements.iter().filter(applies).any(|s| !s.allow) {
                    return None;
                }
                if !statements.iter().filter(applies).any(|s| s.allow) {
                    return None;
                }
                let mut out = context.clone();
                if let Some(p) = principal_id {
                    out.insert("principalId".into(), p.clone());
                }
                Some(out)
            }
        }
    }
}

/// Parses an authorizer's response; `Err` is an invalid format (a 500).
pub fn parse_response(payload: &[u8], simple_responses: bool) -> Result<Verdict, String> {
    let value: Value = serde_json::from_slice(payload).map_err(|e| format!("not JSON: {e}"))?;
    let object = value.as_object().ok_or("not a JSON object")?;
    let context = match object.get("context") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(c)) => c.clone(),
        Some(_) => return Err("context is not an object".into()),
    };
    if simple_responses {
        let authorized = object
            .get("isAuthorized")
            .and_then(Value::as_bool)
            .ok_or("isAuthorized is missing or not a boolean")?;
        return Ok(Verdict::Simple {
            authorized,
            context,
        });
    }
    let document = object
        .get("policyDocument")
        .and_then(Value::as_object)
        .ok_or("policyDocument is missing or not an object")?;
    let statements = match document.get("Statement") {
        Some(Value::Array(list)) => list.iter().map(statement).collect::<Result<Vec<_>, _>>()?,
        Some(single @ Value::Object(_)) => vec![statement(single)?],
        _ => return Err("policyDocument.Statement is missing".into()),
    };
    Ok(Verdict::Policy {
        principal_id: object.get("principalId").filter(|v| !v.is_null()).cloned(),
        statements,
        context,
    })
}

fn statement(value: &Value) -> Result<Statement, String> {
    let effect = value
        .get("Effect")
        .and_then(Value::as_str)
        .ok_or("a statement has no Effect")?;
    let allow = match effect {
        "Allow" => true,
        "Deny" => false,
        other => return Err(format!("unknown Effect {other:?}")),
    };
    Ok(Statement {
        allow,
        actions: string_or_list(value.get("Action"), "Action")?,
        resources: string_or_list(value.get("Resource"), "Resource")?,
    })
}

fn string_or_list(value: Option<&Value>, what: &str) -> Result<Vec<String>, String> {
    match value {
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(list)) => list
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("{what} holds a non-string"))
            })
            .collect(),
        _ => Err(format!("a statement has no {what}")),
    }
}

/// How long API Gateway waits for a Lambda authorizer's answer.
pub const AUTHORIZER_TIMEOUT: Duration = Duration::from_secs(10);

/// The `$context` variables that may be identity sources here, by the name
/// that follows `$context.`.
pub const CONTEXT_VARIABLES: &[&str] = &[
    "accountId",
    "apiId",
    "domainName",
    "domainPrefix",
    "httpMethod",
    "identity.sourceIp",
    "identity.userAgent",
    "path",
    "protocol",
    "requestId",
    "requestTime",
    "requestTimeEpoch",
    "routeKey",
    "stage",
];

/// The value of the context variable `$context.<name>` for this request.
pub fn context_variable(
    name: &str,
    info: &RequestInfo,
    api: &ApiContext,
    route_key: &str,
) -> Option<String> {
    Some(match name {
        "accountId" => api.account_id.clone(),
        "apiId" => api.api_id.clone(),
        "domainName" => info.domain_name.clone(),
        "domainPrefix" => info.domain_prefix(&api.api_id),
        "httpMethod" => info.method.clone(),
        "identity.sourceIp" => info.source_ip.clone(),
        "identity.userAgent" => info.user_agent().to_string(),
        "path" => info.path.clone(),
        "protocol" => "HTTP/1.1".to_string(),
        "requestId" => info.request_id.clone(),
        "requestTime" => info.time_text(),
        "requestTimeEpoch" => info.time_epoch_millis().to_string(),
        "routeKey" => route_key.to_string(),
        "stage" => api.stage.clone(),
        _ => return None,
    })
}

/// The identity source values in SAM's order (headers, query strings, then
/// context variables); `None` if one is missing or empty.
pub fn identity_values(
    authorizer: &Authorizer,
    info: &RequestInfo,
    api: &ApiContext,
    route_key: &str,
) -> Option<Vec<String>> {
    let mut values = Vec::new();
    for name in &authorizer.identity_headers {
        let value = info.header_joined(&name.to_ascii_lowercase())?;
        if value.is_empty() {
            return None;
        }
        values.push(value);
    }
    if !authorizer.identity_query_strings.is_empty() {
        let query = event::query_multi(&info.raw_query);
        for name in &authorizer.identity_query_strings {
            let value = query.get(name)?.join(",");
            if value.is_empty() {
                return None;
            }
            values.push(value);
        }
    }
    for name in &authorizer.identity_context {
        let value = context_variable(name, info, api, route_key)?;
        if value.is_empty() {
            return None;
        }
        values.push(value);
    }
    Some(values)
}

/// `arn:aws:execute-api:<region>:<account>:<api>/<stage>/<METHOD>/<path>`.
pub fn route_arn(api: &ApiContext, method: &str, path: &str) -> String {
    format!(
        "arn:aws:execute-api:{}:{}:{}/{}/{}/{}",
        api.region,
        api.account_id,
        api.api_id,
        api.stage,
        method,
        path.strip_prefix('/').unwrap_or(path)
    )
}

/// The event for the authorizer, in its payload format version.
pub fn authorizer_event(
    authorizer: &Authorizer,
    info: &RequestInfo,
    api: &ApiContext,
    route_key: &str,
    resource: &str,
    path_parameters: &BTreeMap<String, String>,
    identity: &[String],
) -> Value {
    let arn = route_arn(api, &info.method, &info.path);
    if authorizer.payload_format_version == "1.0" {
        let integration = event::event_v1(info, api, resource, path_parameters, None);
        let joined = identity.join(",");
        return json!({
            "version": "1.0",
            "type": "REQUEST",
            "methodArn": arn,
            "identitySource": joined,
            "authorizationToken": joined,
            "resource": resource,
            "path": info.path,
            "httpMethod": info.method,
            "headers": integration["headers"],
            "multiValueHeaders": integration["multiValueHeaders"],
            "queryStringParameters": integration["queryStringParameters"],
            "multiValueQueryStringParameters": integration["multiValueQueryStringParameters"],
            "pathParameters": integration["pathParameters"],
            "stageVariables": null,
            "requestContext": integration["requestContext"],
        });
    }
    let (headers, cookies) = event::headers_v2(info);
    let mut out = Map::new();
    out.insert("version".into(), json!("2.0"));
    out.insert("type".into(), json!("REQUEST"));
    out.insert("routeArn".into(), json!(arn));
    out.insert("identitySource".into(), json!(identity));
    out.insert("routeKey".into(), json!(route_key));
    out.insert("rawPath".into(), json!(info.path));
    out.insert("rawQueryString".into(), json!(info.raw_query));
    if !cookies.is_empty() {
        out.insert("cookies".into(), json!(cookies));
    }
    out.insert("headers".into(), Value::Object(headers));
    let query = event::query_v2(&info.raw_query);
    if !query.is_empty() {
        out.insert("queryStringParameters".into(), Value::Object(query));
    }
    out.insert(
        "requestContext".into(),
        event::request_context_v2(info, api, route_key, None),
    );
    if !path_parameters.is_empty() {
        out.insert("pathParameters".into(), json!(path_parameters));
    }
    Value::Object(out)
}

/// Authorizer name and identity source values.
type CacheKey = (String, Vec<String>);

/// Cached verdicts, per authorizer and identity source values, with their expiry.
#[derive(Debug, Default)]
pub struct VerdictCache {
    entries: Mutex<HashMap<CacheKey, (Instant, Verdict)>>,
}

impl VerdictCache {
    pub fn get(&self, authorizer: &str, identity: &[String], now: Instant) -> Option<Verdict> {
        let mut entries = lock(&self.entries);
        let key = (authorizer.to_string(), identity.to_vec());
        match entries.get(&key) {
            Some((expires, verdict)) if *expires > now => Some(verdict.clone()),
            Some(_) => {
                entries.remove(&key);
                None
            }
            None => None,
        }
    }

    /// Caches a verdict until `expires`. Expired entries are swept once the cache grows past
    /// [`SWEEP_AT`], so a stream of distinct tokens cannot grow it without bound.
    pub fn put(&self, authorizer: &str, identity: &[String], expires: Instant, verdict: Verdict) {
        let mut entries = lock(&self.entries);
        if entries.len() >= SWEEP_AT {
            let now = Instant::now();
            entries.retain(|_, (until, _)| *until > now);
        }
        entries.insert(
            (authorizer.to_string(), identity.to_vec()),
            (expires, verdict),
        );
    }
}

/// Cache size at which expired verdicts are swept out.
pub const SWEEP_AT: usize = 10_000;

/// Whether results of this authorizer are cached: a TTL and at least one identity source.
pub fn caches(authorizer: &Authorizer) -> bool {
    let has_identity_source = !authorizer.identity_headers.is_empty()
        || !authorizer.identity_query_strings.is_empty()
        || !authorizer.identity_context.is_empty();
    !authorizer.ttl.is_zero() && has_identity_source
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bytes::Bytes;

    use super::*;
    use crate::apigw::event::tests::{sample_api, sample_info};

    fn authorizer(simple: bool, version: &str) -> Authorizer {
        Authorizer {
            name: "TokenAuth".into(),
            function: "AuthFn".into(),
            payload_format_version: version.into(),
            simple_responses: simple,
            identity_headers: vec!["Authorization".into()],
            identity_query_strings: vec![],
            identity_context: vec![],
            ttl: Duration::from_secs(300),
        }
    }

    const ARN: &str = "arn:aws:execute-api:us-east-1:123456789012:api-id/$default/GET/v1/cart";

    fn policy(effect: &str, resource: &str) -> Vec<u8> {
        json!({
            "principalId": "user-1",
            "policyDocument": {
                "Version": "2012-10-17",
                "Statement": [{"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}]
            },
            "context": {"userId": "user-1", "roles": ["customer"]}
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn simple_responses_allow_or_deny_with_their_context() {
        let v = parse_response(
            br#"{"isAuthorized": true, "context": {"sub": "u1", "n": 1}}"#,
            true,
        )
        .unwrap();
        assert_eq!(v.decide(ARN).unwrap()["sub"], "u1");
        let v = parse_response(br#"{"isAuthorized": false}"#, true).unwrap();
        assert!(v.decide(ARN).is_none());
    }

    #[test]
    fn invalid_simple_responses_are_errors() {
        assert!(parse_response(br#"{"isAuthorized": "true"}"#, true).is_err());
        assert!(parse_response(br#"{"context": {}}"#, true).is_err());
        assert!(parse_response(br#"{"isAuthorized": true, "context": 1}"#, true).is_err());
        assert!(parse_response(b"true", true).is_err());
        assert!(parse_response(b"nonsense", true).is_err());
    }

    #[test]
    fn an_allow_policy_for_the_route_passes_context_and_principal() {
        let v = parse_response(&policy("Allow", ARN), false).unwrap();
        let ctx = v.decide(ARN).unwrap();
        assert_eq!(ctx["principalId"], "user-1");
        assert_eq!(ctx["userId"], "user-1");
        assert_eq!(ctx["roles"], json!(["customer"]));
    }

    #[test]
    fn policy_resources_take_wildcards() {
        let v = parse_response(
            &policy(
                "Allow",
                "arn:aws:execute-api:us-east-1:123456789012:api-id/*/GET/*",
            ),
            false,
        )
        .unwrap();
        assert!(v.decide(ARN).is_some());
        assert!(v.decide(&ARN.replace("/GET/", "/POST/")).is_none());
        let v = parse_response(&policy("Allow", "*"), false).unwrap();
        assert!(v.decide(ARN).is_some());
    }

    #[test]
    fn an_allow_for_another_route_or_a_deny_forbids() {
        let v = parse_response(&policy("Allow", &ARN.replace("cart", "orders")), false).unwrap();
        assert!(v.decide(ARN).is_none());
        let v = parse_response(&policy("Deny", ARN), false).unwrap();
        assert!(v.decide(ARN).is_none());
        let both = json!({
            "principalId": "u",
            "policyDocument": {"Statement": [
                {"Action": "execute-api:*", "Effect": "Allow", "Resource": "*"},
                {"Action": ["execute-api:Invoke"], "Effect": "Deny", "Resource": [ARN]}
            ]}
        });
        let v = parse_response(both.to_string().as_bytes(), false).unwrap();
        assert!(v.decide(ARN).is_none());
    }

    #[test]
    fn invalid_policies_are_errors() {
        assert!(parse_response(br#"{"principalId": "u"}"#, false).is_err());
        assert!(
            parse_response(br#"{"policyDocument": {"Statement": [{"Effect": "Maybe", "Action": "*", "Resource": "*"}]}}"#, false)
                .is_err()
        );
        assert!(parse_response(br#"{"isAuthorized": true}"#, false).is_err());
    }

    #[test]
    fn identity_sources_must_all_be_present_and_non_empty() {
        let api = sample_api();
        let mut a = authorizer(true, "2.0");
        a.identity_query_strings = vec!["token".into()];
        let mut info = sample_info();
        info.headers = vec![("authorization".into(), "Bearer x".into())];
        info.raw_query = "token=abc".into();
        assert_eq!(
            identity_values(&a, &info, &api, "GET /x").unwrap(),
            ["Bearer x", "abc"]
        );
        info.raw_query = "Token=abc".into();
        assert!(
            identity_values(&a, &info, &api, "GET /x").is_none(),
            "query names are case-sensitive"
        );
        info.raw_query = "token=".into();
        assert!(identity_values(&a, &info, &api, "GET /x").is_none());
        info.raw_query = "token=abc".into();
        info.headers = vec![("authorization".into(), "".into())];
        assert!(identity_values(&a, &info, &api, "GET /x").is_none());
        info.headers = vec![];
        assert!(identity_values(&a, &info, &api, "GET /x").is_none());
    }

    #[test]
    fn context_identity_sources_follow_headers_and_query_strings() {
        let api = sample_api();
        let mut a = authorizer(true, "2.0");
        a.identity_query_strings = vec!["token".into()];
        a.identity_context = vec!["routeKey".into(), "identity.sourceIp".into()];
        let mut info = sample_info();
        info.headers = vec![("authorization".into(), "Bearer x".into())];
        info.raw_query = "token=abc".into();
        assert_eq!(
            identity_values(&a, &info, &api, "GET /v1/cart").unwrap(),
            ["Bearer x", "abc", "GET /v1/cart", "192.0.2.1"]
        );
        // A context variable alone is an identity source, so it caches.
        a.identity_headers.clear();
        a.identity_query_strings.clear();
        a.identity_context = vec!["routeKey".into()];
        assert!(caches(&a));
        assert_eq!(
            identity_values(&a, &info, &api, "GET /v1/orders").unwrap(),
            ["GET /v1/orders"]
        );
        for name in CONTEXT_VARIABLES {
            assert!(
                context_variable(name, &info, &api, "GET /x").is_some(),
                "{name}"
            );
        }
        assert!(context_variable("authorizer.claims", &info, &api, "GET /x").is_none());
    }

    #[test]
    fn the_route_arn_names_region_account_api_stage_method_and_path() {
        let mut api = sample_api();
        api.stage = "test".into();
        assert_eq!(
            route_arn(&api, "GET", "/request"),
            "arn:aws:execute-api:us-east-1:123456789012:api-id/test/GET/request"
        );
    }

    #[test]
    fn the_v2_authorizer_event_matches_the_documented_shape() {
        let mut info = sample_info();
        info.method = "GET".into();
        info.body = Bytes::new();
        let params = BTreeMap::from([("parameter1".to_string(), "value1".to_string())]);
        let e = authorizer_event(
            &authorizer(true, "2.0"),
            &info,
            &sample_api(),
            "$default",
            "$default",
            &params,
            &["user1".to_string(), "123".to_string()],
        );
        assert_eq!(e["version"], "2.0");
        assert_eq!(e["type"], "REQUEST");
        assert_eq!(
            e["routeArn"],
            "arn:aws:execute-api:us-east-1:123456789012:api-id/$default/GET/my/path"
        );
        assert_eq!(e["identitySource"], json!(["user1", "123"]));
        assert_eq!(e["routeKey"], "$default");
        assert_eq!(e["rawPath"], "/my/path");
        assert_eq!(e["cookies"], json!(["cookie1", "cookie2"]));
        assert_eq!(e["headers"]["header2"], "value1,value2");
        assert_eq!(e["queryStringParameters"]["parameter1"], "value1,value2");
        assert_eq!(e["pathParameters"]["parameter1"], "value1");
        assert_eq!(e["requestContext"]["http"]["method"], "GET");
        assert!(e.get("body").is_none());
        assert!(e["requestContext"].get("authorizer").is_none());
    }

    #[test]
    fn the_v1_authorizer_event_matches_the_documented_shape() {
        let e = authorizer_event(
            &authorizer(false, "1.0"),
            &sample_info(),
            &sample_api(),
            "POST /my/path",
            "/my/path",
            &BTreeMap::new(),
            &["user1".to_string(), "123".to_string()],
        );
        assert_eq!(e["type"], "REQUEST");
        assert_eq!(e["identitySource"], "user1,123");
        assert_eq!(e["authorizationToken"], "user1,123");
        assert!(
            e["methodArn"]
                .as_str()
                .unwrap()
                .ends_with("/$default/POST/my/path")
        );
        assert_eq!(e["httpMethod"], "POST");
        assert_eq!(e["resource"], "/my/path");
    }

    #[test]
    fn the_cache_serves_until_the_ttl_and_is_keyed_by_identity() {
        let cache = VerdictCache::default();
        let now = Instant::now();
        let verdict = Verdict::Simple {
            authorized: true,
            context: Map::new(),
        };
        let id = vec!["token-a".to_string()];
        cache.put("Auth", &id, now + Duration::from_secs(60), verdict.clone());
        assert_eq!(cache.get("Auth", &id, now), Some(verdict));
        assert!(cache.get("Auth", &["token-b".to_string()], now).is_none());
        assert!(cache.get("Other", &id, now).is_none());
        assert!(
            cache
                .get("Auth", &id, now + Duration::from_secs(61))
                .is_none()
        );
    }

    #[test]
    fn caching_needs_a_ttl_and_an_identity_source() {
        let mut a = authorizer(true, "2.0");
        assert!(caches(&a));
        a.ttl = Duration::ZERO;
        assert!(!caches(&a));
        a.ttl = Duration::from_secs(5);
        a.identity_headers.clear();
        assert!(!caches(&a));
    }
}
