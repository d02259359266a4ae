//! The one way an order's change is committed and announced: the new state, its events and
//! an outbox copy of each event to publish go in one transaction; then the events are
//! published and their outbox entries cleared. Whatever is not published stays in the outbox,
//! and the next delivery of the same message publishes it ([`Outbox::flush`]).

use super::ports::{CommitError, EventPublisher, OrderCommit, OrderRepository};
use crate::kernel::{EventEnvelope, OrderId, StoreError};
use std::collections::HashSet;

/// Why a change did not take effect, or took effect without being announced yet.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    /// Another writer moved the order on since it was read: read it again and decide again.
    #[error("the order changed since it was read")]
    Conflict,
    /// Committed, but SNS did not take every event; the next delivery publishes them.
    #[error("events committed but not yet published; a retry publishes them")]
    NotPublished,
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct Outbox<'a> {
    pub orders: &'a dyn OrderRepository,
    pub publisher: &'a dyn EventPublisher,
}

impl Outbox<'_> {
    /// Commits `commit` and publishes the events it put in the outbox.
    pub async fn commit(&self, commit: OrderCommit) -> Result<(), ChangeError> {
        let to_publish = commit.outbox.clone();
        match self.orders.commit(commit).await {
            Ok(()) => {}
            Err(CommitError::Store(e)) => return Err(e.into()),
            Err(CommitError::Conflict) => return Err(ChangeError::Conflict),
            // Only a new order claims a key or an unpaid slot, and none comes through here.
            Err(e @ (CommitError::IdempotencyKeyTaken | CommitError::TooManyUnpaidOrders)) => {
                return Err(StoreError::new(format!("unexpected: {e}")).into());
            }
            // Stock is only ever released by a change that goes through here: a product
            // deleted from the catalog since. Retried, then kept in the DLQ for a person.
            Err(CommitError::InsufficientStock(products)) => {
                return Err(StoreError::new(format!(
                    "cannot give stock back to {products:?}: no such product"
                ))
                .into());
            }
        }
        self.publish_all(&to_publish).await
    }

    /// Publishes what the order's outbox still holds (a redelivery of a message whose first
    /// delivery died between commit and publish).
    pub async fn flush(&self, id: &OrderId) -> Result<(), ChangeError> {
        let leftovers = self.orders.outbox(id).await?;
        self.publish_all(&leftovers).await
    }

    async fn publish_all(&self, events: &[EventEnvelope]) -> Result<(), ChangeError> {
        if self.publish(events).await.is_empty() {
            Ok(())
        } else {
            Err(ChangeError::NotPublished)
        }
    }

    /// Publishes `events` (of any orders) in one call and clears the outbox entries of those
    /// SNS accepted; returns the ids of the events not published.
    pub async fn publish(&self, events: &[EventEnvelope]) -> HashSet<String> {
        // The same event twice (two deliveries of one message in a batch) is published once:
        // SNS and DynamoDB both refuse a batch that names one entry twice.
        let mut seen = HashSet::new();
        let events: Vec<EventEnvelope> = events
            .iter()
            .filter(|e| seen.insert(e.event_id.clone()))
            .cloned()
            .collect();
        if events.is_empty() {
            return HashSet::new();
        }
        let failed: HashSet<String> = match self.publisher.publish(&events).await {
            Ok(report) => report.failed.into_iter().collect(),
            Err(e) => {
                tracing::warn!(error = %e, "publishing failed; the messages will be retried");
                events.iter().map(|e| e.event_id.clone()).collect()
            }
        };
        let published: Vec<EventEnvelope> = events
            .iter()
            .filter(|e| !failed.contains(&e.event_id))
            .cloned()
            .collect();
        if let Err(e) = self.orders.clear_outbox(&published).await {
            // Harmless: a leftover entry is published again on a redelivery, and consumers
            // deduplicate on event_id.
            tracing::warn!(error = %e, "outbox entries published but not cleared");
        }
        failed
    }
}
