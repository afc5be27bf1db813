//! `PATCH /v1/users/me/addresses/{addressId}`: changes an address of the caller's, or makes it the
//! default.

use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use shared::{ApiError, RequestContext, auth::Caller, http};

use crate::{
    domain::{Checks, Patch, Phone, country, text},
    handlers::{create_address::limits, id_in_path, views::AddressView},
    store::{AddressChanges, Store},
};

/// The request body: every field optional; `null` clears an optional field (`label`, `line2`,
/// `region`, `phone`). `isDefault: true` makes this the default address; `false` is accepted only
/// for an address that is not the default.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AddressPatch {
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    label: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    recipient: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    line1: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    line2: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    city: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    region: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    postal_code: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    country: Patch<String>,
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    phone: Patch<String>,
    #[serde(default)]
    is_default: Option<bool>,
}

impl AddressPatch {
    /// Validates the fields into store changes.
    ///
    /// # Errors
    /// 400 `VALIDATION_FAILED` listing every invalid field, including `null` for a required one.
    pub fn into_changes(self) -> Result<(AddressChanges, Option<bool>), ApiError> {
        let mut checks = Checks::default();
        let mut fields = Vec::new();
        let mut field =
            |checks: &mut Checks,
             name: &'static str,
             value: Patch<String>,
             required: bool,
             parse: &dyn Fn(&str) -> Result<String, shared::error::FieldError>| {
                match value {
                    Patch::Keep => {}
                    Patch::Clear if required => checks.fail(name, "is required and cannot be null"),
                    Patch::Clear => fields.push((name, None)),
                    Patch::Set(v) => {
                        if let Some(v) = checks.check(parse(&v)) {
                            fields.push((name, Some(v)));
                        }
                    }
                }
            };
        field(&mut checks, "label", self.label, false, &|v| {
            text("label", v, limits::LABEL)
        });
        field(&mut checks, "recipient", self.recipient, true, &|v| {
            text("recipient", v, limits::RECIPIENT)
        });
        field(&mut checks, "line1", self.line1, true, &|v| {
            text("line1", v, limits::LINE)
        });
        field(&mut checks, "line2", self.line2, false, &|v| {
            text("line2", v, limits::LINE)
        });
        field(&mut checks, "city", self.city, true, &|v| {
            text("city", v, limits::CITY)
        });
        field(&mut checks, "region", self.region, false, &|v| {
            text("region", v, limits::CITY)
        });
        field(&mut checks, "postalCode", self.postal_code, true, &|v| {
            text("postalCode", v, limits::POSTAL_CODE)
        });
        field(&mut checks, "country", self.country, true, &|v| {
            country("country", v)
        });
        field(&mut checks, "phone", self.phone, false, &|v| {
            Phone::parse("phone", v).map(|p| p.as_str().to_owned())
        });
        checks.finish()?;
        Ok((AddressChanges { fields }, self.is_default))
    }
}

/// Answers 200 with the updated address.
///
/// # Errors
/// 404 when the caller has no such address (whoever else might); 400 for invalid fields; 409
/// `DEFAULT_ADDRESS_REQUIRED` for `isDefault: false` on the default; 500 on storage failure.
#[utoipa::path(
    patch,
    path = "/v1/users/me/addresses/{addressId}",
    operation_id = "updateAddress",
    summary = "Change an address",
    tag = "accounts",
    security(("bearer" = [])),
    params(("addressId" = uuid::Uuid, Path, description = "One of the caller's addresses")),
    request_body = AddressPatch,
    responses(
        (status = 200, description = "The address as changed", body = crate::handlers::views::AddressView),
        (status = 400, response = shared::openapi::BadRequest),
        (status = 401, response = shared::openapi::Unauthorized),
        (status = 404, response = shared::openapi::NotFound),
        (status = 409, response = shared::openapi::Conflict),
        (status = 413, response = shared::openapi::PayloadTooLarge),
        (status = 415, response = shared::openapi::UnsupportedMediaType),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn handle(
    store: &Store,
    req: Request,
    ctx: &RequestContext,
) -> Result<Response<Body>, ApiError> {
    let caller = Caller::from_request(&req)?;
    let address_id = id_in_path(&req, "addressId", "address")?;
    let (changes, default) = http::parse_json::<AddressPatch>(&req)?.into_changes()?;
    let now = shared::time::now_rfc3339();
    let (address, default_id) = store
        .update_address(caller.user_id, address_id, &changes, default, &now)
        .await?;
    http::ok(ctx, &AddressView::new(&address, default_id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::samples;

    #[test]
    fn the_sample_event_is_a_valid_patch_of_an_address() {
        let req = samples::update_address();
        assert!(id_in_path(&req, "addressId", "address").is_ok());
        let (changes, _) = http::parse_json::<AddressPatch>(&req)
            .unwrap()
            .into_changes()
            .unwrap();
        assert!(!changes.fields.is_empty());
    }

    #[test]
    fn required_fields_cannot_be_cleared_but_optional_ones_can() {
        let patch: AddressPatch =
            serde_json::from_str(r#"{"city":null,"line2":null,"country":"de"}"#).unwrap();
        assert_eq!(patch.into_changes().unwrap_err().status(), 400);
        let patch: AddressPatch = serde_json::from_str(r#"{"line2":null,"country":"de"}"#).unwrap();
        let (changes, _) = patch.into_changes().unwrap();
        assert_eq!(
            changes.fields,
            [("line2", None), ("country", Some("DE".to_owned()))]
        );
    }
}
