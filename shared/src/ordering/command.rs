//! The place-order request and command: what a customer asks for, parsed into domain types,
//! and the command that records it as an order.

use super::events::OrderEvent;
use super::lines::RequestedLine;
use super::pricing::DiscountCode;
use crate::kernel::{
    CorrelationId, Currency, CustomerId, EventEnvelope, OrderId, ProductId, Timestamp,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;

/// An order's lines: 1 to [`OrderLines::MAX`], one per product (a stock reservation touches
/// each product once).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<RequestedLine>", into = "Vec<RequestedLine>")]
pub struct OrderLines(Vec<RequestedLine>);

/// Why a list of lines is not an order's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinesError {
    #[error("must hold 1 to {} lines", OrderLines::MAX)]
    Count,
    /// Line `line` names the product of line `first` again.
    #[error("line {line} repeats line {first}: put the whole quantity on one line")]
    Repeated { line: usize, first: usize },
}

impl OrderLines {
    pub const MAX: usize = 50;

    pub fn new(lines: Vec<RequestedLine>) -> Result<Self, LinesError> {
        if lines.is_empty() || lines.len() > Self::MAX {
            return Err(LinesError::Count);
        }
        let mut seen: HashMap<&ProductId, usize> = HashMap::new();
        for (line, requested) in lines.iter().enumerate() {
            if let Some(first) = seen.insert(&requested.product_id, line) {
                return Err(LinesError::Repeated { line, first });
            }
        }
        Ok(Self(lines))
    }

    pub fn as_slice(&self) -> &[RequestedLine] {
        &self.0
    }
}

impl TryFrom<Vec<RequestedLine>> for OrderLines {
    type Error = LinesError;
    fn try_from(lines: Vec<RequestedLine>) -> Result<Self, Self::Error> {
        Self::new(lines)
    }
}

impl From<OrderLines> for Vec<RequestedLine> {
    fn from(lines: OrderLines) -> Self {
        lines.0
    }
}

/// A valid place-order request, before the shop gives it an id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRequest {
    pub customer_id: CustomerId,
    pub currency: Currency,
    pub lines: OrderLines,
    pub discount_code: Option<DiscountCode>,
}

impl OrderRequest {
    /// A fingerprint of the request, to tell a retry from a different order under the same
    /// `Idempotency-Key`.
    pub fn fingerprint(&self) -> String {
        let canonical = serde_json::json!({
            "customer_id": self.customer_id,
            "currency": self.currency,
            "lines": self.lines,
            "discount_code": self.discount_code,
        });
        hex::encode(Sha256::digest(canonical.to_string()))
    }
}

/// The place-order command: everything needed to record the order, so the processor can
/// record it even if the API's write never happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlaceOrder {
    pub order_id: OrderId,
    pub customer_id: CustomerId,
    pub currency: Currency,
    pub lines: OrderLines,
    pub discount_code: Option<DiscountCode>,
    pub correlation_id: CorrelationId,
    pub placed_at: Timestamp,
}

impl PlaceOrder {
    pub fn new(request: OrderRequest, correlation_id: CorrelationId, placed_at: Timestamp) -> Self {
        Self {
            order_id: OrderId::generate(),
            customer_id: request.customer_id,
            currency: request.currency,
            lines: request.lines,
            discount_code: request.discount_code,
            correlation_id,
            placed_at,
        }
    }

    /// The command an `order.placed` records (`None` if it is not one this code can read).
    pub fn from_placed(placed: &EventEnvelope) -> Option<Self> {
        let Ok(OrderEvent::Placed {
            customer_id,
            currency,
            lines,
            discount_code,
        }) = placed.decode::<OrderEvent>()
        else {
            return None;
        };
        Some(Self {
            order_id: OrderId::parse(&placed.aggregate_id).ok()?,
            customer_id,
            currency,
            lines,
            discount_code,
            correlation_id: placed.correlation_id.clone(),
            placed_at: placed.occurred_at,
        })
    }
}
