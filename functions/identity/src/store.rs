//! The identity table: users, email claims, sessions, refresh tokens, login throttles, addresses,
//! and the single-use tokens of email links.
//!
//! One DynamoDB table with string keys `pk` and `sk` and a TTL attribute `expiresAt` (Unix seconds):
//!
//! | item | pk | sk |
//! |---|---|---|
//! | user (profile, password hash, role, address count and default, `emailVerified`, `sessionEpoch`) | `USER#<id>` | `PROFILE` |
//! | address | `USER#<id>` | `ADDRESS#<addressId>` |
//! | `Idempotency-Key` of an address creation (24 h) | `IDEMPOTENCY#<userId>#<key>` | `ADDRESS` |
//! | email claim (uniqueness) | `EMAIL#<email>` | `EMAIL` |
//! | session = refresh-token family (with the `sessionEpoch` it was opened at) | `SESSION#<familyId>` | `SESSION` |
//! | refresh token (by SHA-256 of the token; its `sessionEpoch`; once spent, when and its successor's hash) | `REFRESH#<hash>` | `REFRESH` |
//! | email verification token (by SHA-256; `userId`, `email`, `spent`, 24 h) | `VERIFY#<hash>` | `VERIFY` |
//! | password reset token (by SHA-256; `userId`, `sessionEpoch` at issue, `spent`, 30 min) | `RESET#<hash>` | `RESET` |
//! | cap on account emails to one address (`expiresAt`: when the next may go) | `NOTICE#<email>` | `PASSWORD_RESET` or `REGISTRATION_ATTEMPTED` |
//! | login throttle (per email, known or not) | `LOGIN#<email>` | `LOCK` |
//! | number of admins | `META` | `ADMINS` |
//! | role change audit | `AUDIT#<userId>` | `<time>#<id>` |
//! | outbox event ([`shared::outbox`]: `UserRegistered`, `UserChanged` and the account emails' events, see [`accounts`]) | `OUTBOX#<eventId>` | `OUTBOX` |
//!
//! Every write that can race is conditional or transactional; see each method.
//!
//! The user's contact details (email, name, phone and the notification opt-ins) are what other
//! services may know of a user. They carry a `revision`, 1 at creation and one more with every
//! change of them, and every write that creates or changes them puts the event with the new
//! snapshot into the outbox in the same transaction: `UserRegistered` ([`Store::create_user`]) and
//! `UserChanged` ([`Store::update_profile`]). The table's stream feeds the `identity-publisher`
//! function, which publishes them. Role and address changes are not contact details and publish
//! nothing; what registration, email verification and password changes and resets write and
//! publish is in [`accounts`]. The outbox item of an event that carries a link token
//! (`EmailVerificationRequested`, `PasswordResetRequested`) is deleted as soon as its transaction
//! has committed (best effort; its TTL removes it otherwise): the stream record of its insertion
//! still carries the event to the publisher, and the raw token does not stay in the table.
//!
//! Sessions end by epoch: the user item's `sessionEpoch` (0 when absent) is copied into every
//! session and refresh token opened while it holds, and a refresh succeeds only while the user's
//! epoch is still the token's ([`Store::rotate_refresh_token`] checks it in its transaction). A
//! password change or reset moves the epoch in the transaction that writes the new hash, so every
//! refresh token issued before dies at once. Access tokens already issued are not recalled: they
//! live until they expire (`ACCESS_TOKEN_TTL_SECONDS`, 15 minutes by default).

use std::{collections::HashMap, time::Duration};

use aws_sdk_dynamodb::{
    Client,
    types::{AttributeValue, ConditionCheck, Delete, Put, TransactWriteItem, Update},
};
use serde::{Deserialize, Serialize};
use shared::{
    ApiError,
    auth::Role,
    dynamo::{self, Item, WriteFailure, key, n, names, s, values},
    error::Context as _,
    events::{
        Envelope,
        identity::{UserChanged, UserContact, UserRegistered},
    },
    outbox,
};
use time::OffsetDateTime;
use uuid::Uuid;

pub mod accounts;
mod profile_read;
mod throttle;

pub use throttle::Attempt;

/// How many times a transaction that lost a race to a concurrent one is retried.
const CONFLICT_RETRIES: u32 = 3;

/// The revision of a new user's contact details.
pub const FIRST_REVISION: u64 = 1;

/// A stored user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// The user id.
    pub id: Uuid,
    /// The normalized email.
    pub email: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// The role.
    pub role: Role,
    /// Display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// E.164 phone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// Marketing email opt-in.
    #[serde(default)]
    pub marketing_opt_in: bool,
    /// SMS notifications opt-in (needs a phone).
    #[serde(default)]
    pub sms_opt_in: bool,
    /// How many addresses the user has.
    #[serde(default)]
    pub address_count: u32,
    /// The default address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_address_id: Option<Uuid>,
    /// RFC 3339 creation time.
    pub created_at: String,
    /// RFC 3339 time of the last change.
    pub updated_at: String,
    /// Created by provisioning (the first admin), not by registration.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub provisioned: bool,
    /// The revision of the contact details: [`FIRST_REVISION`] at creation, one more with every
    /// profile change; the events carry it. 0 for an item written before revisions existed.
    #[serde(default)]
    pub revision: u64,
    /// Whether the owner proved they read the address (a verification link, or a password reset
    /// link sent to it).
    #[serde(default)]
    pub email_verified: bool,
    /// The session epoch (see the [module docs](self)): one more with every password change or
    /// reset, which ends every session opened before. 0 when absent.
    #[serde(default)]
    pub session_epoch: u64,
}

impl User {
    /// The contact details as the identity events carry them.
    #[must_use]
    pub fn contact(&self) -> UserContact {
        UserContact {
            user_id: self.id,
            email: self.email.clone(),
            name: self.name.clone(),
            phone: self.phone.clone(),
            sms_opt_in: self.sms_opt_in,
            marketing_opt_in: self.marketing_opt_in,
            revision: self.revision,
        }
    }
}

/// A stored address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Address {
    /// The address id.
    pub id: Uuid,
    /// A label such as "Home".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    /// Who receives parcels.
    pub recipient: String,
    /// Street line.
    pub line1: String,
    /// Second line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line2: Option<String>,
    /// City.
    pub city: String,
    /// State, province or region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Postal code.
    pub postal_code: String,
    /// ISO 3166-1 alpha-2 country.
    pub country: String,
    /// E.164 phone for the carrier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// RFC 3339 creation time.
    pub created_at: String,
    /// RFC 3339 time of the last change.
    pub updated_at: String,
}

/// Address fields a PATCH changes: `Some(Some(v))` sets, `Some(None)` removes (optional fields only),
/// `None` keeps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressChanges {
    /// Changes by attribute name (camelCase, as stored).
    pub fields: Vec<(&'static str, Option<String>)>,
}

/// Profile fields a PATCH changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProfileChanges {
    /// `Some(None)` clears the name.
    pub name: Option<Option<String>>,
    /// `Some(None)` clears the phone (and with it the SMS opt-in).
    pub phone: Option<Option<String>>,
    /// New marketing opt-in.
    pub marketing_opt_in: Option<bool>,
    /// New SMS opt-in; `true` needs a phone, sent or stored.
    pub sms_opt_in: Option<bool>,
}

impl ProfileChanges {
    /// `user` with these changes, at the next revision and changed at `now`; `None` when they
    /// leave the contact details as they are.
    ///
    /// SMS is never on without a phone: clearing the phone turns it off, and asking for it without
    /// a phone (sent or stored) is refused.
    ///
    /// # Errors
    /// 422 `PHONE_REQUIRED` for SMS without a phone.
    pub fn apply_to(&self, user: &User, now: &str) -> Result<Option<User>, ApiError> {
        let mut next = user.clone();
        if let Some(name) = &self.name {
            next.name.clone_from(name);
        }
        if let Some(phone) = &self.phone {
            next.phone.clone_from(phone);
        }
        if let Some(opt_in) = self.marketing_opt_in {
            next.marketing_opt_in = opt_in;
        }
        if let Some(opt_in) = self.sms_opt_in {
            next.sms_opt_in = opt_in;
        }
        if next.phone.is_none() {
            if self.sms_opt_in == Some(true) {
                return Err(phone_required());
            }
            next.sms_opt_in = false;
        }
        if next.contact() == user.contact() {
            return Ok(None);
        }
        next.revision = user.revision + 1;
        now.clone_into(&mut next.updated_at);
        Ok(Some(next))
    }
}

/// A refresh token as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RefreshRecord {
    family_id: Uuid,
    user_id: Uuid,
    #[serde(default)]
    spent: bool,
    /// When it was spent (unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    spent_at: Option<i64>,
    /// The hash of the token that replaced it, so a retry within the grace gets that one again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    successor: Option<String>,
    /// When the family ends; also the item's TTL.
    #[serde(rename = "expiresAt")]
    family_expires_at: i64,
    /// The user's session epoch when the session was opened.
    #[serde(default)]
    session_epoch: u64,
}

/// A session (a refresh-token family) as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SessionRecord {
    user_id: Uuid,
    #[serde(default)]
    revoked: bool,
    expires_at: i64,
    /// The user's session epoch when the session was opened.
    #[serde(default)]
    session_epoch: u64,
}

/// How often a refresh re-reads its token after losing a race for it.
const ROTATION_ATTEMPTS: usize = 3;

/// When the token's family ends.
fn family_expiry(token: &RefreshRecord) -> Result<OffsetDateTime, ApiError> {
    OffsetDateTime::from_unix_timestamp(token.family_expires_at).context("read a session expiry")
}

/// What presenting a refresh token led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The token was live: it is now spent and the new one replaces it.
    Rotated {
        /// The user the session belongs to.
        user_id: Uuid,
        /// When the family (and the new token) expires.
        family_expires_at: OffsetDateTime,
    },
    /// The token was spent moments ago by a request whose answer the client may have lost: the
    /// same successor is handed out again (see [`Store::rotate_refresh_token`]).
    Replayed {
        /// The user the session belongs to.
        user_id: Uuid,
        /// When the family (and the successor) expires.
        family_expires_at: OffsetDateTime,
    },
    /// No such token, or its session expired.
    Unknown,
    /// The session was revoked (logout or earlier reuse), or ended by a password change or reset.
    Revoked,
    /// The token had already been used: the whole family is now revoked.
    Reused,
}

/// The outcome of a role change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoleChange {
    /// The role is now the requested one (possibly it already was).
    Done {
        /// The role before.
        previous: Role,
    },
    /// No such user.
    NoUser,
    /// The user is the last admin and would be demoted.
    LastAdmin,
    /// The acting user is no longer an admin (their token is older than the demotion).
    ActorNotAdmin,
}

/// The outcome of provisioning the first admin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstAdmin {
    /// The provisioned account exists (created now, or by an earlier run).
    Ready(Uuid),
    /// Someone registered the email: provisioning must not hand that account admin rights.
    EmailTaken,
}

/// Access to the identity table.
#[derive(Debug, Clone)]
pub struct Store {
    client: Client,
    table: String,
}

fn user_key(id: Uuid) -> Item {
    key(format!("USER#{id}"), "PROFILE")
}

fn address_key(user_id: Uuid, address_id: Uuid) -> Item {
    key(format!("USER#{user_id}"), format!("ADDRESS#{address_id}"))
}

fn address_idempotency_key(user_id: Uuid, key_text: &str) -> Item {
    key(format!("IDEMPOTENCY#{user_id}#{key_text}"), "ADDRESS")
}

/// How long an address creation's `Idempotency-Key` is remembered.
const IDEMPOTENCY_RETENTION_SECS: i64 = 24 * 3600;

/// An `Idempotency-Key` given with a creation, and the fingerprint of its request.
#[derive(Debug, Clone)]
pub struct Idempotency<'a> {
    /// The client's key.
    pub key: &'a str,
    /// [`shared::idempotency::fingerprint`] of the body.
    pub fingerprint: String,
}

/// The record of an address creation made with an `Idempotency-Key`: the request's fingerprint
/// and the address as it was created, to answer a retry with.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AddressIdempotency {
    fingerprint: String,
    address: Address,
    expires_at: i64,
}

fn email_key(email: &str) -> Item {
    key(format!("EMAIL#{email}"), "EMAIL")
}

fn session_key(family_id: Uuid) -> Item {
    key(format!("SESSION#{family_id}"), "SESSION")
}

fn refresh_key(hash: &str) -> Item {
    key(format!("REFRESH#{hash}"), "REFRESH")
}

fn admins_key() -> Item {
    key("META".to_owned(), "ADMINS")
}

fn with_key<T: Serialize>(key: Item, value: &T) -> Result<Item, ApiError> {
    let mut item = dynamo::to_item(value).context("serialize an identity item")?;
    item.extend(key);
    Ok(item)
}

impl Store {
    /// A store over `table`.
    #[must_use]
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    fn put(&self, item: Item, condition: &str) -> Result<TransactWriteItem, ApiError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition)
            .build()
            .context("build a transactional put")?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<(), WriteFailure> {
        self.client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
            .map(|_| ())
            .map_err(dynamo::classify)
    }

    async fn get(&self, key: Item) -> Result<Option<Item>, ApiError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .context("read an identity item")?;
        Ok(output.item)
    }

    /// Creates `user` (a new user's revision is [`FIRST_REVISION`]) and claims its email, and puts
    /// its `UserRegistered` event (with `correlation_id`) into the outbox, in one transaction.
    ///
    /// Of two concurrent registrations of one email exactly one succeeds: both write the email claim
    /// under `attribute_not_exists`, so only one user, and one event, is ever written. With `admin`,
    /// the admin count goes up in the same transaction.
    ///
    /// # Errors
    /// 409 `EMAIL_TAKEN` when the email is claimed; 500 on storage failure.
    pub async fn create_user(&self, user: &User, correlation_id: &str) -> Result<(), ApiError> {
        let registered = Envelope::wrap(UserRegistered(user.contact()), correlation_id);
        for attempt in 0..=CONFLICT_RETRIES {
            let items = self.creation(user, &registered)?;
            match self.transact(items).await {
                Ok(()) => return Ok(()),
                Err(failure) if failure.failed_conditions().contains(&0) => {
                    return Err(ApiError::conflict(
                        "EMAIL_TAKEN",
                        "An account with this email already exists.",
                    ));
                }
                Err(failure) if is_conflict(&failure) && attempt < CONFLICT_RETRIES => {
                    dynamo::backoff(attempt).await;
                }
                Err(failure) => return Err(failure_to_api("create a user", failure)),
            }
        }
        Err(busy())
    }

    /// The items that create `user` with its `registered` event: the email claim first (index 0:
    /// its failure is how a taken email is told apart), the user, the event, and for an admin the
    /// admin count.
    fn creation(
        &self,
        user: &User,
        registered: &Envelope<UserRegistered>,
    ) -> Result<Vec<TransactWriteItem>, ApiError> {
        let mut items = vec![
            self.put(
                with_key(
                    email_key(&user.email),
                    &serde_json::json!({"userId": user.id}),
                )?,
                "attribute_not_exists(pk)",
            )?,
            self.put(
                with_key(user_key(user.id), user)?,
                "attribute_not_exists(pk)",
            )?,
            outbox::put(&self.table, registered)?,
        ];
        if user.role == Role::Admin {
            items.push(self.count_admins(1)?);
        }
        Ok(items)
    }

    fn count_admins(&self, delta: i32) -> Result<TransactWriteItem, ApiError> {
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(admins_key()))
            .update_expression("ADD admins :delta")
            .set_expression_attribute_values(values(vec![(":delta", n(delta))]));
        if delta < 0 {
            // Never let the count (and so the set of admins) reach zero.
            update = update
                .condition_expression("admins > :one")
                .set_expression_attribute_values(values(vec![
                    (":delta", n(delta)),
                    (":one", n(1)),
                ]));
        }
        let update = update.build().context("build the admin count update")?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// The user with `id`.
    ///
    /// # Errors
    /// 500 on storage failure or a malformed item.
    pub async fn user(&self, id: Uuid) -> Result<Option<User>, ApiError> {
        self.get(user_key(id))
            .await?
            .map(dynamo::from_item)
            .transpose()
            .context("read a user item")
    }

    /// The user registered with `email` (normalized). Reads the email claim, then the user.
    ///
    /// # Errors
    /// 500 on storage failure.
    pub async fn user_by_email(&self, email: &str) -> Result<Option<User>, ApiError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Claim {
            user_id: Uuid,
        }
        let claim: Option<Claim> = self
            .get(email_key(email))
            .await?
            .map(dynamo::from_item)
            .transpose()
            .context("read an email claim")?;
        // Two reads either way (the nil id has no user), so timing does not tell which emails exist.
        self.user(claim.map_or(Uuid::nil(), |c| c.user_id)).await
    }

    /// Starts a session after a successful login: a new refresh-token family holding its first token
    /// (stored by hash) at `user`'s session epoch, and the failed attempts of `email` from `source`
    /// forgotten, in one transaction, on condition that the epoch has not moved since `user` was
    /// read. Returns `None` when it has: the password changed while the login checked it.
    ///
    /// # Errors
    /// 500 on storage failure.
    pub async fn start_session(
        &self,
        user: &User,
        email: &str,
        source: &str,
        token_hash: &str,
        expires_at: OffsetDateTime,
    ) -> Result<Option<Uuid>, ApiError> {
        let (family_id, mut items) =
            self.open_session(user.id, user.session_epoch, token_hash, expires_at)?;
        items.push(self.forget_failures(email, source)?);
        items.push(self.epoch_check(user.id, user.session_epoch)?);
        let epoch_index = items.len() - 1;
        match self.transact(items).await {
            Ok(()) => Ok(Some(family_id)),
            Err(failure) if failure.failed_conditions().contains(&epoch_index) => Ok(None),
            Err(failure) => Err(failure_to_api("start a session", failure)),
        }
    }

    /// The two puts of a new session of `user_id` at `epoch` holding its first refresh token, and
    /// the session's id.
    fn open_session(
        &self,
        user_id: Uuid,
        epoch: u64,
        token_hash: &str,
        expires_at: OffsetDateTime,
    ) -> Result<(Uuid, Vec<TransactWriteItem>), ApiError> {
        let family_id = shared::ids::new_id();
        let expires = expires_at.unix_timestamp();
        let session = SessionRecord {
            user_id,
            revoked: false,
            expires_at: expires,
            session_epoch: epoch,
        };
        let token = RefreshRecord {
            family_id,
            user_id,
            spent: false,
            spent_at: None,
            successor: None,
            family_expires_at: expires,
            session_epoch: epoch,
        };
        let items = vec![
            self.put(
                with_key(session_key(family_id), &session)?,
                "attribute_not_exists(pk)",
            )?,
            self.put(
                with_key(refresh_key(token_hash), &token)?,
                "attribute_not_exists(pk)",
            )?,
        ];
        Ok((family_id, items))
    }

    /// A check that the user `user_id` exists and their session epoch is still `epoch` (an item
    /// without one is at epoch 0).
    fn epoch_check(&self, user_id: Uuid, epoch: u64) -> Result<TransactWriteItem, ApiError> {
        let (condition, vals) = epoch_condition(epoch);
        let check = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(user_key(user_id)))
            .condition_expression(condition)
            .set_expression_attribute_values(values(vals))
            .build()
            .context("build the session epoch check")?;
        Ok(TransactWriteItem::builder().condition_check(check).build())
    }

    /// Spends the refresh token stored under `old_hash` and stores its successor under `new_hash`,
    /// in one transaction conditional on the token being unspent and its session live.
    ///
    /// The user's session epoch must still be the token's, checked in the same transaction: a
    /// password change or reset since the login ends the session ([`Rotation::Revoked`]).
    ///
    /// A token already spent is reuse, and revokes the whole session, with one exception: the
    /// same token presented again within `grace_secs` of its rotation, whose successor is
    /// `new_hash` (successors are derived from the token, so a retry derives the same one), still
    /// unused, in a live session. That is a client retrying a refresh whose answer it lost, and it
    /// gets the same successor ([`Rotation::Replayed`]). Concurrent refreshes of one token end the
    /// same way: one rotates, the others replay.
    ///
    /// # Errors
    /// 500 on storage failure.
    pub async fn rotate_refresh_token(
        &self,
        old_hash: &str,
        new_hash: &str,
        now: OffsetDateTime,
        grace_secs: i64,
    ) -> Result<Rotation, ApiError> {
        for _ in 0..ROTATION_ATTEMPTS {
            let Some(item) = self.get(refresh_key(old_hash)).await? else {
                return Ok(Rotation::Unknown);
            };
            let token: RefreshRecord = dynamo::from_item(item).context("read a refresh token")?;
            if token.spent {
                return self
                    .replay_or_revoke(&token, new_hash, now, grace_secs)
                    .await;
            }
            if token.family_expires_at <= now.unix_timestamp() {
                return Ok(Rotation::Unknown);
            }
            let spend = Update::builder()
                .table_name(&self.table)
                .set_key(Some(refresh_key(old_hash)))
                .update_expression("SET spent = :true, spentAt = :now, successor = :next")
                .condition_expression("attribute_exists(pk) AND spent = :false")
                .set_expression_attribute_values(values(vec![
                    (":true", AttributeValue::Bool(true)),
                    (":false", AttributeValue::Bool(false)),
                    (":now", n(now.unix_timestamp())),
                    (":next", s(new_hash)),
                ]))
                .build()
                .context("build the token spend")?;
            let live = ConditionCheck::builder()
                .table_name(&self.table)
                .set_key(Some(session_key(token.family_id)))
                .condition_expression("revoked = :false AND expiresAt > :now")
                .set_expression_attribute_values(values(vec![
                    (":false", AttributeValue::Bool(false)),
                    (":now", n(now.unix_timestamp())),
                ]))
                .build()
                .context("build the session check")?;
            let next = RefreshRecord {
                spent: false,
                spent_at: None,
                successor: None,
                ..token.clone()
            };
            let items = vec![
                TransactWriteItem::builder().update(spend).build(),
                TransactWriteItem::builder().condition_check(live).build(),
                self.put(
                    with_key(refresh_key(new_hash), &next)?,
                    "attribute_not_exists(pk)",
                )?,
                self.epoch_check(token.user_id, token.session_epoch)?,
            ];
            match self.transact(items).await {
                Ok(()) => {
                    return Ok(Rotation::Rotated {
                        user_id: token.user_id,
                        family_expires_at: family_expiry(&token)?,
                    });
                }
                Err(failure)
                    if failure.failed_conditions().contains(&1)
                        || failure.failed_conditions().contains(&3) =>
                {
                    return Ok(Rotation::Revoked);
                }
                // Another request spent it first (or is spending it): read it again and decide.
                Err(failure)
                    if failure.failed_conditions().contains(&0)
                        || failure.failed_conditions().contains(&2)
                        || is_conflict(&failure) => {}
                Err(failure) => return Err(failure_to_api("rotate a refresh token", failure)),
            }
        }
        // Racing without end is not what a client retrying looks like.
        let Some(item) = self.get(refresh_key(old_hash)).await? else {
            return Ok(Rotation::Unknown);
        };
        let token: RefreshRecord = dynamo::from_item(item).context("read a refresh token")?;
        self.revoke_session(token.family_id).await?;
        Ok(Rotation::Reused)
    }

    /// A spent token presented again: [`Rotation::Replayed`] when it is a retry within the grace
    /// (see [`Store::rotate_refresh_token`]), else the session is revoked.
    async fn replay_or_revoke(
        &self,
        token: &RefreshRecord,
        new_hash: &str,
        now: OffsetDateTime,
        grace_secs: i64,
    ) -> Result<Rotation, ApiError> {
        let now_secs = now.unix_timestamp();
        let recent = token
            .spent_at
            .is_some_and(|at| now_secs.saturating_sub(at) <= grace_secs);
        if recent && token.successor.as_deref() == Some(new_hash) {
            let successor: Option<RefreshRecord> = match self.get(refresh_key(new_hash)).await? {
                Some(item) => Some(dynamo::from_item(item).context("read a refresh token")?),
                None => None,
            };
            let session: Option<SessionRecord> =
                match self.get(session_key(token.family_id)).await? {
                    Some(item) => Some(dynamo::from_item(item).context("read a session")?),
                    None => None,
                };
            let Some(session) = session else {
                return Ok(Rotation::Unknown);
            };
            let epoch = self.user(token.user_id).await?.map(|u| u.session_epoch);
            if session.revoked || epoch != Some(token.session_epoch) {
                return Ok(Rotation::Revoked);
            }
            if successor.is_some_and(|s| !s.spent) && session.expires_at > now_secs {
                return Ok(Rotation::Replayed {
                    user_id: token.user_id,
                    family_expires_at: family_expiry(token)?,
                });
            }
        }
        self.revoke_session(token.family_id).await?;
        Ok(Rotation::Reused)
    }

    /// Revokes the session that the refresh token stored under `hash` belongs to, if any.
    ///
    /// # Errors
    /// 500 on storage failure.
    pub async fn revoke_by_token(&self, hash: &str) -> Result<bool, ApiError> {
        let Some(item) = self.get(refresh_key(hash)).await? else {
            return Ok(false);
        };
        let token: RefreshRecord = dynamo::from_item(item).context("read a refresh token")?;
        self.revoke_session(token.family_id).await?;
        Ok(true)
    }

    /// Marks a session revoked: none of its refresh tokens works any more. Idempotent.
    ///
    /// # Errors
    /// 500 on storage failure.
    pub async fn revoke_session(&self, family_id: Uuid) -> Result<(), ApiError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(session_key(family_id)))
            .update_expression("SET revoked = :true")
            .condition_expression("attribute_exists(pk)")
            .set_expression_attribute_values(values(vec![(":true", AttributeValue::Bool(true))]))
            .send()
            .await
            .map_err(dynamo::classify);
        match result {
            Ok(_) | Err(WriteFailure::ConditionFailed) => {
                tracing::info!(family_id = %family_id, "session revoked");
                Ok(())
            }
            Err(failure) => Err(failure_to_api("revoke a session", failure)),
        }
    }

    /// Applies `changes` to the profile of `user_id` and returns the updated user.
    ///
    /// Reads the user, works out the new contact details ([`ProfileChanges::apply_to`]), then writes
    /// them at the next revision together with their `UserChanged` event (with `correlation_id`)
    /// in one transaction, conditional on the revision still being the one read. A concurrent
    /// profile change that wins makes this one read again and reapply its changes on top (a few
    /// times), so no change is lost and every revision has its event. Changes that leave the
    /// details as they are write nothing and publish nothing.
    ///
    /// The user returned has the contact details and revision as written; the other fields are as
    /// read just before.
    ///
    /// # Errors
    /// 404 when the user does not exist; 422 `PHONE_REQUIRED` for SMS without a phone; 409
    /// `CONFLICT` when the profile keeps changing underneath; 500 otherwise.
    pub async fn update_profile(
        &self,
        user_id: Uuid,
        changes: &ProfileChanges,
        now: &str,
        correlation_id: &str,
    ) -> Result<User, ApiError> {
        for attempt in 0..=CONFLICT_RETRIES {
            let Some(user) = self.user(user_id).await? else {
                return Err(ApiError::not_found("No such user."));
            };
            let Some(next) = changes.apply_to(&user, now)? else {
                return Ok(user);
            };
            let changed = Envelope::wrap(UserChanged(next.contact()), correlation_id);
            let items = vec![
                self.contact_update(user.revision, &next)?,
                outbox::put(&self.table, &changed)?,
            ];
            match self.transact(items).await {
                Ok(()) => return Ok(next),
                // Another change moved the revision (or took the user) meanwhile: read again.
                Err(failure)
                    if failure.failed_conditions().contains(&0) || is_conflict(&failure) =>
                {
                    if attempt < CONFLICT_RETRIES {
                        dynamo::backoff(attempt).await;
                    }
                }
                Err(failure) => return Err(failure_to_api("update a profile", failure)),
            }
        }
        Err(busy())
    }

    /// The update that writes `next`'s contact details and revision, conditional on the stored
    /// revision being `read` (no revision at all for 0, an item older than revisions).
    fn contact_update(&self, read: u64, next: &User) -> Result<TransactWriteItem, ApiError> {
        let mut set = vec![
            "marketingOptIn = :marketing",
            "smsOptIn = :sms",
            "updatedAt = :now",
            "#revision = :next",
        ];
        let mut remove = Vec::new();
        let mut vals = vec![
            (":marketing", AttributeValue::Bool(next.marketing_opt_in)),
            (":sms", AttributeValue::Bool(next.sms_opt_in)),
            (":now", s(next.updated_at.clone())),
            (":next", n(next.revision)),
        ];
        match &next.name {
            Some(name) => {
                set.push("#name = :name");
                vals.push((":name", s(name.clone())));
            }
            None => remove.push("#name"),
        }
        match &next.phone {
            Some(phone) => {
                set.push("phone = :phone");
                vals.push((":phone", s(phone.clone())));
            }
            None => remove.push("phone"),
        }
        let mut expression = format!("SET {}", set.join(", "));
        if !remove.is_empty() {
            expression.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        let condition = if read == 0 {
            "attribute_exists(pk) AND attribute_not_exists(#revision)"
        } else {
            vals.push((":read", n(read)));
            "#revision = :read"
        };
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(user_key(next.id)))
            .update_expression(expression)
            .condition_expression(condition)
            .set_expression_attribute_names(names(&[("#name", "name"), ("#revision", "revision")]))
            .set_expression_attribute_values(values(vals))
            .build()
            .context("build the profile update")?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    /// The user and their addresses, in one query of the user's partition.
    ///
    /// # Errors
    /// 500 on storage failure.
    pub async fn user_with_addresses(
        &self,
        user_id: Uuid,
    ) -> Result<Option<(User, Vec<Address>)>, ApiError> {
        let mut user = None;
        let mut addresses = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :pk")
                .set_expression_attribute_values(values(vec![(
                    ":pk",
                    s(format!("USER#{user_id}")),
                )]))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .context("query a user's partition")?;
            for item in output.items.unwrap_or_default() {
                match item
                    .get("sk")
                    .and_then(|v| v.as_s().ok())
                    .map(String::as_str)
                {
                    Some("PROFILE") => {
                        user = Some(dynamo::from_item::<User>(item).context("read a user item")?);
                    }
                    Some(sk) if sk.starts_with("ADDRESS#") => {
                        addresses.push(dynamo::from_item(item).context("read an address item")?);
                    }
                    _ => {}
                }
            }
            match output.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => break,
            }
        }
        Ok(user.map(|user| (user, addresses)))
    }

    /// Adds `address` to the user's book; the first address (or one marked so) becomes the default.
    ///
    /// The profile's address count goes up in the same transaction, on condition that it is below
    /// `max`, so concurrent creations cannot pass the cap. With an `Idempotency-Key`, a record of it
    /// is written in the same transaction too, and a repeated creation returns the first address
    /// (`Some`) instead of adding another.
    ///
    /// # Errors
    /// 404 when the user does not exist; 409 `ADDRESS_LIMIT_REACHED` at the cap; 422
    /// `IDEMPOTENCY_KEY_REUSED` for a key used with another request; 500 otherwise.
    pub async fn create_address(
        &self,
        user_id: Uuid,
        address: &Address,
        make_default: bool,
        max: u32,
        idempotency: Option<&Idempotency<'_>>,
    ) -> Result<Option<Address>, ApiError> {
        let default_expr = if make_default {
            "defaultAddressId = :id"
        } else {
            "defaultAddressId = if_not_exists(defaultAddressId, :id)"
        };
        let profile = Update::builder()
            .table_name(&self.table)
            .set_key(Some(user_key(user_id)))
            .update_expression(format!(
                "SET {default_expr}, updatedAt = :now ADD addressCount :one"
            ))
            .condition_expression(
                "attribute_exists(pk) AND (attribute_not_exists(addressCount) OR addressCount < :max)",
            )
            .set_expression_attribute_values(values(vec![
                (":id", s(address.id.to_string())),
                (":now", s(address.created_at.clone())),
                (":one", n(1)),
                (":max", n(max)),
            ]))
            .build()
            .context("build the address count update")?;
        for attempt in 0..=CONFLICT_RETRIES {
            let mut items = vec![
                TransactWriteItem::builder().update(profile.clone()).build(),
                self.put(
                    with_key(address_key(user_id, address.id), address)?,
                    "attribute_not_exists(pk)",
                )?,
            ];
            if let Some(idempotency) = idempotency {
                let record = AddressIdempotency {
                    fingerprint: idempotency.fingerprint.clone(),
                    address: address.clone(),
                    expires_at: shared::time::now().unix_timestamp() + IDEMPOTENCY_RETENTION_SECS,
                };
                items.push(self.put(
                    with_key(address_idempotency_key(user_id, idempotency.key), &record)?,
                    "attribute_not_exists(pk)",
                )?);
            }
            match self.transact(items).await {
                Ok(()) => return Ok(None),
                Err(failure) if failure.failed_conditions().contains(&2) => {
                    return self.replayed_address(user_id, idempotency).await.map(Some);
                }
                Err(failure) if failure.failed_conditions().contains(&0) => {
                    return match self.user(user_id).await? {
                        None => Err(ApiError::not_found("No such user.")),
                        Some(_) => Err(ApiError::conflict(
                            "ADDRESS_LIMIT_REACHED",
                            format!("An account can keep at most {max} addresses."),
                        )),
                    };
                }
                Err(failure) if is_conflict(&failure) && attempt < CONFLICT_RETRIES => {
                    dynamo::backoff(attempt).await;
                }
                Err(failure) => return Err(failure_to_api("create an address", failure)),
            }
        }
        Err(busy())
    }

    /// The address an earlier creation with the same `Idempotency-Key` made, or 422 when that
    /// key came with another request.
    async fn replayed_address(
        &self,
        user_id: Uuid,
        idempotency: Option<&Idempotency<'_>>,
    ) -> Result<Address, ApiError> {
        let Some(idempotency) = idempotency else {
            return Err(busy());
        };
        let item = self
            .get(address_idempotency_key(user_id, idempotency.key))
            .await?
            .ok_or_else(busy)?;
        let record: AddressIdempotency =
            dynamo::from_item(item).context("read an idempotency record")?;
        if record.fingerprint == idempotency.fingerprint {
            Ok(record.address)
        } else {
            Err(shared::idempotency::reused())
        }
    }

    /// Applies `changes` to an address and, with `default`, makes it (`Some(true)`) the default or
    /// checks (`Some(false)`) that it is not the default. Returns the updated address and the user's
    /// default address.
    ///
    /// # Errors
    /// 404 when the user has no such address; 409 `DEFAULT_ADDRESS_REQUIRED` when `Some(false)` is asked
    /// of the default address; 500 otherwise.
    pub async fn update_address(
        &self,
        user_id: Uuid,
        address_id: Uuid,
        changes: &AddressChanges,
        default: Option<bool>,
        now: &str,
    ) -> Result<(Address, Option<Uuid>), ApiError> {
        let mut set = vec!["updatedAt = :now".to_owned()];
        let mut remove = Vec::new();
        let mut vals = vec![(":now".to_owned(), s(now))];
        let mut attr_names = HashMap::new();
        for (i, (field, value)) in changes.fields.iter().enumerate() {
            let name = format!("#f{i}");
            attr_names.insert(name.clone(), (*field).to_owned());
            match value {
                Some(value) => {
                    let placeholder = format!(":v{i}");
                    set.push(format!("{name} = {placeholder}"));
                    vals.push((placeholder, s(value.clone())));
                }
                None => remove.push(name),
            }
        }
        let mut expression = format!("SET {}", set.join(", "));
        if !remove.is_empty() {
            expression.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(address_key(user_id, address_id)))
            .update_expression(expression)
            .condition_expression("attribute_exists(pk)")
            .set_expression_attribute_values(Some(vals.into_iter().collect()));
        if !attr_names.is_empty() {
            update = update.set_expression_attribute_names(Some(attr_names));
        }
        let update = update.build().context("build the address update")?;
        let mut items = vec![TransactWriteItem::builder().update(update).build()];
        match default {
            Some(true) => {
                let profile = Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(user_key(user_id)))
                    .update_expression("SET defaultAddressId = :id, updatedAt = :now")
                    .condition_expression("attribute_exists(pk)")
                    .set_expression_attribute_values(values(vec![
                        (":id", s(address_id.to_string())),
                        (":now", s(now)),
                    ]))
                    .build()
                    .context("build the default address update")?;
                items.push(TransactWriteItem::builder().update(profile).build());
            }
            Some(false) => {
                let check = ConditionCheck::builder()
                    .table_name(&self.table)
                    .set_key(Some(user_key(user_id)))
                    .condition_expression(
                        "attribute_not_exists(defaultAddressId) OR defaultAddressId <> :id",
                    )
                    .set_expression_attribute_values(values(vec![(
                        ":id",
                        s(address_id.to_string()),
                    )]))
                    .build()
                    .context("build the default address check")?;
                items.push(TransactWriteItem::builder().condition_check(check).build());
            }
            None => {}
        }
        for attempt in 0..=CONFLICT_RETRIES {
            match self.transact(items.clone()).await {
                Ok(()) => {
                    // One query reads back both the address and the user's default.
                    let (user, addresses) = self
                        .user_with_addresses(user_id)
                        .await?
                        .ok_or_else(address_not_found)?;
                    return addresses
                        .into_iter()
                        .find(|a| a.id == address_id)
                        .map(|a| (a, user.default_address_id))
                        .ok_or_else(address_not_found);
                }
                Err(failure) if failure.failed_conditions().contains(&0) => {
                    return Err(address_not_found());
                }
                Err(failure) if failure.failed_conditions().contains(&1) => {
                    return Err(ApiError::conflict(
                        "DEFAULT_ADDRESS_REQUIRED",
                        "This is the default address; make another address the default instead.",
                    ));
                }
                Err(failure) if is_conflict(&failure) && attempt < CONFLICT_RETRIES => {
                    dynamo::backoff(attempt).await;
                }
                Err(failure) => return Err(failure_to_api("update an address", failure)),
            }
        }
        Err(busy())
    }

    /// Deletes an address. When it was the default, the most recently added remaining address becomes
    /// the default, in the same transaction. The transaction is conditional on the default and the
    /// address count being what was read, so an address added meanwhile is seen on the retry and no
    /// book is left without a default.
    ///
    /// # Errors
    /// 404 when the user has no such address; 500 otherwise.
    pub async fn delete_address(
        &self,
        user_id: Uuid,
        address_id: Uuid,
        now: &str,
    ) -> Result<(), ApiError> {
        for attempt in 0..=CONFLICT_RETRIES {
            let Some((user, addresses)) = self.user_with_addresses(user_id).await? else {
                return Err(address_not_found());
            };
            if !addresses.iter().any(|a| a.id == address_id) {
                return Err(address_not_found());
            }
            let id = s(address_id.to_string());
            let delete = Delete::builder()
                .table_name(&self.table)
                .set_key(Some(address_key(user_id, address_id)))
                .condition_expression("attribute_exists(pk)")
                .build()
                .context("build the address delete")?;
            let mut items = vec![TransactWriteItem::builder().delete(delete).build()];
            let profile = if user.default_address_id == Some(address_id) {
                let replacement = addresses
                    .iter()
                    .filter(|a| a.id != address_id)
                    .max_by_key(|a| a.id);
                let mut vals = vec![(":id", id), (":minus", n(-1)), (":now", s(now))];
                let expression = if let Some(next) = replacement {
                    vals.push((":next", s(next.id.to_string())));
                    let check = ConditionCheck::builder()
                        .table_name(&self.table)
                        .set_key(Some(address_key(user_id, next.id)))
                        .condition_expression("attribute_exists(pk)")
                        .build()
                        .context("build the replacement check")?;
                    items.push(TransactWriteItem::builder().condition_check(check).build());
                    "SET defaultAddressId = :next, updatedAt = :now ADD addressCount :minus"
                } else {
                    "SET updatedAt = :now REMOVE defaultAddressId ADD addressCount :minus"
                };
                vals.push((":count", n(user.address_count)));
                Update::builder()
                    .update_expression(expression)
                    .condition_expression("defaultAddressId = :id AND addressCount = :count")
                    .set_expression_attribute_values(values(vals))
            } else {
                Update::builder()
                    .update_expression("SET updatedAt = :now ADD addressCount :minus")
                    .condition_expression(
                        "attribute_exists(pk) AND addressCount = :count AND (attribute_not_exists(defaultAddressId) OR defaultAddressId <> :id)",
                    )
                    .set_expression_attribute_values(values(vec![
                        (":id", id),
                        (":minus", n(-1)),
                        (":now", s(now)),
                        (":count", n(user.address_count)),
                    ]))
            };
            let profile = profile
                .table_name(&self.table)
                .set_key(Some(user_key(user_id)))
                .build()
                .context("build the address count update")?;
            items.insert(1, TransactWriteItem::builder().update(profile).build());
            match self.transact(items).await {
                Ok(()) => return Ok(()),
                Err(failure) if failure.failed_conditions().contains(&0) => {
                    return Err(address_not_found());
                }
                // The default moved or the replacement vanished meanwhile: look again.
                Err(failure)
                    if (failure.is_condition_failed() || is_conflict(&failure))
                        && attempt < CONFLICT_RETRIES =>
                {
                    dynamo::backoff(attempt).await;
                }
                Err(failure) => return Err(failure_to_api("delete an address", failure)),
            }
        }
        Err(busy())
    }

    /// Sets the role of `user_id` to `role`, recording who did it.
    ///
    /// One transaction changes the role on condition that it is still the one read, checks that the
    /// actor is still an admin, moves the admin count (which may not drop below one), and writes the
    /// audit record, so two admins demoting each other at once cannot leave the shop without an admin,
    /// and a demoted admin's unexpired token changes nothing. When there is nothing to change (no
    /// such user, or the role is already the one asked), the actor's stored role is still read and
    /// must be admin, so a demoted admin's token cannot even tell which users exist.
    ///
    /// # Errors
    /// 409 `CONFLICT` if the role keeps changing underneath; 500 on storage failure.
    pub async fn set_role(
        &self,
        user_id: Uuid,
        role: Role,
        actor: Uuid,
        request_id: &str,
        now: &str,
    ) -> Result<RoleChange, ApiError> {
        for attempt in 0..=CONFLICT_RETRIES {
            let Some(user) = self.user(user_id).await? else {
                return Ok(if self.is_admin(actor).await? {
                    RoleChange::NoUser
                } else {
                    RoleChange::ActorNotAdmin
                });
            };
            let previous = user.role;
            if previous == role {
                let actor_is_admin = if actor == user_id {
                    previous == Role::Admin
                } else {
                    self.is_admin(actor).await?
                };
                return Ok(if actor_is_admin {
                    RoleChange::Done { previous }
                } else {
                    RoleChange::ActorNotAdmin
                });
            }
            let change = Update::builder()
                .table_name(&self.table)
                .set_key(Some(user_key(user_id)))
                .update_expression("SET #role = :role, updatedAt = :now")
                .condition_expression("#role = :previous")
                .set_expression_attribute_names(names(&[("#role", "role")]))
                .set_expression_attribute_values(values(vec![
                    (":role", s(role.as_str())),
                    (":previous", s(previous.as_str())),
                    (":now", s(now)),
                ]))
                .build()
                .context("build the role update")?;
            let audit = serde_json::json!({
                "pk": format!("AUDIT#{user_id}"),
                "sk": format!("{now}#{}", shared::ids::new_id()),
                "action": "ROLE_CHANGED",
                "userId": user_id,
                "actorId": actor,
                "from": previous,
                "to": role,
                "requestId": request_id,
                "at": now,
            });
            let mut items = vec![
                TransactWriteItem::builder().update(change).build(),
                self.put(
                    dynamo::to_item(&audit).context("serialize the audit record")?,
                    "attribute_not_exists(pk)",
                )?,
            ];
            // The actor's token may predate their own demotion: check the stored role, in the same
            // transaction. (Acting on oneself, the change's own condition already checks it.)
            let checks_actor = actor != user_id;
            if checks_actor {
                let check = ConditionCheck::builder()
                    .table_name(&self.table)
                    .set_key(Some(user_key(actor)))
                    .condition_expression("#role = :admin")
                    .set_expression_attribute_names(names(&[("#role", "role")]))
                    .set_expression_attribute_values(values(vec![(
                        ":admin",
                        s(Role::Admin.as_str()),
                    )]))
                    .build()
                    .context("build the actor check")?;
                items.push(TransactWriteItem::builder().condition_check(check).build());
            } else if previous != Role::Admin {
                return Ok(RoleChange::ActorNotAdmin);
            }
            let count_index = items.len();
            if previous == Role::Admin {
                items.push(self.count_admins(-1)?);
            } else if role == Role::Admin {
                items.push(self.count_admins(1)?);
            }
            match self.transact(items).await {
                Ok(()) => return Ok(RoleChange::Done { previous }),
                Err(failure) if checks_actor && failure.failed_conditions().contains(&2) => {
                    return Ok(RoleChange::ActorNotAdmin);
                }
                Err(failure) if failure.failed_conditions().contains(&count_index) => {
                    return Ok(RoleChange::LastAdmin);
                }
                Err(failure)
                    if (failure.failed_conditions().contains(&0) || is_conflict(&failure))
                        && attempt < CONFLICT_RETRIES =>
                {
                    dynamo::backoff(attempt).await;
                }
                Err(failure) => return Err(failure_to_api("change a role", failure)),
            }
        }
        Err(busy())
    }

    /// Whether `user_id`'s stored role is admin.
    async fn is_admin(&self, user_id: Uuid) -> Result<bool, ApiError> {
        Ok(self
            .user(user_id)
            .await?
            .is_some_and(|user| user.role == Role::Admin))
    }

    /// Makes sure the provisioned admin account for `email` exists, creating it with `password_hash`
    /// (and its `UserRegistered` event with `correlation_id`, see [`Store::create_user`]).
    /// Safe to run any number of times: only the run that creates the account publishes. An account
    /// that someone *registered* with that email is never promoted: without email verification,
    /// that would give admin rights to whoever claimed the address first.
    ///
    /// # Errors
    /// 500 on storage failure.
    pub async fn ensure_first_admin(
        &self,
        email: &str,
        password_hash: &str,
        now: &str,
        correlation_id: &str,
    ) -> Result<FirstAdmin, ApiError> {
        let existing = |user: User| {
            if user.provisioned {
                FirstAdmin::Ready(user.id)
            } else {
                FirstAdmin::EmailTaken
            }
        };
        if let Some(user) = self.user_by_email(email).await? {
            return Ok(existing(user));
        }
        let user = User {
            id: shared::ids::new_id(),
            email: email.to_owned(),
            password_hash: password_hash.to_owned(),
            role: Role::Admin,
            name: None,
            phone: None,
            marketing_opt_in: false,
            sms_opt_in: false,
            address_count: 0,
            default_address_id: None,
            created_at: now.to_owned(),
            updated_at: now.to_owned(),
            provisioned: true,
            revision: FIRST_REVISION,
            email_verified: false,
            session_epoch: 0,
        };
        match self.create_user(&user, correlation_id).await {
            Ok(()) => Ok(FirstAdmin::Ready(user.id)),
            // Claimed concurrently: by a retried provisioning, or by a registration.
            Err(ApiError::Conflict { .. }) => match self.user_by_email(email).await? {
                Some(user) => Ok(existing(user)),
                None => Err(busy()),
            },
            Err(other) => Err(other),
        }
    }

    /// Replaces a password hash (a rehash at the current cost), on condition that it is still `old`.
    /// Returns whether it was replaced.
    ///
    /// # Errors
    /// 500 on storage failure.
    pub async fn replace_password_hash(
        &self,
        user_id: Uuid,
        old: &str,
        new: &str,
    ) -> Result<bool, ApiError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(user_key(user_id)))
            .update_expression("SET passwordHash = :new")
            .condition_expression("passwordHash = :old")
            .set_expression_attribute_values(values(vec![(":new", s(new)), (":old", s(old))]))
            .send()
            .await
            .map_err(dynamo::classify);
        match result {
            Ok(_) => Ok(true),
            Err(WriteFailure::ConditionFailed) => Ok(false),
            Err(failure) => Err(failure_to_api("replace a password hash", failure)),
        }
    }
}

/// The condition that a user item exists at session epoch `epoch` (an item without one is at 0),
/// and its values.
fn epoch_condition(epoch: u64) -> (&'static str, Vec<(&'static str, AttributeValue)>) {
    let condition = if epoch == 0 {
        "attribute_exists(pk) AND (attribute_not_exists(sessionEpoch) OR sessionEpoch = :epoch)"
    } else {
        "sessionEpoch = :epoch"
    };
    (condition, vec![(":epoch", n(epoch))])
}

fn secs(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX / 4)
}

fn is_conflict(failure: &WriteFailure) -> bool {
    match failure {
        WriteFailure::TransactionCanceled(reasons) => {
            reasons.iter().any(|r| r.code == "TransactionConflict")
        }
        WriteFailure::Other(aws_sdk_dynamodb::Error::TransactionConflictException(_)) => true,
        _ => false,
    }
}

fn failure_to_api(context: &str, failure: WriteFailure) -> ApiError {
    match failure {
        WriteFailure::Other(error) => ApiError::internal(context, error),
        other => ApiError::internal(context, format!("unexpected condition failure: {other:?}")),
    }
}

fn phone_required() -> ApiError {
    ApiError::unprocessable(
        "PHONE_REQUIRED",
        "SMS notifications need a phone number on the profile.",
    )
}

fn address_not_found() -> ApiError {
    ApiError::not_found("No such address.")
}

fn busy() -> ApiError {
    ApiError::conflict(
        "CONFLICT",
        "The account is being changed concurrently; retry.",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use shared::events::RawEnvelope;

    fn user() -> User {
        User {
            id: Uuid::parse_str("0193a5b2-0000-7000-8000-00000000c0c0").unwrap(),
            email: "grace.hopper@example.com".into(),
            password_hash: "$argon2id$unused".into(),
            role: Role::Customer,
            name: Some("Grace".into()),
            phone: None,
            marketing_opt_in: false,
            sms_opt_in: false,
            address_count: 0,
            default_address_id: None,
            created_at: "2026-11-30T09:00:00.000Z".into(),
            updated_at: "2026-11-30T09:00:00.000Z".into(),
            provisioned: false,
            revision: FIRST_REVISION,
            email_verified: false,
            session_epoch: 0,
        }
    }

    const LATER: &str = "2026-12-01T10:00:00.000Z";

    fn phone(number: &str) -> Option<Option<String>> {
        Some(Some(number.into()))
    }

    #[test]
    fn a_profile_change_moves_the_contact_details_to_the_next_revision() {
        let changes = ProfileChanges {
            name: Some(None),
            phone: phone("+14155550123"),
            marketing_opt_in: Some(true),
            sms_opt_in: Some(true),
        };
        let next = changes.apply_to(&user(), LATER).unwrap().unwrap();
        assert_eq!(next.name, None);
        assert_eq!(next.phone.as_deref(), Some("+14155550123"));
        assert!(next.marketing_opt_in && next.sms_opt_in);
        assert_eq!(next.revision, 2);
        assert_eq!(next.updated_at, LATER);
        assert_eq!(
            next,
            User {
                name: None,
                phone: next.phone.clone(),
                marketing_opt_in: true,
                sms_opt_in: true,
                revision: 2,
                updated_at: LATER.into(),
                ..user()
            },
            "nothing else changes"
        );
    }

    #[test]
    fn clearing_the_phone_turns_sms_off() {
        let with_sms = User {
            phone: Some("+14155550123".into()),
            sms_opt_in: true,
            ..user()
        };
        let changes = ProfileChanges {
            phone: Some(None),
            ..ProfileChanges::default()
        };
        let next = changes.apply_to(&with_sms, LATER).unwrap().unwrap();
        assert_eq!(next.phone, None);
        assert!(!next.sms_opt_in);
    }

    #[test]
    fn sms_needs_a_phone_sent_or_stored() {
        let sms_on = ProfileChanges {
            sms_opt_in: Some(true),
            ..ProfileChanges::default()
        };
        let refused = sms_on.apply_to(&user(), LATER).unwrap_err();
        assert_eq!(refused.status(), 422);
        assert_eq!(refused.code(), "PHONE_REQUIRED");
        let clearing = ProfileChanges {
            phone: Some(None),
            sms_opt_in: Some(true),
            ..ProfileChanges::default()
        };
        let with_phone = User {
            phone: Some("+14155550123".into()),
            ..user()
        };
        assert_eq!(
            clearing.apply_to(&with_phone, LATER).unwrap_err().status(),
            422
        );
        let stored = sms_on.apply_to(&with_phone, LATER).unwrap().unwrap();
        assert!(stored.sms_opt_in);
        let sent = ProfileChanges {
            phone: phone("+14155550123"),
            ..sms_on
        };
        assert!(sent.apply_to(&user(), LATER).unwrap().unwrap().sms_opt_in);
    }

    #[test]
    fn changes_that_repeat_the_stored_details_change_nothing() {
        let same = ProfileChanges {
            name: Some(Some("Grace".into())),
            marketing_opt_in: Some(false),
            sms_opt_in: Some(false),
            ..ProfileChanges::default()
        };
        assert_eq!(same.apply_to(&user(), LATER).unwrap(), None);
        assert_eq!(
            ProfileChanges::default().apply_to(&user(), LATER).unwrap(),
            None
        );
    }

    #[test]
    fn a_user_stored_before_revisions_reads_as_revision_zero_and_changes_to_one() {
        let mut item = with_key(user_key(user().id), &user()).unwrap();
        item.remove("revision");
        let old: User = dynamo::from_item(item).unwrap();
        assert_eq!(old.revision, 0);
        let changes = ProfileChanges {
            marketing_opt_in: Some(true),
            ..ProfileChanges::default()
        };
        assert_eq!(changes.apply_to(&old, LATER).unwrap().unwrap().revision, 1);
    }

    #[test]
    fn the_events_carry_the_whole_contact_snapshot() {
        let user = User {
            phone: Some("+14155550123".into()),
            sms_opt_in: true,
            ..user()
        };
        let event = Envelope::wrap(UserRegistered(user.contact()), "corr-1");
        let value: serde_json::Value = serde_json::from_str(&event.to_json().unwrap()).unwrap();
        assert_eq!(value["type"], "UserRegistered");
        assert_eq!(
            value["data"],
            json!({
                "userId": "0193a5b2-0000-7000-8000-00000000c0c0",
                "email": "grace.hopper@example.com",
                "name": "Grace",
                "phone": "+14155550123",
                "smsOptIn": true,
                "marketingOptIn": false,
                "revision": 1,
            })
        );
    }

    #[test]
    fn the_events_match_their_schemas() {
        let schemas =
            local::events::Schemas::load(&local::paths::repo_root().join("events/schemas"))
                .unwrap();
        let check = |value: &serde_json::Value| schemas.check(value);
        let to_value = |json: String| serde_json::from_str::<serde_json::Value>(&json).unwrap();
        let registered = Envelope::wrap(UserRegistered(user().contact()), "corr-1");
        assert_eq!(
            check(&to_value(registered.to_json().unwrap())),
            Vec::<String>::new()
        );
        let international = User {
            email: "jürgen@exämple.de".into(),
            name: None,
            phone: Some("+4930123456".into()),
            sms_opt_in: true,
            marketing_opt_in: true,
            revision: 7,
            ..user()
        };
        let changed = Envelope::wrap(UserChanged(international.contact()), "corr-2");
        assert_eq!(
            check(&to_value(changed.to_json().unwrap())),
            Vec::<String>::new()
        );

        let mut broken = to_value(changed.to_json().unwrap());
        broken["data"]["revision"] = json!(0);
        broken["data"].as_object_mut().unwrap().remove("phone");
        assert_eq!(check(&broken).len(), 2, "{:?}", check(&broken));
    }

    #[test]
    fn the_publishers_sample_event_carries_a_user_changed() {
        let event: outbox::StreamEvent =
            serde_json::from_str(include_str!("../../../events/identity-publisher.json")).unwrap();
        let texts: Vec<&str> = event
            .records
            .iter()
            .filter_map(outbox::StreamRecord::outbox_event)
            .collect();
        assert_eq!(texts.len(), 1);
        let envelope: RawEnvelope = serde_json::from_str(texts[0]).unwrap();
        assert_eq!(envelope.event_type, "UserChanged");
        let changed = envelope.into_typed::<UserChanged>().unwrap();
        assert!(changed.data.0.revision > FIRST_REVISION);
    }
}
