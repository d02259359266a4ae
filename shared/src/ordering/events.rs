use super::command::OrderLines;
use super::lines::{PricedLine, RequestedLine, Totals};
use super::pricing::DiscountCode;
use crate::kernel::{Currency, CustomerId, DomainEvent, Money, PaymentIntentId, Timestamp};
use serde::{Deserialize, Serialize};

/// Why an order could not be confirmed. A business result, never retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectionReason {
    UnknownProduct,
    InsufficientStock,
    CurrencyNotOffered,
    /// The order's amounts are too large to compute.
    AmountTooLarge,
}

impl RejectionReason {
    /// The name the contract uses, in the order view, `order.rejected` and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            RejectionReason::UnknownProduct => "unknown_product",
            RejectionReason::InsufficientStock => "insufficient_stock",
            RejectionReason::CurrencyNotOffered => "currency_not_offered",
            RejectionReason::AmountTooLarge => "amount_too_large",
        }
    }
}

/// Why an order was cancelled: the saga's compensation, or the customer's choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CancellationReason {
    /// The payment provider reported a failed payment.
    PaymentFailed,
    /// No payment arrived before the order's `payment_due_by`.
    PaymentTimeout,
    /// The customer asked (`POST /orders/{order_id}/cancel`).
    CustomerCancelled,
}

impl CancellationReason {
    /// The name the contract uses, in the order view and in `order.cancelled`.
    pub fn as_str(self) -> &'static str {
        match self {
            CancellationReason::PaymentFailed => "payment_failed",
            CancellationReason::PaymentTimeout => "payment_timeout",
            CancellationReason::CustomerCancelled => "customer_cancelled",
        }
    }
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
        lines: OrderLines,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        discount_code: Option<DiscountCode>,
    },
    #[serde(rename = "order.confirmed")]
    Confirmed {
        customer_id: CustomerId,
        items: Vec<PricedLine>,
        totals: Totals,
        /// Unpaid at this instant, the order is cancelled (`payment_timeout`).
        #[serde(with = "time::serde::rfc3339")]
        payment_due_by: Timestamp,
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
        payment_intent_id: PaymentIntentId,
        amount: Money,
    },
    #[serde(rename = "order.cancelled")]
    Cancelled {
        customer_id: CustomerId,
        reason: CancellationReason,
        /// What the provider said of a failed payment.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        detail: Option<String>,
        /// The failed payment's intent, when a payment caused the cancellation.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        payment_intent_id: Option<PaymentIntentId>,
        /// The stock given back: the order's lines if it was CONFIRMED, none if PENDING.
        released: Vec<RequestedLine>,
    },
}

impl DomainEvent for OrderEvent {}

impl OrderEvent {
    /// Whose order it is: every event names its customer.
    pub fn customer_id(&self) -> &CustomerId {
        match self {
            OrderEvent::Placed { customer_id, .. }
            | OrderEvent::Confirmed { customer_id, .. }
            | OrderEvent::Rejected { customer_id, .. }
            | OrderEvent::Paid { customer_id, .. }
            | OrderEvent::Cancelled { customer_id, .. } => customer_id,
        }
    }
}
