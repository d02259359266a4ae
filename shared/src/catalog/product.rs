use crate::kernel::{InvalidValue, Money, ProductId, Sku, Timestamp};
use serde::{Deserialize, Serialize};

crate::kernel::string_id!(
    /// A catalog category, such as `kitchen`: lower-case letters, digits and '-'.
    Category,
    |v| {
        let ok = !v.is_empty()
            && v.len() <= 64
            && v
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if ok {
            Ok(())
        } else {
            Err("category must be 1 to 64 lower-case letters, digits or '-'".into())
        }
    }
);

/// A catalog price: more than zero and at most [`Price::MAX`] minor units, so that pricing
/// an order (at most 50 lines of 1,000 units) can never overflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Money", into = "Money")]
pub struct Price(Money);

impl Price {
    /// 100,000,000.00 in the currency's minor units.
    pub const MAX: i64 = 10_000_000_000;

    pub fn new(money: Money) -> Result<Self, InvalidValue> {
        if (1..=Self::MAX).contains(&money.amount) {
            Ok(Self(money))
        } else {
            Err(InvalidValue(format!(
                "price.amount must be 1 to {} minor units",
                Self::MAX
            )))
        }
    }

    pub fn money(self) -> Money {
        self.0
    }
}

impl TryFrom<Money> for Price {
    type Error = InvalidValue;
    fn try_from(money: Money) -> Result<Self, Self::Error> {
        Self::new(money)
    }
}

impl From<Price> for Money {
    fn from(price: Price) -> Money {
        price.0
    }
}

/// Units on the shelf: never below zero, as every reservation is conditional on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct Stock(i64);

impl Stock {
    pub fn new(units: i64) -> Result<Self, InvalidValue> {
        if units >= 0 {
            Ok(Self(units))
        } else {
            Err(InvalidValue("stock cannot be negative".into()))
        }
    }

    pub fn units(self) -> i64 {
        self.0
    }
}

impl TryFrom<i64> for Stock {
    type Error = InvalidValue;
    fn try_from(units: i64) -> Result<Self, Self::Error> {
        Self::new(units)
    }
}

impl From<Stock> for i64 {
    fn from(stock: Stock) -> i64 {
        stock.0
    }
}

crate::kernel::string_id!(
    /// A product's display name: 1 to 200 characters, no surrounding blanks.
    ProductName,
    |v| {
        let ok = (1..=200).contains(&v.chars().count()) && v.trim() == v;
        if ok {
            Ok(())
        } else {
            Err("name must be 1 to 200 characters, without surrounding blanks".into())
        }
    }
);

/// A product as stored: the catalog data and the live stock, kept on the same item so that
/// a stock reservation and the availability the catalog shows can never disagree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Product {
    pub product_id: ProductId,
    pub sku: Sku,
    pub name: ProductName,
    pub description: String,
    pub category: Category,
    pub price: Price,
    /// Units available to order: decremented by reservations, given back by cancellations.
    pub stock: Stock,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AvailabilityStatus {
    InStock,
    LowStock,
    OutOfStock,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Availability {
    pub status: AvailabilityStatus,
    pub quantity: i64,
}

impl Availability {
    /// At or below this many units a product shows as `low_stock`.
    pub const LOW_STOCK_THRESHOLD: i64 = 5;

    pub fn of_stock(stock: i64) -> Self {
        let quantity = stock.max(0);
        let status = match quantity {
            0 => AvailabilityStatus::OutOfStock,
            q if q <= Self::LOW_STOCK_THRESHOLD => AvailabilityStatus::LowStock,
            _ => AvailabilityStatus::InStock,
        };
        Self { status, quantity }
    }
}

/// The Product of the contract, as the catalog API answers it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProductView {
    pub product_id: ProductId,
    pub sku: Sku,
    pub name: ProductName,
    pub description: String,
    pub category: Category,
    pub price: Price,
    pub availability: Availability,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: Timestamp,
}

impl From<Product> for ProductView {
    fn from(p: Product) -> Self {
        Self {
            availability: Availability::of_stock(p.stock.units()),
            product_id: p.product_id,
            sku: p.sku,
            name: p.name,
            description: p.description,
            category: p.category,
            price: p.price,
            updated_at: p.updated_at,
        }
    }
}

/// A product for unit tests: EUR price, category `test`.
#[cfg(any(test, feature = "test-util"))]
pub fn test_product(id: &str, price: i64, stock: i64) -> Product {
    Product {
        product_id: ProductId::parse(id).unwrap(),
        sku: Sku::parse(format!("SKU-{id}")).unwrap(),
        name: ProductName::parse(format!("Product {id}")).unwrap(),
        description: String::new(),
        category: Category::parse("test").unwrap(),
        price: Price::new(Money::new(price, crate::kernel::Currency::Eur)).unwrap(),
        stock: Stock::new(stock).unwrap(),
        updated_at: time::OffsetDateTime::UNIX_EPOCH,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn availability_follows_stock() {
        assert_eq!(
            Availability::of_stock(0).status,
            AvailabilityStatus::OutOfStock
        );
        assert_eq!(
            Availability::of_stock(5).status,
            AvailabilityStatus::LowStock
        );
        assert_eq!(
            Availability::of_stock(6).status,
            AvailabilityStatus::InStock
        );
        assert_eq!(Availability::of_stock(-2).quantity, 0);
    }

    #[test]
    fn a_product_cannot_hold_a_free_or_absurd_price_negative_stock_or_blank_name() {
        let eur = |amount| Money::new(amount, crate::kernel::Currency::Eur);
        assert!(Price::new(eur(0)).is_err());
        assert!(Price::new(eur(-1)).is_err());
        assert!(Price::new(eur(Price::MAX + 1)).is_err());
        assert_eq!(Price::new(eur(1)).unwrap().money(), eur(1));
        assert!(Stock::new(-1).is_err());
        assert_eq!(Stock::new(0).unwrap().units(), 0);
        for name in ["", " padded", &"x".repeat(201)] {
            assert!(ProductName::parse(name).is_err(), "{name:?}");
        }
        let stored = serde_json::json!({"amount": 0, "currency": "EUR"});
        assert!(serde_json::from_value::<Price>(stored).is_err());
    }
}
