//! The one way an order's change is committed. The new state, its events, the stock it moves
//! and the customer's unpaid-order count go in one transaction, and that is all a use case
//! does: the committed events *are* the outbox. The relay (`order-relay`, on the orders
//! table's change stream, [`super::relay`]) publishes each committed event and queues each
//! placed order, however the writer's process ends after its commit.

use super::ports::{CommitError, OrderCommit, OrderRepository};
use crate::kernel::StoreError;

/// Why a change did not take effect.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    /// Another writer moved the order on since it was read: read it again and decide again.
    #[error("the order changed since it was read")]
    Conflict,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Commits a change to an existing order (not a placement: only placing claims an
/// idempotency key or an unpaid slot under a limit).
pub async fn commit_change(
    orders: &dyn OrderRepository,
    commit: OrderCommit,
) -> Result<(), ChangeError> {
    match orders.commit(commit).await {
        Ok(()) => Ok(()),
        Err(CommitError::Store(e)) => Err(e.into()),
        Err(CommitError::Conflict) => Err(ChangeError::Conflict),
        Err(e @ (CommitError::IdempotencyKeyTaken | CommitError::TooManyUnpaidOrders)) => {
            Err(StoreError::new(format!("unexpected: {e}")).into())
        }
        // Stock is only ever released by a change that comes through here: a product deleted
        // from the catalog since. Retried, then kept in the DLQ for a person.
        Err(CommitError::InsufficientStock(products)) => Err(StoreError::new(format!(
            "cannot give stock back to {products:?}: no such product"
        ))
        .into()),
    }
}
