use super::order::{OrderLine, Totals};
use crate::kernel::{Currency, CustomerId, DomainEvent, Money, ProductId, Quantity};
use serde::{Deserialize, Serialize};

/// A line as the customer asked for it, before pricing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestedLine {
    pub product_id: ProductId,
    pub quantity: Quantity,
}

/// Why an order could not be confirmed. A business result, never retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectionReason {
    UnknownProduct,
    InsufficientStock,
    CurrencyNotOffered,
}

/// Everything that can happen to an order. Each variant is one `event_type` of the contract;
/// `data` carries what a subscriber needs without reading the order back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event_type", content = "data")]
pub enum OrderEvent {
    #[serde(rename = "order.placed")]
    Placed {
        customer_id: CustomerId,
        currency: Currency,
        lines: Vec<RequestedLine>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        discount_code: Option<String>,
    },
    #[serde(rename = "order.confirmed")]
    Confirmed {
        customer_id: CustomerId,
        items: Vec<OrderLine>,
        totals: Totals,
    },
    #[serde(rename = "order.rejected")]
    Rejected {
        customer_id: CustomerId,
        reason: RejectionReason,
        detail: String,
    },
    #[serde(rename = "order.paid")]
    Paid {
        customer_id: CustomerId,
        payment_intent_id: String,
        amount: Money,
    },
    #[serde(rename = "order.cancelled")]
    Cancelled {
        customer_id: CustomerId,
        reason: String,
        payment_intent_id: String,
        released: Vec<RequestedLine>,
    },
}

impl DomainEvent for OrderEvent {}

impl OrderEvent {
    /// Whether subscribers hear of it. `order.placed` stays in the order's history only: the
    /// place-order command already travels to the processor through the orders queue.
    pub fn is_published(&self) -> bool {
        !matches!(self, OrderEvent::Placed { .. })
    }
}
