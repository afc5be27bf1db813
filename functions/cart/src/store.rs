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
    types::{AttributeValue, TransactWriteItem, Update},
};
use shared::{
    ApiError,
    consumer::{self, Applied, Failure},
    dynamo::{self, Item, key},
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
        dynamo::get(&self.client, &self.table, cart_key(user), true, "a cart").await
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

    /// Applies an `OrderConfirmed` event once: the ordered quantities leave `user`'s cart, in one
    /// transaction with the event's processed marker, conditional on the cart's version (a
    /// concurrent change makes it read again).
    ///
    /// # Errors
    /// [`Failure::Retry`] on storage failure or a cart that keeps changing.
    pub async fn take_ordered(
        &self,
        event_id: Uuid,
        user: Uuid,
        ordered: &[shared::checkout::OrderLine],
    ) -> Result<Applied, Failure> {
        for attempt in 0..8 {
            let mut items = vec![
                consumer::processed_marker(&self.table, event_id)
                    .map_err(|e| Failure::retry("build a processed marker", e))?,
            ];
            let cart = self
                .cart(user)
                .await
                .map_err(|e| Failure::retry("read a cart", e))?;
            if let Some(mut cart) = cart {
                let read_version = cart.version;
                if cart.take_ordered(ordered) {
                    cart.version += 1;
                    cart.updated_at = shared::time::now_rfc3339();
                    let mut item = dynamo::to_item(&cart)
                        .map_err(|e| Failure::retry("serialize a cart", e))?;
                    item.extend(cart_key(user));
                    let put = aws_sdk_dynamodb::types::Put::builder()
                        .table_name(&self.table)
                        .set_item(Some(item))
                        .condition_expression("version = :version")
                        .expression_attribute_values(
                            ":version",
                            AttributeValue::N(read_version.to_string()),
                        )
                        .build()
                        .map_err(|e| Failure::retry("build a cart write", e))?;
                    items.push(TransactWriteItem::builder().put(put).build());
                }
            }
            match dynamo::transact(&self.client, items).await {
                Ok(()) => return Ok(Applied::Done),
                Err(failure) if failure.failed_conditions().contains(&0) => {
                    return Ok(Applied::Duplicate);
                }
                Err(failure) if failure.is_condition_failed() || failure.is_transient() => {
                    dynamo::backoff(attempt).await;
                }
                Err(failure) => {
                    return Err(Failure::retry(
                        "take an order from a cart",
                        failure.into_error(),
                    ));
                }
            }
        }
        Err(Failure::retry(
            "take an order from a cart",
            "the cart kept changing",
        ))
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
        dynamo::get(
            &self.client,
            &self.table,
            product_key(product),
            false,
            "a product copy",
        )
        .await
    }

    /// The cart's copies of `products`, by id; unknown ones are absent.
    ///
    /// # Errors
    /// 500 on storage failure.
    pub async fn products(
        &self,
        products: &[Uuid],
    ) -> Result<HashMap<Uuid, ProductSnapshot>, ApiError> {
        let keys = products.iter().map(|id| product_key(*id)).collect();
        dynamo::batch_get(&self.client, &self.table, keys)
            .await?
            .into_iter()
            .map(|item| dynamo::from_item::<ProductSnapshot>(item).map(|p| (p.product_id, p)))
            .collect::<Result<_, _>>()
            .context("read a product copy")
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
