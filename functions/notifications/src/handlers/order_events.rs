//! The `notification-events` consumer: an email (and an SMS for users who opted in) for each
//! order and payment event a customer should hear about, and an email for each account event
//! (email verification, an attempt to register an address that has an account, password reset
//! and change).
//!
//! For one event:
//! 1. [`request`](crate::domain::request) says which templates and facts (poison for a type,
//!    version or data it does not know);
//! 2. for an order notice, the recipient's contact comes from the service's own projection (none
//!    yet: the identity event is still on its way, so the message is retried); an account email
//!    goes to the address in its event, by email only, whatever the projection says;
//! 3. the messages are rendered, all of them before anything is sent;
//! 4. each channel is delivered at most once: claimed in the delivery log, sent, and recorded
//!    ([`crate::store`]). A redelivered event finds its deliveries done and sends nothing.
//!
//! A provider that cannot be reached gives the claim back and fails the message, which comes
//! back after the queue's visibility timeout; a channel already sent stays sent.
//!
//! An account email whose link has expired by the time it would be sent (after an outage, or
//! retries that took longer than the token lives) is not sent: its delivery is recorded `FAILED`
//! with the reason [`EXPIRED`], so the log says why nothing arrived and a redelivery sends
//! nothing either. The user asks for a new link.
//!
//! Tokens go into the rendered message only: the delivery log keeps the subject, template and
//! recipient, and nothing here traces a token or a link.

use ::time::OffsetDateTime;
use serde::Serialize;
use shared::{
    consumer::{Applied, Failure},
    events::RawEnvelope,
    metrics::{self, Business},
    time,
};
use uuid::Uuid;

use crate::{
    Notifier,
    domain::{
        self, Channel, DeliveryStatus, Facts, Notice, Request,
        account::{AccountFacts, AccountNotice, ShopUrl},
    },
    render::{Email, RenderError, Templates},
    send::SendError,
    store::{CLAIM_LEASE, Claim, Delivery},
};

/// The reason recorded for an account email whose link expired before it could be sent.
pub const EXPIRED: &str = "expired before sending: the link in it no longer works";

/// What every order template reads.
#[derive(Debug, Serialize)]
struct Context<'a> {
    shop: &'a str,
    name: Option<&'a str>,
    order_id: String,
    order_short: String,
    #[serde(flatten)]
    facts: &'a Facts,
}

/// What every account template reads. No `Debug`: its facts hold the link with the token.
#[derive(Serialize)]
struct AccountContext<'a> {
    shop: &'a str,
    name: Option<&'a str>,
    #[serde(flatten)]
    facts: &'a AccountFacts,
}

/// A rendered message for one channel.
enum Message<'a> {
    Email(&'a Email),
    Sms(&'a str),
}

/// One delivery to make: what, to whom, on which channel.
struct Outgoing<'a> {
    event: &'a RawEnvelope,
    template: &'static str,
    user_id: Uuid,
    order_id: Option<Uuid>,
    channel: Channel,
    recipient: &'a str,
    message: Message<'a>,
    /// After this, the message is useless and is not sent.
    send_by: Option<OffsetDateTime>,
}

fn poison(error: RenderError) -> Failure {
    Failure::Poison(error.to_string())
}

/// Applies one event.
///
/// # Errors
/// [`Failure::Poison`] for an event it cannot read or render; [`Failure::Retry`] when the
/// recipient of an order notice is not known yet, on storage failure, or when a provider could
/// not be reached.
pub async fn apply(notifier: &Notifier, event: RawEnvelope) -> Result<Applied, Failure> {
    let sent = match domain::request(&event)? {
        Request::Order(notice) => order(notifier, &event, &notice).await?,
        Request::Account(notice) => account(notifier, &event, &notice).await?,
    };
    Ok(if sent {
        Applied::Done
    } else {
        Applied::Duplicate
    })
}

/// Sends an order notice by email, and by SMS when the user opted in; returns whether this
/// attempt dealt with any channel.
async fn order(notifier: &Notifier, event: &RawEnvelope, notice: &Notice) -> Result<bool, Failure> {
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

    let outgoing = |channel, recipient, message| Outgoing {
        event,
        template: notice.template,
        user_id: contact.user_id,
        order_id: Some(notice.order_id),
        channel,
        recipient,
        message,
        send_by: None,
    };
    let mut sent = deliver(
        notifier,
        outgoing(Channel::Email, &contact.email, Message::Email(&email)),
    )
    .await?;
    if let Some((phone, text)) = &sms {
        sent |= deliver(notifier, outgoing(Channel::Sms, phone, Message::Sms(text))).await?;
    }
    Ok(sent)
}

/// Sends an account email to the address in its event (never an SMS); returns whether this
/// attempt dealt with it.
async fn account(
    notifier: &Notifier,
    event: &RawEnvelope,
    notice: &AccountNotice,
) -> Result<bool, Failure> {
    let email = account_email(
        &notifier.templates,
        &notifier.shop,
        &notifier.shop_url,
        notice,
    )
    .map_err(poison)?;
    deliver(
        notifier,
        Outgoing {
            event,
            template: notice.template(),
            user_id: notice.user_id,
            order_id: None,
            channel: Channel::Email,
            recipient: &notice.email,
            message: Message::Email(&email),
            send_by: notice.expires_at(),
        },
    )
    .await
}

/// The email of `notice` from the shop named `shop` at `shop_url`.
fn account_email(
    templates: &Templates,
    shop: &str,
    shop_url: &ShopUrl,
    notice: &AccountNotice,
) -> Result<Email, RenderError> {
    let facts = notice.facts(shop_url);
    let context = AccountContext {
        shop,
        name: notice.name.as_deref(),
        facts: &facts,
    };
    templates.email(notice.template(), &context)
}

/// Delivers a message once on its channel; returns whether this attempt dealt with it (sent,
/// or recorded the provider's refusal or the link's expiry), `false` when an earlier attempt
/// had.
async fn deliver(notifier: &Notifier, out: Outgoing<'_>) -> Result<bool, Failure> {
    let Outgoing {
        event,
        channel,
        recipient,
        ..
    } = out;
    let now = time::now();
    let stamp = time::to_rfc3339(now);
    let lease = now + CLAIM_LEASE;
    let delivery = Delivery {
        event_id: event.id,
        event_type: event.event_type.clone(),
        channel,
        user_id: out.user_id,
        recipient: recipient.to_owned(),
        template: out.template.to_owned(),
        subject: match &out.message {
            Message::Email(email) => Some(email.subject.clone()),
            Message::Sms(_) => None,
        },
        order_id: out.order_id,
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
    if out.send_by.is_some_and(|deadline| deadline <= time::now()) {
        notifier
            .store
            .finish(&delivery, DeliveryStatus::Failed, None, Some(EXPIRED))
            .await?;
        metrics::count(Business::NotificationsFailed);
        tracing::warn!(
            channel = channel.as_str(),
            template = out.template,
            "the link expired before the email could be sent; it is not sent"
        );
        return Ok(true);
    }
    let outcome = match out.message {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};
    use shared::events::Envelope;

    const TOKEN: &str = "Zm9vYmFyYmF6cXV4LXF1dXgtY29yZ2VfZ3JhdWx0MDE";

    fn email(event_type: &str, data: Value) -> Email {
        let event = Envelope::new(event_type, data, "corr-1");
        let Request::Account(notice) = domain::request(&event).unwrap() else {
            panic!("{event_type} is an account event");
        };
        let shop_url = ShopUrl::parse("https://shop.example").unwrap();
        account_email(&Templates::load().unwrap(), "Test Shop", &shop_url, &notice).unwrap()
    }

    fn in_30_minutes() -> String {
        time::to_rfc3339(time::now() + ::time::Duration::minutes(30))
    }

    #[test]
    fn the_verification_email_links_to_the_shop_with_the_token_and_says_when_it_expires() {
        let mail = email(
            "EmailVerificationRequested",
            json!({"userId": Uuid::now_v7(), "email": "ada@example.com", "name": "Ada",
                   "token": TOKEN, "expiresAt": "2099-01-02T03:04:05Z"}),
        );
        assert_eq!(mail.subject, "Confirm your email address for Test Shop");
        assert!(mail.text.starts_with("Hello Ada,"), "{}", mail.text);
        assert!(
            mail.text.contains(&format!(
                "\n\nhttps://shop.example/account/verify-email?token={TOKEN}\n\n"
            )),
            "{}",
            mail.text
        );
        assert!(
            mail.text
                .contains("it expires on 2 January 2099, 03:04 UTC.")
        );
        assert!(mail.html.contains(&format!("verify-email?token={TOKEN}\"")));
        assert!(mail.text.contains("If you did not create an account"));
    }

    #[test]
    fn the_account_exists_email_points_to_password_reset_and_carries_no_token() {
        let mail = email(
            "RegistrationAttempted",
            json!({"userId": Uuid::now_v7(), "email": "ada@example.com"}),
        );
        assert!(mail.text.starts_with("Hello,"), "{}", mail.text);
        assert!(
            mail.text
                .contains("\n\nhttps://shop.example/account/forgot-password\n\n"),
            "{}",
            mail.text
        );
        assert!(!mail.text.contains("verify-email") && !mail.text.contains("token="));
        assert!(!mail.html.contains("verify-email") && !mail.html.contains("token="));
    }

    #[test]
    fn the_reset_email_says_how_long_its_link_works() {
        let mail = email(
            "PasswordResetRequested",
            json!({"userId": Uuid::now_v7(), "email": "ada@example.com", "token": TOKEN,
                   "expiresAt": in_30_minutes()}),
        );
        assert_eq!(mail.subject, "Reset your Test Shop password");
        assert!(
            mail.text.contains(&format!(
                "https://shop.example/account/reset-password?token={TOKEN}"
            )),
            "{}",
            mail.text
        );
        assert!(
            mail.text
                .contains("The link works once, for 30 minutes: it expires on "),
            "{}",
            mail.text
        );
        assert!(mail.text.contains("your password stays as it is"));
    }

    #[test]
    fn the_password_changed_email_says_when_and_how() {
        let mail = email(
            "PasswordChanged",
            json!({"userId": Uuid::now_v7(), "email": "ada@example.com", "how": "CHANGED",
                   "at": "2026-11-30T09:05:00.000Z"}),
        );
        assert_eq!(mail.subject, "Your Test Shop password was changed");
        assert!(
            mail.text.contains(
                "was changed while signed in to your account on 30 November 2026, 09:05 UTC."
            ),
            "{}",
            mail.text
        );
        assert!(mail.text.contains(
            "If this was not you, reset your password now:\n\nhttps://shop.example/account/forgot-password"
        ));
    }
}
