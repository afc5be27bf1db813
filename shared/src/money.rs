//! Money: integer minor units plus an ISO 4217 currency, never floating point.
//!
//! ```json
//! {"amount": 1999, "currency": "USD"}
//! ```

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

/// Largest amount accepted anywhere, in minor units (10^13: ten billion dollars). Keeps every sum
/// of a cart or an order far from `i64` overflow.
pub const MAX_AMOUNT: i64 = 10_000_000_000_000;

/// An ISO 4217 currency code: three upper-case ASCII letters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency([u8; 3]);

/// A currency code that is not three upper-case letters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a currency is three upper-case letters (ISO 4217), such as USD")]
pub struct InvalidCurrency;

impl Currency {
    /// US dollars.
    pub const USD: Self = Self(*b"USD");

    /// Parses a code such as `USD`.
    ///
    /// # Errors
    /// [`InvalidCurrency`] unless it is exactly three ASCII upper-case letters.
    pub fn parse(code: &str) -> Result<Self, InvalidCurrency> {
        match code.as_bytes() {
            &[a, b, c] if [a, b, c].iter().all(u8::is_ascii_uppercase) => Ok(Self([a, b, c])),
            _ => Err(InvalidCurrency),
        }
    }

    /// The code as text.
    #[must_use]
    pub fn as_str(&self) -> &str {
        // Only ASCII letters are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Currency {
    type Err = InvalidCurrency;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl utoipa::PartialSchema for Currency {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .description(Some("An ISO 4217 currency code."))
            .pattern(Some("^[A-Z]{3}$"))
            .examples([serde_json::json!("USD")])
            .into()
    }
}

impl utoipa::ToSchema for Currency {}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = String::deserialize(deserializer)?;
        Self::parse(&code).map_err(serde::de::Error::custom)
    }
}

/// An amount of money in minor units (cents for USD).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"amount": 1999, "currency": "USD"}))]
pub struct Money {
    /// Minor units.
    pub amount: i64,
    /// The currency.
    pub currency: Currency,
}

/// Why an amount cannot be a price.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidPrice {
    /// Negative.
    #[error("an amount cannot be negative")]
    Negative,
    /// Over [`MAX_AMOUNT`].
    #[error("an amount cannot exceed {MAX_AMOUNT} minor units")]
    TooLarge,
    /// Not the currency required here.
    #[error("prices are in {expected}")]
    WrongCurrency {
        /// The currency this shop prices in.
        expected: Currency,
    },
}

impl Money {
    /// `amount` minor units of `currency`.
    #[must_use]
    pub const fn new(amount: i64, currency: Currency) -> Self {
        Self { amount, currency }
    }

    /// Zero of `currency`.
    #[must_use]
    pub const fn zero(currency: Currency) -> Self {
        Self::new(0, currency)
    }

    /// Checks that this is a valid price in `currency`: not negative, at most [`MAX_AMOUNT`].
    ///
    /// # Errors
    /// The first rule it breaks.
    pub fn check_price(&self, currency: Currency) -> Result<(), InvalidPrice> {
        if self.currency != currency {
            return Err(InvalidPrice::WrongCurrency { expected: currency });
        }
        if self.amount < 0 {
            return Err(InvalidPrice::Negative);
        }
        if self.amount > MAX_AMOUNT {
            return Err(InvalidPrice::TooLarge);
        }
        Ok(())
    }

    /// `self × quantity`, or `None` on overflow.
    #[must_use]
    pub fn times(&self, quantity: u32) -> Option<Self> {
        self.amount
            .checked_mul(i64::from(quantity))
            .map(|amount| Self::new(amount, self.currency))
    }

    /// `self + other`, or `None` on overflow or when the currencies differ.
    #[must_use]
    pub fn plus(&self, other: &Self) -> Option<Self> {
        if self.currency != other.currency {
            return None;
        }
        self.amount
            .checked_add(other.amount)
            .map(|amount| Self::new(amount, self.currency))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn money_is_minor_units_and_a_currency_code() {
        let price = Money::new(1999, Currency::USD);
        assert_eq!(
            serde_json::to_value(price).unwrap(),
            json!({"amount": 1999, "currency": "USD"})
        );
        let back: Money = serde_json::from_value(json!({"amount": 5, "currency": "EUR"})).unwrap();
        assert_eq!(back.currency.as_str(), "EUR");
    }

    #[test]
    fn currencies_are_three_upper_case_letters() {
        for bad in ["usd", "US", "USDT", "U$D", "", "ÜSD"] {
            assert!(Currency::parse(bad).is_err(), "{bad}");
        }
        assert!(serde_json::from_value::<Money>(json!({"amount": 1, "currency": "usd"})).is_err());
        assert!(
            serde_json::from_value::<Money>(json!({"amount": 1.5, "currency": "USD"})).is_err()
        );
    }

    #[test]
    fn prices_are_checked() {
        let usd = Currency::USD;
        assert!(Money::new(0, usd).check_price(usd).is_ok());
        assert_eq!(
            Money::new(-1, usd).check_price(usd),
            Err(InvalidPrice::Negative)
        );
        assert_eq!(
            Money::new(MAX_AMOUNT + 1, usd).check_price(usd),
            Err(InvalidPrice::TooLarge)
        );
        let eur = Currency::parse("EUR").unwrap();
        assert!(matches!(
            Money::new(1, eur).check_price(usd),
            Err(InvalidPrice::WrongCurrency { .. })
        ));
    }

    #[test]
    fn arithmetic_refuses_overflow_and_mixed_currencies() {
        let usd = Currency::USD;
        assert_eq!(Money::new(250, usd).times(3), Some(Money::new(750, usd)));
        assert_eq!(Money::new(i64::MAX, usd).times(2), None);
        let eur = Currency::parse("EUR").unwrap();
        assert_eq!(Money::new(1, usd).plus(&Money::new(1, eur)), None);
        assert_eq!(
            Money::new(1, usd).plus(&Money::new(2, usd)),
            Some(Money::new(3, usd))
        );
    }
}
