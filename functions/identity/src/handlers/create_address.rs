//! `POST /v1/users/me/addresses`: adds an address to the caller's book.

use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use shared::{
    ApiError, RequestContext,
    auth::Caller,
    http,
    idempotency::{self, IdempotencyKey},
};

use crate::{
    domain::{Checks, MAX_ADDRESSES, Phone, country, text},
    handlers::views::AddressView,
    store::{Address, Idempotency, Store},
};

/// Longest value of each address field, in characters.
pub mod limits {
    /// `label`.
    pub const LABEL: usize = 50;
    /// `recipient`.
    pub const RECIPIENT: usize = 100;
    /// `line1` and `line2`.
    pub const LINE: usize = 200;
    /// `city` and `region`.
    pub const CITY: usize = 100;
    /// `postalCode`.
    pub const POSTAL_CODE: usize = 20;
}

/// The request body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewAddress {
    /// A label such as "Home".
    #[serde(default)]
    pub label: Option<String>,
    /// Who receives parcels.
    pub recipient: String,
    /// Street line.
    pub line1: String,
    /// Second line.
    #[serde(default)]
    pub line2: Option<String>,
    /// City.
    pub city: String,
    /// State, province or region.
    #[serde(default)]
    pub region: Option<String>,
    /// Postal code.
    pub postal_code: String,
    /// ISO 3166-1 alpha-2 country code.
    pub country: String,
    /// E.164 phone for the carrier.
    #[serde(default)]
    pub phone: Option<String>,
    /// Make this the default address (the first address always is).
    #[serde(default)]
    pub is_default: bool,
}

impl NewAddress {
    /// Validates the fields into an address with a new id, stamped `now`.
    ///
    /// # Errors
    /// 400 `VALIDATION_FAILED` listing every invalid field.
    pub fn into_address(self, now: &str) -> Result<Address, ApiError> {
        let mut checks = Checks::default();
        let optional = |checks: &mut Checks, field: &str, value: Option<String>, max: usize| {
            value.and_then(|v| checks.check(text(field, &v, max)))
        };
        let label = optional(&mut checks, "label", self.label, limits::LABEL);
        let recipient = checks.check(text("recipient", &self.recipient, limits::RECIPIENT));
        let line1 = checks.check(text("line1", &self.line1, limits::LINE));
        let line2 = optional(&mut checks, "line2", self.line2, limits::LINE);
        let city = checks.check(text("city", &self.city, limits::CITY));
        let region = optional(&mut checks, "region", self.region, limits::CITY);
        let postal_code = checks.check(text("postalCode", &self.postal_code, limits::POSTAL_CODE));
        let country = checks.check(country("country", &self.country));
        let phone = self
            .phone
            .and_then(|p| checks.check(Phone::parse("phone", &p)))
            .map(|p| p.as_str().to_owned());
        checks.finish()?;
        let (Some(recipient), Some(line1), Some(city), Some(postal_code), Some(country)) =
            (recipient, line1, city, postal_code, country)
        else {
            return Err(ApiError::invalid_field("recipient", "is required"));
        };
        Ok(Address {
            id: shared::ids::new_id(),
            label,
            recipient,
            line1,
            line2,
            city,
            region,
            postal_code,
            country,
            phone,
            created_at: now.to_owned(),
            updated_at: now.to_owned(),
        })
    }
}

/// Answers 201 with the address and its `Location`. 409 `ADDRESS_LIMIT_REACHED` when the book already
/// holds [`MAX_ADDRESSES`]. With an `Idempotency-Key`, a repeated request (same key, same body,
/// within 24 hours) adds nothing and answers the first address again; the same key with another
/// body gets 422 `IDEMPOTENCY_KEY_REUSED`.
///
/// # Errors
/// As above; 400 for invalid fields; 404 if the account no longer exists; 500 on storage failure.
#[utoipa::path(
    post,
    path = "/v1/users/me/addresses",
    operation_id = "createAddress",
    summary = "Add an address",
    tag = "accounts",
    security(("bearer" = [])),
    params(
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retried creation answer the first address again (1 to 255 visible ASCII characters)"),
    ),
    request_body = NewAddress,
    responses(
        (status = 201, description = "The new address", body = crate::handlers::views::AddressView, headers(
            ("Location" = String, description = "The address's URL"),
        )),
        (status = 400, response = shared::openapi::BadRequest),
        (status = 401, response = shared::openapi::Unauthorized),
        (status = 404, response = shared::openapi::NotFound),
        (status = 409, response = shared::openapi::Conflict),
        (status = 413, response = shared::openapi::PayloadTooLarge),
        (status = 415, response = shared::openapi::UnsupportedMediaType),
        (status = 422, response = shared::openapi::Unprocessable),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn handle(
    store: &Store,
    req: Request,
    ctx: &RequestContext,
) -> Result<Response<Body>, ApiError> {
    let caller = Caller::from_request(&req)?;
    let key = IdempotencyKey::from_request(&req)?;
    let body: NewAddress = http::parse_json(&req)?;
    let make_default = body.is_default;
    let address = body.into_address(&shared::time::now_rfc3339())?;
    let idempotency = key.as_ref().map(|key| Idempotency {
        key: key.as_str(),
        fingerprint: idempotency::fingerprint(req.body()),
    });
    let address = store
        .create_address(
            caller.user_id,
            &address,
            make_default,
            MAX_ADDRESSES,
            idempotency.as_ref(),
        )
        .await?
        .unwrap_or(address);
    let is_default = match store.user(caller.user_id).await? {
        Some(user) => user.default_address_id == Some(address.id),
        None => make_default,
    };
    http::created(
        ctx,
        &format!("/v1/users/me/addresses/{}", address.id),
        &AddressView {
            address: &address,
            is_default,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::samples;

    #[test]
    fn the_sample_event_is_a_valid_address() {
        let body: NewAddress = http::parse_json(&samples::create_address()).unwrap();
        let address = body.into_address("2026-11-22T10:00:00.000Z").unwrap();
        assert_eq!(address.country.len(), 2);
    }

    #[test]
    fn invalid_fields_are_all_reported() {
        let body: NewAddress = serde_json::from_value(serde_json::json!({
            "recipient": "", "line1": "1 Main St", "city": "Springfield",
            "postalCode": "12345", "country": "USA", "phone": "12"
        }))
        .unwrap();
        let ApiError::Validation { errors } = body.into_address("now").unwrap_err() else {
            panic!("expected a validation error");
        };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["recipient", "country", "phone"]);
    }
}
