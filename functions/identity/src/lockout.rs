//! Login throttling: how many failed attempts an email gets and how long it is locked after.
//!
//! Each email (whether or not an account has it) gets [`Policy::max_failures`] password checks; the
//! next attempt locks it for `base × 2^lockouts`, capped, and answers 429 with `Retry-After`. A
//! successful login forgets the failures; a quiet day forgets everything (the throttle item's TTL).

use std::time::Duration;

/// The throttling policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Password checks allowed before a lock.
    pub max_failures: u32,
    /// Length of the first lock.
    pub base_lock: Duration,
    /// Longest lock.
    pub max_lock: Duration,
    /// Quiet time after which the failures and lock count are forgotten.
    pub forget_after: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            max_failures: 5,
            base_lock: Duration::from_secs(30),
            max_lock: Duration::from_secs(3600),
            forget_after: Duration::from_secs(24 * 3600),
        }
    }
}

impl Policy {
    /// How long the lock lasts after `lockouts` earlier locks: doubling from `base_lock`, capped.
    #[must_use]
    pub fn lock_for(&self, lockouts: u32) -> Duration {
        let factor = 1_u32.checked_shl(lockouts.min(31)).unwrap_or(u32::MAX);
        self.base_lock
            .checked_mul(factor)
            .map_or(self.max_lock, |d| d.min(self.max_lock))
    }
}

/// The throttle key of a source address: an IPv4 address itself, an IPv6 address's /64 (one
/// client usually holds a whole /64), `unknown` outside API Gateway.
#[must_use]
pub fn source_key(ip: Option<std::net::IpAddr>) -> String {
    match ip {
        Some(std::net::IpAddr::V4(v4)) => v4.to_string(),
        Some(std::net::IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        None => "unknown".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_double_and_stop_at_the_cap() {
        let policy = Policy::default();
        assert_eq!(policy.lock_for(0), Duration::from_secs(30));
        assert_eq!(policy.lock_for(1), Duration::from_secs(60));
        assert_eq!(policy.lock_for(3), Duration::from_secs(240));
        assert_eq!(policy.lock_for(7), Duration::from_secs(3600));
        assert_eq!(policy.lock_for(u32::MAX), Duration::from_secs(3600));
    }
}
