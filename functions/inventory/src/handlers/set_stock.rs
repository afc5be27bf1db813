//! `PUT /v1/inventory/{productId}`: the product's seller (or an admin) sets the available units.

use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use shared::{
    ApiError, RequestContext,
    auth::{Caller, Role},
    http,
};

use crate::{
    Inventory,
    domain::{self, ChangeKind, MAX_UNITS},
    handlers::{Edit, change_available, product_in_path},
};

/// The request body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SetStock {
    /// Units available from now on, 0 to 10^9.
    #[schema(maximum = 1_000_000_000)]
    pub available: u32,
    /// Why (kept in the audit trail); "set" if absent.
    #[serde(default)]
    pub reason: Option<String>,
}

/// Validates the body: the level and the reason.
///
/// # Errors
/// 400 `VALIDATION_FAILED`.
pub fn validate(body: &SetStock) -> Result<(u32, String), ApiError> {
    if body.available > MAX_UNITS {
        return Err(ApiError::invalid_field(
            "available",
            format!("must be at most {MAX_UNITS}"),
        ));
    }
    let reason = match &body.reason {
        Some(reason) => domain::reason(reason).map_err(|e| ApiError::validation(vec![e]))?,
        None => "set".to_owned(),
    };
    Ok((body.available, reason))
}

/// Answers 200 with the stock after the change.
///
/// # Errors
/// 403 for customers and other sellers; 404 unknown product; 400 invalid body; 500 on storage
/// failure.
#[utoipa::path(
    put,
    path = "/v1/inventory/{productId}",
    operation_id = "setStock",
    summary = "Set the available units (the seller or an admin)",
    tag = "inventory",
    security(("bearer" = [])),
    params(("productId" = uuid::Uuid, Path, description = "The product")),
    request_body = SetStock,
    responses(
        (status = 200, description = "The stock as set", body = crate::domain::Stock),
        (status = 400, response = shared::openapi::BadRequest),
        (status = 401, response = shared::openapi::Unauthorized),
        (status = 403, response = shared::openapi::Forbidden),
        (status = 404, response = shared::openapi::NotFound),
        (status = 409, response = shared::openapi::Conflict),
        (status = 413, response = shared::openapi::PayloadTooLarge),
        (status = 415, response = shared::openapi::UnsupportedMediaType),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn handle(
    inventory: &Inventory,
    req: Request,
    ctx: &RequestContext,
) -> Result<Response<Body>, ApiError> {
    let caller = Caller::from_request(&req)?;
    caller.require_any(&[Role::Seller, Role::Admin])?;
    let product = product_in_path(&req)?;
    let body: SetStock = http::parse_json_limited(&req, http::SMALL_BODY_LIMIT)?;
    let (available, reason) = validate(&body)?;
    let stock = change_available(
        inventory,
        &caller,
        Edit {
            product,
            kind: ChangeKind::Set,
            reason: &reason,
            idempotency: None,
            correlation_id: &ctx.correlation_id,
        },
        |_| Ok(available),
    )
    .await?;
    http::ok(ctx, &stock)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::samples;

    #[test]
    fn the_sample_event_sets_a_level() {
        let body: SetStock = http::parse_json(&samples::set_stock()).unwrap();
        assert_eq!(validate(&body).unwrap().0, 120);
    }
}
