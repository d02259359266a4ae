//! Cancelling an order: by its customer, by the payment deadline, or by a failed payment.
//! A CONFIRMED order gives its reserved stock back in the same transaction (the saga's
//! compensation); a PENDING one has reserved nothing, and the processor will find it
//! cancelled and leave it so.

use super::outbox::{ChangeError, commit_change};
use super::ports::{OrderCommit, OrderRepository, StockMovement};
use super::{CancellationReason, Order, OrderStatus, TransitionError};
use crate::kernel::{Clock, CustomerId, OrderId, StoreError, Timestamp};

/// How often a use case reads an order again after losing a race for it, before it gives the
/// message (or the request) back to be retried later.
pub const ATTEMPTS: usize = 3;

/// What a cancellation says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cancel {
    pub reason: CancellationReason,
    pub detail: Option<String>,
    pub payment_intent_id: Option<String>,
    /// The event that caused it (a payment event, the order's own confirmation).
    pub causation_id: Option<String>,
}

impl Cancel {
    pub fn because(reason: CancellationReason) -> Self {
        Cancel {
            reason,
            detail: None,
            payment_intent_id: None,
            causation_id: None,
        }
    }
}

/// The commit that cancels `order`: its `order.cancelled`, and the stock it gives back.
pub fn cancellation(
    order: &Order,
    cancel: Cancel,
    at: Timestamp,
) -> Result<OrderCommit, TransitionError> {
    let recorded = order.cancel(
        cancel.reason,
        cancel.detail,
        cancel.payment_intent_id,
        at,
        cancel.causation_id,
    )?;
    let stock = StockMovement::releases(&order.reserved_lines());
    Ok(OrderCommit::transition(order, recorded, stock))
}

/// The customer's answer.
#[derive(Debug, Clone, PartialEq)]
pub enum CustomerCancellation {
    /// Cancelled by this request.
    Cancelled(Order),
    /// It already was (a repeated request, or the payment deadline got there first).
    AlreadyCancelled(Order),
}

#[derive(Debug, thiserror::Error)]
pub enum CancelError {
    #[error("no order {0}")]
    NotFound(OrderId),
    #[error("a {0:?} order cannot be cancelled")]
    NotCancellable(OrderStatus),
    #[error(transparent)]
    Change(#[from] ChangeError),
}

impl From<StoreError> for CancelError {
    fn from(e: StoreError) -> Self {
        CancelError::Change(e.into())
    }
}

/// `POST /orders/{order_id}/cancel` by `customer`: idempotent, and safe against the
/// processor, a payment and the deadline racing for the same order: whoever commits first
/// wins, the others read the order again and see it settled. Another customer's order is not
/// found, as if it did not exist.
pub async fn cancel_order(
    orders: &dyn OrderRepository,
    clock: &dyn Clock,
    id: &OrderId,
    customer: &CustomerId,
) -> Result<CustomerCancellation, CancelError> {
    for _ in 0..ATTEMPTS {
        let order = orders
            .load(id)
            .await?
            .filter(|order| &order.customer_id == customer)
            .ok_or_else(|| CancelError::NotFound(id.clone()))?;
        if order.status == OrderStatus::Cancelled {
            return Ok(CustomerCancellation::AlreadyCancelled(order));
        }
        let cancel = Cancel::because(CancellationReason::CustomerCancelled);
        let commit = cancellation(&order, cancel, clock.now())
            .map_err(|refused| CancelError::NotCancellable(refused.status))?;
        let cancelled = commit.order.clone();
        match commit_change(orders, commit).await {
            Ok(()) => return Ok(CustomerCancellation::Cancelled(cancelled)),
            Err(ChangeError::Conflict) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(ChangeError::Conflict.into())
}
