use super::{EventEnvelope, InfraError};
use async_trait::async_trait;

/// What did not get published.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PublishReport {
    pub failed: Vec<String>,
}

/// The event bus (SNS). Publishing the same event twice is allowed: consumers deduplicate on
/// `event_id`.
#[async_trait]
pub trait EventPublisher: Send + Sync {
    /// Publishes every event; the report names the event ids that failed.
    async fn publish(&self, events: &[EventEnvelope]) -> Result<PublishReport, InfraError>;
}
