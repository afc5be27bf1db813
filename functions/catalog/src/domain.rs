//! Validated catalog types. Request bodies are parsed into these before any business logic runs.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use shared::{
    error::FieldError,
    events::catalog::ProductStatus,
    money::{Currency, Money},
};
use uuid::Uuid;

/// Longest product or category name, in characters.
pub const NAME_MAX_CHARS: usize = 200;
/// Longest description, in characters.
pub const DESCRIPTION_MAX_CHARS: usize = 5000;
/// Most images of a product.
pub const MAX_IMAGES: usize = 10;
/// Longest image URL, in bytes.
pub const IMAGE_URL_MAX_LEN: usize = 2048;
/// Most attributes of a product.
pub const MAX_ATTRIBUTES: usize = 30;
/// Longest attribute name, in characters.
pub const ATTRIBUTE_NAME_MAX_CHARS: usize = 50;
/// Longest attribute value, in characters.
pub const ATTRIBUTE_VALUE_MAX_CHARS: usize = 500;
/// Longest slug, in bytes.
pub const SLUG_MAX_LEN: usize = 64;
/// Largest product body accepted, in bytes: room for every field at its longest in four-byte
/// characters (a description of 5,000, 10 image URLs, 30 attributes of 550), and no more.
pub const PRODUCT_BODY_LIMIT: usize = 128 * 1024;

/// Collects field errors so a request gets all of them at once.
#[derive(Debug, Default)]
pub struct Problems(Vec<FieldError>);

impl Problems {
    /// Records that `field` is invalid.
    pub fn add(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }

    /// `Ok(value)` when nothing was recorded, else the 400 listing every problem.
    ///
    /// # Errors
    /// 400 `VALIDATION_FAILED`.
    pub fn finish<T>(self, value: T) -> Result<T, shared::ApiError> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(shared::ApiError::validation(self.0))
        }
    }
}

/// Text that is trimmed, has 1 to `max` characters and no control characters.
fn text(problems: &mut Problems, field: &str, raw: &str, max: usize) -> String {
    let value = raw.trim();
    if value.is_empty() {
        problems.add(field, "must not be empty");
    } else if value.chars().count() > max {
        problems.add(field, format!("must be at most {max} characters"));
    } else if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        problems.add(field, "must not contain control characters");
    }
    value.to_owned()
}

/// A product name.
#[must_use]
pub fn name(problems: &mut Problems, raw: &str) -> String {
    let name = text(problems, "name", raw, NAME_MAX_CHARS);
    if name.contains('\n') {
        problems.add("name", "must be one line");
    }
    name
}

/// A description (may be empty).
#[must_use]
pub fn description(problems: &mut Problems, raw: &str) -> String {
    if raw.trim().is_empty() {
        return String::new();
    }
    text(problems, "description", raw, DESCRIPTION_MAX_CHARS)
}

/// A price in the shop's currency.
pub fn price(problems: &mut Problems, price: &Money, currency: Currency) {
    if let Err(e) = price.check_price(currency) {
        problems.add("price", e.to_string());
    }
}

/// Image URLs: `https://` (or `http://`), no spaces, bounded.
#[must_use]
pub fn images(problems: &mut Problems, raw: &[String]) -> Vec<String> {
    if raw.len() > MAX_IMAGES {
        problems.add("images", format!("at most {MAX_IMAGES} images"));
    }
    for (i, url) in raw.iter().enumerate() {
        let ok = (url.starts_with("https://") || url.starts_with("http://"))
            && url.len() > "https://".len()
            && url.len() <= IMAGE_URL_MAX_LEN
            && url.bytes().all(|b| b.is_ascii_graphic());
        if !ok {
            problems.add(
                format!("images[{i}]"),
                format!("must be an http(s) URL of at most {IMAGE_URL_MAX_LEN} characters without spaces"),
            );
        }
    }
    raw.to_vec()
}

/// Product attributes: names and values are trimmed, bounded text.
#[must_use]
pub fn attributes(
    problems: &mut Problems,
    raw: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    if raw.len() > MAX_ATTRIBUTES {
        problems.add("attributes", format!("at most {MAX_ATTRIBUTES} attributes"));
    }
    let mut out = BTreeMap::new();
    for (key, value) in raw {
        let field = format!("attributes.{key}");
        let key = text(problems, &field, key, ATTRIBUTE_NAME_MAX_CHARS);
        let value = text(problems, &field, value, ATTRIBUTE_VALUE_MAX_CHARS);
        out.insert(key, value);
    }
    out
}

/// A category slug: lowercase letters and digits in words joined by single hyphens.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(transparent)]
#[schema(value_type = String, pattern = "^[a-z0-9]+(-[a-z0-9]+)*$", max_length = 64, example = "t-shirts")]
pub struct Slug(String);

impl Slug {
    /// Validates `raw`.
    ///
    /// # Errors
    /// A [`FieldError`] on `slug`.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let ok = !raw.is_empty()
            && raw.len() <= SLUG_MAX_LEN
            && raw.split('-').all(|word| {
                !word.is_empty()
                    && word
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            });
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(FieldError::new(
                "slug",
                format!(
                    "must be lowercase letters and digits joined by single hyphens, at most {SLUG_MAX_LEN} characters"
                ),
            ))
        }
    }

    /// The slug.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A category name.
#[must_use]
pub fn category_name(problems: &mut Problems, raw: &str) -> String {
    text(problems, "name", raw, NAME_MAX_CHARS)
}

/// A product as stored and as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Product {
    /// The product id (UUIDv7: sorts by creation).
    pub id: Uuid,
    /// Who sells it.
    pub seller_id: Uuid,
    /// Its name.
    pub name: String,
    /// Its description (may be empty).
    #[serde(default)]
    pub description: String,
    /// Its category.
    pub category_id: Uuid,
    /// Its price.
    pub price: Money,
    /// Image URLs.
    #[serde(default)]
    pub images: Vec<String>,
    /// Free-form attributes (size, color, ...).
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// Whether it is for sale.
    pub status: ProductStatus,
    /// RFC 3339 creation time.
    pub created_at: String,
    /// RFC 3339 time of the last change.
    pub updated_at: String,
    /// Grows by one with every change; `If-Match` checks it.
    pub version: u64,
}

impl Product {
    /// The entity tag of this version: `"v<version>"`.
    #[must_use]
    pub fn etag(&self) -> String {
        format!("\"v{}\"", self.version)
    }

    /// Whether the caller may change it: its seller or an admin.
    #[must_use]
    pub fn editable_by(&self, caller: &shared::auth::Caller) -> bool {
        caller.user_id == self.seller_id || caller.is(shared::auth::Role::Admin)
    }

    /// The event describing this state.
    #[must_use]
    pub fn changed_event(&self) -> shared::events::catalog::ProductChanged {
        shared::events::catalog::ProductChanged {
            product_id: self.id,
            seller_id: self.seller_id,
            name: self.name.clone(),
            category_id: self.category_id,
            price: self.price,
            status: self.status,
            image: self.images.first().cloned(),
            version: self.version,
            changed_at: self.updated_at.clone(),
        }
    }
}

/// A category as stored and as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Category {
    /// The category id.
    pub id: Uuid,
    /// Unique, URL-friendly name.
    pub slug: Slug,
    /// Display name.
    pub name: String,
    /// Description (may be empty).
    #[serde(default)]
    pub description: String,
    /// How many active products it holds.
    #[serde(default)]
    pub product_count: u64,
    /// RFC 3339 creation time.
    pub created_at: String,
    /// RFC 3339 time of the last change.
    pub updated_at: String,
    /// Grows by one with every change of its own fields.
    pub version: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_lowercase_words_joined_by_hyphens() {
        for good in ["shoes", "t-shirts", "size-42", "a"] {
            assert!(Slug::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "Shoes",
            "t--shirts",
            "-shoes",
            "shoes-",
            "shoes!",
            "été",
            &"a".repeat(65),
        ] {
            assert!(Slug::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn text_fields_are_trimmed_bounded_and_reported_together() {
        let mut problems = Problems::default();
        assert_eq!(name(&mut problems, "  Mug  "), "Mug");
        let _ = name(&mut problems, "   ");
        let _ = name(&mut problems, "two\nlines");
        let _ = description(&mut problems, &"x".repeat(DESCRIPTION_MAX_CHARS + 1));
        let _ = images(
            &mut problems,
            &["ftp://x".into(), "https://cdn.example.com/a.png".into()],
        );
        let error = problems.finish(()).unwrap_err();
        let shared::ApiError::Validation { errors } = error else {
            panic!("a validation error")
        };
        let fields: Vec<_> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["name", "name", "description", "images[0]"]);
    }

    #[test]
    fn prices_must_be_in_the_shop_currency() {
        let mut problems = Problems::default();
        price(
            &mut problems,
            &Money::new(100, Currency::parse("EUR").unwrap()),
            Currency::USD,
        );
        price(&mut problems, &Money::new(-1, Currency::USD), Currency::USD);
        price(
            &mut problems,
            &Money::new(1999, Currency::USD),
            Currency::USD,
        );
        assert!(
            matches!(problems.finish(()), Err(shared::ApiError::Validation { errors }) if errors.len() == 2)
        );
    }
}
