//! A cart, its rules, and the view the API shows.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use shared::{
    ApiError,
    events::catalog::{ProductChanged, ProductStatus},
    money::{Currency, Money},
};
use uuid::Uuid;

/// Most units of one product per line.
pub const MAX_QUANTITY: u32 = 99;
/// Most lines in a cart.
pub const MAX_LINES: usize = 50;
/// Idempotency keys remembered per cart.
pub const RECENT_KEYS: usize = 20;

/// A user's cart as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Cart {
    /// The owner.
    pub user_id: Uuid,
    /// The lines, in the order they were added.
    #[serde(default)]
    pub lines: Vec<CartLine>,
    /// Grows by one with every change; writes are conditional on it.
    pub version: u64,
    /// RFC 3339 time of the last change.
    pub updated_at: String,
    /// The last idempotency keys used on this cart, with their request fingerprints.
    #[serde(default)]
    pub recent_keys: Vec<RecentKey>,
}

/// One product in a cart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CartLine {
    /// The product.
    pub product_id: Uuid,
    /// How many, 1 to 99.
    pub quantity: u32,
    /// RFC 3339 time it was added.
    pub added_at: String,
    /// Its price when it was added.
    pub added_price: Money,
}

/// An idempotency key used on a cart.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecentKey {
    /// The client's key.
    pub key: String,
    /// The fingerprint of the request it came with.
    pub fingerprint: String,
}

/// The cart's copy of a product, kept from the catalog's `ProductChanged` events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProductSnapshot {
    /// The product.
    pub product_id: Uuid,
    /// Its name.
    pub name: String,
    /// Its current price.
    pub price: Money,
    /// Whether it is for sale.
    pub status: ProductStatus,
    /// Its first image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// Its seller.
    pub seller_id: Uuid,
    /// The catalog version this copy is of.
    pub product_version: u64,
}

impl From<&ProductChanged> for ProductSnapshot {
    fn from(event: &ProductChanged) -> Self {
        Self {
            product_id: event.product_id,
            name: event.name.clone(),
            price: event.price,
            status: event.status,
            image: event.image.clone(),
            seller_id: event.seller_id,
            product_version: event.version,
        }
    }
}

impl ProductSnapshot {
    /// Whether it can go into a cart.
    #[must_use]
    pub fn is_for_sale(&self) -> bool {
        self.status == ProductStatus::Active
    }
}

/// 422 `PRODUCT_UNAVAILABLE`.
#[must_use]
pub fn unavailable() -> ApiError {
    ApiError::unprocessable(
        "PRODUCT_UNAVAILABLE",
        "This product is not for sale (unknown, or archived).",
    )
}

impl Cart {
    /// An empty cart of `user`.
    #[must_use]
    pub fn empty(user: Uuid) -> Self {
        Self {
            user_id: user,
            lines: Vec::new(),
            version: 0,
            updated_at: shared::time::now_rfc3339(),
            recent_keys: Vec::new(),
        }
    }

    /// Adds `quantity` of `product` (to its line, if it has one).
    ///
    /// # Errors
    /// 422 `PRODUCT_UNAVAILABLE`, `QUANTITY_LIMIT` (more than 99 in a line) or `CART_FULL`.
    pub fn add(
        &mut self,
        product: &ProductSnapshot,
        quantity: u32,
        now: &str,
    ) -> Result<(), ApiError> {
        if !product.is_for_sale() {
            return Err(unavailable());
        }
        if let Some(line) = self
            .lines
            .iter_mut()
            .find(|l| l.product_id == product.product_id)
        {
            let total = line.quantity + quantity;
            if total > MAX_QUANTITY {
                return Err(quantity_limit(line.quantity));
            }
            line.quantity = total;
            return Ok(());
        }
        if self.lines.len() >= MAX_LINES {
            return Err(ApiError::unprocessable(
                "CART_FULL",
                format!("A cart holds at most {MAX_LINES} different products."),
            ));
        }
        self.lines.push(CartLine {
            product_id: product.product_id,
            quantity,
            added_at: now.to_owned(),
            added_price: product.price,
        });
        Ok(())
    }

    /// Sets the quantity of `product`'s line.
    ///
    /// # Errors
    /// 404 when the cart has no such line; 422 `PRODUCT_UNAVAILABLE`.
    pub fn set(
        &mut self,
        product: Option<&ProductSnapshot>,
        product_id: Uuid,
        quantity: u32,
    ) -> Result<(), ApiError> {
        let line = self
            .lines
            .iter_mut()
            .find(|l| l.product_id == product_id)
            .ok_or_else(|| ApiError::not_found("The cart has no such product."))?;
        if !product.is_some_and(ProductSnapshot::is_for_sale) {
            return Err(unavailable());
        }
        line.quantity = quantity;
        Ok(())
    }

    /// Removes `product`'s line; whether there was one.
    pub fn remove(&mut self, product_id: Uuid) -> bool {
        let before = self.lines.len();
        self.lines.retain(|l| l.product_id != product_id);
        self.lines.len() != before
    }

    /// Takes what an order bought out of the cart: each line loses the ordered quantity, and goes
    /// when none is left. Whether anything changed.
    pub fn take_ordered(&mut self, ordered: &[shared::checkout::OrderLine]) -> bool {
        let mut changed = false;
        for order_line in ordered {
            if let Some(line) = self
                .lines
                .iter_mut()
                .find(|l| l.product_id == order_line.product_id)
            {
                line.quantity = line.quantity.saturating_sub(order_line.quantity);
                changed = true;
            }
        }
        self.lines.retain(|l| l.quantity > 0);
        changed
    }

    /// The request fingerprint an idempotency key was used with, if it was.
    #[must_use]
    pub fn key_fingerprint(&self, key: &str) -> Option<&str> {
        self.recent_keys
            .iter()
            .find(|k| k.key == key)
            .map(|k| k.fingerprint.as_str())
    }

    /// Remembers an idempotency key (the oldest is forgotten beyond [`RECENT_KEYS`]).
    pub fn remember_key(&mut self, key: &str, fingerprint: String) {
        self.recent_keys.push(RecentKey {
            key: key.to_owned(),
            fingerprint,
        });
        let excess = self.recent_keys.len().saturating_sub(RECENT_KEYS);
        self.recent_keys.drain(..excess);
    }
}

fn quantity_limit(current: u32) -> ApiError {
    ApiError::unprocessable(
        "QUANTITY_LIMIT",
        format!("A line holds at most {MAX_QUANTITY} units; this one has {current}."),
    )
}

/// A cart line as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LineView {
    /// The product.
    pub product_id: Uuid,
    /// Its name (absent if the cart never learned it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Its first image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// How many.
    pub quantity: u32,
    /// Its current price.
    pub unit_price: Money,
    /// `unitPrice × quantity`.
    pub line_total: Money,
    /// Its price when it was added.
    pub added_price: Money,
    /// Whether the price changed since.
    pub price_changed: bool,
    /// False once the product was archived: the line is not counted and cannot be ordered.
    pub available: bool,
    /// RFC 3339 time it was added.
    pub added_at: String,
}

/// A cart as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CartView {
    /// The lines.
    pub lines: Vec<LineView>,
    /// Sum of the available lines at current prices.
    pub subtotal: Money,
    /// Units in the available lines.
    pub item_count: u32,
    /// The cart's version.
    pub version: u64,
    /// RFC 3339 time of the last change.
    pub updated_at: String,
}

/// The view of `cart` with current prices from `products`.
#[must_use]
pub fn view(
    cart: &Cart,
    products: &HashMap<Uuid, ProductSnapshot>,
    currency: Currency,
) -> CartView {
    let mut subtotal = Money::zero(currency);
    let mut item_count = 0;
    let lines = cart
        .lines
        .iter()
        .map(|line| {
            let product = products.get(&line.product_id);
            let available = product.is_some_and(ProductSnapshot::is_for_sale);
            let unit_price = product.map_or(line.added_price, |p| p.price);
            let line_total = unit_price.times(line.quantity).unwrap_or(unit_price);
            if available && let Some(sum) = subtotal.plus(&line_total) {
                subtotal = sum;
                item_count += line.quantity;
            }
            LineView {
                product_id: line.product_id,
                name: product.map(|p| p.name.clone()),
                image: product.and_then(|p| p.image.clone()),
                quantity: line.quantity,
                unit_price,
                line_total,
                added_price: line.added_price,
                price_changed: unit_price != line.added_price,
                available,
                added_at: line.added_at.clone(),
            }
        })
        .collect();
    CartView {
        lines,
        subtotal,
        item_count,
        version: cart.version,
        updated_at: cart.updated_at.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product(price: i64, status: ProductStatus) -> ProductSnapshot {
        ProductSnapshot {
            product_id: Uuid::now_v7(),
            name: "Mug".into(),
            price: Money::new(price, Currency::USD),
            status,
            image: None,
            seller_id: Uuid::now_v7(),
            product_version: 1,
        }
    }

    #[test]
    fn an_order_takes_what_it_bought_and_leaves_what_was_added_since() {
        let mug = product(1200, ProductStatus::Active);
        let pen = product(100, ProductStatus::Active);
        let mut cart = Cart::empty(Uuid::now_v7());
        cart.add(&mug, 3, "t").unwrap();
        cart.add(&pen, 1, "t").unwrap();
        let ordered = [
            shared::checkout::OrderLine {
                product_id: mug.product_id,
                quantity: 2,
            },
            shared::checkout::OrderLine {
                product_id: pen.product_id,
                quantity: 1,
            },
        ];
        assert!(cart.take_ordered(&ordered));
        assert_eq!(cart.lines.len(), 1);
        assert_eq!(cart.lines[0].product_id, mug.product_id);
        assert_eq!(cart.lines[0].quantity, 1);
        assert!(!Cart::empty(Uuid::now_v7()).take_ordered(&ordered));
    }

    #[test]
    fn adding_twice_grows_one_line_up_to_the_limit() {
        let mug = product(1200, ProductStatus::Active);
        let mut cart = Cart::empty(Uuid::now_v7());
        cart.add(&mug, 90, "t").unwrap();
        cart.add(&mug, 9, "t").unwrap();
        assert_eq!(cart.lines.len(), 1);
        assert_eq!(cart.lines[0].quantity, 99);
        assert_eq!(cart.add(&mug, 1, "t").unwrap_err().code(), "QUANTITY_LIMIT");
    }

    #[test]
    fn archived_products_cannot_be_added_and_carts_have_fifty_lines() {
        let mut cart = Cart::empty(Uuid::now_v7());
        assert_eq!(
            cart.add(&product(1, ProductStatus::Archived), 1, "t")
                .unwrap_err()
                .code(),
            "PRODUCT_UNAVAILABLE"
        );
        for _ in 0..MAX_LINES {
            cart.add(&product(1, ProductStatus::Active), 1, "t")
                .unwrap();
        }
        assert_eq!(
            cart.add(&product(1, ProductStatus::Active), 1, "t")
                .unwrap_err()
                .code(),
            "CART_FULL"
        );
    }

    #[test]
    fn the_view_prices_available_lines_and_marks_changes() {
        let mut mug = product(1200, ProductStatus::Active);
        let mut shirt = product(3000, ProductStatus::Active);
        let mut cart = Cart::empty(Uuid::now_v7());
        cart.add(&mug, 2, "t").unwrap();
        cart.add(&shirt, 1, "t").unwrap();
        mug.price = Money::new(1000, Currency::USD);
        shirt.status = ProductStatus::Archived;
        let products = HashMap::from([
            (mug.product_id, mug.clone()),
            (shirt.product_id, shirt.clone()),
        ]);
        let view = view(&cart, &products, Currency::USD);
        assert_eq!(view.subtotal, Money::new(2000, Currency::USD));
        assert_eq!(view.item_count, 2);
        assert!(view.lines[0].price_changed && view.lines[0].available);
        assert!(!view.lines[1].available);
    }

    #[test]
    fn only_recent_keys_are_remembered() {
        let mut cart = Cart::empty(Uuid::now_v7());
        for i in 0..(RECENT_KEYS + 5) {
            cart.remember_key(&format!("k{i}"), format!("f{i}"));
        }
        assert_eq!(cart.recent_keys.len(), RECENT_KEYS);
        assert_eq!(cart.key_fingerprint("k0"), None);
        assert_eq!(
            cart.key_fingerprint(&format!("k{}", RECENT_KEYS + 4)),
            Some(format!("f{}", RECENT_KEYS + 4).as_str())
        );
    }
}
