//! The checkout saga's PriceOrder task: the authoritative price of every line, whatever the
//! client believed. An archived or unknown product, or one not priced in the order's currency,
//! is `ProductUnavailable`.

use serde::{Deserialize, Serialize};
use shared::{
    checkout::{OrderLine, Priced, PricedLine, errors},
    events::catalog::ProductStatus,
    money::{Currency, Money},
    task::TaskFailure,
};
use uuid::Uuid;

use crate::{Catalog, domain::Product};

/// The task's input (see `infra/statemachines/checkout.asl.json`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Input {
    /// The order.
    pub order_id: Uuid,
    /// The order's currency.
    pub currency: Currency,
    /// What to price.
    pub lines: Vec<OrderLine>,
}

/// Why a product cannot be ordered (the cause of `ProductUnavailable`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Unavailable {
    /// The product.
    pub product_id: Uuid,
    /// `UNKNOWN`, `ARCHIVED`, `CURRENCY` or `TOTAL_TOO_LARGE`.
    pub reason: &'static str,
}

/// Prices `lines` from `products` (in any order).
///
/// # Errors
/// The first line whose product cannot be ordered (`UNKNOWN`, `ARCHIVED`, `CURRENCY`, or
/// `TOTAL_TOO_LARGE` when the amounts overflow).
pub fn price(
    lines: &[OrderLine],
    products: &[Product],
    currency: Currency,
) -> Result<Priced, Unavailable> {
    let mut priced = Vec::with_capacity(lines.len());
    let mut total = Money::zero(currency);
    for line in lines {
        let unavailable = |reason| Unavailable {
            product_id: line.product_id,
            reason,
        };
        let product = products
            .iter()
            .find(|p| p.id == line.product_id)
            .ok_or_else(|| unavailable("UNKNOWN"))?;
        if product.status != ProductStatus::Active {
            return Err(unavailable("ARCHIVED"));
        }
        if product.price.currency != currency {
            return Err(unavailable("CURRENCY"));
        }
        let line_total = product
            .price
            .times(line.quantity)
            .ok_or_else(|| unavailable("TOTAL_TOO_LARGE"))?;
        total = total
            .plus(&line_total)
            .ok_or_else(|| unavailable("TOTAL_TOO_LARGE"))?;
        priced.push(PricedLine {
            product_id: product.id,
            seller_id: product.seller_id,
            name: product.name.clone(),
            quantity: line.quantity,
            unit_price: product.price,
            line_total,
        });
    }
    Ok(Priced {
        lines: priced,
        total,
    })
}

/// Runs the task.
///
/// # Errors
/// `ProductUnavailable`; `Transient` on storage failure.
#[tracing::instrument(skip_all, fields(order_id = %input.order_id, lines = input.lines.len()))]
pub async fn handle(catalog: &Catalog, input: Input) -> Result<Priced, TaskFailure> {
    let ids: Vec<Uuid> = input.lines.iter().map(|l| l.product_id).collect();
    let products = catalog.store.products(&ids).await?;
    price(&input.lines, &products, input.currency)
        .map_err(|why| TaskFailure::business(errors::PRODUCT_UNAVAILABLE, &why))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd() -> Currency {
        Currency::parse("USD").unwrap()
    }

    fn product(price: i64, status: ProductStatus) -> Product {
        Product {
            id: shared::ids::new_id(),
            seller_id: shared::ids::new_id(),
            name: "Mug".into(),
            description: String::new(),
            category_id: shared::ids::new_id(),
            price: Money::new(price, usd()),
            images: vec![],
            attributes: Default::default(),
            status,
            created_at: "2026-01-01T00:00:00Z".into(),
            updated_at: "2026-01-01T00:00:00Z".into(),
            version: 1,
        }
    }

    fn line(product: &Product, quantity: u32) -> OrderLine {
        OrderLine {
            product_id: product.id,
            quantity,
        }
    }

    #[test]
    fn lines_are_priced_from_the_catalog_and_summed() {
        let mug = product(1250, ProductStatus::Active);
        let pen = product(199, ProductStatus::Active);
        let priced = price(
            &[line(&mug, 2), line(&pen, 3)],
            &[pen.clone(), mug.clone()],
            usd(),
        )
        .unwrap();
        assert_eq!(priced.lines[0].product_id, mug.id);
        assert_eq!(priced.lines[0].line_total, Money::new(2500, usd()));
        assert_eq!(priced.lines[1].seller_id, pen.seller_id);
        assert_eq!(priced.total, Money::new(3097, usd()));
    }

    #[test]
    fn an_archived_or_unknown_product_is_unavailable() {
        let old = product(100, ProductStatus::Archived);
        let why = price(&[line(&old, 1)], std::slice::from_ref(&old), usd()).unwrap_err();
        assert_eq!(why.reason, "ARCHIVED");
        let why = price(&[line(&old, 1)], &[], usd()).unwrap_err();
        assert_eq!(why.reason, "UNKNOWN");
    }

    #[test]
    fn a_product_priced_in_another_currency_is_unavailable() {
        let mug = product(100, ProductStatus::Active);
        let eur = Currency::parse("EUR").unwrap();
        assert_eq!(
            price(&[line(&mug, 1)], std::slice::from_ref(&mug), eur)
                .unwrap_err()
                .reason,
            "CURRENCY"
        );
    }

    #[test]
    fn an_overflowing_total_is_refused() {
        let gold = product(i64::MAX / 2, ProductStatus::Active);
        assert_eq!(
            price(&[line(&gold, 3)], std::slice::from_ref(&gold), usd())
                .unwrap_err()
                .reason,
            "TOTAL_TOO_LARGE"
        );
    }
}
