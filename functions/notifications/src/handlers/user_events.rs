//! The `notification-user-events` consumer: the service's copy of each user's contact details,
//! from the identity service's `UserRegistered` and `UserChanged` (its queue subscribes to those
//! two types).
//!
//! Each event carries the whole snapshot and its revision; the copy is replaced only by a higher
//! revision, so a redelivered or late event changes nothing, and a phone change or an SMS
//! opt-out holds for every notification sent after it is applied.

use shared::{
    consumer::{self, Applied, Failure},
    events::{
        RawEnvelope,
        identity::{UserChanged, UserContact, UserRegistered},
    },
};

use crate::{Contacts, store::Contact};

/// The snapshot `event` carries.
///
/// # Errors
/// [`Failure::Poison`] for another type or version, or data that does not fit.
pub fn snapshot(event: &RawEnvelope) -> Result<UserContact, Failure> {
    if let Some(UserRegistered(contact)) = consumer::typed::<UserRegistered>(event)? {
        return Ok(contact);
    }
    if let Some(UserChanged(contact)) = consumer::typed::<UserChanged>(event)? {
        return Ok(contact);
    }
    Err(consumer::unexpected(event))
}

/// Applies one event.
///
/// # Errors
/// [`Failure::Poison`] for an event it cannot read; [`Failure::Retry`] on storage failure.
pub async fn apply(contacts: &Contacts, event: RawEnvelope) -> Result<Applied, Failure> {
    let contact = Contact::of(snapshot(&event)?, &shared::time::now_rfc3339());
    if contacts.store.save_contact(&contact).await? {
        Ok(Applied::Done)
    } else {
        Ok(Applied::Ignored)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use shared::events::Envelope;
    use uuid::Uuid;

    #[test]
    fn both_types_carry_the_snapshot_and_others_are_poison() {
        let user = Uuid::now_v7();
        let data = json!({"userId": user, "email": "a@example.com", "phone": "+14155550123",
            "smsOptIn": true, "marketingOptIn": false, "revision": 3});
        for event_type in ["UserRegistered", "UserChanged"] {
            let contact = snapshot(&Envelope::new(event_type, data.clone(), "c")).unwrap();
            assert_eq!((contact.user_id, contact.revision), (user, 3));
            assert_eq!(contact.phone.as_deref(), Some("+14155550123"));
        }
        for bad in [
            Envelope::new("UserDeleted", data.clone(), "c"),
            Envelope::new("UserChanged", data, "c").with_version(2),
            Envelope::new("UserChanged", json!({"userId": user}), "c"),
        ] {
            assert!(matches!(snapshot(&bad), Err(Failure::Poison(_))));
        }
    }

    #[test]
    fn sms_goes_out_only_with_a_phone_and_the_opt_in() {
        let contact = |phone: Option<&str>, sms_opt_in| Contact {
            user_id: Uuid::now_v7(),
            email: "a@example.com".into(),
            name: None,
            phone: phone.map(str::to_owned),
            sms_opt_in,
            revision: 1,
            updated_at: String::new(),
        };
        assert_eq!(contact(Some("+1415"), true).sms_phone(), Some("+1415"));
        assert_eq!(contact(Some("+1415"), false).sms_phone(), None);
        assert_eq!(contact(None, true).sms_phone(), None);
    }
}
