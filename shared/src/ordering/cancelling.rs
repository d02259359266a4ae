//! Cancelling an order: by its customer, by the payment deadline, or by a failed payment.
//! A CONFIRMED order gives its reserved stock back in the same transaction (the saga's
//! compensation); a PENDING one has reserved nothing, and the processor will find it
//! cancelled and leave it so.

use super::order::{Cancel, Order, TransitionError};
use super::ports::{CommitError, OrderCommit, OrderRepository, StockMovement};
use super::state::OrderState;
use super::{CancellationReason, OrderStatus};
use crate::kernel::{Clock, CustomerId, InfraError, OrderId, Timestamp};

/// How often a use case reads an order again after losing a race for it, before it gives the
/// message (or the request) back to be retried later.
pub const ATTEMPTS: usize = 3;

/// The commit that cancels `order`: its `order.cancelled`, and the stock it gives back.
pub fn cancellation(
    order: &Order,
    cancel: Cancel,
    at: Timestamp,
) -> Result<OrderCommit, TransitionError> {
    let stock = StockMovement::releases(&order.reserved_lines());
    let recorded = order.cancel(cancel, at)?;
    Ok(OrderCommit::of(order).then(recorded, stock))
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
    Commit(#[from] CommitError),
}

impl From<InfraError> for CancelError {
    fn from(e: InfraError) -> Self {
        CancelError::Commit(e.into())
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
            .filter(|order| order.customer() == customer)
            .ok_or_else(|| CancelError::NotFound(id.clone()))?;
        if let OrderState::Cancelled(_) = order.state() {
            return Ok(CustomerCancellation::AlreadyCancelled(order));
        }
        let cancel = Cancel::because(CancellationReason::CustomerCancelled);
        let commit = cancellation(&order, cancel, clock.now())
            .map_err(|refused| CancelError::NotCancellable(refused.status))?;
        let cancelled = commit.order.clone();
        match orders.commit(commit).await {
            Ok(()) => return Ok(CustomerCancellation::Cancelled(cancelled)),
            Err(CommitError::Conflict) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(CommitError::Conflict.into())
}
