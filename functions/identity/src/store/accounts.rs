//! Registration, email verification, and password changes and resets in the identity table.
//!
//! **Link tokens.** A verification or reset link carries a single-use token: 256 random bits as 43
//! characters of base64url, made like a refresh token ([`LinkToken`]). The table keeps only its
//! SHA-256 (`VERIFY#<hash>`, `RESET#<hash>`), with the user it is for, whether it is `spent`, and
//! `expiresAt` (also the item's TTL); a token is spent in the same transaction as what it does, on
//! condition that it exists, is unspent and unexpired, so it works once.
//!
//! **Tokens in the outbox.** The raw token has to reach the email, and it travels in the event
//! (`EmailVerificationRequested`, `PasswordResetRequested`) that the notification service turns
//! into one. That event is written into the outbox with the rest of the transaction like any other,
//! and its outbox item is deleted right after the transaction commits: the stream record of its
//! insertion still carries it to the publisher, but the raw token stays in the table only for that
//! moment. The deletion is best effort: a failure is logged, and the item's TTL removes it later.
//!
//! **Mail caps.** A public route that sends an email to an address anyone can type must not become
//! a way to flood that inbox: a reset email goes at most once per [`RESET_EMAIL_INTERVAL`] to one
//! address, an "an account already exists" note at most once per [`ATTEMPT_NOTICE_INTERVAL`]. Each
//! cap is a `NOTICE#<email>` item whose `expiresAt` says when the next email may go, written on
//! condition that that time has come, in the same transaction as the email's event. A suppressed
//! request writes nothing else, and its answer is the same.
//!
//! **Sessions.** A password change or reset moves the user's `sessionEpoch` in the transaction
//! that writes the new hash, which ends every session opened before (see [`super`]).

use std::time::Duration;

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use serde::{Deserialize, Serialize};
use shared::{
    ApiError,
    dynamo::{self, Item, key, n, s, values},
    error::Context as _,
    events::{
        Envelope,
        identity::{
            EmailVerificationRequested, PasswordChange, PasswordChanged, PasswordResetRequested,
            RegistrationAttempted, UserRegistered,
        },
    },
    outbox,
};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{
    CONFLICT_RETRIES, Store, User, busy, epoch_condition, failure_to_api, is_conflict, secs,
    user_key, with_key,
};
use crate::tokens;

/// How long an email verification link works.
pub const VERIFICATION_TTL: Duration = Duration::from_secs(24 * 3600);
/// How long a password reset link works.
pub const RESET_TTL: Duration = Duration::from_secs(30 * 60);
/// The shortest time between two reset emails to one address.
pub const RESET_EMAIL_INTERVAL: Duration = Duration::from_secs(60);
/// The shortest time between two "an account already exists" notes to one address.
pub const ATTEMPT_NOTICE_INTERVAL: Duration = Duration::from_secs(15 * 60);

/// A new single-use token for an email link: the token itself, for the email, and the hash the
/// table keeps.
#[derive(Clone)]
pub struct LinkToken {
    /// The token (43 characters of base64url).
    pub token: String,
    /// Its SHA-256, hex ([`tokens::refresh_token_hash`]).
    pub hash: String,
    /// When it stops working (whole seconds).
    pub expires_at: OffsetDateTime,
}

impl std::fmt::Debug for LinkToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LinkToken")
            .field("hash", &self.hash)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl LinkToken {
    /// A fresh token valid from `now` for `ttl`.
    #[must_use]
    pub fn new(now: OffsetDateTime, ttl: Duration) -> Self {
        let token = tokens::new_refresh_token();
        let expires_at = now + ttl;
        Self {
            hash: tokens::refresh_token_hash(&token),
            token,
            expires_at: expires_at.replace_nanosecond(0).unwrap_or(expires_at),
        }
    }
}

/// What a registration led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    /// The account was created and its owner is sent a verification link.
    Created,
    /// The email already has an account (or got one concurrently); its owner is told, unless
    /// they were told within [`ATTEMPT_NOTICE_INTERVAL`] (`notified` false).
    Existing {
        /// Whether a note goes out.
        notified: bool,
    },
}

/// What a password reset request led to. The client is told none of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResetRequest {
    /// The account's owner is sent a reset link.
    Sent,
    /// A reset email went to that address within [`RESET_EMAIL_INTERVAL`]: none now.
    Suppressed,
    /// No account has the email.
    NoAccount,
}

/// A reset token that was live when read, and its user as read.
#[derive(Debug, Clone)]
pub struct PendingReset {
    hash: String,
    user: User,
    epoch: u64,
}

/// A verification token as stored.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct VerificationRecord {
    user_id: Uuid,
    email: String,
    #[serde(default)]
    spent: bool,
    expires_at: i64,
}

/// A reset token as stored.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResetRecord {
    user_id: Uuid,
    /// The user's session epoch when the token was issued: a password change or reset since
    /// makes the token useless.
    session_epoch: u64,
    #[serde(default)]
    spent: bool,
    expires_at: i64,
}

fn verification_key(hash: &str) -> Item {
    key(format!("VERIFY#{hash}"), "VERIFY")
}

fn reset_key(hash: &str) -> Item {
    key(format!("RESET#{hash}"), "RESET")
}

/// The item capping emails of `kind` to `email`.
fn notice_key(email: &str, kind: &str) -> Item {
    key(format!("NOTICE#{email}"), kind)
}

/// The cap on reset emails.
const RESET_NOTICE: &str = "PASSWORD_RESET";
/// The cap on "an account already exists" notes.
const ATTEMPT_NOTICE: &str = "REGISTRATION_ATTEMPTED";

fn rfc3339(at: OffsetDateTime) -> String {
    shared::time::to_rfc3339(at)
}

impl Store {
    /// Registers `user` (a new customer, unverified): the user, its email claim, the verification
    /// token `verification`, and the `UserRegistered` and `EmailVerificationRequested` events (with
    /// `correlation_id`), in one transaction.
    ///
    /// When the email is already claimed (also by a registration that won a race for it), nothing
    /// of that is written: the existing account's owner is told instead, through
    /// `RegistrationAttempted`, at most once per [`ATTEMPT_NOTICE_INTERVAL`].
    ///
    /// # Errors
    /// 500 on storage failure.
    pub async fn register(
        &self,
        user: &User,
        verification: &LinkToken,
        now: OffsetDateTime,
        correlation_id: &str,
    ) -> Result<Registration, ApiError> {
        let registered = Envelope::wrap(UserRegistered(user.contact()), correlation_id);
        let requested = Envelope::wrap(
            EmailVerificationRequested {
                user_id: user.id,
                email: user.email.clone(),
                name: user.name.clone(),
                token: verification.token.clone(),
                expires_at: rfc3339(verification.expires_at),
            },
            correlation_id,
        );
        let record = VerificationRecord {
            user_id: user.id,
            email: user.email.clone(),
            spent: false,
            expires_at: verification.expires_at.unix_timestamp(),
        };
        for attempt in 0..=CONFLICT_RETRIES {
            let mut items = self.creation(user, &registered)?;
            items.push(self.put(
                with_key(verification_key(&verification.hash), &record)?,
                "attribute_not_exists(pk)",
            )?);
            items.push(outbox::put(&self.table, &requested)?);
            match self.transact(items).await {
                Ok(()) => {
                    self.forget_outbox_item(requested.id).await;
                    return Ok(Registration::Created);
                }
                Err(failure) if failure.failed_conditions().contains(&0) => {
                    let notified = self
                        .registration_attempted(&user.email, now, correlation_id)
                        .await?;
                    return Ok(Registration::Existing { notified });
                }
                Err(failure) if is_conflict(&failure) && attempt < CONFLICT_RETRIES => {
                    dynamo::backoff(attempt).await;
                }
                Err(failure) => return Err(failure_to_api("register a user", failure)),
            }
        }
        Err(busy())
    }

    /// Tells the owner of `email` that someone tried to register it (`RegistrationAttempted`),
    /// unless they were told within [`ATTEMPT_NOTICE_INTERVAL`]. Returns whether they are told.
    async fn registration_attempted(
        &self,
        email: &str,
        now: OffsetDateTime,
        correlation_id: &str,
    ) -> Result<bool, ApiError> {
        let Some(existing) = self.user_by_email(email).await? else {
            // A claim without its user cannot be: both are written in one transaction.
            return Ok(false);
        };
        let attempted = Envelope::wrap(
            RegistrationAttempted {
                user_id: existing.id,
                email: existing.email.clone(),
                name: existing.name.clone(),
            },
            correlation_id,
        );
        let items = vec![
            self.notice(email, ATTEMPT_NOTICE, now, ATTEMPT_NOTICE_INTERVAL)?,
            outbox::put(&self.table, &attempted)?,
        ];
        match self.transact(items).await {
            Ok(()) => Ok(true),
            // Told recently, or being told by a concurrent attempt.
            Err(failure) if failure.failed_conditions().contains(&0) || is_conflict(&failure) => {
                Ok(false)
            }
            Err(failure) => Err(failure_to_api("note a registration attempt", failure)),
        }
    }

    /// Spends the verification token stored under `hash` and marks its user's email verified (a
    /// user already verified stays so), in one transaction on condition that the token is live
    /// at `now` and the user still has the email it was sent to. Returns whether it did.
    ///
    /// # Errors
    /// 500 on storage failure.
    pub async fn verify_email(&self, hash: &str, now: OffsetDateTime) -> Result<bool, ApiError> {
        let Some(item) = self.get(verification_key(hash)).await? else {
            return Ok(false);
        };
        let record: VerificationRecord =
            dynamo::from_item(item).context("read a verification token")?;
        if record.spent || record.expires_at <= now.unix_timestamp() {
            return Ok(false);
        }
        let spend = self.spend(verification_key(hash), now)?;
        let verify = Update::builder()
            .table_name(&self.table)
            .set_key(Some(user_key(record.user_id)))
            .update_expression("SET emailVerified = :true, updatedAt = :at")
            .condition_expression("attribute_exists(pk) AND email = :email")
            .set_expression_attribute_values(values(vec![
                (":true", AttributeValue::Bool(true)),
                (":at", s(rfc3339(now))),
                (":email", s(record.email.clone())),
            ]))
            .build()
            .context("build the email verification")?;
        let items = vec![spend, TransactWriteItem::builder().update(verify).build()];
        for attempt in 0..=CONFLICT_RETRIES {
            match self.transact(items.clone()).await {
                Ok(()) => {
                    tracing::info!(user_id = %record.user_id, "email verified");
                    return Ok(true);
                }
                // Spent by a concurrent request, expired meanwhile, or the address changed.
                Err(failure) if failure.is_condition_failed() => return Ok(false),
                Err(failure) if is_conflict(&failure) && attempt < CONFLICT_RETRIES => {
                    dynamo::backoff(attempt).await;
                }
                Err(failure) => return Err(failure_to_api("verify an email", failure)),
            }
        }
        Err(busy())
    }

    /// Issues the reset token `reset` for the account of `email`, if there is one, and puts its
    /// `PasswordResetRequested` event (with `correlation_id`) into the outbox, in one transaction
    /// capped to one per [`RESET_EMAIL_INTERVAL`] and address. The token records the user's
    /// session epoch, so a password change or reset after it makes it useless.
    ///
    /// An unknown email costs the same two reads and one conditional write (of the cap), so the
    /// time taken does not tell which emails have accounts.
    ///
    /// # Errors
    /// 500 on storage failure.
    pub async fn request_password_reset(
        &self,
        email: &str,
        reset: &LinkToken,
        now: OffsetDateTime,
        correlation_id: &str,
    ) -> Result<ResetRequest, ApiError> {
        let user = self.user_by_email(email).await?;
        let mut items = vec![self.notice(email, RESET_NOTICE, now, RESET_EMAIL_INTERVAL)?];
        let requested = match &user {
            Some(user) => {
                let record = ResetRecord {
                    user_id: user.id,
                    session_epoch: user.session_epoch,
                    spent: false,
                    expires_at: reset.expires_at.unix_timestamp(),
                };
                let requested = Envelope::wrap(
                    PasswordResetRequested {
                        user_id: user.id,
                        email: user.email.clone(),
                        name: user.name.clone(),
                        token: reset.token.clone(),
                        expires_at: rfc3339(reset.expires_at),
                    },
                    correlation_id,
                );
                items.push(self.put(
                    with_key(reset_key(&reset.hash), &record)?,
                    "attribute_not_exists(pk)",
                )?);
                items.push(outbox::put(&self.table, &requested)?);
                Some(requested)
            }
            None => None,
        };
        match self.transact(items).await {
            Ok(()) => match requested {
                Some(requested) => {
                    self.forget_outbox_item(requested.id).await;
                    Ok(ResetRequest::Sent)
                }
                None => Ok(ResetRequest::NoAccount),
            },
            Err(failure) if failure.failed_conditions().contains(&0) || is_conflict(&failure) => {
                Ok(if user.is_some() {
                    ResetRequest::Suppressed
                } else {
                    ResetRequest::NoAccount
                })
            }
            Err(failure) => Err(failure_to_api("request a password reset", failure)),
        }
    }

    /// The reset token stored under `hash`, when it is live at `now` (unspent, unexpired, issued
    /// at the user's current session epoch), with its user.
    ///
    /// # Errors
    /// 500 on storage failure.
    pub async fn pending_reset(
        &self,
        hash: &str,
        now: OffsetDateTime,
    ) -> Result<Option<PendingReset>, ApiError> {
        let Some(item) = self.get(reset_key(hash)).await? else {
            return Ok(None);
        };
        let record: ResetRecord = dynamo::from_item(item).context("read a reset token")?;
        if record.spent || record.expires_at <= now.unix_timestamp() {
            return Ok(None);
        }
        let Some(user) = self.user(record.user_id).await? else {
            return Ok(None);
        };
        if user.session_epoch != record.session_epoch {
            return Ok(None);
        }
        Ok(Some(PendingReset {
            hash: hash.to_owned(),
            user,
            epoch: record.session_epoch,
        }))
    }

    /// Completes a reset: spends the token, sets the password hash to `new_hash`, moves the
    /// session epoch (ending every session), marks the email verified (the link proved the
    /// address) and puts `PasswordChanged` (`RESET`, with `correlation_id`) into the outbox, in one
    /// transaction on condition that the token is still live at `now` and the epoch still the
    /// one it was issued at. Returns the user as it now is, or `None` when the token was spent,
    /// expired or superseded meanwhile.
    ///
    /// # Errors
    /// 500 on storage failure.
    pub async fn complete_reset(
        &self,
        pending: &PendingReset,
        new_hash: &str,
        now: OffsetDateTime,
        correlation_id: &str,
    ) -> Result<Option<User>, ApiError> {
        let at = rfc3339(now);
        let user = User {
            password_hash: new_hash.to_owned(),
            session_epoch: pending.epoch + 1,
            email_verified: true,
            updated_at: at.clone(),
            ..pending.user.clone()
        };
        let changed = password_changed(&user, PasswordChange::Reset, &at, correlation_id);
        let (epoch_is, mut vals) = epoch_condition(pending.epoch);
        vals.extend([
            (":hash", s(new_hash)),
            (":next", n(user.session_epoch)),
            (":true", AttributeValue::Bool(true)),
            (":at", s(at.clone())),
        ]);
        let set = Update::builder()
            .table_name(&self.table)
            .set_key(Some(user_key(user.id)))
            .update_expression(
                "SET passwordHash = :hash, sessionEpoch = :next, emailVerified = :true, updatedAt = :at",
            )
            .condition_expression(epoch_is)
            .set_expression_attribute_values(values(vals))
            .build()
            .context("build the password reset")?;
        let items = vec![
            self.spend(reset_key(&pending.hash), now)?,
            TransactWriteItem::builder().update(set).build(),
            outbox::put(&self.table, &changed)?,
        ];
        for attempt in 0..=CONFLICT_RETRIES {
            match self.transact(items.clone()).await {
                Ok(()) => {
                    tracing::info!(user_id = %user.id, "password reset: every session ended");
                    return Ok(Some(user));
                }
                Err(failure)
                    if failure.failed_conditions().contains(&0)
                        || failure.failed_conditions().contains(&1) =>
                {
                    return Ok(None);
                }
                Err(failure) if is_conflict(&failure) && attempt < CONFLICT_RETRIES => {
                    dynamo::backoff(attempt).await;
                }
                Err(failure) => return Err(failure_to_api("reset a password", failure)),
            }
        }
        Err(busy())
    }

    /// Changes the password of `user` (as read, with the hash that was checked) to `new_hash`,
    /// moves the session epoch (ending every session), opens a new session at the new epoch
    /// holding the refresh token `token_hash` until `session_ends`, forgets the failed attempts of
    /// `user`'s email from `source`, and puts `PasswordChanged` (`CHANGED`, with `correlation_id`)
    /// into the outbox: one transaction, on condition that the hash and epoch are still those
    /// read. Returns the user as it now is, or `None` when a concurrent change came first.
    ///
    /// # Errors
    /// 500 on storage failure.
    #[allow(clippy::too_many_arguments)]
    pub async fn change_password(
        &self,
        user: &User,
        new_hash: &str,
        token_hash: &str,
        session_ends: OffsetDateTime,
        source: &str,
        now: OffsetDateTime,
        correlation_id: &str,
    ) -> Result<Option<User>, ApiError> {
        let at = rfc3339(now);
        let changed_user = User {
            password_hash: new_hash.to_owned(),
            session_epoch: user.session_epoch + 1,
            updated_at: at.clone(),
            ..user.clone()
        };
        let changed = password_changed(&changed_user, PasswordChange::Changed, &at, correlation_id);
        let (epoch_is, mut vals) = epoch_condition(user.session_epoch);
        vals.extend([
            (":old", s(user.password_hash.clone())),
            (":hash", s(new_hash)),
            (":next", n(changed_user.session_epoch)),
            (":at", s(at.clone())),
        ]);
        let set = Update::builder()
            .table_name(&self.table)
            .set_key(Some(user_key(user.id)))
            .update_expression("SET passwordHash = :hash, sessionEpoch = :next, updatedAt = :at")
            .condition_expression(format!("passwordHash = :old AND ({epoch_is})"))
            .set_expression_attribute_values(values(vals))
            .build()
            .context("build the password change")?;
        let (_, session) = self.open_session(
            user.id,
            changed_user.session_epoch,
            token_hash,
            session_ends,
        )?;
        let mut items = vec![
            TransactWriteItem::builder().update(set).build(),
            outbox::put(&self.table, &changed)?,
        ];
        items.extend(session);
        items.push(self.forget_failures(&user.email, source)?);
        for attempt in 0..=CONFLICT_RETRIES {
            match self.transact(items.clone()).await {
                Ok(()) => {
                    tracing::info!(user_id = %user.id, "password changed: other sessions ended");
                    return Ok(Some(changed_user));
                }
                Err(failure) if failure.failed_conditions().contains(&0) => return Ok(None),
                Err(failure) if is_conflict(&failure) && attempt < CONFLICT_RETRIES => {
                    dynamo::backoff(attempt).await;
                }
                Err(failure) => return Err(failure_to_api("change a password", failure)),
            }
        }
        Err(busy())
    }

    /// The update that spends the link token under `key`, on condition that it exists, is
    /// unspent and has not expired at `now`.
    fn spend(&self, key: Item, now: OffsetDateTime) -> Result<TransactWriteItem, ApiError> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key))
            .update_expression("SET spent = :true, spentAt = :now")
            .condition_expression("attribute_exists(pk) AND spent = :false AND expiresAt > :now")
            .set_expression_attribute_values(values(vec![
                (":true", AttributeValue::Bool(true)),
                (":false", AttributeValue::Bool(false)),
                (":now", n(now.unix_timestamp())),
            ]))
            .build()
            .context("build the token spend")?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// The put of the cap item of `kind` for `email`: the next such email may go `interval`
    /// after `now`; it fails while an earlier one's interval runs.
    fn notice(
        &self,
        email: &str,
        kind: &str,
        now: OffsetDateTime,
        interval: Duration,
    ) -> Result<TransactWriteItem, ApiError> {
        let now_secs = now.unix_timestamp();
        let mut item = notice_key(email, kind);
        item.insert("expiresAt".into(), n(now_secs + secs(interval)));
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk) OR expiresAt <= :now")
            .set_expression_attribute_values(values(vec![(":now", n(now_secs))]))
            .build()
            .context("build the email cap")?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    /// Deletes the outbox item of event `id` once its transaction committed, so the token it
    /// carries does not stay in the table (see the [module docs](self)). Best effort.
    async fn forget_outbox_item(&self, id: Uuid) {
        let deleted = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(
                format!("{}{id}", outbox::KEY_PREFIX),
                outbox::SORT_KEY,
            )))
            .send()
            .await;
        if let Err(error) = deleted {
            tracing::warn!(
                event_id = %id,
                error = %shared::error::cause_chain(&error),
                "outbox item with a token not deleted; its TTL removes it"
            );
        }
    }
}

/// The `PasswordChanged` event of `user` (as changed).
fn password_changed(
    user: &User,
    how: PasswordChange,
    at: &str,
    correlation_id: &str,
) -> Envelope<PasswordChanged> {
    Envelope::wrap(
        PasswordChanged {
            user_id: user.id,
            email: user.email.clone(),
            name: user.name.clone(),
            how,
            at: at.to_owned(),
        },
        correlation_id,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_token_is_a_fresh_256_bit_token_stored_by_hash() {
        let now = shared::time::now();
        let one = LinkToken::new(now, RESET_TTL);
        let other = LinkToken::new(now, RESET_TTL);
        assert!(tokens::looks_like_refresh_token(&one.token));
        assert_ne!(one.token, other.token);
        assert_eq!(one.hash, tokens::refresh_token_hash(&one.token));
        assert_eq!(
            one.expires_at.unix_timestamp(),
            now.unix_timestamp() + 30 * 60
        );
        assert!(!format!("{one:?}").contains(&one.token));
    }
}
