//! `PATCH /v1/products/{productId}`: the product's seller (or an admin) changes it.

use std::collections::BTreeMap;

use lambda_http::{Body, Request, Response, http::header};
use serde::Deserialize;
use shared::{
    ApiError, RequestContext,
    auth::{Caller, Role},
    events::{Envelope, catalog::ProductStatus},
    http,
    money::Money,
};
use uuid::Uuid;

use crate::{
    Catalog,
    domain::{self, Problems, Product},
    handlers::{id_in_path, no_product, with_etag},
};

/// How often a change is re-applied after losing a race (without `If-Match`).
const ATTEMPTS: u32 = 5;

/// The request body: the fields to change; absent fields keep their value.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ProductPatch {
    /// New name.
    pub name: Option<String>,
    /// New description (`""` clears it).
    pub description: Option<String>,
    /// Another existing category.
    pub category_id: Option<Uuid>,
    /// New price.
    pub price: Option<Money>,
    /// New images (replaces the list).
    pub images: Option<Vec<String>>,
    /// New attributes (replaces the map).
    pub attributes: Option<BTreeMap<String, String>>,
    /// `active` or `archived`.
    pub status: Option<ProductStatus>,
}

/// `patch` applied to `current`, validated; the version and time move on only if something
/// changed.
///
/// # Errors
/// 400 `VALIDATION_FAILED` listing every invalid field.
pub fn apply(
    catalog: &Catalog,
    current: &Product,
    patch: &ProductPatch,
) -> Result<Product, ApiError> {
    let mut problems = Problems::default();
    let mut next = current.clone();
    if let Some(name) = &patch.name {
        next.name = domain::name(&mut problems, name);
    }
    if let Some(description) = &patch.description {
        next.description = domain::description(&mut problems, description);
    }
    if let Some(category) = patch.category_id {
        next.category_id = category;
    }
    if let Some(price) = &patch.price {
        domain::price(&mut problems, price, catalog.currency);
        next.price = *price;
    }
    if let Some(images) = &patch.images {
        next.images = domain::images(&mut problems, images);
    }
    if let Some(attributes) = &patch.attributes {
        next.attributes = domain::attributes(&mut problems, attributes);
    }
    if let Some(status) = patch.status {
        next.status = status;
    }
    if next != *current {
        next.version = current.version + 1;
        next.updated_at = shared::time::now_rfc3339();
    }
    problems.finish(next)
}

/// Whether an `If-Match` header value admits `etag` (strong comparison; `*` admits any).
#[must_use]
pub fn if_match_admits(header: &str, etag: &str) -> bool {
    header
        .split(',')
        .map(str::trim)
        .any(|tag| tag == "*" || tag == etag)
}

/// Reads, checks and writes the change, re-reading after a lost race unless the client pinned a
/// version with `If-Match`. Returns the product after the change.
///
/// # Errors
/// 404 unknown product; 403 not its seller nor an admin; 412 `VERSION_MISMATCH`; 400 invalid
/// fields; 422 `CATEGORY_NOT_FOUND`; 500 on storage failure.
pub async fn change(
    catalog: &Catalog,
    caller: &Caller,
    id: Uuid,
    if_match: Option<&str>,
    correlation_id: &str,
    edit: impl Fn(&Product) -> Result<Product, ApiError>,
) -> Result<Product, ApiError> {
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            shared::dynamo::backoff(attempt - 1).await;
        }
        let current = catalog.store.product(id).await?.ok_or_else(no_product)?;
        if !current.editable_by(caller) {
            return Err(ApiError::forbidden(
                "Only the product's seller or an admin may change it.",
            ));
        }
        if let Some(header) = if_match
            && !if_match_admits(header, &current.etag())
        {
            return Err(version_mismatch());
        }
        let next = edit(&current)?;
        if next.version == current.version {
            return Ok(current);
        }
        let event = Envelope::wrap(next.changed_event(), correlation_id.to_owned());
        if catalog
            .store
            .replace_product(&current, &next, &event)
            .await?
        {
            tracing::info!(product_id = %id, version = next.version, "product changed");
            return Ok(next);
        }
        if if_match.is_some() {
            return Err(version_mismatch());
        }
    }
    Err(ApiError::conflict(
        "CONCURRENT_UPDATE",
        "The product kept changing while this change was applied; try again.",
    ))
}

fn version_mismatch() -> ApiError {
    ApiError::precondition_failed(
        "VERSION_MISMATCH",
        "The product changed since the version named in If-Match; read it again.",
    )
}

/// Answers 200 with the changed product and its new `ETag`.
///
/// # Errors
/// As [`change`]; 400 for a malformed body.
#[utoipa::path(
    patch,
    path = "/v1/products/{productId}",
    operation_id = "updateProduct",
    summary = "Change a product (its seller or an admin)",
    tag = "catalog",
    security(("bearer" = [])),
    params(
        ("productId" = uuid::Uuid, Path, description = "The product"),
        ("If-Match" = Option<String>, Header, description = "The `ETag` the change is based on; a stale one gets 412"),
    ),
    request_body = ProductPatch,
    responses(
        (status = 200, description = "The product as changed", body = crate::domain::Product, headers(
            ("ETag" = String, description = "The product's new version"),
        )),
        (status = 400, response = shared::openapi::BadRequest),
        (status = 401, response = shared::openapi::Unauthorized),
        (status = 403, response = shared::openapi::Forbidden),
        (status = 404, response = shared::openapi::NotFound),
        (status = 412, response = shared::openapi::PreconditionFailed),
        (status = 413, response = shared::openapi::PayloadTooLarge),
        (status = 415, response = shared::openapi::UnsupportedMediaType),
        (status = 422, response = shared::openapi::Unprocessable),
    )
)]
#[tracing::instrument(skip_all)]
pub async fn handle(
    catalog: &Catalog,
    req: Request,
    ctx: &RequestContext,
) -> Result<Response<Body>, ApiError> {
    let caller = Caller::from_request(&req)?;
    caller.require_any(&[Role::Seller, Role::Admin])?;
    let id = id_in_path(&req, "productId", "product")?;
    let patch: ProductPatch = http::parse_json_limited(&req, domain::PRODUCT_BODY_LIMIT)?;
    let if_match = req
        .headers()
        .get(header::IF_MATCH)
        .map(|v| v.to_str().unwrap_or("\u{0}"));
    let product = change(
        catalog,
        &caller,
        id,
        if_match,
        &ctx.correlation_id,
        |current| apply(catalog, current, &patch),
    )
    .await?;
    Ok(with_etag(http::ok(ctx, &product)?, &product))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::samples;
    use shared::money::Currency;

    fn catalog() -> Catalog {
        let config = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        Catalog::from_env(
            &shared::config::Env::from_pairs([("TABLE_NAME", "t")]),
            &config,
        )
        .unwrap()
    }

    fn product() -> Product {
        Product {
            id: Uuid::now_v7(),
            seller_id: Uuid::now_v7(),
            name: "Mug".into(),
            description: String::new(),
            category_id: Uuid::now_v7(),
            price: Money::new(1200, Currency::USD),
            images: vec![],
            attributes: BTreeMap::new(),
            status: ProductStatus::Active,
            created_at: "2026-11-30T00:00:00.000Z".into(),
            updated_at: "2026-11-30T00:00:00.000Z".into(),
            version: 3,
        }
    }

    #[test]
    fn the_sample_event_is_a_valid_patch() {
        let patch: ProductPatch = http::parse_json(&samples::update_product()).unwrap();
        let next = apply(&catalog(), &product(), &patch).unwrap();
        assert_eq!(next.version, 4);
    }

    #[test]
    fn a_patch_that_changes_nothing_keeps_the_version() {
        let current = product();
        let patch = ProductPatch {
            name: Some(" Mug ".into()),
            ..ProductPatch::default()
        };
        assert_eq!(apply(&catalog(), &current, &patch).unwrap(), current);
    }

    #[test]
    fn if_match_compares_strongly() {
        assert!(if_match_admits("\"v3\"", "\"v3\""));
        assert!(if_match_admits("\"v1\", \"v3\"", "\"v3\""));
        assert!(if_match_admits("*", "\"v3\""));
        assert!(!if_match_admits("W/\"v3\"", "\"v3\""));
        assert!(!if_match_admits("\"v2\"", "\"v3\""));
    }
}
