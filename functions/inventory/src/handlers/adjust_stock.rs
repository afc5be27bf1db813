//! `POST /v1/inventory/{productId}/adjust`: the product's seller (or an admin) moves the available
//! units by a signed delta, with a reason. Stock never goes negative.

use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use shared::{
    ApiError, RequestContext,
    auth::{Caller, Role},
    http,
    idempotency::{self, IdempotencyKey},
};

use crate::{
    Inventory,
    domain::{self, ChangeKind, MAX_UNITS},
    handlers::{Edit, change_available, product_in_path},
    store::Idempotency,
};

/// The request body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Adjust {
    /// Units to add (positive) or remove (negative), not zero.
    pub delta: i64,
    /// Why (kept in the audit trail).
    #[schema(min_length = 1, max_length = 200)]
    pub reason: String,
}

/// Validates the body.
///
/// # Errors
/// 400 `VALIDATION_FAILED`.
pub fn validate(body: &Adjust) -> Result<(i64, String), ApiError> {
    let mut errors = Vec::new();
    if body.delta == 0 || body.delta.unsigned_abs() > u64::from(MAX_UNITS) {
        errors.push(shared::error::FieldError::new(
            "delta",
            format!("must be a non-zero whole number from -{MAX_UNITS} to {MAX_UNITS}"),
        ));
    }
    let reason = domain::reason(&body.reason)
        .map_err(|e| errors.push(e))
        .ok();
    match reason {
        Some(reason) if errors.is_empty() => Ok((body.delta, reason)),
        _ => Err(ApiError::validation(errors)),
    }
}

/// Answers 200 with the stock after the change. With an `Idempotency-Key`, a repeated request
/// answers the levels of the first, without a second change.
///
/// # Errors
/// 403 for customers and other sellers; 404 unknown product; 400 invalid body; 409
/// `INSUFFICIENT_STOCK` (nothing changes); 422 `IDEMPOTENCY_KEY_REUSED`; 500 on storage failure.
#[utoipa::path(
    post,
    path = "/v1/inventory/{productId}/adjust",
    operation_id = "adjustStock",
    summary = "Add or remove available units (the seller or an admin)",
    tag = "inventory",
    security(("bearer" = [])),
    params(
        ("productId" = uuid::Uuid, Path, description = "The product"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retried adjustment change the stock once (1 to 255 visible ASCII characters)"),
    ),
    request_body = Adjust,
    responses(
        (status = 200, description = "The stock as adjusted", body = crate::domain::Stock),
        (status = 400, response = shared::openapi::BadRequest),
        (status = 401, response = shared::openapi::Unauthorized),
        (status = 403, response = shared::openapi::Forbidden),
        (status = 404, response = shared::openapi::NotFound),
        (status = 409, response = shared::openapi::Conflict),
        (status = 413, response = shared::openapi::PayloadTooLarge),
        (status = 415, response = shared::openapi::UnsupportedMediaType),
        (status = 422, response = shared::openapi::Unprocessable),
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
    let key = IdempotencyKey::from_request(&req)?;
    let body: Adjust = http::parse_json_limited(&req, http::SMALL_BODY_LIMIT)?;
    let (delta, reason) = validate(&body)?;
    let idempotency = key.as_ref().map(|key| Idempotency {
        key: key.as_str(),
        fingerprint: idempotency::fingerprint(req.body()),
    });
    let stock = change_available(
        inventory,
        &caller,
        Edit {
            product,
            kind: ChangeKind::Adjust,
            reason: &reason,
            idempotency: idempotency.as_ref(),
            correlation_id: &ctx.correlation_id,
        },
        |current| domain::adjusted(current.available, delta),
    )
    .await?;
    http::ok(ctx, &stock)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::samples;

    #[test]
    fn the_sample_event_is_a_valid_adjustment() {
        let body: Adjust = http::parse_json(&samples::adjust_stock()).unwrap();
        assert_eq!(validate(&body).unwrap().0, -3);
    }

    #[test]
    fn zero_and_huge_deltas_and_empty_reasons_are_refused() {
        for (delta, reason) in [(0, "x"), (i64::from(MAX_UNITS) + 1, "x"), (1, " ")] {
            let body = Adjust {
                delta,
                reason: reason.into(),
            };
            assert_eq!(
                validate(&body).unwrap_err().status(),
                400,
                "{delta} {reason:?}"
            );
        }
    }
}
