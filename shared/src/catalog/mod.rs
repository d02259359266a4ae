//! Catalog: products and the paged, cacheable read model of the catalog API.

mod cursor;
pub mod ports;
mod product;

pub use cursor::{Cursor, InvalidCursor};
pub use product::{
    Availability, AvailabilityStatus, Category, Price, Product, ProductName, ProductView, Stock,
};

#[cfg(any(test, feature = "test-util"))]
pub use product::test_product;
