use super::{CorrelationId, Timestamp};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::Value;

/// A domain event as it is stored and published: the envelope of the contract.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventEnvelope {
    pub event_id: String,
    pub event_type: String,
    pub schema_version: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: Timestamp,
    pub aggregate_id: String,
    pub sequence: u64,
    pub correlation_id: CorrelationId,
    /// The event or command that caused this one (a payment event id, for example).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causation_id: Option<String>,
    pub data: Value,
}

/// An event type of a bounded context: an enum serialised adjacently tagged as
/// `{"event_type": ..., "data": ...}`, which is exactly the envelope's two fields.
pub trait DomainEvent: Serialize + DeserializeOwned {
    const SCHEMA_VERSION: u32 = 1;
}

#[derive(Debug, thiserror::Error)]
#[error("event {event_type} (schema {schema_version}) cannot be read: {reason}")]
pub struct UnreadableEvent {
    pub event_type: String,
    pub schema_version: u32,
    pub reason: String,
}

impl EventEnvelope {
    /// Wraps `event`; `event_id` must be unique per event and stable across retries.
    #[allow(clippy::too_many_arguments)]
    pub fn wrap<E: DomainEvent>(
        event: &E,
        event_id: String,
        aggregate_id: String,
        sequence: u64,
        occurred_at: Timestamp,
        correlation_id: CorrelationId,
        causation_id: Option<String>,
    ) -> Self {
        // Serialising a plain data enum into a Value cannot fail.
        let Value::Object(mut tagged) = serde_json::to_value(event).expect("event serialises")
        else {
            unreachable!("domain events are adjacently tagged enums")
        };
        let event_type = match tagged.remove("event_type") {
            Some(Value::String(t)) => t,
            _ => unreachable!("domain events carry event_type"),
        };
        Self {
            event_id,
            event_type,
            schema_version: E::SCHEMA_VERSION,
            occurred_at,
            aggregate_id,
            sequence,
            correlation_id,
            causation_id,
            data: tagged.remove("data").unwrap_or(Value::Null),
        }
    }

    /// Reads the typed event back, refusing schema versions this code does not know.
    pub fn decode<E: DomainEvent>(&self) -> Result<E, UnreadableEvent> {
        let unreadable = |reason: String| UnreadableEvent {
            event_type: self.event_type.clone(),
            schema_version: self.schema_version,
            reason,
        };
        if self.schema_version != E::SCHEMA_VERSION {
            return Err(unreadable(format!(
                "expected schema version {}",
                E::SCHEMA_VERSION
            )));
        }
        let tagged = serde_json::json!({"event_type": self.event_type, "data": self.data});
        serde_json::from_value(tagged).map_err(|e| unreadable(e.to_string()))
    }
}
