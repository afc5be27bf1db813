//! The cart table: one item per cart, the cart's copy of the catalog, and processed events.
//!
//! One DynamoDB table with string keys `pk` and `sk` and a TTL attribute `expiresAt`:
//!
//! | item | pk | sk |
//! |---|---|---|
//! | a user's cart (its lines, version, recent idempotency keys) | `CART#<userId>` | `CART` |
//! | the cart's copy of a product (from `ProductChanged`) | `PRODUCT#<productId>` | `PRODUCT` |
//! | processed event ([`shared::consumer`]) | `EVENT#<eventId>` | `EVENT` |
//!
//! A cart is one item so that its line limit and its lines change together; every write is
//! conditional on the version read, so concurrent changes of one cart are applied one after the
//! other and none is lost.

use std::collections::HashMap;

use aws_sdk_dynamodb::{
    Client,
    types::{AttributeValue, KeysAndAttributes, TransactWriteItem, Update},
};
use shared::{
    ApiError,
    consumer::{self, Applied, Failure},
    dynamo::{self, Item},
    error::Context as _,
    events::catalog::ProductChanged,
};
use uuid::Uuid;

use crate::domain::{Cart, ProductSnapshot};

/// Access to the cart table.
#[derive(Debug, Clone)]
pub struct Store {
    client: Client,
    table: String,
}

fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

fn key(pk: String, sk: &str) -> Item {
    HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
}

fn cart_key(user: Uuid) -> Item {
    key(format!("CART#{user}"), "CART")
}

fn product_key(product: Uuid) -> Item {
    key(format!("PRODUCT#{product}"), "PRODUCT")
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

    /// `user`'s cart, if they have one (strongly consistent).
    ///
    /// # Errors
    /// 500 on storage failure or a malformed item.
    pub async fn cart(&self, user: Uuid) -> Result<Option<Cart>, ApiError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(cart_key(user)))
            .consistent_read(true)
            .send()
            .await
            .context("read a cart")?;
        output
            .item
            .map(dynamo::from_item)
            .transpose()
            .context("read a cart")
    }

    /// Stores `cart` if the stored one is still at `read_version` (0: there was none). Returns
    /// `false` when a concurrent change got there first.
    ///
    /// # Errors
    /// 500 on storage failure.
    pub async fn save(&self, cart: &Cart, read_version: u64) -> Result<bool, ApiError> {
        let mut item = dynamo::to_item(cart).context("serialize a cart")?;
        item.extend(cart_key(cart.user_id));
        let request = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item));
        let request = if read_version == 0 {
            request.condition_expression("attribute_not_exists(pk)")
        } else {
            request
                .condition_expression("version = :version")
                .expression_attribute_values(
                    ":version",
                    AttributeValue::N(read_version.to_string()),
                )
        };
        match request.send().await.map_err(dynamo::classify) {
            Ok(_) => Ok(true),
            Err(failure) if failure.is_condition_failed() => Ok(false),
            Err(failure) => Err(ApiError::internal("save a cart", failure.into_error())),
        }
    }

    /// Removes `user`'s cart (whatever its version: clearing wins).
    ///
    /// # Errors
    /// 500 on storage failure.
    pub async fn clear(&self, user: Uuid) -> Result<(), ApiError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(cart_key(user)))
            .send()
            .await
            .context("clear a cart")?;
        Ok(())
    }

    /// The cart's copy of `product`.
    ///
    /// # Errors
    /// 500 on storage failure.
    pub async fn product(&self, product: Uuid) -> Result<Option<ProductSnapshot>, ApiError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(product_key(product)))
            .send()
            .await
            .context("read a product copy")?;
        output
            .item
            .map(dynamo::from_item)
            .transpose()
            .context("read a product copy")
    }

    /// The cart's copies of `products` (at most 100), by id; unknown ones are absent.
    ///
    /// # Errors
    /// 500 on storage failure.
    pub async fn products(
        &self,
        products: &[Uuid],
    ) -> Result<HashMap<Uuid, ProductSnapshot>, ApiError> {
        let mut found = HashMap::with_capacity(products.len());
        let mut pending: Vec<Item> = products.iter().map(|id| product_key(*id)).collect();
        for _ in 0..5 {
            if pending.is_empty() {
                return Ok(found);
            }
            let keys = KeysAndAttributes::builder()
                .set_keys(Some(std::mem::take(&mut pending)))
                .build()
                .context("build a batch read")?;
            let output = self
                .client
                .batch_get_item()
                .request_items(&self.table, keys)
                .send()
                .await
                .context("read product copies")?;
            for item in output
                .responses
                .and_then(|mut r| r.remove(&self.table))
                .unwrap_or_default()
            {
                let product: ProductSnapshot =
                    dynamo::from_item(item).context("read a product copy")?;
                found.insert(product.product_id, product);
            }
            pending = output
                .unprocessed_keys
                .and_then(|mut u| u.remove(&self.table))
                .map(|k| k.keys)
                .unwrap_or_default();
        }
        if pending.is_empty() {
            Ok(found)
        } else {
            Err(ApiError::internal(
                "read product copies",
                "keys stayed unprocessed",
            ))
        }
    }

    /// Applies a `ProductChanged` event once, unless the copy is already of a newer version.
    ///
    /// # Errors
    /// [`Failure::Retry`] on storage failure.
    pub async fn learn_product(
        &self,
        event_id: Uuid,
        product: &ProductChanged,
    ) -> Result<Applied, Failure> {
        let snapshot = ProductSnapshot::from(product);
        let item = dynamo::to_item(&snapshot)
            .map_err(|e| Failure::retry("serialize a product copy", e))?;
        let mut sets = Vec::new();
        let mut values: HashMap<String, AttributeValue> = HashMap::new();
        let mut names: HashMap<String, String> = HashMap::new();
        for (i, (name, value)) in item.into_iter().enumerate() {
            sets.push(format!("#a{i} = :a{i}"));
            names.insert(format!("#a{i}"), name);
            values.insert(format!(":a{i}"), value);
        }
        // An image that was removed must not linger.
        let remove = if snapshot.image.is_none() {
            names.insert("#image".into(), "image".into());
            " REMOVE #image"
        } else {
            ""
        };
        values.insert(
            ":v".into(),
            AttributeValue::N(snapshot.product_version.to_string()),
        );
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(product_key(product.product_id)))
            .update_expression(format!("SET {}{remove}", sets.join(", ")))
            .condition_expression("attribute_not_exists(productVersion) OR productVersion < :v")
            .set_expression_attribute_names(Some(names))
            .set_expression_attribute_values(Some(values))
            .build()
            .map_err(|e| Failure::retry("build the product copy update", e))?;
        consumer::apply_once(
            &self.client,
            &self.table,
            event_id,
            TransactWriteItem::builder().update(update).build(),
        )
        .await
    }
}
