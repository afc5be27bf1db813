//! Reads of the profile and addresses that name the attributes they need, so the functions that
//! only show a profile never receive a password hash.
//!
//! `get-profile` and `list-addresses` may read the table only with a projection drawn from
//! [`Store::PROFILE_ATTRIBUTES`] and [`Store::ADDRESS_BOOK_ATTRIBUTES`] (their IAM policies list
//! exactly these names, plus the keys): a read without one, or one that names `passwordHash` or
//! `sessionEpoch`, is refused by IAM.

use std::collections::HashMap;

use serde::Deserialize;
use shared::{
    ApiError,
    auth::Role,
    dynamo::{self, Item, s, values},
    error::Context as _,
};
use uuid::Uuid;

use super::{Address, Store, user_key};
use crate::handlers::views::ProfileView;

/// A user as the profile shows it: no password hash, no session epoch.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    /// The user id.
    pub id: Uuid,
    /// The normalized email.
    pub email: String,
    /// The role.
    pub role: Role,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// E.164 phone.
    #[serde(default)]
    pub phone: Option<String>,
    /// Marketing email opt-in.
    #[serde(default)]
    pub marketing_opt_in: bool,
    /// SMS notifications opt-in.
    #[serde(default)]
    pub sms_opt_in: bool,
    /// The default address.
    #[serde(default)]
    pub default_address_id: Option<Uuid>,
    /// RFC 3339 creation time.
    pub created_at: String,
    /// RFC 3339 time of the last change.
    pub updated_at: String,
    /// Whether the owner proved they read the email (false for accounts from before verification).
    #[serde(default)]
    pub email_verified: bool,
}

impl<'a> From<&'a Profile> for ProfileView<'a> {
    fn from(profile: &'a Profile) -> Self {
        Self {
            id: profile.id,
            email: &profile.email,
            email_verified: profile.email_verified,
            role: profile.role,
            name: profile.name.as_deref(),
            phone: profile.phone.as_deref(),
            marketing_opt_in: profile.marketing_opt_in,
            sms_opt_in: profile.sms_opt_in,
            default_address_id: profile.default_address_id,
            created_at: &profile.created_at,
            updated_at: &profile.updated_at,
        }
    }
}

/// A user's addresses and which of them is the default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddressBook {
    /// The default address.
    pub default_address_id: Option<Uuid>,
    /// Every address, in key order.
    pub addresses: Vec<Address>,
}

/// A projection of `attributes`, every name behind a placeholder (several are reserved words).
fn projection(attributes: &[&str]) -> (String, HashMap<String, String>) {
    let names: HashMap<String, String> = attributes
        .iter()
        .enumerate()
        .map(|(i, name)| (format!("#p{i}"), (*name).to_owned()))
        .collect();
    let expression = (0..attributes.len())
        .map(|i| format!("#p{i}"))
        .collect::<Vec<_>>()
        .join(", ");
    (expression, names)
}

impl Store {
    /// The attributes of the user item that [`Store::profile`] reads: what the profile shows.
    pub const PROFILE_ATTRIBUTES: &'static [&'static str] = &[
        "id",
        "email",
        "role",
        "name",
        "phone",
        "marketingOptIn",
        "smsOptIn",
        "defaultAddressId",
        "createdAt",
        "updatedAt",
        "emailVerified",
    ];

    /// The attributes of the items of a user's partition that [`Store::address_book`] reads: the
    /// sort key (which tells the profile from the addresses), the default address and the fields
    /// of an address.
    pub const ADDRESS_BOOK_ATTRIBUTES: &'static [&'static str] = &[
        "sk",
        "defaultAddressId",
        "id",
        "label",
        "recipient",
        "line1",
        "line2",
        "city",
        "region",
        "postalCode",
        "country",
        "phone",
        "createdAt",
        "updatedAt",
    ];

    /// The profile of `user_id`, read with a projection of [`Store::PROFILE_ATTRIBUTES`].
    ///
    /// # Errors
    /// 500 on storage failure or a malformed item.
    #[tracing::instrument(skip(self))]
    pub async fn profile(&self, user_id: Uuid) -> Result<Option<Profile>, ApiError> {
        let (expression, names) = projection(Self::PROFILE_ATTRIBUTES);
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(user_key(user_id)))
            .projection_expression(expression)
            .set_expression_attribute_names(Some(names))
            .consistent_read(true)
            .send()
            .await
            .context("read a profile")?;
        output
            .item
            .map(dynamo::from_item)
            .transpose()
            .context("read a profile item")
    }

    /// The address book of `user_id`, in one query of the user's partition projected to
    /// [`Store::ADDRESS_BOOK_ATTRIBUTES`]; `None` when the user does not exist.
    ///
    /// # Errors
    /// 500 on storage failure or a malformed item.
    #[tracing::instrument(skip(self))]
    pub async fn address_book(&self, user_id: Uuid) -> Result<Option<AddressBook>, ApiError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct DefaultAddress {
            #[serde(default)]
            default_address_id: Option<Uuid>,
        }
        let (expression, names) = projection(Self::ADDRESS_BOOK_ATTRIBUTES);
        let mut profile: Option<DefaultAddress> = None;
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
                .projection_expression(expression.clone())
                .set_expression_attribute_names(Some(names.clone()))
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .context("query a user's address book")?;
            for item in output.items.unwrap_or_default() {
                match item
                    .get("sk")
                    .and_then(|v| v.as_s().ok())
                    .map(String::as_str)
                {
                    Some("PROFILE") => {
                        profile = Some(dynamo::from_item(item).context("read a user item")?);
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
        Ok(profile.map(|profile| AddressBook {
            default_address_id: profile.default_address_id,
            addresses,
        }))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    const HIDDEN: [&str; 2] = ["passwordHash", "sessionEpoch"];

    fn stored_user() -> Value {
        json!({
            "pk": "USER#0193a5b2-0000-7000-8000-00000000c0c0",
            "sk": "PROFILE",
            "id": "0193a5b2-0000-7000-8000-00000000c0c0",
            "email": "grace.hopper@example.com",
            "passwordHash": "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
            "sessionEpoch": 3,
            "role": "seller",
            "name": "Grace",
            "phone": "+14155550123",
            "marketingOptIn": true,
            "smsOptIn": true,
            "addressCount": 1,
            "defaultAddressId": "0193a5b2-0000-7000-8000-00000000a001",
            "createdAt": "2026-11-30T09:00:00.000Z",
            "updatedAt": "2026-11-30T10:00:00.000Z",
            "revision": 4,
            "emailVerified": true,
        })
    }

    /// `value` as DynamoDB would return it under a projection of `attributes`.
    fn projected(value: &Value, attributes: &[&str]) -> Item {
        let mut item = dynamo::to_item(value).unwrap();
        item.retain(|name, _| attributes.contains(&name.as_str()));
        item
    }

    fn keys_of(value: &Value) -> Vec<String> {
        value.as_object().unwrap().keys().cloned().collect()
    }

    #[test]
    fn the_projections_never_name_a_password_hash_or_a_session_epoch() {
        for hidden in HIDDEN {
            assert!(!Store::PROFILE_ATTRIBUTES.contains(&hidden));
            assert!(!Store::ADDRESS_BOOK_ATTRIBUTES.contains(&hidden));
        }
    }

    #[test]
    fn a_projected_user_item_reads_as_the_profile_it_shows() {
        let item = projected(&stored_user(), Store::PROFILE_ATTRIBUTES);
        let profile: Profile = dynamo::from_item(item).unwrap();
        assert_eq!(profile.email, "grace.hopper@example.com");
        assert_eq!(profile.role, Role::Seller);
        assert!(profile.email_verified && profile.sms_opt_in && profile.marketing_opt_in);
        let view = serde_json::to_value(ProfileView::from(&profile)).unwrap();
        for field in keys_of(&view) {
            assert!(
                Store::PROFILE_ATTRIBUTES.contains(&field.as_str()),
                "the profile view shows {field}, which the projection does not read"
            );
            assert_eq!(view[&field], stored_user()[&field], "{field}");
        }
    }

    #[test]
    fn a_user_item_from_before_verification_reads_as_unverified() {
        let mut user = stored_user();
        user.as_object_mut().unwrap().remove("emailVerified");
        let item = projected(&user, Store::PROFILE_ATTRIBUTES);
        assert!(!dynamo::from_item::<Profile>(item).unwrap().email_verified);
    }

    #[test]
    fn the_address_book_projection_reads_every_field_of_an_address() {
        let address = json!({
            "id": "0193a5b2-0000-7000-8000-00000000a001",
            "label": "Home",
            "recipient": "Grace Hopper",
            "line1": "1 Navy Way",
            "line2": "Apt 2",
            "city": "Arlington",
            "region": "VA",
            "postalCode": "22202",
            "country": "US",
            "phone": "+14155550123",
            "createdAt": "2026-11-30T09:00:00.000Z",
            "updatedAt": "2026-11-30T09:00:00.000Z",
        });
        let stored: Address = serde_json::from_value(address.clone()).unwrap();
        for field in keys_of(&serde_json::to_value(&stored).unwrap()) {
            assert!(
                Store::ADDRESS_BOOK_ATTRIBUTES.contains(&field.as_str()),
                "an address has {field}, which the projection does not read"
            );
        }
        let read: Address =
            dynamo::from_item(projected(&address, Store::ADDRESS_BOOK_ATTRIBUTES)).unwrap();
        assert_eq!(read, stored);
    }

    #[test]
    fn a_projection_names_every_attribute_behind_a_placeholder() {
        let (expression, names) = projection(&["name", "region"]);
        assert_eq!(expression, "#p0, #p1");
        assert_eq!(names["#p0"], "name");
        assert_eq!(names["#p1"], "region");
    }
}
