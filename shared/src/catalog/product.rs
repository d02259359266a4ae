use crate::kernel::{Money, ProductId, Sku, Timestamp};
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

/// A product as stored: the catalog data and the live stock, kept on the same item so that
/// a stock reservation and the availability the catalog shows can never disagree.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Product {
    pub product_id: ProductId,
    pub sku: Sku,
    pub name: String,
    pub description: String,
    pub category: Category,
    pub price: Money,
    /// Units available to order: decremented by reservations, given back by cancellations.
    pub stock: i64,
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
    pub name: String,
    pub description: String,
    pub category: Category,
    pub price: Money,
    pub availability: Availability,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: Timestamp,
}

impl From<Product> for ProductView {
    fn from(p: Product) -> Self {
        Self {
            availability: Availability::of_stock(p.stock),
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
        name: format!("Product {id}"),
        description: String::new(),
        category: Category::parse("test").unwrap(),
        price: Money::new(price, crate::kernel::Currency::Eur),
        stock,
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
}
