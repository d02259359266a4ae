//! Value objects shared by every bounded context.

mod envelope;
mod ids;
mod money;
mod publisher;
mod time;

pub use envelope::{DomainEvent, EventEnvelope, UnreadableEvent};
pub(crate) use ids::string_id;
pub use ids::{
    CorrelationId, CustomerId, InvalidValue, OrderId, PaymentIntentId, ProductId, Quantity, Sku,
};
pub use money::{Currency, Money, MoneyError, UnknownCurrency};
pub use publisher::{EventPublisher, PublishReport};
pub use time::{Clock, FixedClock, SystemClock, Timestamp};

/// A failure of the infrastructure behind a port (network, throttling, emulator down).
/// Always worth a retry: business outcomes are never reported this way.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct InfraError(pub String);

impl InfraError {
    pub fn new(message: impl std::fmt::Display) -> Self {
        Self(message.to_string())
    }
}
