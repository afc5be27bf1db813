//! Route throttling: a token bucket per route, as API Gateway throttles.
//!
//! From "Protecting your HTTP API" (API Gateway developer guide): the token
//! bucket algorithm, where a token counts for a request; the burst is the
//! bucket size and the rate refills it per second. The stage's default route
//! settings apply to every route; route settings override them for one route.
//! A request over the limit gets 429 `{"message":"Too Many Requests"}`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use crate::sync::lock;
use std::time::Instant;

use local_template::model::Throttle;

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// The buckets of one API.
#[derive(Debug)]
pub struct Throttler {
    default: Option<Throttle>,
    routes: BTreeMap<String, Throttle>,
    buckets: Mutex<HashMap<String, Bucket>>,
}

impl Throttler {
    pub fn new(default: Option<Throttle>, routes: BTreeMap<String, Throttle>) -> Self {
        Self {
            default,
            routes,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token for `route_key` at `now`; `false` means throttled.
    pub fn allow(&self, route_key: &str, now: Instant) -> bool {
        let Some(limit) = self.routes.get(route_key).copied().or(self.default) else {
            return true;
        };
        let capacity = f64::from(limit.burst_limit);
        let rate = limit.rate_limit.max(0.0);
        let mut buckets = lock(&self.buckets);
        let bucket = buckets.entry(route_key.to_string()).or_insert(Bucket {
            tokens: capacity,
            updated: now,
        });
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(capacity);
        bucket.updated = now.max(bucket.updated);
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn limit(burst: u32, rate: f64) -> Throttle {
        Throttle {
            burst_limit: burst,
            rate_limit: rate,
        }
    }

    #[test]
    fn without_settings_nothing_is_throttled() {
        let t = Throttler::new(None, BTreeMap::new());
        let now = Instant::now();
        assert!((0..10_000).all(|_| t.allow("GET /x", now)));
    }

    #[test]
    fn the_burst_passes_then_the_rate_refills() {
        let t = Throttler::new(Some(limit(3, 2.0)), BTreeMap::new());
        let now = Instant::now();
        assert!(t.allow("GET /x", now));
        assert!(t.allow("GET /x", now));
        assert!(t.allow("GET /x", now));
        assert!(!t.allow("GET /x", now));
        // Half a second at 2/s is one token.
        let later = now + Duration::from_millis(500);
        assert!(t.allow("GET /x", later));
        assert!(!t.allow("GET /x", later));
        // Refill stops at the burst.
        let much_later = later + Duration::from_secs(60);
        assert_eq!((0..5).filter(|_| t.allow("GET /x", much_later)).count(), 3);
    }

    #[test]
    fn default_settings_apply_to_each_route_separately() {
        let t = Throttler::new(Some(limit(1, 0.0)), BTreeMap::new());
        let now = Instant::now();
        assert!(t.allow("GET /a", now));
        assert!(!t.allow("GET /a", now));
        assert!(t.allow("GET /b", now));
    }

    #[test]
    fn route_settings_override_the_default() {
        let routes = BTreeMap::from([("POST /orders".to_string(), limit(1, 0.0))]);
        let t = Throttler::new(Some(limit(100, 100.0)), routes);
        let now = Instant::now();
        assert!(t.allow("POST /orders", now));
        assert!(!t.allow("POST /orders", now));
        assert!((0..50).all(|_| t.allow("GET /orders", now)));
    }

    #[test]
    fn a_zero_limit_throttles_everything() {
        let t = Throttler::new(Some(limit(0, 0.0)), BTreeMap::new());
        assert!(!t.allow("GET /a", Instant::now()));
    }
}
