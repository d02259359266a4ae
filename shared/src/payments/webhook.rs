//! Receiving a payment webhook: verify, translate, record once, publish.

use super::ports::{LedgerEntry, WebhookLedger};
use super::provider::{ProviderEvent, Translated, translate};
use super::signature::{self, SignatureError};
use crate::kernel::{Clock, EventEnvelope, EventPublisher, InfraError};

/// Provider events are remembered this long: Stripe retries for up to three days.
pub const LEDGER_TTL: time::Duration = time::Duration::days(30);

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
    Infra(#[from] InfraError),
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
            LedgerEntry::New => {
                self.publish(&event.id.0, &envelope).await?;
                Ok(Received::Processed {
                    event_type: envelope.event_type,
                })
            }
            LedgerEntry::Seen {
                envelope,
                published: false,
            } => {
                self.publish(&event.id.0, &envelope).await?;
                Ok(Received::Duplicate)
            }
            LedgerEntry::Seen { .. } => Ok(Received::Duplicate),
        }
    }

    async fn publish(
        &self,
        provider_event_id: &str,
        envelope: &EventEnvelope,
    ) -> Result<(), InfraError> {
        let report = self
            .publisher
            .publish(std::slice::from_ref(envelope))
            .await?;
        if !report.failed.is_empty() {
            return Err(InfraError::new("the payment event was not published"));
        }
        self.ledger.mark_published(provider_event_id).await
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
            Err(WebhookError::Infra(_))
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
