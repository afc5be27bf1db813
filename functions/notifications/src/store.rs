//! The notification table: the contact projection and the delivery log.
//!
//! | pk | sk | attributes |
//! |---|---|---|
//! | `USER#<userId>` | `CONTACT` | the [`Contact`] as of its `revision` |
//! | `USER#<userId>` | `DELIVERY#<eventId>#<channel>` | a [`Delivery`] |
//!
//! **Contacts** come from the identity service's `UserRegistered` and `UserChanged` events; a
//! contact is written only when its revision is higher than the stored one
//! ([`Store::save_contact`]), so redelivered and reordered events never bring back old details.
//!
//! **Deliveries** are keyed by the event and the channel, so one event is sent at most once per
//! channel: [`Store::claim`] writes the delivery as `SENDING` under `attribute_not_exists`, and
//! only the attempt whose claim succeeds asks the provider. It then records `SENT` (with the
//! provider's message id) or `FAILED`, or gives the claim back when the provider could not be
//! reached ([`Store::release`]). Event ids are UUIDv7, so a user's deliveries sort by time, and
//! `GET /v1/notifications` reads them newest first from the user's partition.
//!
//! Account emails (email verification, password reset and change) are deliveries of the same
//! kind, without an order. A delivery keeps the template, subject and recipient, never the
//! message's body: the links of account emails carry single-use tokens, which are not stored.
//!
//! Deliveries expire (TTL `expiresAt`) after [`DELIVERY_RETENTION`].

use std::time::Duration;

use aws_sdk_dynamodb::{Client, types::ReturnValue};
use serde::{Deserialize, Serialize};
use shared::{
    ApiError,
    dynamo::{self, Item, WriteFailure, key, names, s, values},
    error::Context as _,
    events::identity::UserContact,
};
use uuid::Uuid;

use crate::domain::{Channel, DeliveryStatus};

/// How long the delivery log keeps an entry.
pub const DELIVERY_RETENTION: Duration = Duration::from_secs(400 * 24 * 3600);

/// How long a claim stays the only attempt: longer than the consumer's timeout, so an attempt
/// that still holds it is alive.
pub const CLAIM_LEASE: Duration = Duration::from_secs(120);

/// A user's contact details, as the notification service keeps them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Contact {
    /// The user.
    pub user_id: Uuid,
    /// Where emails go.
    pub email: String,
    /// How to greet them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Where SMS go, if they opted in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// Whether they want SMS.
    #[serde(default)]
    pub sms_opt_in: bool,
    /// The identity revision these details are from.
    pub revision: u64,
    /// When this service stored them (RFC 3339).
    pub updated_at: String,
}

impl Contact {
    /// The projection of `contact` stored at `now`.
    #[must_use]
    pub fn of(contact: UserContact, now: &str) -> Self {
        Self {
            user_id: contact.user_id,
            email: contact.email,
            name: contact.name,
            phone: contact.phone,
            sms_opt_in: contact.sms_opt_in,
            revision: contact.revision,
            updated_at: now.to_owned(),
        }
    }

    /// The phone SMS go to: only with a phone and the opt-in.
    #[must_use]
    pub fn sms_phone(&self) -> Option<&str> {
        self.phone.as_deref().filter(|_| self.sms_opt_in)
    }
}

/// One entry of the delivery log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    /// The event that asked for it.
    pub event_id: Uuid,
    /// Its type.
    pub event_type: String,
    /// How it is sent.
    pub channel: Channel,
    /// Who gets it.
    pub user_id: Uuid,
    /// The email address or phone number it went to.
    pub recipient: String,
    /// The template it was rendered from.
    pub template: String,
    /// The email's subject (none for SMS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The order it is about (none for account emails).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<Uuid>,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// The provider's message id, once sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_message_id: Option<String>,
    /// Why the provider refused it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The correlation id of the request behind the event.
    pub correlation_id: String,
    /// When it was claimed (RFC 3339).
    pub created_at: String,
    /// When its status last changed (RFC 3339).
    pub updated_at: String,
    /// While `SENDING`: until when the claiming attempt owns it (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_until: Option<i64>,
}

/// What [`Store::claim`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This attempt owns the delivery: send it.
    Won,
    /// It was already dealt with (sent, failed or unconfirmed): send nothing.
    Done(DeliveryStatus),
    /// Another attempt holds it right now: try again later.
    Busy,
}

/// A page of deliveries.
#[derive(Debug, Clone, Default)]
pub struct DeliveryPage {
    /// The deliveries, newest first.
    pub items: Vec<Delivery>,
    /// The key to continue from.
    pub next: Option<Item>,
}

fn user_pk(user_id: Uuid) -> String {
    format!("USER#{user_id}")
}

fn contact_key(user_id: Uuid) -> Item {
    key(user_pk(user_id), "CONTACT")
}

fn delivery_sk(event_id: Uuid, channel: Channel) -> String {
    format!("DELIVERY#{event_id}#{}", channel.as_str())
}

fn delivery_key(user_id: Uuid, event_id: Uuid, channel: Channel) -> Item {
    key(user_pk(user_id), delivery_sk(event_id, channel))
}

/// The notification table.
#[derive(Debug, Clone)]
pub struct Store {
    client: Client,
    table: String,
}

impl Store {
    /// A store over `table`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// Stores `contact` unless the stored one has the same or a higher revision. Returns whether
    /// it was written.
    ///
    /// # Errors
    /// 500 on storage failure.
    pub async fn save_contact(&self, contact: &Contact) -> Result<bool, ApiError> {
        let mut item = dynamo::to_item(contact).context("serialize a contact")?;
        item.extend(contact_key(contact.user_id));
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk) OR revision < :revision")
            .set_expression_attribute_values(values(vec![(
                ":revision",
                dynamo::n(contact.revision),
            )]))
            .send()
            .await
            .map_err(dynamo::classify);
        match result {
            Ok(_) => Ok(true),
            Err(WriteFailure::ConditionFailed) => Ok(false),
            Err(failure) => Err(ApiError::internal("store a contact", failure.into_error())),
        }
    }

    /// The contact details of `user_id`, read consistently (a change just projected counts).
    ///
    /// # Errors
    /// 500 on storage failure.
    pub async fn contact(&self, user_id: Uuid) -> Result<Option<Contact>, ApiError> {
        dynamo::get(
            &self.client,
            &self.table,
            contact_key(user_id),
            true,
            "a contact",
        )
        .await
    }

    /// Claims `delivery` (status `SENDING`, leased until `lease_until`).
    ///
    /// A delivery that exists already is [`Claim::Done`] once dealt with, and [`Claim::Busy`]
    /// while another attempt's lease runs. One whose lease ran out belonged to an attempt that
    /// died after it may have reached the provider: it becomes `UNCONFIRMED`, and is not sent
    /// again.
    ///
    /// # Errors
    /// 500 on storage failure.
    pub async fn claim(&self, delivery: &Delivery, now_secs: i64) -> Result<Claim, ApiError> {
        let mut item = dynamo::to_item(delivery).context("serialize a delivery")?;
        item.extend(delivery_key(
            delivery.user_id,
            delivery.event_id,
            delivery.channel,
        ));
        let expires = now_secs.saturating_add(secs(DELIVERY_RETENTION));
        item.insert("expiresAt".to_owned(), dynamo::n(expires));
        if dynamo::put_if_absent(&self.client, &self.table, item, "a delivery claim").await? {
            return Ok(Claim::Won);
        }
        let key = delivery_key(delivery.user_id, delivery.event_id, delivery.channel);
        let Some(existing) =
            dynamo::get::<Delivery>(&self.client, &self.table, key, true, "a delivery").await?
        else {
            // Gone between the two reads: only a released claim disappears; try again later.
            return Ok(Claim::Busy);
        };
        match (existing.status, existing.lease_until) {
            (DeliveryStatus::Sending, Some(until)) if until > now_secs => Ok(Claim::Busy),
            (DeliveryStatus::Sending, lease) => {
                let error =
                    "the attempt that claimed it stopped before recording the provider's answer";
                self.settle(
                    &existing,
                    lease,
                    DeliveryStatus::Unconfirmed,
                    None,
                    Some(error),
                )
                .await?;
                tracing::error!(
                    event_id = %existing.event_id,
                    channel = existing.channel.as_str(),
                    "delivery left unconfirmed: it may or may not have been sent, and is not sent again"
                );
                Ok(Claim::Done(DeliveryStatus::Unconfirmed))
            }
            (status, _) => Ok(Claim::Done(status)),
        }
    }

    /// Records the outcome of the claimed `delivery`: `SENT` with the provider's message id, or
    /// `FAILED` with the provider's reason. Conditional on the claim still being this attempt's.
    ///
    /// # Errors
    /// 500 on storage failure, or when the claim was taken over meanwhile.
    pub async fn finish(
        &self,
        delivery: &Delivery,
        status: DeliveryStatus,
        provider_message_id: Option<&str>,
        error: Option<&str>,
    ) -> Result<(), ApiError> {
        self.settle(
            delivery,
            delivery.lease_until,
            status,
            provider_message_id,
            error,
        )
        .await
    }

    async fn settle(
        &self,
        delivery: &Delivery,
        lease: Option<i64>,
        status: DeliveryStatus,
        provider_message_id: Option<&str>,
        error: Option<&str>,
    ) -> Result<(), ApiError> {
        let mut set = vec!["#status = :status", "updatedAt = :now"];
        let mut attribute_names = vec![("#status", "status")];
        let mut vals = vec![
            (":status", s(status.as_str())),
            (":now", s(shared::time::now_rfc3339())),
            (":sending", s(DeliveryStatus::Sending.as_str())),
        ];
        if let Some(id) = provider_message_id {
            set.push("providerMessageId = :id");
            vals.push((":id", s(id)));
        }
        if let Some(error) = error {
            set.push("#error = :error");
            attribute_names.push(("#error", "error"));
            vals.push((":error", s(error)));
        }
        let condition = match lease {
            Some(until) => {
                vals.push((":lease", dynamo::n(until)));
                "#status = :sending AND leaseUntil = :lease"
            }
            None => "#status = :sending AND attribute_not_exists(leaseUntil)",
        };
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(delivery_key(
                delivery.user_id,
                delivery.event_id,
                delivery.channel,
            )))
            .update_expression(format!("SET {} REMOVE leaseUntil", set.join(", ")))
            .condition_expression(condition)
            .set_expression_attribute_names(names(&attribute_names))
            .set_expression_attribute_values(values(vals))
            .return_values(ReturnValue::None)
            .send()
            .await
            .context("record a delivery's outcome")?;
        Ok(())
    }

    /// Gives back the claim of `delivery` after the provider could not be reached, so a later
    /// attempt sends it. Conditional on the claim still being this attempt's.
    ///
    /// # Errors
    /// 500 on storage failure.
    pub async fn release(&self, delivery: &Delivery) -> Result<(), ApiError> {
        let mut vals = vec![(":sending", s(DeliveryStatus::Sending.as_str()))];
        let condition = match delivery.lease_until {
            Some(until) => {
                vals.push((":lease", dynamo::n(until)));
                "#status = :sending AND leaseUntil = :lease"
            }
            None => "#status = :sending",
        };
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(delivery_key(
                delivery.user_id,
                delivery.event_id,
                delivery.channel,
            )))
            .condition_expression(condition)
            .set_expression_attribute_names(names(&[("#status", "status")]))
            .set_expression_attribute_values(values(vals))
            .send()
            .await
            .map_err(dynamo::classify);
        match result {
            Ok(_) | Err(WriteFailure::ConditionFailed) => Ok(()),
            Err(failure) => Err(ApiError::internal(
                "release a delivery",
                failure.into_error(),
            )),
        }
    }

    /// The deliveries of `user_id`, newest first: at most `limit`, from `start`.
    ///
    /// # Errors
    /// 500 on storage failure.
    pub async fn deliveries(
        &self,
        user_id: Uuid,
        limit: i32,
        start: Option<Item>,
    ) -> Result<DeliveryPage, ApiError> {
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .set_expression_attribute_values(values(vec![
                (":pk", s(user_pk(user_id))),
                (":prefix", s("DELIVERY#")),
            ]))
            .scan_index_forward(false)
            .limit(limit)
            .set_exclusive_start_key(start)
            .send()
            .await
            .context("query the delivery log")?;
        Ok(DeliveryPage {
            items: dynamo::from_items(output.items.unwrap_or_default())
                .context("read a delivery")?,
            next: output.last_evaluated_key,
        })
    }
}

fn secs(duration: Duration) -> i64 {
    i64::try_from(duration.as_secs()).unwrap_or(i64::MAX / 4)
}
