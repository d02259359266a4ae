//! What an order is made of: the lines the customer asked for, and once priced, the lines
//! with their prices and the order's totals.

use crate::catalog::ProductName;
use crate::kernel::{Money, ProductId, Quantity, Sku};
use serde::{Deserialize, Serialize};

/// A line as the customer asked for it, before pricing: what a stock reservation holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestedLine {
    pub product_id: ProductId,
    pub quantity: Quantity,
}

/// A line priced from the catalog when the order was confirmed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PricedLine {
    pub product_id: ProductId,
    pub quantity: Quantity,
    pub sku: Sku,
    pub name: ProductName,
    pub unit_price: Money,
    pub line_total: Money,
}

impl PricedLine {
    /// The line as it was requested.
    pub fn requested(&self) -> RequestedLine {
        RequestedLine {
            product_id: self.product_id.clone(),
            quantity: self.quantity,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub subtotal: Money,
    pub discount: Money,
    pub tax: Money,
    pub total: Money,
}
