//! Where an order is in its lifecycle: each state carries what it knows, so a confirmed
//! order *has* its prices and a rejected one its reason.

use super::events::{CancellationReason, RejectionReason};
use super::lines::{PricedLine, Totals};
use crate::kernel::{PaymentIntentId, Timestamp};
use serde::{Deserialize, Serialize};

/// The lifecycle of the contract: PENDING -> CONFIRMED | REJECTED | CANCELLED (the customer);
/// CONFIRMED -> PAID | CANCELLED (payment failed, payment timeout, the customer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    Pending,
    Confirmed,
    Rejected,
    Paid,
    Cancelled,
}

/// Where an order is in its lifecycle, with what that state knows.
#[derive(Debug, Clone, PartialEq)]
pub enum OrderState {
    /// Placed, waiting for the processor.
    Pending,
    Confirmed(Confirmation),
    Rejected(Rejection),
    Paid {
        confirmation: Confirmation,
        payment_intent_id: PaymentIntentId,
    },
    Cancelled(Cancellation),
}

/// What confirming an order fixed: its prices and its payment deadline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Confirmation {
    pub lines: Vec<PricedLine>,
    pub totals: Totals,
    /// Unpaid at this instant, the order is cancelled.
    #[serde(with = "time::serde::rfc3339")]
    pub payment_due_by: Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    pub reason: RejectionReason,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cancellation {
    pub reason: CancellationReason,
    /// What the provider said of a failed payment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The failed payment, when a payment caused the cancellation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_intent_id: Option<PaymentIntentId>,
    /// The confirmation the cancellation undid; `None` for an order cancelled while PENDING.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmation: Option<Confirmation>,
}

impl OrderState {
    pub fn status(&self) -> OrderStatus {
        match self {
            OrderState::Pending => OrderStatus::Pending,
            OrderState::Confirmed(_) => OrderStatus::Confirmed,
            OrderState::Rejected(_) => OrderStatus::Rejected,
            OrderState::Paid { .. } => OrderStatus::Paid,
            OrderState::Cancelled(_) => OrderStatus::Cancelled,
        }
    }

    /// The prices, once the order was confirmed (whatever happened next).
    pub fn confirmation(&self) -> Option<&Confirmation> {
        match self {
            OrderState::Confirmed(confirmation) | OrderState::Paid { confirmation, .. } => {
                Some(confirmation)
            }
            OrderState::Cancelled(cancellation) => cancellation.confirmation.as_ref(),
            OrderState::Pending | OrderState::Rejected(_) => None,
        }
    }
}
