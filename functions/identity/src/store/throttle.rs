//! Login throttling in the identity table (see [`crate::lockout`] for the policy and why).
//!
//! Two items per email, both with the TTL attribute `expiresAt` (Unix seconds), which the code also
//! checks itself, since the table's TTL removes an expired item only some time later:
//!
//! | item | pk | sk | attributes |
//! |---|---|---|---|
//! | attempts of an email from one source | `LOGIN#<email>#<source>` | `LOCK` | `failures` (attempts since the last lock), `lockouts`, `lockedUntil` (Unix seconds) |
//! | failures of an email over all sources | `LOGIN#<email>` | `LOCK` | `failures` |
//!
//! A source key has no `#` and a valid email's domain none either, so the two kinds of keys never
//! meet.

use std::time::Duration;

use aws_sdk_dynamodb::{
    Error as DynamoError,
    types::{Delete, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactWriteItem},
};
use serde::Deserialize;
use shared::{
    ApiError,
    dynamo::{self, Item, WriteFailure, key, n, values},
    error::Context as _,
};
use time::OffsetDateTime;

use super::{Store, failure_to_api, secs};
use crate::lockout::Policy;

/// How many times a count found expired is started afresh before giving up (each retry means a
/// concurrent attempt started it first, so one retry almost always does).
const RESTARTS: u32 = 3;

/// The attempts of `email` from `source`.
fn source_key(email: &str, source: &str) -> Item {
    key(format!("LOGIN#{email}#{source}"), "LOCK")
}

/// The failures of `email` over all sources.
fn email_key(email: &str) -> Item {
    key(format!("LOGIN#{email}"), "LOCK")
}

/// The outcome of a login attempt's throttle check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// Go on and check the password after waiting `delay`; this attempt has been counted.
    Allowed {
        /// How long to wait before checking the password.
        delay: Duration,
    },
    /// Locked: answer 429 with this `Retry-After`.
    Locked {
        /// Whole seconds until the lock lifts (at least 1).
        retry_after_secs: u64,
    },
}

/// The attempts of an email from one source, as stored.
#[derive(Debug, Default, Deserialize)]
struct SourceCount {
    #[serde(default)]
    failures: u32,
    #[serde(default)]
    lockouts: u32,
    #[serde(rename = "lockedUntil", default)]
    locked_until: i64,
    #[serde(rename = "expiresAt", default)]
    expires_at: i64,
}

/// The failures of an email over all sources, as stored.
#[derive(Debug, Deserialize)]
struct EmailCount {
    #[serde(default)]
    failures: u32,
    #[serde(rename = "expiresAt", default)]
    expires_at: i64,
}

impl Store {
    /// Counts a login attempt for `email` from `source` and says whether it may go on, and after
    /// how long.
    ///
    /// The attempt is counted *before* the password is checked, atomically, so a burst of parallel
    /// guesses from one source gets no more than `policy.max_failures` checks: the one after that
    /// locks the email for that source for `policy.lock_for(lockouts)`. A successful login from the
    /// source clears its count ([`Store::forget_failures`]). Meanwhile the email's failures over
    /// all sources ([`Store::login_failed`]) give the delay, `policy.delay_for(failures)`; they
    /// never lock. Unknown emails are throttled the same way, so a lock reveals nothing.
    ///
    /// # Errors
    /// 500 on storage failure.
    pub async fn begin_login_attempt(
        &self,
        email: &str,
        source: &str,
        policy: &Policy,
        now: OffsetDateTime,
    ) -> Result<Attempt, ApiError> {
        let (counted, failures) = tokio::join!(
            self.count_attempt(email, source, policy, now),
            self.failures_over_all_sources(email, now),
        );
        match counted? {
            locked @ Attempt::Locked { .. } => Ok(locked),
            Attempt::Allowed { .. } => Ok(Attempt::Allowed {
                delay: policy.delay_for(failures?),
            }),
        }
    }

    /// Counts an attempt on the item of `email` and `source`, or finds it locked; locks it when the
    /// attempt is one too many. The delay of the answer is left to the caller.
    async fn count_attempt(
        &self,
        email: &str,
        source: &str,
        policy: &Policy,
        now: OffsetDateTime,
    ) -> Result<Attempt, ApiError> {
        let now_secs = now.unix_timestamp();
        let forget_at = now_secs + secs(policy.forget_after);
        let mut count = None;
        for _ in 0..RESTARTS {
            let counted = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(source_key(email, source)))
                .update_expression("ADD failures :one SET expiresAt = :forget")
                .condition_expression(
                    "(attribute_not_exists(lockedUntil) OR lockedUntil <= :now) \
                     AND (attribute_not_exists(expiresAt) OR expiresAt > :now)",
                )
                .set_expression_attribute_values(values(vec![
                    (":one", n(1)),
                    (":forget", n(forget_at)),
                    (":now", n(now_secs)),
                ]))
                .return_values(ReturnValue::AllNew)
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .send()
                .await;
            let old = match counted {
                Ok(output) => {
                    count = Some(
                        dynamo::from_item(output.attributes.unwrap_or_default())
                            .context("read a login throttle")?,
                    );
                    break;
                }
                Err(error) => match item_at_condition_failure(error, "count a login attempt")? {
                    Some(old) => old,
                    // Removed between the check and the answer: count again.
                    None => continue,
                },
            };
            let old: SourceCount = dynamo::from_item(old).context("read a login throttle")?;
            if old.locked_until > now_secs {
                return Ok(locked_for(old.locked_until - now_secs));
            }
            // Forgotten, but not removed yet: this attempt is the first of a new count.
            if self
                .restart(source_key(email, source), old.expires_at, forget_at)
                .await?
            {
                count = Some(SourceCount {
                    failures: 1,
                    ..SourceCount::default()
                });
                break;
            }
        }
        let Some(count) = count else {
            return Err(ApiError::internal(
                "count a login attempt",
                "the login throttle kept changing",
            ));
        };
        if count.failures <= policy.max_failures {
            return Ok(Attempt::Allowed {
                delay: Duration::ZERO,
            });
        }
        self.lock(email, source, policy, count.lockouts, now).await
    }

    /// Locks `email` for `source` after `lockouts` earlier locks.
    async fn lock(
        &self,
        email: &str,
        source: &str,
        policy: &Policy,
        lockouts: u32,
        now: OffsetDateTime,
    ) -> Result<Attempt, ApiError> {
        let now_secs = now.unix_timestamp();
        let until = now_secs + secs(policy.lock_for(lockouts));
        let locked = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(source_key(email, source)))
            .update_expression(
                "SET lockedUntil = :until, failures = :zero, expiresAt = :forget ADD lockouts :one",
            )
            .condition_expression("attribute_not_exists(lockedUntil) OR lockedUntil <= :now")
            .set_expression_attribute_values(values(vec![
                (":until", n(until)),
                (":zero", n(0)),
                (":one", n(1)),
                (":forget", n(until + secs(policy.forget_after))),
                (":now", n(now_secs)),
            ]))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match locked {
            Ok(_) => Ok(locked_for(until - now_secs)),
            // A concurrent attempt locked it first: its lock holds.
            Err(error) => {
                let old: SourceCount = item_at_condition_failure(error, "lock a login")?
                    .map(dynamo::from_item)
                    .transpose()
                    .context("read a login lock")?
                    .unwrap_or_default();
                Ok(locked_for(old.locked_until - now_secs))
            }
        }
    }

    /// The failures of `email` over all sources that are not forgotten yet.
    ///
    /// An eventually consistent read: a delay computed from a count a failure or two behind is
    /// as good.
    async fn failures_over_all_sources(
        &self,
        email: &str,
        now: OffsetDateTime,
    ) -> Result<u32, ApiError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(email_key(email)))
            .projection_expression("failures, expiresAt")
            .send()
            .await
            .context("read the failed logins of an email")?;
        let count: Option<EmailCount> = output
            .item
            .map(dynamo::from_item)
            .transpose()
            .context("read the failed logins of an email")?;
        Ok(count
            .filter(|c| c.expires_at > now.unix_timestamp())
            .map_or(0, |c| c.failures))
    }

    /// Records a failed password check of `email` from a source: one more failure of the email
    /// over all sources, remembered for `policy.slow_forget_after` from now. (The source's own
    /// count was taken before the check, by [`Store::begin_login_attempt`].)
    ///
    /// # Errors
    /// 500 on storage failure.
    pub async fn login_failed(
        &self,
        email: &str,
        _source: &str,
        policy: &Policy,
        now: OffsetDateTime,
    ) -> Result<(), ApiError> {
        let now_secs = now.unix_timestamp();
        let forget_at = now_secs + secs(policy.slow_forget_after);
        for _ in 0..RESTARTS {
            let counted = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(email_key(email)))
                .update_expression("ADD failures :one SET expiresAt = :forget")
                .condition_expression("attribute_not_exists(expiresAt) OR expiresAt > :now")
                .set_expression_attribute_values(values(vec![
                    (":one", n(1)),
                    (":forget", n(forget_at)),
                    (":now", n(now_secs)),
                ]))
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .send()
                .await;
            let old = match counted {
                Ok(_) => return Ok(()),
                Err(error) => match item_at_condition_failure(error, "count a failed login")? {
                    Some(old) => old,
                    None => continue,
                },
            };
            let old: EmailCount = dynamo::from_item(old).context("read the failed logins")?;
            // Forgotten, but not removed yet: this failure is the first of a new count.
            if self
                .restart(email_key(email), old.expires_at, forget_at)
                .await?
            {
                return Ok(());
            }
        }
        Err(ApiError::internal(
            "count a failed login",
            "the login throttle kept changing",
        ))
    }

    /// Replaces the count under `key` that expired at `expired_at` with a new one holding one
    /// failure, kept until `forget_at`. `false` when another attempt changed it first.
    async fn restart(&self, key: Item, expired_at: i64, forget_at: i64) -> Result<bool, ApiError> {
        let mut item = key;
        item.insert("failures".to_owned(), n(1));
        item.insert("expiresAt".to_owned(), n(forget_at));
        let restarted = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("expiresAt = :expired")
            .set_expression_attribute_values(values(vec![(":expired", n(expired_at))]))
            .send()
            .await
            .map_err(dynamo::classify);
        match restarted {
            Ok(_) => Ok(true),
            Err(WriteFailure::ConditionFailed) => Ok(false),
            Err(failure) => Err(failure_to_api("restart a login throttle", failure)),
        }
    }

    /// The transaction item that forgets the attempts of `email` from `source` and its locks (a
    /// successful login, see [`Store::start_session`]). The email's failures over all sources
    /// stay: see [`crate::lockout`].
    ///
    /// # Errors
    /// When the item cannot be built.
    pub(crate) fn forget_failures(
        &self,
        email: &str,
        source: &str,
    ) -> Result<TransactWriteItem, ApiError> {
        Ok(TransactWriteItem::builder()
            .delete(
                Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(source_key(email, source)))
                    .build()
                    .context("build the login throttle reset")?,
            )
            .build())
    }
}

/// A lock with `remaining` seconds to go, answered as at least one.
fn locked_for(remaining: i64) -> Attempt {
    Attempt::Locked {
        retry_after_secs: u64::try_from(remaining).unwrap_or(1).max(1),
    }
}

/// The item as it was when a write's condition failed (asked for with
/// [`ReturnValuesOnConditionCheckFailure::AllOld`]; `None` when there was none), or a 500 saying
/// what failed to `context` when the failure was not a condition.
fn item_at_condition_failure(
    error: impl Into<DynamoError>,
    context: &str,
) -> Result<Option<Item>, ApiError> {
    match error.into() {
        DynamoError::ConditionalCheckFailedException(failed) => Ok(failed.item),
        other => Err(ApiError::internal(context, other)),
    }
}
