//! Login throttling in the identity table (see [`crate::lockout`] for the policy).

use std::time::Duration;

use aws_sdk_dynamodb::types::{Delete, ReturnValue, TransactWriteItem};
use serde::Deserialize;
use shared::{
    ApiError,
    dynamo::{self, Item, WriteFailure, key, n, values},
    error::Context as _,
};
use time::OffsetDateTime;

use super::{Store, failure_to_api, secs};
use crate::lockout::Policy;

fn login_key(email: &str) -> Item {
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

impl Store {
    /// Counts a login attempt for `email` and says whether it may go on.
    ///
    /// The attempt is counted *before* the password is checked, atomically, so a burst of parallel
    /// guesses gets no more than `policy.max_failures` checks: the one after that locks the email for
    /// `policy.lock_for(lockouts)`. A successful login clears the count ([`Store::start_session`]).
    /// Unknown emails are throttled the same way, so a lock reveals nothing.
    ///
    /// # Errors
    /// 500 on storage failure.
    pub async fn begin_login_attempt(
        &self,
        email: &str,
        _source: &str,
        policy: &Policy,
        now: OffsetDateTime,
    ) -> Result<Attempt, ApiError> {
        #[derive(Deserialize)]
        struct Throttle {
            #[serde(default)]
            failures: u32,
            #[serde(default)]
            lockouts: u32,
        }
        let now_secs = now.unix_timestamp();
        let forget_at = now_secs + secs(policy.forget_after);
        let counted = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(login_key(email)))
            .update_expression("ADD failures :one SET expiresAt = :forget")
            .condition_expression("attribute_not_exists(lockedUntil) OR lockedUntil <= :now")
            .set_expression_attribute_values(values(vec![
                (":one", n(1)),
                (":forget", n(forget_at)),
                (":now", n(now_secs)),
            ]))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(dynamo::classify);
        let throttle: Throttle = match counted {
            Ok(output) => dynamo::from_item(output.attributes.unwrap_or_default())
                .context("read a login throttle")?,
            Err(WriteFailure::ConditionFailed) => return self.lock_remaining(email, now).await,
            Err(failure) => return Err(failure_to_api("count a login attempt", failure)),
        };
        if throttle.failures <= policy.max_failures {
            return Ok(Attempt::Allowed {
                delay: Duration::ZERO,
            });
        }
        let until = now_secs + secs(policy.lock_for(throttle.lockouts));
        let locked = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(login_key(email)))
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
            .send()
            .await
            .map_err(dynamo::classify);
        match locked {
            Ok(_) => Ok(Attempt::Locked {
                retry_after_secs: u64::try_from(until - now_secs).unwrap_or(1).max(1),
            }),
            // A concurrent attempt locked it first.
            Err(WriteFailure::ConditionFailed) => self.lock_remaining(email, now).await,
            Err(failure) => Err(failure_to_api("lock a login", failure)),
        }
    }

    async fn lock_remaining(&self, email: &str, now: OffsetDateTime) -> Result<Attempt, ApiError> {
        #[derive(Deserialize)]
        struct Lock {
            #[serde(rename = "lockedUntil", default)]
            locked_until: i64,
        }
        let lock: Option<Lock> = self
            .get(login_key(email))
            .await?
            .map(dynamo::from_item)
            .transpose()
            .context("read a login lock")?;
        let remaining = lock.map_or(1, |l| l.locked_until - now.unix_timestamp());
        Ok(Attempt::Locked {
            retry_after_secs: u64::try_from(remaining).unwrap_or(1).max(1),
        })
    }

    /// Records a failed password check of `email` from `source`.
    ///
    /// # Errors
    /// 500 on storage failure.
    pub async fn login_failed(
        &self,
        _email: &str,
        _source: &str,
        _policy: &Policy,
        _now: OffsetDateTime,
    ) -> Result<(), ApiError> {
        Ok(())
    }

    /// The transaction item that forgets the failures of `email` from `source` (a successful
    /// login, see [`Store::start_session`]).
    ///
    /// # Errors
    /// When the item cannot be built.
    pub(crate) fn forget_failures(
        &self,
        email: &str,
        _source: &str,
    ) -> Result<TransactWriteItem, ApiError> {
        Ok(TransactWriteItem::builder()
            .delete(
                Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(login_key(email)))
                    .build()
                    .context("build the login throttle reset")?,
            )
            .build())
    }
}
