//! `POST /v1/products`: a seller (or an admin) lists a new product.

use std::collections::BTreeMap;

use lambda_http::{Body, Request, Response};
use serde::Deserialize;
use shared::{
    ApiError, RequestContext,
    auth::{Caller, Role},
    events::{Envelope, catalog::ProductStatus},
    http,
    idempotency::{self, IdempotencyKey},
    money::Money,
};
use uuid::Uuid;

use crate::{
    Catalog,
    domain::{self, Problems, Product},
    handlers::{no_product, with_etag},
    store::{Created, Idempotency},
};

/// The request body.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NewProduct {
    /// Name, 1 to 200 characters.
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// Description, up to 5000 characters.
    #[serde(default)]
    #[schema(max_length = 5000)]
    pub description: String,
    /// An existing category.
    pub category_id: Uuid,
    /// Price in the shop's currency.
    pub price: Money,
    /// Image URLs, at most 10.
    #[serde(default)]
    #[schema(max_items = 10)]
    pub images: Vec<String>,
    /// Attributes, at most 30.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

/// Validates `body` into a new active product of `seller`.
///
/// # Errors
/// 400 `VALIDATION_FAILED` listing every invalid field.
pub fn product(catalog: &Catalog, seller: Uuid, body: &NewProduct) -> Result<Product, ApiError> {
    let mut problems = Problems::default();
    let name = domain::name(&mut problems, &body.name);
    let description = domain::description(&mut problems, &body.description);
    domain::price(&mut problems, &body.price, catalog.currency);
    let images = domain::images(&mut problems, &body.images);
    let attributes = domain::attributes(&mut problems, &body.attributes);
    let now = shared::time::now_rfc3339();
    problems.finish(Product {
        id: shared::ids::new_id(),
        seller_id: seller,
        name,
        description,
        category_id: body.category_id,
        price: body.price,
        images,
        attributes,
        status: ProductStatus::Active,
        created_at: now.clone(),
        updated_at: now,
        version: 1,
    })
}

/// Answers 201 with the product, its `Location` and `ETag`. With an `Idempotency-Key`, a repeated
/// request answers the same product again.
///
/// # Errors
/// 403 for customers; 400 for an invalid body; 422 `CATEGORY_NOT_FOUND` or
/// `IDEMPOTENCY_KEY_REUSED`; 500 on storage failure.
#[utoipa::path(
    post,
    path = "/v1/products",
    operation_id = "createProduct",
    summary = "List a new product (seller or admin)",
    tag = "catalog",
    security(("bearer" = [])),
    params(
        ("Idempotency-Key" = Option<String>, Header, description = "Makes a retried creation answer the first product again (1 to 255 visible ASCII characters)"),
    ),
    request_body = NewProduct,
    responses(
        (status = 201, description = "The new product", body = crate::domain::Product, headers(
            ("Location" = String, description = "The product's URL"),
            ("ETag" = String, description = "The product's version, for `If-Match`"),
        )),
        (status = 400, response = shared::openapi::BadRequest),
        (status = 401, response = shared::openapi::Unauthorized),
        (status = 403, response = shared::openapi::Forbidden),
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
    let key = IdempotencyKey::from_request(&req)?;
    let body: NewProduct = http::parse_json_limited(&req, domain::PRODUCT_BODY_LIMIT)?;
    let product = product(catalog, caller.user_id, &body)?;
    let event = Envelope::wrap(product.changed_event(), ctx.correlation_id.clone());
    let idempotency = key.as_ref().map(|key| Idempotency {
        key: key.as_str(),
        fingerprint: idempotency::fingerprint(req.body()),
    });
    let product = match catalog
        .store
        .create_product(&product, &event, idempotency.as_ref())
        .await?
    {
        Created::New => {
            tracing::info!(product_id = %product.id, "product created");
            product
        }
        Created::Replayed(id) => catalog.store.product(id).await?.ok_or_else(no_product)?,
    };
    let location = format!("/v1/products/{}", product.id);
    Ok(with_etag(
        http::created(ctx, &location, &product)?,
        &product,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::handlers::samples;

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

    #[test]
    fn the_sample_event_is_a_valid_product() {
        let body: NewProduct = http::parse_json(&samples::create_product()).unwrap();
        let seller = Uuid::now_v7();
        let product = product(&catalog(), seller, &body).unwrap();
        assert_eq!(product.seller_id, seller);
        assert_eq!(product.status, ProductStatus::Active);
        assert_eq!(product.version, 1);
    }

    #[test]
    fn every_invalid_field_is_reported() {
        let body: NewProduct = serde_json::from_value(serde_json::json!({
            "name": " ", "categoryId": Uuid::now_v7(), "price": {"amount": -5, "currency": "USD"},
            "images": ["not a url"]
        }))
        .unwrap();
        let Err(ApiError::Validation { errors }) = product(&catalog(), Uuid::now_v7(), &body)
        else {
            panic!("a validation error")
        };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "price", "images[0]"]);
    }
}
