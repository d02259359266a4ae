//! What the payments context needs from storage.

use crate::kernel::{EventEnvelope, InfraError, Timestamp};
use async_trait::async_trait;

/// What the ledger knew of a provider event when it was recorded.
#[derive(Debug, Clone, PartialEq)]
pub enum LedgerEntry {
    /// First delivery: the event is now recorded, still to publish.
    New,
    /// Seen before. `published` is false when an earlier delivery died before publishing.
    Seen {
        envelope: Box<EventEnvelope>,
        published: bool,
    },
}

/// Remembers each provider event id once (a conditional write), with the event it yields, so
/// a redelivery never takes effect twice but can finish what a crashed delivery started.
#[async_trait]
pub trait WebhookLedger: Send + Sync {
    async fn record(
        &self,
        provider_event_id: &str,
        envelope: &EventEnvelope,
        expires_at: Timestamp,
    ) -> Result<LedgerEntry, InfraError>;

    async fn mark_published(&self, provider_event_id: &str) -> Result<(), InfraError>;
}
