//! The `notification-events` consumer: an email (and an SMS for users who opted in) for each
//! order and payment event a customer should hear about.
//!
//! For one event:
//! 1. [`notice`](crate::domain::notice) says which templates and facts (poison for a type,
//!    version or data it does not know);
//! 2. the recipient's contact comes from the service's own projection (none yet: the identity
//!    event is still on its way, so the message is retried);
//! 3. the messages are rendered, all of them before anything is sent;
//! 4. each channel is delivered at most once: claimed in the delivery log, sent, and recorded
//!    ([`crate::store`]). A redelivered event finds its deliveries done and sends nothing.
//!
//! A provider that cannot be reached gives the claim back and fails the message, which comes
//! back after the queue's visibility timeout; a channel already sent stays sent.

use serde::Serialize;
use shared::{
    consumer::{Applied, Failure},
    events::RawEnvelope,
    metrics::{self, Business},
    time,
};

use crate::{
    Notifier,
    domain::{self, Channel, DeliveryStatus, Facts, Notice},
    render::Email,
    send::SendError,
    store::{CLAIM_LEASE, Claim, Contact, Delivery},
};

/// What every template reads.
#[derive(Debug, Serialize)]
struct Context<'a> {
    shop: &'a str,
    name: Option<&'a str>,
    order_id: String,
    order_short: String,
    #[serde(flatten)]
    facts: &'a Facts,
}

/// A rendered message for one channel.
enum Message<'a> {
    Email(&'a Email),
    Sms(&'a str),
}

/// Applies one event.
///
/// # Errors
/// [`Failure::Poison`] for an event it cannot read or render; [`Failure::Retry`] when the
/// recipient is not known yet, on storage failure, or when a provider could not be reached.
pub async fn apply(notifier: &Notifier, event: RawEnvelope) -> Result<Applied, Failure> {
    let notice = domain::notice(&event)?;
    let Some(contact) = notifier.store.contact(notice.user_id).await? else {
        return Err(Failure::retry(
            "find the recipient's contact details",
            format!(
                "user {} is not in the contact projection yet (its UserRegistered is not applied)",
                notice.user_id
            ),
        ));
    };
    let context = Context {
        shop: &notifier.shop,
        name: contact.name.as_deref(),
        order_id: notice.order_id.to_string(),
        order_short: domain::short_id(notice.order_id),
        facts: &notice.facts,
    };
    let poison = |error: crate::render::RenderError| Failure::Poison(error.to_string());
    let email = notifier
        .templates
        .email(notice.template, &context)
        .map_err(poison)?;
    let sms = contact
        .sms_phone()
        .map(|phone| {
            notifier
                .templates
                .sms(notice.template, &context)
                .map(|text| (phone, text))
        })
        .transpose()
        .map_err(poison)?;

    let mut sent = deliver(
        notifier,
        &event,
        &notice,
        &contact,
        (Channel::Email, &contact.email),
        Message::Email(&email),
    )
    .await?;
    if let Some((phone, text)) = &sms {
        sent |= deliver(
            notifier,
            &event,
            &notice,
            &contact,
            (Channel::Sms, phone),
            Message::Sms(text),
        )
        .await?;
    }
    Ok(if sent {
        Applied::Done
    } else {
        Applied::Duplicate
    })
}

/// Delivers `message` once on its channel; returns whether this attempt dealt with it (sent or
/// recorded the provider's refusal), `false` when an earlier attempt had.
async fn deliver(
    notifier: &Notifier,
    event: &RawEnvelope,
    notice: &Notice,
    contact: &Contact,
    (channel, recipient): (Channel, &str),
    message: Message<'_>,
) -> Result<bool, Failure> {
    let now = time::now();
    let stamp = time::to_rfc3339(now);
    let lease = now + CLAIM_LEASE;
    let delivery = Delivery {
        event_id: event.id,
        event_type: event.event_type.clone(),
        channel,
        user_id: contact.user_id,
        recipient: recipient.to_owned(),
        template: notice.template.to_owned(),
        subject: match &message {
            Message::Email(email) => Some(email.subject.clone()),
            Message::Sms(_) => None,
        },
        order_id: notice.order_id,
        status: DeliveryStatus::Sending,
        provider_message_id: None,
        error: None,
        correlation_id: event.correlation_id.clone(),
        created_at: stamp.clone(),
        updated_at: stamp,
        lease_until: Some(lease.unix_timestamp()),
    };
    match notifier
        .store
        .claim(&delivery, now.unix_timestamp())
        .await?
    {
        Claim::Won => {}
        Claim::Done(status) => {
            tracing::info!(
                channel = channel.as_str(),
                status = status.as_str(),
                "already delivered; nothing sent"
            );
            return Ok(false);
        }
        Claim::Busy => {
            return Err(Failure::retry(
                "claim the delivery",
                format!(
                    "another attempt is sending the {} right now",
                    channel.as_str()
                ),
            ));
        }
    }
    let outcome = match message {
        Message::Email(email) => notifier.providers.email(recipient, email).await,
        Message::Sms(text) => notifier.providers.sms(recipient, text).await,
    };
    match outcome {
        Ok(id) => {
            notifier
                .store
                .finish(&delivery, DeliveryStatus::Sent, Some(&id), None)
                .await?;
            metrics::count(match channel {
                Channel::Email => Business::EmailsSent,
                Channel::Sms => Business::SmsSent,
            });
            tracing::info!(channel = channel.as_str(), provider_message_id = %id, "sent");
            Ok(true)
        }
        Err(SendError::Refused(reason)) => {
            notifier
                .store
                .finish(&delivery, DeliveryStatus::Failed, None, Some(&reason))
                .await?;
            metrics::count(Business::NotificationsFailed);
            tracing::warn!(channel = channel.as_str(), %reason, "the provider refused the message; it is not retried");
            Ok(true)
        }
        Err(SendError::Unavailable(source)) => {
            notifier.store.release(&delivery).await?;
            Err(Failure::retry(
                format!("send the {}", channel.as_str()),
                source,
            ))
        }
    }
}
