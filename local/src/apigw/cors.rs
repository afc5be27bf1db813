//! CORS as an HTTP API with a `CorsConfiguration` applies it.
//!
//! From "Configuring CORS for an HTTP API" (API Gateway developer guide):
//! API Gateway answers preflight `OPTIONS` requests itself, even without an
//! `OPTIONS` route; it adds the configured CORS headers to integration
//! responses and ignores CORS headers that the integration returns. A request
//! gets CORS headers only if it carries `Origin`; a preflight also needs
//! `Access-Control-Request-Method`. `allowOrigins` takes exact origins, `*`
//! and scheme wildcards such as `https://*`; `allowMethods`, `allowHeaders`
//! and `exposeHeaders` take `*`. API Gateway refuses `allowCredentials` with
//! a `*` origin at deployment ("allow-credentials is not supported if
//! 'allow-origin' is *"), and so does the local stack when it reads the
//! template, so a `*` origin always answers `*`.

use http::{HeaderMap, HeaderValue, Method, header};
use local_template::model::Cors;

/// The CORS policy of one API.
#[derive(Debug, Clone)]
pub struct CorsPolicy {
    config: Cors,
}

impl CorsPolicy {
    pub fn new(config: Cors) -> Self {
        Self { config }
    }

    /// A request is a preflight if it is an `OPTIONS` with `Origin` and
    /// `Access-Control-Request-Method`.
    pub fn is_preflight(method: &Method, headers: &HeaderMap) -> bool {
        method == Method::OPTIONS
            && headers.contains_key(header::ORIGIN)
            && headers.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
    }

    /// The `Access-Control-Allow-Origin` value for `origin`, if it is allowed.
    fn allow_origin(&self, origin: &str) -> Option<String> {
        let origins = &self.config.allow_origins;
        if origins.iter().any(|o| o == "*") {
            return Some("*".to_string());
        }
        origins
            .iter()
            .any(|pattern| origin_matches(pattern, origin))
            .then(|| origin.to_string())
    }

    /// The headers API Gateway puts on an answer to a request from an allowed origin.
    pub fn response_headers(&self, request: &HeaderMap) -> Vec<(header::HeaderName, String)> {
        let Some(origin) = header_str(request, header::ORIGIN) else {
            return Vec::new();
        };
        let Some(allow_origin) = self.allow_origin(origin) else {
            return Vec::new();
        };
        let mut out = vec![(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin)];
        if self.config.allow_credentials {
            out.push((header::ACCESS_CONTROL_ALLOW_CREDENTIALS, "true".into()));
        }
        if !self.config.expose_headers.is_empty() {
            out.push((
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                self.config.expose_headers.join(","),
            ));
        }
        out
    }

    /// The headers of API Gateway's answer to a preflight. Empty when the
    /// origin, the method or one of the requested headers is not allowed
    /// (the answer is then a bare 204 that the browser rejects).
    pub fn preflight_headers(&self, request: &HeaderMap) -> Vec<(header::HeaderName, String)> {
        let Some(origin) = header_str(request, header::ORIGIN) else {
            return Vec::new();
        };
        let Some(allow_origin) = self.allow_origin(origin) else {
            return Vec::new();
        };
        let Some(requested_method) = header_str(request, header::ACCESS_CONTROL_REQUEST_METHOD)
        else {
            return Vec::new();
        };
        let methods = &self.config.allow_methods;
        let any_method = methods.iter().any(|m| m == "*");
        if !any_method
            && !methods
                .iter()
                .any(|m| m.eq_ignore_ascii_case(requested_method.trim()))
        {
            return Vec::new();
        }
        let requested_headers: Vec<String> =
            header_str(request, header::ACCESS_CONTROL_REQUEST_HEADERS)
                .map(|v| {
                    v.split(',')
                        .map(|h| h.trim().to_ascii_lowercase())
                        .filter(|h| !h.is_empty())
                        .collect()
                })
                .unwrap_or_default();
        let allowed = &self.config.allow_headers;
        let any_header = allowed.iter().any(|h| h == "*");
        if !any_header
            && !requested_headers
                .iter()
                .all(|h| allowed.iter().any(|a| a.eq_ignore_ascii_case(h)))
        {
            return Vec::new();
        }

        let mut out = vec![(header::ACCESS_CONTROL_ALLOW_ORIGIN, allow_origin)];
        if self.config.allow_credentials {
            out.push((header::ACCESS_CONTROL_ALLOW_CREDENTIALS, "true".into()));
        }
        let allow_methods = if any_method {
            requested_method.trim().to_ascii_uppercase()
        } else {
            methods.join(",")
        };
        out.push((header::ACCESS_CONTROL_ALLOW_METHODS, allow_methods));
        if !requested_headers.is_empty() {
            let allow_headers = if any_header {
                requested_headers.join(",")
            } else {
                allowed
                    .iter()
                    .map(|h| h.to_ascii_lowercase())
                    .collect::<Vec<_>>()
                    .join(",")
            };
            out.push((header::ACCESS_CONTROL_ALLOW_HEADERS, allow_headers));
        }
        if let Some(max_age) = self.config.max_age {
            out.push((header::ACCESS_CONTROL_MAX_AGE, max_age.to_string()));
        }
        out
    }

    /// Replaces whatever CORS headers the integration set with the configured ones.
    ///
    /// A preflight that a route catches (`OPTIONS`, `ANY` or `$default`) reaches its
    /// integration, and the configured preflight headers go on that integration's answer.
    pub fn apply(&self, method: &Method, request: &HeaderMap, response: &mut HeaderMap) {
        let names: Vec<header::HeaderName> = response
            .keys()
            .filter(|k| k.as_str().starts_with("access-control-"))
            .cloned()
            .collect();
        for name in names {
            response.remove(name);
        }
        let headers = if Self::is_preflight(method, request) {
            self.preflight_headers(request)
        } else {
            self.response_headers(request)
        };
        for (name, value) in headers {
            if let Ok(v) = HeaderValue::from_str(&value) {
                response.insert(name, v);
            }
        }
    }
}

fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `https://*` allows any origin of that scheme; `*` may stand for any run
/// of characters elsewhere too (`https://*.example.com`).
fn origin_matches(pattern: &str, origin: &str) -> bool {
    if !pattern.contains('*') {
        return pattern.eq_ignore_ascii_case(origin);
    }
    wildcard_match(&pattern.to_ascii_lowercase(), &origin.to_ascii_lowercase())
}

/// Glob match with `*` (any run) and `?` (one character), as IAM and CORS
/// patterns use them.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(origins: &[&str], credentials: bool) -> CorsPolicy {
        CorsPolicy::new(Cors {
            allow_origins: origins.iter().map(|s| s.to_string()).collect(),
            allow_methods: vec!["GET".into(), "POST".into()],
            allow_headers: vec!["Authorization".into(), "Content-Type".into()],
            expose_headers: vec!["x-correlation-id".into()],
            max_age: Some(300),
            allow_credentials: credentials,
        })
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn get<'a>(out: &'a [(header::HeaderName, String)], name: &str) -> Option<&'a str> {
        out.iter()
            .find(|(n, _)| n.as_str() == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn preflight_needs_origin_and_request_method() {
        let m = Method::OPTIONS;
        assert!(CorsPolicy::is_preflight(
            &m,
            &headers(&[
                ("origin", "https://a.test"),
                ("access-control-request-method", "GET")
            ])
        ));
        assert!(!CorsPolicy::is_preflight(
            &m,
            &headers(&[("origin", "https://a.test")])
        ));
        assert!(!CorsPolicy::is_preflight(
            &Method::GET,
            &headers(&[
                ("origin", "https://a.test"),
                ("access-control-request-method", "GET")
            ])
        ));
    }

    #[test]
    fn an_allowed_preflight_gets_the_configured_headers() {
        let p = policy(&["https://shop.test"], false);
        let out = p.preflight_headers(&headers(&[
            ("origin", "https://shop.test"),
            ("access-control-request-method", "POST"),
            (
                "access-control-request-headers",
                "content-type, authorization",
            ),
        ]));
        assert_eq!(
            get(&out, "access-control-allow-origin"),
            Some("https://shop.test")
        );
        assert_eq!(get(&out, "access-control-allow-methods"), Some("GET,POST"));
        assert_eq!(
            get(&out, "access-control-allow-headers"),
            Some("authorization,content-type")
        );
        assert_eq!(get(&out, "access-control-max-age"), Some("300"));
        assert_eq!(get(&out, "access-control-allow-credentials"), None);
    }

    #[test]
    fn a_disallowed_origin_method_or_header_gets_no_cors_headers() {
        let p = policy(&["https://shop.test"], false);
        let base = [("access-control-request-method", "GET")];
        let mut h = headers(&base);
        h.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.test"),
        );
        assert!(p.preflight_headers(&h).is_empty());
        let h = headers(&[
            ("origin", "https://shop.test"),
            ("access-control-request-method", "DELETE"),
        ]);
        assert!(p.preflight_headers(&h).is_empty());
        let h = headers(&[
            ("origin", "https://shop.test"),
            ("access-control-request-method", "GET"),
            ("access-control-request-headers", "x-secret"),
        ]);
        assert!(p.preflight_headers(&h).is_empty());
    }

    #[test]
    fn a_star_origin_answers_star() {
        let h = headers(&[("origin", "https://any.test")]);
        let out = policy(&["*"], false).response_headers(&h);
        assert_eq!(get(&out, "access-control-allow-origin"), Some("*"));
        assert_eq!(get(&out, "access-control-allow-credentials"), None);
    }

    #[test]
    fn scheme_wildcards_allow_any_origin_of_that_scheme() {
        let p = policy(&["https://*"], false);
        assert!(
            !p.response_headers(&headers(&[("origin", "https://x.test")]))
                .is_empty()
        );
        assert!(
            p.response_headers(&headers(&[("origin", "http://x.test")]))
                .is_empty()
        );
        let p = policy(&["https://*.shop.test"], false);
        assert!(
            !p.response_headers(&headers(&[("origin", "https://m.shop.test")]))
                .is_empty()
        );
        assert!(
            p.response_headers(&headers(&[("origin", "https://shop.evil")]))
                .is_empty()
        );
    }

    #[test]
    fn star_methods_and_headers_echo_the_request() {
        let mut c = policy(&["*"], false).config;
        c.allow_methods = vec!["*".into()];
        c.allow_headers = vec!["*".into()];
        let out = CorsPolicy::new(c).preflight_headers(&headers(&[
            ("origin", "https://a.test"),
            ("access-control-request-method", "PATCH"),
            ("access-control-request-headers", "X-Thing"),
        ]));
        assert_eq!(get(&out, "access-control-allow-methods"), Some("PATCH"));
        assert_eq!(get(&out, "access-control-allow-headers"), Some("x-thing"));
    }

    #[test]
    fn normal_responses_get_origin_expose_and_credentials_and_lose_integration_cors_headers() {
        let p = policy(&["https://shop.test"], true);
        let mut response = headers(&[
            ("access-control-allow-origin", "*"),
            ("access-control-max-age", "9"),
            ("content-type", "application/json"),
        ]);
        p.apply(
            &Method::GET,
            &headers(&[("origin", "https://shop.test")]),
            &mut response,
        );
        assert_eq!(response["access-control-allow-origin"], "https://shop.test");
        assert_eq!(
            response["access-control-expose-headers"],
            "x-correlation-id"
        );
        assert_eq!(response["access-control-allow-credentials"], "true");
        assert!(response.get("access-control-max-age").is_none());
        assert_eq!(response["content-type"], "application/json");

        let mut response = headers(&[("access-control-allow-origin", "*")]);
        p.apply(&Method::GET, &headers(&[]), &mut response);
        assert!(response.get("access-control-allow-origin").is_none());
    }

    #[test]
    fn wildcards_match_like_iam() {
        assert!(wildcard_match("arn:*:a/*/GET/*", "arn:x:a/s/GET/v1/x"));
        assert!(wildcard_match("a?c", "abc"));
        assert!(!wildcard_match("a?c", "ac"));
        assert!(wildcard_match("*", ""));
        assert!(!wildcard_match("abc", "abcd"));
    }
}
