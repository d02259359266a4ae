//! Receiving a payment webhook: verify, translate, record once, publish.

use super::ports::{Recording, WebhookLedger};
use super::signature::{self, SignatureError};
use super::{PaymentEvent, ProviderAmount, RefundEvent};
use crate::kernel::{
    Clock, CorrelationId, Currency, EventEnvelope, EventPublisher, Money, OrderId, PaymentIntentId,
    StoreError,
};
use serde::Deserialize;
use std::collections::HashMap;

/// Provider events are remembered this long: Stripe retries for up to three days.
pub const LEDGER_TTL: time::Duration = time::Duration::days(30);

/// A provider's identifier (`evt_...`, `pi_...`): 1 to 255 printable ASCII characters. It
/// keys a DynamoDB item, so a longer one is refused here, as a malformed event (400), and never
/// reaches DynamoDB, which would refuse it forever while the provider retried for days.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "String")]
struct ProviderId(String);

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
struct ProviderEvent {
    id: ProviderId,
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
            Translated::Event(envelope) => envelope,
            Translated::Ignored(reason) => return Ok(Received::Ignored { reason }),
        };
        match self
            .ledger
            .record(&event.id.0, &envelope, now + LEDGER_TTL)
            .await?
        {
            Recording::New => {
                self.publish(&event.id.0, &envelope).await?;
                Ok(Received::Processed {
                    event_type: envelope.event_type,
                })
            }
            Recording::Seen {
                envelope,
                published: false,
            } => {
                self.publish(&event.id.0, &envelope).await?;
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
    /// A payment event, or the refund of a payment the shop cannot attribute to an order.
    Event(EventEnvelope),
    Ignored(String),
}

/// The shop's event for a provider event, if it is one the shop acts on.
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
    let order_id = OrderId::parse(order_ref.as_str());
    let currency = Currency::parse(&intent.currency);
    let (Ok(order_id), Ok(currency)) = (order_id, currency) else {
        if !succeeded {
            return Ok(Translated::Ignored(
                "a failed payment for no order of this shop".into(),
            ));
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
            RefundEvent::unattributable(order_ref.clone(), &intent.id, amount, event.id.0.clone());
        return Ok(Translated::Event(envelope.wrap(&refund)));
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::{InMemoryStore, RecordingPublisher};
    use crate::kernel::FixedClock;
    use serde_json::json;

    const SECRET: &[u8] = b"whsec_test";

    fn clock() -> FixedClock {
        FixedClock(time::macros::datetime!(2026-11-21 10:00 UTC))
    }

    const ORDER_ID: &str = "01JDQ0000000000000000000ZZ";

    fn event(id: &str, kind: &str) -> Vec<u8> {
        payment_event(id, kind, ORDER_ID, "eur")
    }

    /// A payment intent's event for `order_id` in `currency`, as the provider sends it.
    fn payment_event(id: &str, kind: &str, order_id: &str, currency: &str) -> Vec<u8> {
        json!({"id": id, "type": kind, "created": 1_795_255_200,
            "data": {"object": {"id": "pi_1", "amount": 1200, "currency": currency,
                "metadata": {"order_id": order_id}}}})
        .to_string()
        .into_bytes()
    }

    async fn deliver(
        store: &InMemoryStore,
        publisher: &RecordingPublisher,
        body: &[u8],
    ) -> Result<Received, WebhookError> {
        let clock = clock();
        let header = signature::sign(body, SECRET, clock.0.unix_timestamp());
        WebhookReceiver {
            ledger: store,
            publisher,
            clock: &clock,
        }
        .receive(Some(&header), body, SECRET)
        .await
    }

    #[tokio::test]
    async fn a_payment_event_is_published_once_however_often_it_comes() {
        let (store, publisher) = (InMemoryStore::default(), RecordingPublisher::default());
        let body = event("evt_1", "payment_intent.succeeded");
        let first = deliver(&store, &publisher, &body).await.unwrap();
        assert!(matches!(first, Received::Processed { .. }));
        let again = deliver(&store, &publisher, &body).await.unwrap();
        assert_eq!(again, Received::Duplicate);
        assert_eq!(publisher.types(), ["payment.succeeded"]);
        let published = &publisher.published()[0];
        assert_eq!(published.event_id, "evt_1");
        assert_eq!(published.data["currency"], "EUR");
    }

    #[tokio::test]
    async fn a_publish_that_failed_is_finished_by_the_next_delivery() {
        let (store, publisher) = (InMemoryStore::default(), RecordingPublisher::default());
        let body = event("evt_2", "payment_intent.payment_failed");
        publisher.fail_next(1);
        assert!(matches!(
            deliver(&store, &publisher, &body).await,
            Err(WebhookError::Store(_))
        ));
        assert_eq!(
            deliver(&store, &publisher, &body).await.unwrap(),
            Received::Duplicate
        );
        assert_eq!(publisher.types(), ["payment.failed"]);
    }

    #[tokio::test]
    async fn other_types_are_ignored_and_unusable_ids_are_malformed_not_retried() {
        let (store, publisher) = (InMemoryStore::default(), RecordingPublisher::default());
        let ignored = deliver(&store, &publisher, &event("evt_3", "customer.created")).await;
        assert!(matches!(ignored, Ok(Received::Ignored { .. })));
        for id in ["x".repeat(3_000), String::new(), "evt with spaces".into()] {
            let refused =
                deliver(&store, &publisher, &event(&id, "payment_intent.succeeded")).await;
            assert!(
                matches!(refused, Err(WebhookError::Malformed(_))),
                "{id:.20}"
            );
        }
        assert!(publisher.published().is_empty());
    }

    #[tokio::test]
    async fn a_payment_the_shop_cannot_attribute_is_refunded_by_the_webhook_once() {
        let cases = [("not-an-order-id", "eur", "EUR"), (ORDER_ID, "jpy", "JPY")];
        for (n, (order_id, currency, upper)) in cases.into_iter().enumerate() {
            let (store, publisher) = (InMemoryStore::default(), RecordingPublisher::default());
            let id = format!("evt_stray_{n}");
            let body = payment_event(&id, "payment_intent.succeeded", order_id, currency);
            let first = deliver(&store, &publisher, &body).await.unwrap();
            assert_eq!(
                first,
                Received::Processed {
                    event_type: "payment.refund_required".into()
                },
                "{order_id} {currency}"
            );
            let again = deliver(&store, &publisher, &body).await.unwrap();
            assert_eq!(again, Received::Duplicate);
            assert_eq!(publisher.types(), ["payment.refund_required"]);
            let refund = &publisher.published()[0];
            assert_eq!(refund.event_id, id);
            assert_eq!(refund.data["reason"], "unattributable");
            assert_eq!(refund.data["order_id"], order_id);
            assert_eq!(refund.data["payment_intent_id"], "pi_1");
            assert_eq!(
                refund.data["amount"],
                json!({"amount": 1200, "currency": upper})
            );
            assert_eq!(refund.data["provider_event_id"], id.as_str());
        }
    }

    #[tokio::test]
    async fn a_failed_payment_the_shop_cannot_attribute_is_ignored() {
        let (store, publisher) = (InMemoryStore::default(), RecordingPublisher::default());
        let cases = [("not-an-order-id", "eur"), (ORDER_ID, "jpy")];
        for (n, (order_id, currency)) in cases.into_iter().enumerate() {
            let id = format!("evt_stray_failure_{n}");
            let body = payment_event(&id, "payment_intent.payment_failed", order_id, currency);
            let received = deliver(&store, &publisher, &body).await.unwrap();
            assert!(
                matches!(received, Received::Ignored { .. }),
                "{order_id} {currency}: {received:?}"
            );
        }
        assert!(publisher.published().is_empty());
    }

    #[tokio::test]
    async fn a_forged_signature_is_refused_before_anything_is_read() {
        let (store, publisher) = (InMemoryStore::default(), RecordingPublisher::default());
        let body = event("evt_4", "payment_intent.succeeded");
        let clock = clock();
        let forged = signature::sign(&body, b"whsec_other", clock.0.unix_timestamp());
        let refused = WebhookReceiver {
            ledger: &store,
            publisher: &publisher,
            clock: &clock,
        }
        .receive(Some(&forged), &body, SECRET)
        .await;
        assert!(matches!(refused, Err(WebhookError::Signature(_))));
        assert!(publisher.published().is_empty());
    }
}
