//! Route selection, as API Gateway HTTP APIs select routes.
//!
//! From "Create routes for HTTP APIs" (API Gateway developer guide, "Routing
//! API requests"): the most specific match wins, by these priorities:
//! 1. a full match for the route and method (path variables included),
//! 2. a match for the route and method with a greedy path variable (`{proxy+}`),
//! 3. the `$default` route.
//!
//! `ANY` matches the methods a resource does not define itself, so it counts
//! as the route's method: `ANY /users/{id}` is a full match for `GET /users/1`
//! and wins over `GET /{proxy+}`, while `GET /users/{id}` would win over
//! `ANY /users/{id}`. Between two full (or two greedy) matches, the more
//! specific path wins, segment by segment from the left (literal over
//! variable over greedy), then a route with the method over `ANY`.
//!
//! No match (and no `$default`) is a 404 `{"message":"Not Found"}`. Path
//! parameters reach the integration URL-decoded.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use local_template::model::Route;

/// One segment of a route's path template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Variable(String),
    Greedy(String),
}

impl Segment {
    /// Literal beats variable beats greedy at the same position.
    fn rank(&self) -> u8 {
        match self {
            Segment::Literal(_) => 2,
            Segment::Variable(_) => 1,
            Segment::Greedy(_) => 0,
        }
    }
}

/// A route of the table, parsed once.
#[derive(Debug, Clone)]
struct Entry {
    /// Index into the API's route list.
    index: usize,
    /// Upper-case method; `None` for `ANY`.
    method: Option<String>,
    /// `None` for `$default`.
    segments: Option<Vec<Segment>>,
}

/// The routes of one API, ready for matching.
#[derive(Debug, Clone)]
pub struct RouteTable {
    routes: Vec<Route>,
    entries: Vec<Entry>,
}

/// A selected route and the path parameters it captured.
#[derive(Debug, Clone)]
pub struct RouteMatch<'a> {
    pub route: &'a Route,
    pub path_parameters: BTreeMap<String, String>,
}

impl RouteTable {
    pub fn new(routes: &[Route]) -> Self {
        let entries = routes
            .iter()
            .enumerate()
            .map(|(index, route)| Entry {
                index,
                method: route
                    .method
                    .as_ref()
                    .map(|m| m.to_ascii_uppercase())
                    .filter(|m| m != "ANY"),
                segments: route.path.as_deref().map(parse_template),
            })
            .collect();
        Self {
            routes: routes.to_vec(),
            entries,
        }
    }

    /// Selects the route for `method` and `raw_path` (the path as the client sent it).
    pub fn select(&self, method: &str, raw_path: &str) -> Option<RouteMatch<'_>> {
        let request: Vec<&str> = split_path(raw_path);
        let mut best: Option<(&Entry, BTreeMap<String, String>)> = None;
        for entry in &self.entries {
            let Some(segments) = &entry.segments else {
                continue;
            };
            if let Some(m) = &entry.method
                && !m.eq_ignore_ascii_case(method)
            {
                continue;
            }
            let Some(params) = match_segments(segments, &request) else {
                continue;
            };
            let better = match &best {
                None => true,
                Some((current, _)) => compare(entry, current) == Ordering::Greater,
            };
            if better {
                best = Some((entry, params));
            }
        }
        if let Some((entry, params)) = best {
            return Some(RouteMatch {
                route: &self.routes[entry.index],
                path_parameters: params,
            });
        }
        self.entries
            .iter()
            .find(|e| e.segments.is_none())
            .map(|e| RouteMatch {
                route: &self.routes[e.index],
                path_parameters: BTreeMap::new(),
            })
    }
}

/// Orders two routes that both match a request: a full match over a greedy
/// one, then segment by segment literal over variable over greedy, then a
/// specific method over `ANY`.
fn compare(a: &Entry, b: &Entry) -> Ordering {
    let (Some(sa), Some(sb)) = (&a.segments, &b.segments) else {
        return Ordering::Equal;
    };
    let full = |s: &[Segment]| !s.iter().any(|x| matches!(x, Segment::Greedy(_)));
    let tier = full(sa).cmp(&full(sb));
    if tier != Ordering::Equal {
        return tier;
    }
    for (x, y) in sa.iter().zip(sb.iter()) {
        let o = x.rank().cmp(&y.rank());
        if o != Ordering::Equal {
            return o;
        }
    }
    // Same shape up to the shorter one: the longer (more specific) template wins.
    let length = sa.len().cmp(&sb.len());
    if length != Ordering::Equal {
        return length;
    }
    a.method.is_some().cmp(&b.method.is_some())
}

fn parse_template(path: &str) -> Vec<Segment> {
    split_path(path)
        .into_iter()
        .map(|s| {
            if let Some(inner) = s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                if let Some(name) = inner.strip_suffix('+') {
                    Segment::Greedy(name.to_string())
                } else {
                    Segment::Variable(inner.to_string())
                }
            } else {
                Segment::Literal(s.to_string())
            }
        })
        .collect()
}

/// `/a/b` → `["a", "b"]`; `/` → `[]`; a trailing slash keeps an empty last segment.
fn split_path(path: &str) -> Vec<&str> {
    let trimmed = path.strip_prefix('/').unwrap_or(path);
    if trimmed.is_empty() {
        Vec::new()
    } else {
        trimmed.split('/').collect()
    }
}

fn match_segments(template: &[Segment], request: &[&str]) -> Option<BTreeMap<String, String>> {
    let mut params = BTreeMap::new();
    for (i, segment) in template.iter().enumerate() {
        match segment {
            Segment::Greedy(name) => {
                let rest = request.get(i..)?;
                let joined = rest.join("/");
                // A greedy variable catches at least one child resource.
                if joined.is_empty() {
                    return None;
                }
                params.insert(name.clone(), decode(&joined));
                return Some(params);
            }
            Segment::Variable(name) => {
                let value = request.get(i)?;
                if value.is_empty() {
                    return None;
                }
                params.insert(name.clone(), decode(value));
            }
            Segment::Literal(literal) => {
                let value = request.get(i)?;
                if decode(value) != *literal {
                    return None;
                }
            }
        }
    }
    (template.len() == request.len()).then_some(params)
}

/// Percent-decodes a path piece (a `+` stays a `+` in a path).
pub fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn route(key: &str) -> Route {
        let (method, path) = if key == "$default" {
            (None, None)
        } else {
            let (m, p) = key.split_once(' ').unwrap();
            let method = if m == "ANY" {
                None
            } else {
                Some(m.to_string())
            };
            (method, Some(p.to_string()))
        };
        Route {
            route_key: key.to_string(),
            method,
            path,
            function: format!("Fn{}", key.len()),
            authorizer: None,
            payload_format_version: "2.0".into(),
            timeout: Duration::from_secs(30),
        }
    }

    fn table(keys: &[&str]) -> RouteTable {
        RouteTable::new(&keys.iter().map(|k| route(k)).collect::<Vec<_>>())
    }

    fn selected(t: &RouteTable, method: &str, path: &str) -> Option<String> {
        t.select(method, path).map(|m| m.route.route_key.clone())
    }

    /// The example of the developer guide's "Routing API requests" section.
    fn documented_example() -> RouteTable {
        table(&[
            "$default",
            "ANY /{proxy+}",
            "GET /pets/{proxy+}",
            "GET /pets/dog/{id}",
            "GET /pets/dog/1",
        ])
    }

    #[test]
    fn a_static_route_is_a_full_match() {
        let t = documented_example();
        assert_eq!(
            selected(&t, "GET", "/pets/dog/1").unwrap(),
            "GET /pets/dog/1"
        );
    }

    #[test]
    fn a_path_variable_route_matches_other_values() {
        let t = documented_example();
        let m = t.select("GET", "/pets/dog/2").unwrap();
        assert_eq!(m.route.route_key, "GET /pets/dog/{id}");
        assert_eq!(m.path_parameters["id"], "2");
    }

    #[test]
    fn a_greedy_route_with_the_method_catches_what_no_full_match_does() {
        let t = documented_example();
        let m = t.select("GET", "/pets/cat/1").unwrap();
        assert_eq!(m.route.route_key, "GET /pets/{proxy+}");
        assert_eq!(m.path_parameters["proxy"], "cat/1");
    }

    #[test]
    fn any_catches_methods_without_a_route() {
        let t = documented_example();
        assert_eq!(
            selected(&t, "POST", "/pets/dog/1").unwrap(),
            "ANY /{proxy+}"
        );
    }

    #[test]
    fn default_catches_what_nothing_else_does() {
        let t = documented_example();
        // `ANY /{proxy+}` needs at least one segment, so the root falls to `$default`.
        assert_eq!(selected(&t, "GET", "/").unwrap(), "$default");
        let t = table(&["$default", "GET /pets"]);
        assert_eq!(selected(&t, "GET", "/cats").unwrap(), "$default");
        assert_eq!(selected(&t, "POST", "/pets").unwrap(), "$default");
    }

    #[test]
    fn no_match_without_default_is_none() {
        let t = table(&["GET /pets", "GET /pets/{id}"]);
        assert!(t.select("GET", "/dogs").is_none());
        assert!(t.select("DELETE", "/pets/1").is_none());
        assert!(t.select("GET", "/pets/1/toys").is_none());
    }

    #[test]
    fn a_full_match_with_any_beats_a_greedy_match_with_the_method() {
        let t = table(&["ANY /users/{id}", "GET /{proxy+}"]);
        assert_eq!(selected(&t, "GET", "/users/1").unwrap(), "ANY /users/{id}");
        assert_eq!(selected(&t, "PUT", "/users/1").unwrap(), "ANY /users/{id}");
        assert_eq!(selected(&t, "GET", "/orders/1").unwrap(), "GET /{proxy+}");
        let t = table(&["ANY /pets/dog/{id}", "GET /pets/{proxy+}"]);
        assert_eq!(
            selected(&t, "GET", "/pets/dog/1").unwrap(),
            "ANY /pets/dog/{id}"
        );
    }

    #[test]
    fn any_only_takes_the_methods_its_resource_does_not_define() {
        let t = table(&["ANY /users/{id}", "GET /users/{id}"]);
        assert_eq!(selected(&t, "GET", "/users/1").unwrap(), "GET /users/{id}");
        assert_eq!(
            selected(&t, "DELETE", "/users/1").unwrap(),
            "ANY /users/{id}"
        );
        let t = table(&["ANY /v1/{proxy+}", "GET /v1/{proxy+}"]);
        assert_eq!(selected(&t, "GET", "/v1/a/b").unwrap(), "GET /v1/{proxy+}");
        assert_eq!(selected(&t, "POST", "/v1/a/b").unwrap(), "ANY /v1/{proxy+}");
    }

    #[test]
    fn a_full_match_beats_a_greedy_match_with_a_more_literal_prefix() {
        let t = table(&["GET /v1/{proxy+}", "GET /{a}/{b}"]);
        assert_eq!(selected(&t, "GET", "/v1/x").unwrap(), "GET /{a}/{b}");
        assert_eq!(selected(&t, "GET", "/v1/x/y").unwrap(), "GET /v1/{proxy+}");
    }

    #[test]
    fn literal_segments_win_from_the_left() {
        let t = table(&[
            "GET /v1/{a}/items",
            "GET /v1/users/{id}",
            "GET /v1/users/me",
        ]);
        assert_eq!(
            selected(&t, "GET", "/v1/users/me").unwrap(),
            "GET /v1/users/me"
        );
        assert_eq!(
            selected(&t, "GET", "/v1/users/7").unwrap(),
            "GET /v1/users/{id}"
        );
        assert_eq!(
            selected(&t, "GET", "/v1/users/items").unwrap(),
            "GET /v1/users/{id}"
        );
        assert_eq!(
            selected(&t, "GET", "/v1/carts/items").unwrap(),
            "GET /v1/{a}/items"
        );
    }

    #[test]
    fn the_longer_greedy_prefix_wins() {
        let t = table(&["GET /{proxy+}", "GET /v1/{proxy+}"]);
        assert_eq!(selected(&t, "GET", "/v1/x/y").unwrap(), "GET /v1/{proxy+}");
        assert_eq!(selected(&t, "GET", "/v2/x").unwrap(), "GET /{proxy+}");
    }

    #[test]
    fn path_parameters_are_url_decoded() {
        let t = table(&["GET /files/{name}", "GET /docs/{proxy+}"]);
        let m = t.select("GET", "/files/a%20b%2Fc").unwrap();
        assert_eq!(m.path_parameters["name"], "a b/c");
        let m = t.select("GET", "/docs/x%3Dy/z").unwrap();
        assert_eq!(m.path_parameters["proxy"], "x=y/z");
    }

    #[test]
    fn methods_match_case_insensitively_and_head_needs_its_own_route() {
        let t = table(&["GET /pets"]);
        assert!(t.select("get", "/pets").is_some());
        assert!(t.select("HEAD", "/pets").is_none());
    }

    #[test]
    fn a_trailing_slash_is_a_different_path() {
        let t = table(&["GET /pets"]);
        assert!(t.select("GET", "/pets/").is_none());
    }
}
