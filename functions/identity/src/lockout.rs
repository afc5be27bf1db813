//! Login throttling: a lockout per email and source address, and a bounded slow-down per email.
//!
//! A lock per email alone can be turned against the owner: anyone who knows an email can keep its
//! owner out by sending wrong passwords. So the failures are counted twice, and the two counts do
//! different things.
//!
//! **Per email and source** (the source is [`source_key`]: an IPv4 address, an IPv6 /64). Every
//! attempt is counted *before* its password is checked, in one conditional write, so a burst of
//! parallel guesses from one source gets no more than [`Policy::max_failures`] checks; the
//! attempt after them locks that email *for that source* for [`Policy::lock_for`] (`base ×
//! 2^lockouts`, capped) and answers 429 with `Retry-After`, as does every attempt from that source
//! while the lock lasts. A successful login from the source forgets its count and its locks; a
//! quiet [`Policy::forget_after`] forgets them too. Other sources are not touched: the owner logs
//! in from anywhere the attacker is not.
//!
//! **Per email over all sources.** Every wrong password (from any source, for an email with an
//! account or not) adds one to the email's count, and each failure keeps the count for another
//! [`Policy::slow_forget_after`] (a sliding window: the count goes back to zero an hour after the
//! last failure). Past [`Policy::slow_after`] failures, every attempt for that email from every
//! source waits [`Policy::delay_for`] before its password is checked: [`Policy::first_delay`],
//! doubling every [`Policy::failures_per_doubling`] failures, never more than [`Policy::max_delay`]
//! (well within the login function's 10 s timeout). This slows a guessing attack spread over many
//! sources, each of which stays under its own lock, but never refuses anyone: a source that has not
//! failed itself gets no 429, and the right password still logs in, only later. A successful login
//! does not reset this count: the owner logging in does not end an attack, and a reset would give
//! the attacker fast guesses again.
//!
//! Both counts exist for emails without an account too, so neither a lock nor a delay reveals
//! whether an account exists.
//!
//! **What a login costs in the identity table.** Before the password check, two requests at once:
//! the `UpdateItem` that counts the attempt for the source (when its condition fails because the
//! source is locked, it returns the lock with it: no further read) and a `GetItem` of the email's
//! count. Then a success is one `TransactWriteItems` (the session, its refresh token and the
//! `DeleteItem` that forgets the source's failures), and a wrong password one `UpdateItem` of the
//! email's count. The attempt that locks a source costs one more `UpdateItem`, and a count found
//! expired but not yet removed by the table's TTL (which removes items within days, not at once)
//! one `PutItem` that starts it afresh.
//!
//! **Limits.** Clients behind one address (an office, a carrier's NAT) are one source: an attacker
//! among them locks the email for all of them. The slow-down holds a login function for up to
//! `max_delay` per attempt: the API's route throttle (`AuthRateLimit`) bounds how many are waiting
//! at once. Many sources each staying under their lock are slowed, not stopped; what stops them is
//! the password policy.
//!
//! **What an edge in front adds on AWS.** API Gateway's route throttle of the login
//! (`AuthRateLimit`) is one budget shared by all clients: one client sending more than it by
//! itself gets every login a 429, the owner's included, before any of the above runs. HTTP APIs
//! cannot take an AWS WAF web ACL, so on AWS a CloudFront distribution goes in front of the API
//! with a web ACL holding a rate-based rule that counts per client IP (scoped down to `POST
//! /v1/auth/login` and the other password routes, with a limit per evaluation window that an
//! honest user, or an office behind one address, never reaches). It stops one client's flood at
//! the edge, before it takes the shared budget or costs a Lambda invocation, and managed rule
//! groups (IP reputation, bot control, account takeover prevention) can refuse known bad sources
//! outright. It does not stop an attack spread over many addresses, each under the limit (that is
//! what the slow-down above is for), it knows nothing of emails, and it counts IPv6 clients per
//! address, not per /64. Two things go with it: the API must be reachable only through the
//! distribution (a secret header that CloudFront adds and the API checks), or a flood goes round
//! it; and behind CloudFront API Gateway's `sourceIp` is CloudFront's address, so the source must
//! then be read from the `CloudFront-Viewer-Address` header, which CloudFront sets itself and a
//! client cannot (`X-Forwarded-For` can be forged).

use std::{net::IpAddr, time::Duration};

/// The throttling policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Password checks per email and source before a lock.
    pub max_failures: u32,
    /// Length of a source's first lock.
    pub base_lock: Duration,
    /// Longest lock.
    pub max_lock: Duration,
    /// Quiet time after which a source's failures and lock count are forgotten.
    pub forget_after: Duration,
    /// Failures of an email over all sources that slow nothing down yet.
    pub slow_after: u32,
    /// The delay of every attempt once an email has more than `slow_after` failures.
    pub first_delay: Duration,
    /// Failures per doubling of the delay.
    pub failures_per_doubling: u32,
    /// Longest delay.
    pub max_delay: Duration,
    /// Quiet time after the last failure of an email after which its failures over all sources
    /// are forgotten.
    pub slow_forget_after: Duration,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            max_failures: 5,
            base_lock: Duration::from_secs(30),
            max_lock: Duration::from_secs(3600),
            forget_after: Duration::from_secs(24 * 3600),
            slow_after: 10,
            first_delay: Duration::from_millis(250),
            failures_per_doubling: 5,
            max_delay: Duration::from_secs(3),
            slow_forget_after: Duration::from_secs(3600),
        }
    }
}

impl Policy {
    /// How long the lock lasts after `lockouts` earlier locks: doubling from `base_lock`, capped.
    #[must_use]
    pub fn lock_for(&self, lockouts: u32) -> Duration {
        doubled(self.base_lock, lockouts).min(self.max_lock)
    }

    /// How long every attempt for an email waits after `failures` failures over all sources:
    /// nothing up to `slow_after`, then `first_delay`, doubling every `failures_per_doubling`
    /// failures, capped at `max_delay`.
    #[must_use]
    pub fn delay_for(&self, failures: u32) -> Duration {
        if failures <= self.slow_after {
            return Duration::ZERO;
        }
        let over = failures - self.slow_after - 1;
        doubled(self.first_delay, over / self.failures_per_doubling.max(1)).min(self.max_delay)
    }
}

/// `base × 2^times`, saturating.
fn doubled(base: Duration, times: u32) -> Duration {
    1_u32
        .checked_shl(times)
        .and_then(|factor| base.checked_mul(factor))
        .unwrap_or(Duration::MAX)
}

/// The throttle key of a source address: an IPv4 address itself, an IPv6 address's /64 (one
/// client usually holds a whole /64), `unknown` outside API Gateway.
#[must_use]
pub fn source_key(ip: Option<IpAddr>) -> String {
    match ip {
        Some(IpAddr::V4(v4)) => v4.to_string(),
        Some(IpAddr::V6(v6)) => {
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
        assert_eq!(policy.lock_for(31), Duration::from_secs(3600));
        assert_eq!(policy.lock_for(u32::MAX), Duration::from_secs(3600));
    }

    #[test]
    fn a_few_failures_over_all_sources_slow_nothing_down() {
        let policy = Policy::default();
        for failures in 0..=policy.slow_after {
            assert_eq!(policy.delay_for(failures), Duration::ZERO, "{failures}");
        }
    }

    #[test]
    fn delays_double_every_few_failures_and_stop_at_the_cap() {
        let policy = Policy::default();
        let ms = |failures| policy.delay_for(failures).as_millis();
        assert_eq!([ms(11), ms(15)], [250, 250]);
        assert_eq!([ms(16), ms(20)], [500, 500]);
        assert_eq!([ms(21), ms(25)], [1000, 1000]);
        assert_eq!([ms(26), ms(30)], [2000, 2000]);
        assert_eq!([ms(31), ms(1000), ms(u32::MAX)], [3000, 3000, 3000]);
    }

    #[test]
    fn delays_never_shrink_as_failures_grow() {
        let policy = Policy::default();
        let delays: Vec<Duration> = (0..200).map(|f| policy.delay_for(f)).collect();
        assert!(delays.windows(2).all(|pair| pair[0] <= pair[1]));
        assert_eq!(delays.last(), Some(&policy.max_delay));
    }

    #[test]
    fn the_longest_delay_leaves_the_login_most_of_its_timeout() {
        assert!(Policy::default().max_delay <= Duration::from_secs(3));
    }

    #[test]
    fn an_odd_policy_still_gives_bounded_delays() {
        let policy = Policy {
            slow_after: u32::MAX,
            failures_per_doubling: 0,
            ..Policy::default()
        };
        assert_eq!(policy.delay_for(u32::MAX), Duration::ZERO);
        let policy = Policy {
            slow_after: 0,
            failures_per_doubling: 0,
            ..Policy::default()
        };
        assert_eq!(policy.delay_for(0), Duration::ZERO);
        assert_eq!(policy.delay_for(1), policy.first_delay);
        assert_eq!(policy.delay_for(2), policy.first_delay * 2);
        assert_eq!(policy.delay_for(5), policy.max_delay);
    }

    #[test]
    fn sources_are_addresses_and_ipv6_slash_64s() {
        assert_eq!(source_key("192.0.2.7".parse().ok()), "192.0.2.7");
        assert_eq!(
            source_key("2001:db8:1:2:aaaa::1".parse().ok()),
            source_key("2001:db8:1:2:bbbb::9".parse().ok())
        );
        assert_eq!(
            source_key("2001:db8:1:2::1".parse().ok()),
            "2001:db8:1:2::/64"
        );
        assert_eq!(source_key(None), "unknown");
    }
}
