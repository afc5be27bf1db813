//! The payments table: one payment per order, its refunds, processed webhooks and the outbox.
//!
//! One DynamoDB table with string keys `pk` and `sk`, a stream (`NEW_IMAGE`, read by the publisher
//! for the outbox) and a TTL attribute `expiresAt`:
//!
//! | item | pk | sk |
//! |---|---|---|
//! | an order's payment ([`Payment`]) | `ORDER#<orderId>` | `PAYMENT` |
//! | the order's compensation ran (authorizing is refused from then on) | `ORDER#<orderId>` | `COMPENSATED` |
//! | payment id → order id | `PAYMENT#<paymentId>` | `PAYMENT` |
//! | a refund the provider accepted (an admin's, the compensation's, or of a payment that succeeded after the compensation), recorded once | `PAYMENT#<paymentId>` | `REFUND#<providerRefundId>` |
//! | `Idempotency-Key` of an admin's refund (24 h) | `IDEMPOTENCY#<paymentId>#<key>` | `REFUND` |
//! | processed webhook event (7 days) | `WEBHOOK#<eventId>` | `WEBHOOK` |
//! | outbox event ([`shared::outbox`]) | `OUTBOX#<eventId>` | `OUTBOX` |
//!
//! The races, and what answers them:
//!
//! - two authorizations of one order (a retry, a redelivery): the payment and its lookup are put
//!   in one transaction under `attribute_not_exists`; the second finds the first's record;
//! - an authorization against the compensation of the same order: the compensation writes the
//!   `COMPENSATED` marker first and then voids the payment; the authorization's transaction checks
//!   that the marker is absent, and its recordings of the intent (before the confirmation) and of
//!   the provider's answer that the payment is not void. Whichever comes second sees the other;
//!   at the provider, a confirmation that comes after the compensation's cancellation is refused,
//!   and a charge that comes before it is refunded by the compensation;
//! - the provider's answer against a webhook that came first: the answer is recorded only while
//!   the payment is `creating`, and a webhook only moves an unsettled payment;
//! - the waiting task's token against the webhook: each writes its part with `ALL_NEW` and
//!   whoever sees both the token and the outcome completes the task (twice is harmless);
//! - refunds at once (two admins', an admin's and the compensation's, a late payment's): the
//!   provider decides what may be refunded; once it accepted a refund, the refund is recorded
//!   whatever else happened meanwhile: `refundedAmount` is added to (never set from a value read
//!   before), in one transaction with the refund's `REFUND#<providerRefundId>` item put under
//!   `attribute_not_exists` (so a replay records it once), and, for an admin's, its idempotency
//!   record and its `PaymentRefunded` event. The status becomes `refunded` afterwards, when
//!   `refundedAmount` reached the amount;
//! - an admin's refund against the compensation: while a compensation runs (the payment is void,
//!   the compensation's outcome not recorded yet, and `voidedAt` recent: see
//!   [`crate::domain::COMPENSATION_WINDOW_SECS`]), admins' refunds are refused; the compensation
//!   refunds what is left;
//! - a charge that succeeds after the compensation voided the payment: the webhook refunds it
//!   (key `order-<id>-late-refund`) and records it as any refund (with `lateRefundId`); if the
//!   compensation refunded it first, the provider says nothing is left and nothing is recorded.

use aws_sdk_dynamodb::{
    Client,
    types::{AttributeValue, ConditionCheck, ReturnValue, TransactWriteItem, Update},
};
use serde::{Deserialize, Serialize};
use shared::{
    ApiError,
    dynamo::{self, Item, WriteFailure, key, n, names, s, values},
    error::Context as _,
    events::{Envelope, payments::PaymentRefunded},
    outbox,
};
use uuid::Uuid;

use crate::{
    domain::{Compensation, Payment, PaymentStatus},
    provider::Decline,
};

/// How long an idempotency record of a refund is kept.
const IDEMPOTENCY_RETENTION_SECS: i64 = 24 * 3600;
/// How long a processed webhook is remembered (the provider retries for three days).
const WEBHOOK_RETENTION_SECS: i64 = 7 * 24 * 3600;

fn payment_key(order: Uuid) -> Item {
    key(format!("ORDER#{order}"), "PAYMENT")
}

fn marker_key(order: Uuid) -> Item {
    key(format!("ORDER#{order}"), "COMPENSATED")
}

fn lookup_key(payment: Uuid) -> Item {
    key(format!("PAYMENT#{payment}"), "PAYMENT")
}

fn refund_idempotency_key(payment: Uuid, key_text: &str) -> Item {
    key(format!("IDEMPOTENCY#{payment}#{key_text}"), "REFUND")
}

fn webhook_key(event_id: &str) -> Item {
    key(format!("WEBHOOK#{event_id}"), "WEBHOOK")
}

fn refund_key(payment: Uuid, refund_id: &str) -> Item {
    key(format!("PAYMENT#{payment}"), format!("REFUND#{refund_id}"))
}

/// The update adding `amount` to a payment's `refundedAmount` (and the rest of `set`).
fn add_refund(
    table: &str,
    order: Uuid,
    amount: i64,
    condition: &str,
    mut set: Vec<&str>,
    mut vals: Vec<(&str, AttributeValue)>,
) -> Result<Update, ApiError> {
    set.push("refundedAmount = if_not_exists(refundedAmount, :zero) + :refunded");
    set.push("updatedAt = :now");
    vals.push((":refunded", n(amount)));
    vals.push((":zero", n(0)));
    vals.push((":now", s(shared::time::now_rfc3339())));
    let uses_status = set.iter().any(|part| part.contains("#status"));
    Update::builder()
        .table_name(table)
        .set_key(Some(payment_key(order)))
        .update_expression(format!("SET {}", set.join(", ")))
        .condition_expression(condition)
        .set_expression_attribute_names(if uses_status {
            names(&[("#status", "status")])
        } else {
            None
        })
        .set_expression_attribute_values(values(vals))
        .build()
        .context("build a refund's payment update")
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Lookup {
    order_id: Uuid,
}

/// What an admin's refund answered, kept with its idempotency key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundRecord {
    /// The fingerprint of the request.
    pub fingerprint: String,
    /// The answer's body.
    pub answer: serde_json::Value,
}

/// What beginning an authorization found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begun {
    /// The payment is new.
    Created,
    /// The order already has this payment (a retry).
    Existing(Box<Payment>),
    /// The order's compensation already ran: it must not be charged.
    Compensated,
}

/// What recording the provider's answer found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// Recorded: the payment as it is now.
    Done(Box<Payment>),
    /// The payment moved on meanwhile (a webhook, the compensation): as it is now.
    Moved(Box<Payment>),
}

/// What writing a refund led to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundWritten {
    /// Written.
    Done,
    /// The same key was used before, or the provider's refund was recorded already: its answer.
    Replayed(serde_json::Value),
}

/// Who made a refund the provider accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundSource {
    /// An admin (`POST /v1/payments/{paymentId}/refund`).
    Admin,
    /// The order's compensation.
    Compensation,
    /// The webhook, for a payment that succeeded after the compensation.
    LatePayment,
}

impl RefundSource {
    /// The name as stored.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Compensation => "compensation",
            Self::LatePayment => "late_payment",
        }
    }
}

/// A refund of the compensation or the webhook, as its `REFUND#` item keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundEntry {
    /// The provider's refund id.
    pub refund_id: String,
    /// The payment.
    pub payment_id: Uuid,
    /// Its order.
    pub order_id: Uuid,
    /// What went back.
    pub amount: shared::money::Money,
    /// Who refunded.
    pub source: RefundSource,
    /// RFC 3339.
    pub recorded_at: String,
}

/// A refund ready to write.
#[derive(Debug, Clone)]
pub struct RefundWrite<'a> {
    /// The payment as read before the refund (for its keys and amount).
    pub payment: &'a Payment,
    /// The provider's refund id.
    pub refund_id: &'a str,
    /// What it returns, minor units.
    pub amount: i64,
    /// The admin's key and the request's fingerprint.
    pub key: &'a str,
    /// [`shared::idempotency::fingerprint`] of the body.
    pub fingerprint: &'a str,
    /// The answer to store with the key.
    pub answer: &'a serde_json::Value,
    /// The event.
    pub event: &'a Envelope<PaymentRefunded>,
}

/// Access to the payments table.
#[derive(Debug, Clone)]
pub struct Store {
    client: Client,
    table: String,
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

    /// The table's name.
    #[must_use]
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The payment of `order` (strongly consistent).
    ///
    /// # Errors
    /// 500 on storage failure.
    pub async fn payment_of_order(&self, order: Uuid) -> Result<Option<Payment>, ApiError> {
        dynamo::get(
            &self.client,
            &self.table,
            payment_key(order),
            true,
            "a payment",
        )
        .await
    }

    /// The payment `payment`.
    ///
    /// # Errors
    /// 500 on storage failure.
    pub async fn payment(&self, payment: Uuid) -> Result<Option<Payment>, ApiError> {
        let lookup: Option<Lookup> = dynamo::get(
            &self.client,
            &self.table,
            lookup_key(payment),
            true,
            "a payment lookup",
        )
        .await?;
        let Some(lookup) = lookup else {
            return Ok(None);
        };
        Ok(self
            .payment_of_order(lookup.order_id)
            .await?
            .filter(|p| p.payment_id == payment))
    }

    /// Records a new payment (status `creating`), unless the order has one or was compensated.
    ///
    /// # Errors
    /// 500 on storage failure.
    #[tracing::instrument(skip_all, fields(order_id = %payment.order_id))]
    pub async fn begin(&self, payment: &Payment) -> Result<Begun, ApiError> {
        let mut item = dynamo::to_item(payment).context("serialize a payment")?;
        item.extend(payment_key(payment.order_id));
        let mut lookup = dynamo::to_item(&Lookup {
            order_id: payment.order_id,
        })
        .context("serialize a payment lookup")?;
        lookup.extend(lookup_key(payment.payment_id));
        let check = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(marker_key(payment.order_id)))
            .condition_expression("attribute_not_exists(pk)")
            .build()
            .context("build the compensation check")?;
        let items = vec![
            dynamo::put(&self.table, item, Some("attribute_not_exists(pk)"))?,
            dynamo::put(&self.table, lookup, Some("attribute_not_exists(pk)"))?,
            TransactWriteItem::builder().condition_check(check).build(),
        ];
        match self.transact(items).await {
            Ok(()) => Ok(Begun::Created),
            Err(failure) if failure.failed_conditions().contains(&2) => Ok(Begun::Compensated),
            Err(failure) if failure.is_condition_failed() => {
                match self.payment_of_order(payment.order_id).await? {
                    Some(existing) => Ok(Begun::Existing(Box::new(existing))),
                    None => Err(ApiError::internal(
                        "begin a payment",
                        "the payment id is taken by another order",
                    )),
                }
            }
            Err(failure) => Err(ApiError::internal("begin a payment", failure.into_error())),
        }
    }

    /// Records the intent the creation made, before it is confirmed (so that the compensation
    /// finds it): while the payment is `creating`, not void, and has no other intent. Otherwise
    /// answers the payment as it is ([`Recorded::Moved`]).
    ///
    /// # Errors
    /// 500 on storage failure.
    pub async fn attach_intent(
        &self,
        order: Uuid,
        intent_id: &str,
        client_secret: Option<&str>,
    ) -> Result<Recorded, ApiError> {
        let mut set = vec!["intentId = :intent", "updatedAt = :now"];
        let mut vals = vec![
            (":intent", s(intent_id)),
            (":now", s(shared::time::now_rfc3339())),
            (":creating", s(PaymentStatus::Creating.as_str())),
            (":true", AttributeValue::Bool(true)),
        ];
        if let Some(secret) = client_secret {
            set.push("clientSecret = :secret");
            vals.push((":secret", s(secret)));
        }
        self.update_while_creating(
            order,
            &set,
            vals,
            " AND (attribute_not_exists(intentId) OR intentId = :intent)",
        )
        .await
    }

    /// Records the provider's answer to the creation or the confirmation: while the payment is
    /// `creating` and not void. Otherwise answers the payment as it is.
    ///
    /// # Errors
    /// 500 on storage failure.
    pub async fn record_intent(
        &self,
        order: Uuid,
        status: PaymentStatus,
        intent_id: Option<&str>,
        client_secret: Option<&str>,
        failure: Option<&Decline>,
    ) -> Result<Recorded, ApiError> {
        let mut set = vec!["#status = :status", "updatedAt = :now"];
        let mut vals = vec![
            (":status", s(status.as_str())),
            (":now", s(shared::time::now_rfc3339())),
            (":creating", s(PaymentStatus::Creating.as_str())),
            (":true", AttributeValue::Bool(true)),
        ];
        if let Some(intent_id) = intent_id {
            set.push("intentId = :intent");
            vals.push((":intent", s(intent_id)));
        }
        if let Some(secret) = client_secret {
            set.push("clientSecret = :secret");
            vals.push((":secret", s(secret)));
        }
        if let Some(failure) = failure {
            set.push("failure = :failure");
            vals.push((
                ":failure",
                AttributeValue::M(dynamo::to_item(failure).context("serialize a decline")?),
            ));
        }
        self.update_while_creating(order, &set, vals, "").await
    }

    /// Sets `set` on `order`'s payment while it is `creating` and not void (and `also`, a further
    /// condition); when the condition fails, answers the payment as it is
    /// ([`Recorded::Moved`]).
    async fn update_while_creating(
        &self,
        order: Uuid,
        set: &[&str],
        vals: Vec<(&str, AttributeValue)>,
        also: &str,
    ) -> Result<Recorded, ApiError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(payment_key(order)))
            .update_expression(format!("SET {}", set.join(", ")))
            .condition_expression(format!(
                "#status = :creating AND (attribute_not_exists(voided) OR voided <> :true){also}"
            ))
            .set_expression_attribute_names(names(&[("#status", "status")]))
            .set_expression_attribute_values(values(vals))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(dynamo::classify);
        match result {
            Ok(output) => Ok(Recorded::Done(Box::new(self.read(output.attributes)?))),
            Err(WriteFailure::ConditionFailed) => {
                let now = self.payment_of_order(order).await?.ok_or_else(|| {
                    ApiError::internal("record an intent", "the payment vanished")
                })?;
                Ok(Recorded::Moved(Box::new(now)))
            }
            Err(failure) => Err(ApiError::internal("record an intent", failure.into_error())),
        }
    }

    /// Moves an unsettled payment to `status` (a webhook's news). Answers the payment as it is
    /// now, or `None` if the order has none.
    ///
    /// # Errors
    /// 500 on storage failure.
    pub async fn settle(
        &self,
        order: Uuid,
        status: PaymentStatus,
        intent_id: &str,
        failure: Option<&Decline>,
    ) -> Result<Option<Payment>, ApiError> {
        let mut set = vec![
            "#status = :status",
            "updatedAt = :now",
            "intentId = :intent",
        ];
        let mut vals = vec![
            (":status", s(status.as_str())),
            (":now", s(shared::time::now_rfc3339())),
            (":intent", s(intent_id)),
        ];
        let mut unsettled = Vec::new();
        for (i, from) in PaymentStatus::UNSETTLED.iter().enumerate() {
            let name = UNSETTLED_NAMES[i];
            unsettled.push(name);
            vals.push((name, s(from.as_str())));
        }
        if let Some(failure) = failure {
            set.push("failure = :failure");
            vals.push((
                ":failure",
                AttributeValue::M(dynamo::to_item(failure).context("serialize a decline")?),
            ));
        }
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(payment_key(order)))
            .update_expression(format!("SET {}", set.join(", ")))
            .condition_expression(format!(
                "attribute_exists(pk) AND #status IN ({}) \
                 AND (attribute_not_exists(intentId) OR intentId = :intent)",
                unsettled.join(", ")
            ))
            .set_expression_attribute_names(names(&[("#status", "status")]))
            .set_expression_attribute_values(values(vals))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(dynamo::classify);
        match result {
            Ok(output) => Ok(Some(self.read(output.attributes)?)),
            Err(WriteFailure::ConditionFailed) => self.payment_of_order(order).await,
            Err(failure) => Err(ApiError::internal("settle a payment", failure.into_error())),
        }
    }

    /// Stores the waiting task's token on `payment` (the latest token wins: a retried wait has a
    /// new one). Answers the payment as it is now, or `None` if it does not exist.
    ///
    /// # Errors
    /// 500 on storage failure.
    pub async fn set_task_token(
        &self,
        order: Uuid,
        payment: Uuid,
        token: &str,
    ) -> Result<Option<Payment>, ApiError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(payment_key(order)))
            .update_expression("SET taskToken = :token, updatedAt = :now")
            .condition_expression("attribute_exists(pk) AND paymentId = :payment")
            .set_expression_attribute_values(values(vec![
                (":token", s(token)),
                (":now", s(shared::time::now_rfc3339())),
                (":payment", s(payment.to_string())),
            ]))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(dynamo::classify);
        match result {
            Ok(output) => Ok(Some(self.read(output.attributes)?)),
            Err(WriteFailure::ConditionFailed) => Ok(None),
            Err(failure) => Err(ApiError::internal(
                "store a task token",
                failure.into_error(),
            )),
        }
    }

    /// Marks `order` compensated and its payment, if any, void (`voidedAt`: now, at every run of
    /// the compensation). Answers the payment as it is now.
    ///
    /// # Errors
    /// 500 on storage failure.
    pub async fn void(&self, order: Uuid) -> Result<Option<Payment>, ApiError> {
        let mut marker = marker_key(order);
        marker.insert("at".to_owned(), s(shared::time::now_rfc3339()));
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(marker))
            .send()
            .await
            .context("mark an order compensated")?;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(payment_key(order)))
            .update_expression("SET voided = :true, voidedAt = :now, updatedAt = :now")
            .condition_expression("attribute_exists(pk)")
            .set_expression_attribute_values(values(vec![
                (":true", AttributeValue::Bool(true)),
                (":now", s(shared::time::now_rfc3339())),
            ]))
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(dynamo::classify);
        match result {
            Ok(output) => Ok(Some(self.read(output.attributes)?)),
            Err(WriteFailure::ConditionFailed) => Ok(None),
            Err(failure) => Err(ApiError::internal("void a payment", failure.into_error())),
        }
    }

    /// Records what the compensation did, once (a retried compensation finds it recorded). A
    /// refund the provider accepted (`refund`: its entry) is added to `refundedAmount`, in one
    /// transaction with its `REFUND#` item.
    ///
    /// # Errors
    /// 500 on storage failure.
    pub async fn compensated(
        &self,
        payment: &Payment,
        status: PaymentStatus,
        intent_id: Option<&str>,
        compensation: &Compensation,
        refund: Option<&RefundEntry>,
    ) -> Result<(), ApiError> {
        let order = payment.order_id;
        let mut set = vec!["#status = :status", "compensation = :c"];
        let mut vals = vec![
            (":status", s(status.as_str())),
            (
                ":c",
                AttributeValue::M(
                    dynamo::to_item(compensation).context("serialize a compensation")?,
                ),
            ),
        ];
        if let Some(intent_id) = intent_id {
            set.push("intentId = :intent");
            vals.push((":intent", s(intent_id)));
        }
        let condition = "attribute_exists(pk) AND attribute_not_exists(compensation)";
        let mut items = vec![
            TransactWriteItem::builder()
                .update(add_refund(
                    &self.table,
                    order,
                    refund.map_or(0, |r| r.amount.amount),
                    condition,
                    set.clone(),
                    vals.clone(),
                )?)
                .build(),
        ];
        if let Some(refund) = refund {
            let mut item = dynamo::to_item(refund).context("serialize a refund")?;
            item.extend(refund_key(payment.payment_id, &refund.refund_id));
            items.push(dynamo::put(
                &self.table,
                item,
                Some("attribute_not_exists(pk)"),
            )?);
        }
        match self.transact(items).await {
            Ok(()) => Ok(()),
            // Recorded by an earlier run of the same compensation.
            Err(failure) if failure.failed_conditions().contains(&0) => Ok(()),
            // The refund is in the books already (it cannot be, but then it must not count
            // twice): record the outcome alone.
            Err(failure) if failure.failed_conditions().contains(&1) => {
                let update = add_refund(&self.table, order, 0, condition, set, vals)?;
                match self
                    .transact(vec![TransactWriteItem::builder().update(update).build()])
                    .await
                {
                    Ok(()) => Ok(()),
                    Err(failure) if failure.is_condition_failed() => Ok(()),
                    Err(failure) => Err(ApiError::internal(
                        "record a compensation",
                        failure.into_error(),
                    )),
                }
            }
            Err(failure) => Err(ApiError::internal(
                "record a compensation",
                failure.into_error(),
            )),
        }
    }

    /// Records a refund the webhook made of a payment that succeeded after its compensation
    /// (`refundedAmount` added to, with its `REFUND#` item, once), then marks the payment
    /// `refunded` when nothing is left. `false` when it was recorded already.
    ///
    /// # Errors
    /// 500 on storage failure.
    pub async fn record_late_refund(
        &self,
        payment: &Payment,
        refund: &RefundEntry,
    ) -> Result<bool, ApiError> {
        let update = add_refund(
            &self.table,
            payment.order_id,
            refund.amount.amount,
            "attribute_exists(pk)",
            vec!["lateRefundId = :refund"],
            vec![(":refund", s(&refund.refund_id))],
        )?;
        let mut item = dynamo::to_item(refund).context("serialize a refund")?;
        item.extend(refund_key(payment.payment_id, &refund.refund_id));
        let items = vec![
            TransactWriteItem::builder().update(update).build(),
            dynamo::put(&self.table, item, Some("attribute_not_exists(pk)"))?,
        ];
        let recorded = match self.transact(items).await {
            Ok(()) => true,
            Err(failure) if failure.failed_conditions().contains(&1) => false,
            Err(failure) => {
                return Err(ApiError::internal(
                    "record a late refund",
                    failure.into_error(),
                ));
            }
        };
        self.mark_refunded_if_full(payment).await?;
        Ok(recorded)
    }

    /// Moves `payment` to `refunded` once `refundedAmount` reached its amount (after any refund;
    /// whoever adds the last part sees it).
    ///
    /// # Errors
    /// 500 on storage failure.
    pub async fn mark_refunded_if_full(&self, payment: &Payment) -> Result<(), ApiError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(payment_key(payment.order_id)))
            .update_expression("SET #status = :refunded, updatedAt = :now")
            .condition_expression(
                "attribute_exists(pk) AND refundedAmount >= :total AND #status <> :refunded",
            )
            .set_expression_attribute_names(names(&[("#status", "status")]))
            .set_expression_attribute_values(values(vec![
                (":refunded", s(PaymentStatus::Refunded.as_str())),
                (":total", n(payment.amount.amount)),
                (":now", s(shared::time::now_rfc3339())),
            ]))
            .send()
            .await
            .map_err(dynamo::classify);
        match result {
            Ok(_) | Err(WriteFailure::ConditionFailed) => Ok(()),
            Err(failure) => Err(ApiError::internal(
                "mark a payment refunded",
                failure.into_error(),
            )),
        }
    }

    /// Whether webhook event `event_id` was processed.
    ///
    /// # Errors
    /// 500 on storage failure.
    pub async fn webhook_seen(&self, event_id: &str) -> Result<bool, ApiError> {
        let seen: Option<serde_json::Value> = dynamo::get(
            &self.client,
            &self.table,
            webhook_key(event_id),
            true,
            "a webhook marker",
        )
        .await?;
        Ok(seen.is_some())
    }

    /// Remembers webhook event `event_id` as processed. `false` when it already was.
    ///
    /// # Errors
    /// 500 on storage failure.
    pub async fn remember_webhook(
        &self,
        event_id: &str,
        event_type: &str,
    ) -> Result<bool, ApiError> {
        let mut item = webhook_key(event_id);
        item.insert("eventType".to_owned(), s(event_type));
        item.insert(
            "expiresAt".to_owned(),
            n(shared::time::now().unix_timestamp() + WEBHOOK_RETENTION_SECS),
        );
        dynamo::put_if_absent(&self.client, &self.table, item, "a webhook event").await
    }

    /// The answer stored with an admin's refund key.
    ///
    /// # Errors
    /// 500 on storage failure.
    pub async fn refund_record(
        &self,
        payment: Uuid,
        key_text: &str,
    ) -> Result<Option<RefundRecord>, ApiError> {
        dynamo::get(
            &self.client,
            &self.table,
            refund_idempotency_key(payment, key_text),
            true,
            "a refund's idempotency record",
        )
        .await
    }

    /// Writes an admin's refund, which the provider accepted, in one transaction: the amount added
    /// to the payment's `refundedAmount` (whatever it is now: the provider already decided), the
    /// refund's `REFUND#` item (once), its idempotency record and its `PaymentRefunded` event.
    /// Then the payment becomes `refunded` if nothing is left.
    ///
    /// # Errors
    /// 422 `IDEMPOTENCY_KEY_REUSED`; 500 on storage failure.
    #[tracing::instrument(skip_all, fields(payment_id = %refund.payment.payment_id))]
    pub async fn write_refund(&self, refund: &RefundWrite<'_>) -> Result<RefundWritten, ApiError> {
        let payment = refund.payment;
        let update = add_refund(
            &self.table,
            payment.order_id,
            refund.amount,
            "attribute_exists(pk)",
            Vec::new(),
            Vec::new(),
        )?;
        let record = RefundRecord {
            fingerprint: refund.fingerprint.to_owned(),
            answer: refund.answer.clone(),
        };
        let mut idempotency = dynamo::to_item(&record).context("serialize a refund record")?;
        idempotency.extend(refund_idempotency_key(payment.payment_id, refund.key));
        idempotency.insert(
            "expiresAt".to_owned(),
            n(shared::time::now().unix_timestamp() + IDEMPOTENCY_RETENTION_SECS),
        );
        let mut refund_item = dynamo::to_item(refund.answer).context("serialize a refund")?;
        refund_item.insert("source".to_owned(), s(RefundSource::Admin.as_str()));
        refund_item.extend(refund_key(payment.payment_id, refund.refund_id));
        let items = vec![
            TransactWriteItem::builder().update(update).build(),
            dynamo::put(&self.table, idempotency, Some("attribute_not_exists(pk)"))?,
            dynamo::put(&self.table, refund_item, Some("attribute_not_exists(pk)"))?,
            outbox::put(&self.table, refund.event)?,
        ];
        let written = match self.transact(items).await {
            Ok(()) => RefundWritten::Done,
            Err(failure) if failure.failed_conditions().contains(&1) => {
                let record = self
                    .refund_record(payment.payment_id, refund.key)
                    .await?
                    .ok_or_else(|| ApiError::internal("replay a refund", "the record vanished"))?;
                if record.fingerprint != refund.fingerprint {
                    return Err(shared::idempotency::reused());
                }
                RefundWritten::Replayed(record.answer)
            }
            // The provider's refund is in the books already (under a key whose record expired):
            // its answer, counted once.
            Err(failure) if failure.failed_conditions().contains(&2) => {
                let mut answer: serde_json::Value = dynamo::get(
                    &self.client,
                    &self.table,
                    refund_key(payment.payment_id, refund.refund_id),
                    true,
                    "a refund",
                )
                .await?
                .ok_or_else(|| ApiError::internal("replay a refund", "the refund vanished"))?;
                if let Some(fields) = answer.as_object_mut() {
                    for name in ["pk", "sk", "source"] {
                        fields.remove(name);
                    }
                }
                RefundWritten::Replayed(answer)
            }
            Err(failure) => {
                return Err(ApiError::internal("write a refund", failure.into_error()));
            }
        };
        self.mark_refunded_if_full(payment).await?;
        Ok(written)
    }

    /// Runs a transaction, retrying lost races a few times.
    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<(), WriteFailure> {
        let mut attempt = 0;
        loop {
            match dynamo::transact(&self.client, items.clone()).await {
                Err(failure) if failure.is_transient() && attempt < 3 => {
                    dynamo::backoff(attempt).await;
                    attempt += 1;
                }
                outcome => return outcome,
            }
        }
    }

    fn read(&self, attributes: Option<Item>) -> Result<Payment, ApiError> {
        let item =
            attributes.ok_or_else(|| ApiError::internal("read a payment", "no attributes"))?;
        dynamo::from_item(item).context("read a payment")
    }
}

/// Placeholders of [`PaymentStatus::UNSETTLED`] in a condition.
const UNSETTLED_NAMES: [&str; 6] = [":u0", ":u1", ":u2", ":u3", ":u4", ":u5"];
