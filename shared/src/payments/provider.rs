//! The provider's side of a webhook: its event format (Stripe-compatible), read into the
//! shop's payment events. Only what the shop acts on is read; the rest of the body is ignored.

use super::webhook::WebhookError;
use super::{PaymentEvent, ProviderAmount, RefundEvent};
use crate::kernel::{CorrelationId, Currency, EventEnvelope, Money, OrderId, PaymentIntentId};
use serde::Deserialize;
use std::collections::HashMap;

/// A provider's identifier (`evt_...`, `pi_...`): 1 to 255 printable ASCII characters. It
/// keys a DynamoDB item, so a longer one is refused here, as a malformed event (400), and never
/// reaches DynamoDB, which would refuse it forever while the provider retried for days.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "String")]
pub(super) struct ProviderId(pub(super) String);

impl TryFrom<String> for ProviderId {
    type Error = String;

    fn try_from(id: String) -> Result<Self, Self::Error> {
        let printable = id.bytes().all(|b| b.is_ascii_graphic());
        if (1..=255).contains(&id.len()) && printable {
            Ok(ProviderId(id))
        } else {
            Err("an id must be 1 to 255 printable ASCII characters".to_owned())
        }
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct ProviderEvent {
    pub(super) id: ProviderId,
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
    id: PaymentIntentId,
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

pub(super) enum Translated {
    /// A payment event, or the refund of a payment the shop cannot attribute to an order.
    Event(EventEnvelope),
    Ignored(String),
}

/// The shop's event for a provider event, if it is one the shop acts on.
pub(super) fn translate(event: &ProviderEvent) -> Result<Translated, WebhookError> {
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
    let Some(order_ref) = intent.metadata.get("order_id") else {
        return Ok(Translated::Ignored(
            "the payment intent names no order (metadata.order_id)".into(),
        ));
    };
    let occurred_at = time::OffsetDateTime::from_unix_timestamp(event.created)
        .map_err(|_| WebhookError::Malformed("created is not a valid time".into()))?;
    let correlation_id = ["correlation_id", "order_id"]
        .iter()
        .find_map(|key| CorrelationId::parse(intent.metadata.get(*key)?.as_str()).ok())
        .unwrap_or_else(CorrelationId::generate);
    // The provider's event id is the event id: stable across redeliveries, so consumers
    // deduplicate a republished event. Its `created` second orders an intent's events.
    let envelope = EventEnvelopeParts {
        event_id: event.id.0.clone(),
        aggregate_id: intent.id.to_string(),
        sequence: u64::try_from(event.created).unwrap_or_default(),
        occurred_at,
        correlation_id,
    };
    let (Ok(order_id), Ok(currency)) = (
        OrderId::parse(order_ref.as_str()),
        Currency::parse(&intent.currency),
    ) else {
        return Ok(unattributable(
            event, &intent, order_ref, succeeded, envelope,
        ));
    };
    let amount = Money::new(intent.amount, currency);
    let payment = if succeeded {
        PaymentEvent::Succeeded {
            order_id,
            payment_intent_id: intent.id.clone(),
            amount,
            provider_event_id: event.id.0.clone(),
        }
    } else {
        PaymentEvent::Failed {
            order_id,
            payment_intent_id: intent.id.clone(),
            amount,
            provider_event_id: event.id.0.clone(),
            failure_message: intent.last_payment_error.and_then(|e| e.message),
        }
    };
    Ok(Translated::Event(envelope.wrap(&payment)))
}

/// A payment naming no order id the shop could have issued, or in a currency it does not
/// sell in: ordering can do nothing with it, so the money it took is refunded from here.
fn unattributable(
    event: &ProviderEvent,
    intent: &PaymentIntent,
    order_ref: &str,
    succeeded: bool,
    envelope: EventEnvelopeParts,
) -> Translated {
    if !succeeded {
        return Translated::Ignored("a failed payment for no order of this shop".into());
    }
    tracing::warn!(
        alarm = "payment_anomaly",
        payment_intent_id = %intent.id,
        "a payment for no order of this shop (order id or currency): refund requested"
    );
    let amount = ProviderAmount {
        amount: intent.amount,
        currency: intent.currency.to_ascii_uppercase(),
    };
    let refund =
        RefundEvent::unattributable(order_ref.to_owned(), &intent.id, amount, event.id.0.clone());
    Translated::Event(envelope.wrap(&refund))
}

/// Everything of an envelope but its event.
struct EventEnvelopeParts {
    event_id: String,
    aggregate_id: String,
    sequence: u64,
    occurred_at: time::OffsetDateTime,
    correlation_id: CorrelationId,
}

impl EventEnvelopeParts {
    fn wrap<E: crate::kernel::DomainEvent>(self, event: &E) -> EventEnvelope {
        let causation = Some(self.event_id.clone());
        EventEnvelope::wrap(
            event,
            self.event_id,
            self.aggregate_id,
            self.sequence,
            self.occurred_at,
            self.correlation_id,
            causation,
        )
    }
}
