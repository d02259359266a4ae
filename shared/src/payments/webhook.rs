//! Receiving a payment webhook: verify, translate, record once, publish.

use super::PaymentEvent;
use super::ports::{Recording, WebhookLedger};
use super::signature::{self, SignatureError};
use crate::kernel::{Clock, EventEnvelope, EventPublisher, StoreError};
use serde::Deserialize;
use std::collections::HashMap;

/// Provider events are remembered this long: Stripe retries for up to three days.
pub const LEDGER_TTL: time::Duration = time::Duration::days(30);

#[derive(Debug, Deserialize)]
struct ProviderEvent {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    created: i64,
    data: ProviderEventData,
}

#[derive(Debug, Deserialize)]
struct ProviderEventData {
    object: serde_json::Value,
}

#[derive(Debug, Deserialize)]
struct PaymentIntent {
    id: String,
    amount: i64,
    currency: String,
    #[serde(default)]
    metadata: HashMap<String, String>,
    #[serde(default)]
    last_payment_error: Option<PaymentError>,
}

#[derive(Debug, Deserialize)]
struct PaymentError {
    message: Option<String>,
}

/// What a delivery amounted to. Each is answered 200.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// First delivery of a payment event: recorded and published.
    Processed { event_type: String },
    /// Seen before; any unfinished publishing was finished.
    Duplicate,
    /// A type the shop does not act on, or a payment intent for no order of ours.
    Ignored { reason: String },
}

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error(transparent)]
    Signature(#[from] SignatureError),
    #[error("the body is not a provider event: {0}")]
    Malformed(String),
    /// Transient: the provider should retry (answered 5xx).
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct WebhookReceiver<'a> {
    pub ledger: &'a dyn WebhookLedger,
    pub publisher: &'a dyn EventPublisher,
    pub clock: &'a dyn Clock,
}

impl WebhookReceiver<'_> {
    pub async fn receive(
        &self,
        signature_header: Option<&str>,
        body: &[u8],
        secret: &[u8],
    ) -> Result<Received, WebhookError> {
        let now = self.clock.now();
        signature::verify(signature_header, body, secret, now.unix_timestamp())?;
        let event: ProviderEvent =
            serde_json::from_slice(body).map_err(|e| WebhookError::Malformed(e.to_string()))?;
        let envelope = match translate(&event)? {
            Translated::Payment(envelope) => envelope,
            Translated::Ignored(reason) => return Ok(Received::Ignored { reason }),
        };
        match self
            .ledger
            .record(&event.id, &envelope, now + LEDGER_TTL)
            .await?
        {
            Recording::New => {
                self.publish(&event.id, &envelope).await?;
                Ok(Received::Processed {
                    event_type: envelope.event_type,
                })
            }
            Recording::Seen {
                envelope,
                published: false,
            } => {
                self.publish(&event.id, &envelope).await?;
                Ok(Received::Duplicate)
            }
            Recording::Seen { .. } => Ok(Received::Duplicate),
        }
    }

    async fn publish(
        &self,
        provider_event_id: &str,
        envelope: &EventEnvelope,
    ) -> Result<(), StoreError> {
        let report = self
            .publisher
            .publish(std::slice::from_ref(envelope))
            .await?;
        if !report.failed.is_empty() {
            return Err(StoreError::new("the payment event was not published"));
        }
        self.ledger.mark_published(provider_event_id).await
    }
}

enum Translated {
    Payment(EventEnvelope),
    Ignored(String),
}

/// The shop's payment event for a provider event, if it is one the shop acts on.
fn translate(event: &ProviderEvent) -> Result<Translated, WebhookError> {
    let succeeded = match event.kind.as_str() {
        "payment_intent.succeeded" => true,
        "payment_intent.payment_failed" => false,
        other => {
            return Ok(Translated::Ignored(format!(
                "event type {other} is not acted on"
            )));
        }
    };
    let intent: PaymentIntent = serde_json::from_value(event.data.object.clone())
        .map_err(|e| WebhookError::Malformed(format!("data.object: {e}")))?;
    let Some(order_id) = intent.metadata.get("order_id").cloned() else {
        return Ok(Translated::Ignored(
            "the payment intent names no order (metadata.order_id)".into(),
        ));
    };
    let currency = intent.currency.to_ascii_uppercase();
    let payment = if succeeded {
        PaymentEvent::Succeeded {
            order_id: order_id.clone(),
            payment_intent_id: intent.id.clone(),
            amount: intent.amount,
            currency,
            provider_event_id: event.id.clone(),
        }
    } else {
        PaymentEvent::Failed {
            order_id: order_id.clone(),
            payment_intent_id: intent.id.clone(),
            amount: intent.amount,
            currency,
            provider_event_id: event.id.clone(),
            failure_message: intent.last_payment_error.and_then(|e| e.message),
        }
    };
    let occurred_at = time::OffsetDateTime::from_unix_timestamp(event.created)
        .map_err(|_| WebhookError::Malformed("created is not a valid time".into()))?;
    let correlation_id = intent
        .metadata
        .get("correlation_id")
        .cloned()
        .unwrap_or(order_id);
    // The provider's event id is the event id: stable across redeliveries, so consumers
    // deduplicate a republished event. Its `created` second orders an intent's events.
    Ok(Translated::Payment(EventEnvelope::wrap(
        &payment,
        event.id.clone(),
        intent.id,
        u64::try_from(event.created).unwrap_or_default(),
        occurred_at,
        correlation_id,
        Some(event.id.clone()),
    )))
}
