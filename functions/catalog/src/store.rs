//! The catalog table: products, their search terms, categories, slug claims and the outbox.
//!
//! One DynamoDB table with string keys `pk` and `sk`, a stream (`NEW_IMAGE`, read by the
//! publisher for the outbox) and a TTL attribute `expiresAt`:
//!
//! | item | pk | sk |
//! |---|---|---|
//! | product | `PRODUCT#<id>` | `PRODUCT` |
//! | search term of an active product | `TERM#<first two letters>` | `<term>#<productId>` |
//! | category | `CATEGORY` | `<categoryId>` |
//! | slug claim (uniqueness) | `SLUG#<slug>` | `SLUG` |
//! | idempotent product creation | `IDEMPOTENCY#<sellerId>#<key>` | `IDEMPOTENCY` |
//! | outbox event ([`shared::outbox`]) | `OUTBOX#<eventId>` | `OUTBOX` |
//!
//! Listing is served by Query on sparse global secondary indexes of the product items (projection
//! `ALL`, so a page needs no second read). A product carries `priceKey` (the amount, zero-padded,
//! then the id) and `newestKey` (its UUIDv7 id, which sorts by creation) always, and the partition
//! attributes only while it is active, so archived products drop out of the public indexes:
//!
//! | index | partition | sort | serves |
//! |---|---|---|---|
//! | `AllByPrice` / `AllByNewest` | `allPk` = `ACTIVE` | `priceKey` / `newestKey` | no filter, or only a price range |
//! | `CategoryByPrice` / `CategoryByNewest` | `categoryPk` = category id | idem | `category` |
//! | `SellerByPrice` / `SellerByNewest` | `sellerPk` = seller id | idem | `sellerId`, and `sellerId` + `category` (category as a filter) |
//! | `SellerAll` | `ownerPk` = seller id (every status) | `newestKey` | a seller's own products |
//!
//! A price range is a key condition on the price indexes and a filter (`priceAmount`) on the
//! newest ones. Every write that can race is conditional or transactional; see each method.

use std::collections::{BTreeSet, HashMap};

use aws_sdk_dynamodb::{
    Client,
    types::{Delete, Put, TransactWriteItem, Update},
};
use serde::{Deserialize, Serialize};
use shared::{
    ApiError,
    dynamo::{self, Item, key, n, names, s, values},
    error::Context as _,
    events::{Envelope, catalog::ProductChanged, catalog::ProductStatus},
    outbox,
};
use uuid::Uuid;

use crate::{
    domain::{Category, Product, Slug},
    search::{self, Term},
};

/// How many times a transaction that lost a race to a concurrent one is retried.
const CONFLICT_RETRIES: u32 = 3;
/// Most Query calls one list request makes (filters may discard what a query reads).
const MAX_QUERIES_PER_PAGE: usize = 5;
/// Most index entries read for one search term.
pub const MAX_MATCHES_PER_TERM: usize = 2000;
/// Partition of the all-products indexes.
const ACTIVE: &str = "ACTIVE";
/// How long an idempotency record of a product creation is kept.
const IDEMPOTENCY_RETENTION_SECS: i64 = 24 * 3600;

/// The order of a product list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum Sort {
    /// Cheapest first.
    PriceAsc,
    /// Dearest first.
    PriceDesc,
    /// Most recently created first.
    #[default]
    Newest,
}

impl Sort {
    /// Parses `price_asc`, `price_desc` or `newest`.
    #[must_use]
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "price_asc" => Some(Self::PriceAsc),
            "price_desc" => Some(Self::PriceDesc),
            "newest" => Some(Self::Newest),
            _ => None,
        }
    }

    /// The query-string spelling.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PriceAsc => "price_asc",
            Self::PriceDesc => "price_desc",
            Self::Newest => "newest",
        }
    }
}

/// What a public product list is filtered by.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    /// Only this category.
    pub category: Option<Uuid>,
    /// Only this seller.
    pub seller: Option<Uuid>,
    /// At least this price (minor units).
    pub min_price: Option<i64>,
    /// At most this price (minor units).
    pub max_price: Option<i64>,
}

impl Filters {
    /// Whether a product with these attributes passes.
    #[must_use]
    pub fn admits(&self, category: Uuid, seller: Uuid, price: i64) -> bool {
        self.category.is_none_or(|c| c == category)
            && self.seller.is_none_or(|s| s == seller)
            && self.min_price.is_none_or(|min| price >= min)
            && self.max_price.is_none_or(|max| price <= max)
    }
}

/// One page read from an index.
#[derive(Debug, Clone, Default)]
pub struct IndexPage {
    /// The products, in order.
    pub items: Vec<Product>,
    /// Where the next page starts, if there may be one.
    pub next: Option<Item>,
}

/// One product found under a search term.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TermMatch {
    /// The product.
    pub product_id: Uuid,
    /// Its price amount.
    pub price_amount: i64,
    /// Its category.
    pub category_id: Uuid,
    /// Its seller.
    pub seller_id: Uuid,
}

/// The outcome of creating a product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Created {
    /// Created now.
    New,
    /// The same request was made before with this key: this is the product it created.
    Replayed(Uuid),
}

/// An idempotency record of a product creation.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct IdempotencyRecord {
    fingerprint: String,
    product_id: Uuid,
    #[serde(rename = "expiresAt")]
    expires_at: i64,
}

/// A key given with a creation, and the fingerprint of its request.
#[derive(Debug, Clone)]
pub struct Idempotency<'a> {
    /// The client's key.
    pub key: &'a str,
    /// [`shared::idempotency::fingerprint`] of the body.
    pub fingerprint: String,
}

/// One Query on an index, as [`Store::index_page`] runs it.
struct IndexQuery<'a> {
    index: &'a str,
    partition_attr: &'a str,
    sort_attr: &'a str,
    key_condition: &'a str,
    filter: Option<String>,
    names: Vec<(&'a str, &'a str)>,
    values: Vec<(&'a str, aws_sdk_dynamodb::types::AttributeValue)>,
    forward: bool,
    limit: usize,
    start: Option<Item>,
}

/// Category fields an update changes (`None` keeps).
#[derive(Debug, Clone, Default)]
pub struct CategoryChanges {
    /// New slug.
    pub slug: Option<Slug>,
    /// New name.
    pub name: Option<String>,
    /// New description.
    pub description: Option<String>,
}

/// Access to the catalog table.
#[derive(Debug, Clone)]
pub struct Store {
    client: Client,
    table: String,
}

fn product_key(id: Uuid) -> Item {
    key(format!("PRODUCT#{id}"), "PRODUCT")
}

fn category_key(id: Uuid) -> Item {
    key("CATEGORY".to_owned(), id.to_string())
}

fn slug_key(slug: &Slug) -> Item {
    key(format!("SLUG#{}", slug.as_str()), "SLUG")
}

fn term_key(term: &str, product_id: Uuid) -> Item {
    key(
        format!("TERM#{}", search::partition(term)),
        format!("{term}#{product_id}"),
    )
}

fn idempotency_key(seller: Uuid, key_text: &str) -> Item {
    key(format!("IDEMPOTENCY#{seller}#{key_text}"), "IDEMPOTENCY")
}

/// `priceKey`: the amount zero-padded to 15 digits (prices are at most 10^13), then the id, so
/// equal prices still sort (by age).
#[must_use]
pub fn price_key(amount: i64, id: Uuid) -> String {
    format!("{amount:015}#{id}")
}

/// The stored form of a product: its fields, keys, and the index attributes of its status.
fn product_item(product: &Product) -> Result<Item, ApiError> {
    let mut item = dynamo::to_item(product).context("serialize a product")?;
    item.extend(product_key(product.id));
    item.insert("ownerPk".into(), s(product.seller_id.to_string()));
    item.insert(
        "priceKey".into(),
        s(price_key(product.price.amount, product.id)),
    );
    item.insert("newestKey".into(), s(product.id.to_string()));
    item.insert("priceAmount".into(), n(product.price.amount));
    if product.status == ProductStatus::Active {
        item.insert("allPk".into(), s(ACTIVE));
        item.insert("categoryPk".into(), s(product.category_id.to_string()));
        item.insert("sellerPk".into(), s(product.seller_id.to_string()));
    }
    Ok(item)
}

fn busy() -> ApiError {
    ApiError::internal(
        "write the catalog",
        "the transaction kept conflicting with concurrent writes",
    )
}

fn category_missing() -> ApiError {
    ApiError::unprocessable("CATEGORY_NOT_FOUND", "There is no category with this id.")
}

impl Store {
    /// A store over `table`.
    #[must_use]
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// Moves a category's active-product count by `delta`; the category must exist.
    fn count(&self, category: Uuid, delta: i64) -> Result<TransactWriteItem, ApiError> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(category_key(category)))
            .update_expression("ADD productCount :delta")
            .condition_expression("attribute_exists(pk)")
            .set_expression_attribute_values(values(vec![(":delta", n(delta))]))
            .build()
            .context("build a category count update")?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    fn term_items(
        &self,
        product: &Product,
        terms: &BTreeSet<String>,
    ) -> Result<Vec<TransactWriteItem>, ApiError> {
        terms
            .iter()
            .map(|term| {
                let mut item = term_key(term, product.id);
                item.insert("productId".into(), s(product.id.to_string()));
                item.insert("priceAmount".into(), n(product.price.amount));
                item.insert("categoryId".into(), s(product.category_id.to_string()));
                item.insert("sellerId".into(), s(product.seller_id.to_string()));
                dynamo::put(&self.table, item, None)
            })
            .collect()
    }

    /// Creates `product` (active) with its search terms and its `ProductChanged` event, and counts
    /// it in its category, in one transaction.
    ///
    /// With an idempotency key, a record of the key is written in the same transaction: a second
    /// creation with the same key and request returns [`Created::Replayed`] with the first product;
    /// with another request it is a 422.
    ///
    /// # Errors
    /// 422 `CATEGORY_NOT_FOUND`, 422 `IDEMPOTENCY_KEY_REUSED`; 500 on storage failure.
    #[tracing::instrument(skip_all, fields(product_id = %product.id))]
    pub async fn create_product(
        &self,
        product: &Product,
        event: &Envelope<ProductChanged>,
        idempotency: Option<&Idempotency<'_>>,
    ) -> Result<Created, ApiError> {
        let terms = search::index_terms(&product.name, &product.description);
        for attempt in 0..=CONFLICT_RETRIES {
            let mut items = vec![
                dynamo::put(
                    &self.table,
                    product_item(product)?,
                    Some("attribute_not_exists(pk)"),
                )?,
                self.count(product.category_id, 1)?,
                outbox::put(&self.table, event)?,
            ];
            if let Some(idempotency) = idempotency {
                let record = IdempotencyRecord {
                    fingerprint: idempotency.fingerprint.clone(),
                    product_id: product.id,
                    expires_at: shared::time::now().unix_timestamp() + IDEMPOTENCY_RETENTION_SECS,
                };
                let mut item =
                    dynamo::to_item(&record).context("serialize an idempotency record")?;
                item.extend(idempotency_key(product.seller_id, idempotency.key));
                items.push(dynamo::put(
                    &self.table,
                    item,
                    Some("attribute_not_exists(pk)"),
                )?);
            }
            items.extend(self.term_items(product, &terms)?);
            match dynamo::transact(&self.client, items).await {
                Ok(()) => return Ok(Created::New),
                Err(failure) => {
                    let failed = failure.failed_conditions();
                    if failed.contains(&3) && idempotency.is_some() {
                        return self.replay(product.seller_id, idempotency).await;
                    }
                    if failed.contains(&1) {
                        return Err(category_missing());
                    }
                    if failure.is_transient() && attempt < CONFLICT_RETRIES {
                        dynamo::backoff(attempt).await;
                        continue;
                    }
                    return Err(ApiError::internal("create a product", failure.into_error()));
                }
            }
        }
        Err(busy())
    }

    async fn replay(
        &self,
        seller: Uuid,
        idempotency: Option<&Idempotency<'_>>,
    ) -> Result<Created, ApiError> {
        let Some(idempotency) = idempotency else {
            return Err(busy());
        };
        let key = idempotency_key(seller, idempotency.key);
        let record: IdempotencyRecord = dynamo::get(
            &self.client,
            &self.table,
            key,
            true,
            "an idempotency record",
        )
        .await?
        .ok_or_else(busy)?;
        if record.fingerprint == idempotency.fingerprint {
            Ok(Created::Replayed(record.product_id))
        } else {
            Err(shared::idempotency::reused())
        }
    }

    /// The product with `id`, any status (strongly consistent: a seller sees their own write).
    ///
    /// # Errors
    /// 500 on storage failure or a malformed item.
    pub async fn product(&self, id: Uuid) -> Result<Option<Product>, ApiError> {
        dynamo::get(
            &self.client,
            &self.table,
            product_key(id),
            true,
            "a product",
        )
        .await
    }

    /// Replaces `current` by `next` (same id), in one transaction with: the condition that the
    /// stored version is still `current.version`, the search terms of the new state (removed terms
    /// deleted, none while archived), the category counts, and the event.
    ///
    /// Returns `false` when the stored version moved on (a concurrent change won): nothing was
    /// written and the caller decides whether to retry or answer 412.
    ///
    /// # Errors
    /// 422 `CATEGORY_NOT_FOUND` when `next` moves into (or revives in) a category that does not
    /// exist; 500 on storage failure.
    #[tracing::instrument(skip_all, fields(product_id = %next.id))]
    pub async fn replace_product(
        &self,
        current: &Product,
        next: &Product,
        event: &Envelope<ProductChanged>,
    ) -> Result<bool, ApiError> {
        let was_active = current.status == ProductStatus::Active;
        let is_active = next.status == ProductStatus::Active;
        let old_terms = if was_active {
            search::index_terms(&current.name, &current.description)
        } else {
            BTreeSet::new()
        };
        let new_terms = if is_active {
            search::index_terms(&next.name, &next.description)
        } else {
            BTreeSet::new()
        };
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(product_item(next)?))
            .condition_expression("attribute_exists(pk) AND version = :version")
            .set_expression_attribute_values(values(vec![(":version", n(current.version))]))
            .build()
            .context("build the product put")?;
        let mut items = vec![TransactWriteItem::builder().put(put).build()];
        // Which item checks the category the product ends up in (if any).
        let mut category_check = None;
        match (was_active, is_active) {
            (true, true) if current.category_id != next.category_id => {
                items.push(self.count(current.category_id, -1)?);
                category_check = Some(items.len());
                items.push(self.count(next.category_id, 1)?);
            }
            (false, true) => {
                category_check = Some(items.len());
                items.push(self.count(next.category_id, 1)?);
            }
            (true, false) => items.push(self.count(current.category_id, -1)?),
            _ => {}
        }
        items.push(outbox::put(&self.table, event)?);
        for removed in old_terms.difference(&new_terms) {
            items.push(dynamo::delete(&self.table, term_key(removed, current.id))?);
        }
        items.extend(self.term_items(next, &new_terms)?);
        for attempt in 0..=CONFLICT_RETRIES {
            match dynamo::transact(&self.client, items.clone()).await {
                Ok(()) => return Ok(true),
                Err(failure) => {
                    let failed = failure.failed_conditions();
                    if failed.contains(&0) {
                        return Ok(false);
                    }
                    if category_check.is_some_and(|i| failed.contains(&i)) {
                        return Err(category_missing());
                    }
                    if failure.is_transient() && attempt < CONFLICT_RETRIES {
                        dynamo::backoff(attempt).await;
                        continue;
                    }
                    return Err(ApiError::internal("update a product", failure.into_error()));
                }
            }
        }
        Err(busy())
    }

    /// One page of active products from the index that serves `filters` and `sort`, starting after
    /// `start`.
    ///
    /// # Errors
    /// 500 on storage failure.
    #[tracing::instrument(skip_all, fields(sort = sort.as_str()))]
    pub async fn list_products(
        &self,
        filters: &Filters,
        sort: Sort,
        limit: usize,
        start: Option<Item>,
    ) -> Result<IndexPage, ApiError> {
        let by_price = sort != Sort::Newest;
        let (prefix, partition_attr, partition) = match (filters.category, filters.seller) {
            (_, Some(seller)) => ("Seller", "sellerPk", seller.to_string()),
            (Some(category), None) => ("Category", "categoryPk", category.to_string()),
            (None, None) => ("All", "allPk", ACTIVE.to_owned()),
        };
        let (index, sort_attr) = if by_price {
            (format!("{prefix}ByPrice"), "priceKey")
        } else {
            (format!("{prefix}ByNewest"), "newestKey")
        };
        let mut key_condition = "#p = :p".to_owned();
        let mut attribute_names = vec![("#p", partition_attr)];
        let mut attribute_values = vec![(":p", s(partition))];
        let mut filter = Vec::new();
        if by_price {
            let low = filters.min_price.map(|min| format!("{min:015}#"));
            let high = filters.max_price.map(|max| format!("{max:015}#~"));
            attribute_names.push(("#s", sort_attr));
            match (low, high) {
                (Some(low), Some(high)) => {
                    key_condition.push_str(" AND #s BETWEEN :low AND :high");
                    attribute_values.push((":low", s(low)));
                    attribute_values.push((":high", s(high)));
                }
                (Some(low), None) => {
                    key_condition.push_str(" AND #s >= :low");
                    attribute_values.push((":low", s(low)));
                }
                (None, Some(high)) => {
                    key_condition.push_str(" AND #s <= :high");
                    attribute_values.push((":high", s(high)));
                }
                (None, None) => {
                    attribute_names.pop();
                }
            }
        } else {
            if let Some(min) = filters.min_price {
                filter.push("priceAmount >= :min");
                attribute_values.push((":min", n(min)));
            }
            if let Some(max) = filters.max_price {
                filter.push("priceAmount <= :max");
                attribute_values.push((":max", n(max)));
            }
        }
        if let (Some(category), Some(_)) = (filters.category, filters.seller) {
            filter.push("categoryPk = :category");
            attribute_values.push((":category", s(category.to_string())));
        }
        self.index_page(IndexQuery {
            index: &index,
            partition_attr,
            sort_attr,
            key_condition: &key_condition,
            filter: (!filter.is_empty()).then(|| filter.join(" AND ")),
            names: attribute_names,
            values: attribute_values,
            forward: sort == Sort::PriceAsc,
            limit,
            start,
        })
        .await
    }

    /// A seller's own products, newest first, any status (or only `status`).
    ///
    /// # Errors
    /// 500 on storage failure.
    pub async fn seller_products(
        &self,
        seller: Uuid,
        status: Option<ProductStatus>,
        limit: usize,
        start: Option<Item>,
    ) -> Result<IndexPage, ApiError> {
        let mut names = vec![("#p", "ownerPk")];
        let mut values = vec![(":p", s(seller.to_string()))];
        if let Some(status) = status {
            names.push(("#status", "status"));
            values.push((":status", s(status.as_str())));
        }
        self.index_page(IndexQuery {
            index: "SellerAll",
            partition_attr: "ownerPk",
            sort_attr: "newestKey",
            key_condition: "#p = :p",
            filter: status.map(|_| "#status = :status".to_owned()),
            names,
            values,
            forward: false,
            limit,
            start,
        })
        .await
    }

    /// Reads one page of `query`: as many Query calls as its filter needs to fill `limit` items
    /// (at most [`MAX_QUERIES_PER_PAGE`]); the page ends at its last item, whatever a query read
    /// beyond it.
    async fn index_page(&self, query: IndexQuery<'_>) -> Result<IndexPage, ApiError> {
        let mut page = IndexPage::default();
        let mut start = query.start.clone();
        for _ in 0..MAX_QUERIES_PER_PAGE {
            let want = query.limit - page.items.len();
            // With a filter a query reads more than it returns: read ahead a little.
            let read = if query.filter.is_some() {
                (want * 2).max(25)
            } else {
                want
            };
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(query.index)
                .key_condition_expression(query.key_condition)
                .set_filter_expression(query.filter.clone())
                .set_expression_attribute_names(names(&query.names))
                .set_expression_attribute_values(values(query.values.clone()))
                .scan_index_forward(query.forward)
                .limit(i32::try_from(read).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .with_context(|| format!("query index {}", query.index))?;
            let last_evaluated = output.last_evaluated_key;
            let mut items = output.items.unwrap_or_default().into_iter();
            for item in items.by_ref() {
                let position = index_position(&item, query.partition_attr, query.sort_attr);
                page.items
                    .push(dynamo::from_item(item).context("read a product item")?);
                if page.items.len() == query.limit {
                    let more = items.len() > 0 || last_evaluated.is_some();
                    page.next = more.then_some(position);
                    return Ok(page);
                }
            }
            match last_evaluated {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(page),
            }
        }
        page.next = start;
        Ok(page)
    }

    /// The active products indexed under `term`, at most [`MAX_MATCHES_PER_TERM`]; the flag says
    /// whether the cap cut the list.
    ///
    /// # Errors
    /// 500 on storage failure.
    pub async fn term_matches(&self, term: &Term) -> Result<(Vec<TermMatch>, bool), ApiError> {
        let begins = match term {
            Term::Exact(word) => format!("{word}#"),
            Term::Prefix(prefix) => prefix.clone(),
        };
        let mut matches = Vec::new();
        let mut start = None;
        loop {
            let output = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("pk = :p AND begins_with(sk, :b)")
                .projection_expression("productId, priceAmount, categoryId, sellerId")
                .set_expression_attribute_values(values(vec![
                    (":p", s(format!("TERM#{}", search::partition(term.text())))),
                    (":b", s(begins.clone())),
                ]))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .context("query search terms")?;
            for item in output.items.unwrap_or_default() {
                matches.push(dynamo::from_item(item).context("read a search term item")?);
                if matches.len() >= MAX_MATCHES_PER_TERM {
                    return Ok((matches, true));
                }
            }
            match output.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok((matches, false)),
            }
        }
    }

    /// The products with these ids, in the given order; missing ones are left out.
    ///
    /// # Errors
    /// 500 on storage failure.
    pub async fn products(&self, ids: &[Uuid]) -> Result<Vec<Product>, ApiError> {
        let keys = ids.iter().map(|id| product_key(*id)).collect();
        let mut found: HashMap<Uuid, Product> = dynamo::batch_get(&self.client, &self.table, keys)
            .await?
            .into_iter()
            .map(|item| dynamo::from_item::<Product>(item).map(|p| (p.id, p)))
            .collect::<Result<_, _>>()
            .context("read a product item")?;
        Ok(ids.iter().filter_map(|id| found.remove(id)).collect())
    }

    /// Creates `category` and claims its slug, in one transaction.
    ///
    /// # Errors
    /// 409 `SLUG_TAKEN`; 500 on storage failure.
    pub async fn create_category(&self, category: &Category) -> Result<(), ApiError> {
        let mut item = dynamo::to_item(category).context("serialize a category")?;
        item.extend(category_key(category.id));
        let mut claim = slug_key(&category.slug);
        claim.insert("categoryId".into(), s(category.id.to_string()));
        let items = vec![
            dynamo::put(&self.table, claim, Some("attribute_not_exists(pk)"))?,
            dynamo::put(&self.table, item, Some("attribute_not_exists(pk)"))?,
        ];
        for attempt in 0..=CONFLICT_RETRIES {
            match dynamo::transact(&self.client, items.clone()).await {
                Ok(()) => return Ok(()),
                Err(failure) if failure.failed_conditions().contains(&0) => {
                    return Err(slug_taken());
                }
                Err(failure) if failure.is_transient() && attempt < CONFLICT_RETRIES => {
                    dynamo::backoff(attempt).await
                }
                Err(failure) => {
                    return Err(ApiError::internal(
                        "create a category",
                        failure.into_error(),
                    ));
                }
            }
        }
        Err(busy())
    }

    /// The category with `id`.
    ///
    /// # Errors
    /// 500 on storage failure.
    pub async fn category(&self, id: Uuid) -> Result<Option<Category>, ApiError> {
        dynamo::get(
            &self.client,
            &self.table,
            category_key(id),
            true,
            "a category",
        )
        .await
    }

    /// The id of the category with `slug`.
    ///
    /// # Errors
    /// 500 on storage failure.
    pub async fn category_by_slug(&self, slug: &Slug) -> Result<Option<Uuid>, ApiError> {
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Claim {
            category_id: Uuid,
        }
        let claim: Option<Claim> = dynamo::get(
            &self.client,
            &self.table,
            slug_key(slug),
            false,
            "a slug claim",
        )
        .await?;
        Ok(claim.map(|c| c.category_id))
    }

    /// One page of categories, oldest first.
    ///
    /// # Errors
    /// 500 on storage failure.
    pub async fn categories(
        &self,
        limit: i32,
        start: Option<Item>,
    ) -> Result<(Vec<Category>, Option<Item>), ApiError> {
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("pk = :p")
            .set_expression_attribute_values(values(vec![(":p", s("CATEGORY"))]))
            .limit(limit)
            .set_exclusive_start_key(start)
            .send()
            .await
            .context("query categories")?;
        let items =
            dynamo::from_items(output.items.unwrap_or_default()).context("read category items")?;
        Ok((items, output.last_evaluated_key.filter(|k| !k.is_empty())))
    }

    /// Applies `changes` to `current`, under the condition that its version is still the one
    /// read; a new slug is claimed and the old one released in the same transaction. The product
    /// count is left to the product writes (an update never overwrites it).
    ///
    /// Returns `false` when a concurrent change won.
    ///
    /// # Errors
    /// 409 `SLUG_TAKEN`; 500 on storage failure.
    pub async fn update_category(
        &self,
        current: &Category,
        changes: &CategoryChanges,
        now: &str,
    ) -> Result<bool, ApiError> {
        let mut sets = vec!["version = :next", "updatedAt = :now"];
        let mut attribute_values = vec![
            (":version", n(current.version)),
            (":next", n(current.version + 1)),
            (":now", s(now)),
        ];
        if let Some(name) = &changes.name {
            sets.push("#name = :name");
            attribute_values.push((":name", s(name.clone())));
        }
        if let Some(description) = &changes.description {
            sets.push("description = :description");
            attribute_values.push((":description", s(description.clone())));
        }
        let new_slug = changes.slug.as_ref().filter(|slug| **slug != current.slug);
        if let Some(slug) = new_slug {
            sets.push("slug = :slug");
            attribute_values.push((":slug", s(slug.as_str())));
        }
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(category_key(current.id)))
            .update_expression(format!("SET {}", sets.join(", ")))
            .condition_expression("version = :version")
            .set_expression_attribute_names(
                changes
                    .name
                    .as_ref()
                    .map(|_| HashMap::from([("#name".to_owned(), "name".to_owned())])),
            )
            .set_expression_attribute_values(values(attribute_values))
            .build()
            .context("build the category update")?;
        let mut items = vec![TransactWriteItem::builder().update(update).build()];
        if let Some(slug) = new_slug {
            let mut claim = slug_key(slug);
            claim.insert("categoryId".into(), s(current.id.to_string()));
            items.push(dynamo::put(
                &self.table,
                claim,
                Some("attribute_not_exists(pk)"),
            )?);
            items.push(dynamo::delete(&self.table, slug_key(&current.slug))?);
        }
        for attempt in 0..=CONFLICT_RETRIES {
            match dynamo::transact(&self.client, items.clone()).await {
                Ok(()) => return Ok(true),
                Err(failure) if failure.failed_conditions().contains(&0) => return Ok(false),
                Err(failure) if failure.failed_conditions().contains(&1) => {
                    return Err(slug_taken());
                }
                Err(failure) if failure.is_transient() && attempt < CONFLICT_RETRIES => {
                    dynamo::backoff(attempt).await
                }
                Err(failure) => {
                    return Err(ApiError::internal(
                        "update a category",
                        failure.into_error(),
                    ));
                }
            }
        }
        Err(busy())
    }

    /// Deletes `category` and releases its slug, unless it holds active products (a product
    /// created into it concurrently makes the condition fail).
    ///
    /// Returns `false` when it is not empty.
    ///
    /// # Errors
    /// 500 on storage failure.
    pub async fn delete_category(&self, category: &Category) -> Result<bool, ApiError> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(category_key(category.id)))
            .condition_expression("attribute_not_exists(productCount) OR productCount = :zero")
            .set_expression_attribute_values(values(vec![(":zero", n(0))]))
            .build()
            .context("build the category delete")?;
        let items = vec![
            TransactWriteItem::builder().delete(delete).build(),
            dynamo::delete(&self.table, slug_key(&category.slug))?,
        ];
        for attempt in 0..=CONFLICT_RETRIES {
            match dynamo::transact(&self.client, items.clone()).await {
                Ok(()) => return Ok(true),
                Err(failure) if failure.failed_conditions().contains(&0) => return Ok(false),
                Err(failure) if failure.is_transient() && attempt < CONFLICT_RETRIES => {
                    dynamo::backoff(attempt).await
                }
                Err(failure) => {
                    return Err(ApiError::internal(
                        "delete a category",
                        failure.into_error(),
                    ));
                }
            }
        }
        Err(busy())
    }
}

/// The key of `item` in the index whose keys are `partition_attr` and `sort_attr`: the table's
/// keys plus the index's, as `ExclusiveStartKey` wants them.
fn index_position(item: &Item, partition_attr: &str, sort_attr: &str) -> Item {
    ["pk", "sk", partition_attr, sort_attr]
        .iter()
        .filter_map(|name| item.get(*name).map(|v| ((*name).to_owned(), v.clone())))
        .collect()
}

fn slug_taken() -> ApiError {
    ApiError::conflict("SLUG_TAKEN", "Another category already has this slug.")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn price_keys_sort_as_prices_do() {
        let id = Uuid::nil();
        let mut keys = [
            price_key(1000, id),
            price_key(99, id),
            price_key(10_000_000_000_000, id),
            price_key(0, id),
        ];
        keys.sort();
        assert_eq!(keys[0], price_key(0, id));
        assert_eq!(keys[1], price_key(99, id));
        assert_eq!(keys[3], price_key(10_000_000_000_000, id));
        // The range bounds enclose every id at a price.
        assert!(format!("{:015}#", 99) < price_key(99, id));
        assert!(format!("{:015}#~", 99) > price_key(99, Uuid::max()));
    }

    #[test]
    fn filters_admit_what_they_name() {
        let (c, s) = (Uuid::now_v7(), Uuid::now_v7());
        let filters = Filters {
            category: Some(c),
            seller: None,
            min_price: Some(100),
            max_price: Some(200),
        };
        assert!(filters.admits(c, s, 150));
        assert!(!filters.admits(c, s, 99));
        assert!(!filters.admits(s, s, 150));
        assert!(Filters::default().admits(c, s, 0));
    }
}
