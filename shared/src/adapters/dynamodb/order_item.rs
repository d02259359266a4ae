//! The `STATE` item of an order: its latest state, so that reading an order never replays its
//! history. Its own types, so the storage schema changes only when this file does.

use crate::kernel::{CorrelationId, Currency, CustomerId, OrderId, PaymentIntentId, Timestamp};
use crate::ordering::pricing::DiscountCode;
use crate::ordering::{
    Cancellation, Confirmation, Order, OrderLines, OrderState, PlaceOrder, Rejection,
};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
pub(super) struct OrderItem {
    pub pk: String,
    pub sk: String,
    order_id: OrderId,
    customer_id: CustomerId,
    currency: Currency,
    lines: OrderLines,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    discount_code: Option<DiscountCode>,
    correlation_id: CorrelationId,
    #[serde(with = "time::serde::rfc3339")]
    created_at: Timestamp,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: Timestamp,
    /// The commit's optimistic-concurrency condition reads this attribute.
    version: u64,
    #[serde(flatten)]
    state: StateRecord,
}

/// The state, tagged by the `status` attribute.
#[derive(Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "SCREAMING_SNAKE_CASE")]
enum StateRecord {
    Pending,
    Confirmed {
        confirmation: Confirmation,
    },
    Rejected {
        rejection: Rejection,
    },
    Paid {
        confirmation: Confirmation,
        payment_intent_id: PaymentIntentId,
    },
    Cancelled {
        cancellation: Cancellation,
    },
}

impl OrderItem {
    pub fn of(order: &Order, pk: String, sk: String) -> Self {
        let placed = order.placement().clone();
        let state = match order.state().clone() {
            OrderState::Pending => StateRecord::Pending,
            OrderState::Confirmed(confirmation) => StateRecord::Confirmed { confirmation },
            OrderState::Rejected(rejection) => StateRecord::Rejected { rejection },
            OrderState::Paid {
                confirmation,
                payment_intent_id,
            } => StateRecord::Paid {
                confirmation,
                payment_intent_id,
            },
            OrderState::Cancelled(cancellation) => StateRecord::Cancelled { cancellation },
        };
        OrderItem {
            pk,
            sk,
            order_id: placed.order_id,
            customer_id: placed.customer_id,
            currency: placed.currency,
            lines: placed.lines,
            discount_code: placed.discount_code,
            correlation_id: placed.correlation_id,
            created_at: placed.placed_at,
            updated_at: order.updated_at(),
            version: order.version(),
            state,
        }
    }

    pub fn into_order(self) -> Order {
        let state = match self.state {
            StateRecord::Pending => OrderState::Pending,
            StateRecord::Confirmed { confirmation } => OrderState::Confirmed(confirmation),
            StateRecord::Rejected { rejection } => OrderState::Rejected(rejection),
            StateRecord::Paid {
                confirmation,
                payment_intent_id,
            } => OrderState::Paid {
                confirmation,
                payment_intent_id,
            },
            StateRecord::Cancelled { cancellation } => OrderState::Cancelled(cancellation),
        };
        let placed = PlaceOrder {
            order_id: self.order_id,
            customer_id: self.customer_id,
            currency: self.currency,
            lines: self.lines,
            discount_code: self.discount_code,
            correlation_id: self.correlation_id,
            placed_at: self.created_at,
        };
        Order::restore(placed, state, self.version, self.updated_at)
    }
}
