//! The payment saga, ordering's side: a confirmed order becomes PAID when its payment
//! succeeds, or CANCELLED when it fails, its reserved stock released in the same transaction
//! (the compensation).
//!
//! Deterministic under redelivery and reordering: an order leaves CONFIRMED once, and every
//! later payment event for it is either a repeat of the one applied (its outbox is flushed)
//! or an anomaly (recorded and logged with `alarm = "payment_anomaly"`), never a second change.
//! So `payment.failed` arriving after `payment.succeeded` leaves the order PAID.

use super::ports::{
    CommitError, EventPublisher, OrderCommit, OrderRepository, PaymentAnomalies, PaymentAnomaly,
    StockMovement,
};
use super::{Order, OrderEvent, OrderStatus};
use crate::kernel::{Clock, EventEnvelope, OrderId, StoreError, UnreadableEvent};
use crate::payments::PaymentEvent;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SagaOutcome {
    Paid,
    Cancelled,
    /// This payment event was applied before (a redelivery).
    AlreadyApplied,
    /// The payment could not be applied; recorded for a person to act on.
    Anomaly(String),
}

#[derive(Debug, thiserror::Error)]
pub enum SagaError {
    /// Poison: the message goes to the dead-letter queue after its retries.
    #[error(transparent)]
    Unreadable(#[from] UnreadableEvent),
    /// The order is still being processed: retry later.
    #[error("order {0} is still PENDING")]
    NotYetConfirmed(String),
    #[error("the order changed concurrently; retry")]
    Conflict,
    #[error("events committed but not published; they will be published on retry")]
    NotPublished,
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct PaymentSaga<'a> {
    pub orders: &'a dyn OrderRepository,
    pub anomalies: &'a dyn PaymentAnomalies,
    pub publisher: &'a dyn EventPublisher,
    pub clock: &'a dyn Clock,
}

impl PaymentSaga<'_> {
    pub async fn handle(&self, envelope: &EventEnvelope) -> Result<SagaOutcome, SagaError> {
        let payment: PaymentEvent = envelope.decode()?;
        let order = match OrderId::parse(payment.order_id()) {
            Ok(id) => self.orders.load(&id).await?,
            Err(_) => None,
        };
        let Some(order) = order else {
            return self.anomaly(envelope, &payment, "no such order").await;
        };
        let succeeded = matches!(payment, PaymentEvent::Succeeded { .. });
        let same_intent = order.payment_intent_id.as_deref() == Some(payment.payment_intent_id());
        match (order.status, succeeded) {
            (OrderStatus::Pending, _) => {
                Err(SagaError::NotYetConfirmed(order.order_id.to_string()))
            }
            (OrderStatus::Paid, true) | (OrderStatus::Cancelled, false) if same_intent => {
                self.flush(&order.order_id).await?;
                Ok(SagaOutcome::AlreadyApplied)
            }
            (OrderStatus::Confirmed, true) => self.pay(order, envelope, &payment).await,
            (OrderStatus::Confirmed, false) => self.cancel(order, envelope, &payment).await,
            (status, _) => {
                let reason = format!("{} for an order already {status:?}", envelope.event_type);
                self.anomaly(envelope, &payment, &reason).await
            }
        }
    }

    async fn pay(
        &self,
        order: Order,
        envelope: &EventEnvelope,
        payment: &PaymentEvent,
    ) -> Result<SagaOutcome, SagaError> {
        let PaymentEvent::Succeeded {
            amount,
            currency,
            payment_intent_id,
            ..
        } = payment
        else {
            unreachable!("pay is called for successful payments")
        };
        let total = order
            .totals
            .map(|t| t.total)
            .expect("a confirmed order has totals");
        if *amount != total.amount || !currency.eq_ignore_ascii_case(total.currency.code()) {
            let reason = format!(
                "paid {amount} {currency} but the order total is {total}: the order stays CONFIRMED"
            );
            return self.anomaly(envelope, payment, &reason).await;
        }
        let event = OrderEvent::Paid {
            customer_id: order.customer_id.clone(),
            payment_intent_id: payment_intent_id.clone(),
            amount: total,
        };
        self.commit(&order, event, envelope, vec![]).await?;
        Ok(SagaOutcome::Paid)
    }

    async fn cancel(
        &self,
        order: Order,
        envelope: &EventEnvelope,
        payment: &PaymentEvent,
    ) -> Result<SagaOutcome, SagaError> {
        let PaymentEvent::Failed {
            payment_intent_id,
            failure_message,
            ..
        } = payment
        else {
            unreachable!("cancel is called for failed payments")
        };
        let released = order.requested_lines();
        let stock = released
            .iter()
            .map(|l| StockMovement::Release(l.product_id.clone(), l.quantity))
            .collect();
        let event = OrderEvent::Cancelled {
            customer_id: order.customer_id.clone(),
            reason: format!(
                "payment failed: {}",
                failure_message.as_deref().unwrap_or("no reason given")
            ),
            payment_intent_id: payment_intent_id.clone(),
            released,
        };
        self.commit(&order, event, envelope, stock).await?;
        Ok(SagaOutcome::Cancelled)
    }

    async fn commit(
        &self,
        order: &Order,
        event: OrderEvent,
        cause: &EventEnvelope,
        stock: Vec<StockMovement>,
    ) -> Result<(), SagaError> {
        let recorded = order
            .record(event, self.clock.now(), Some(cause.event_id.clone()))
            .map_err(|_| SagaError::Conflict)?;
        let commit = OrderCommit {
            order: recorded.order,
            expected_version: order.version,
            events: vec![recorded.envelope.clone()],
            outbox: vec![recorded.envelope.clone()],
            stock,
            idempotency: None,
        };
        match self.orders.commit(commit).await {
            Ok(()) => {}
            Err(CommitError::Store(e)) => return Err(e.into()),
            Err(_) => return Err(SagaError::Conflict),
        }
        self.publish(&[recorded.envelope]).await
    }

    async fn flush(&self, id: &OrderId) -> Result<(), SagaError> {
        let outbox = self.orders.outbox(id).await?;
        self.publish(&outbox).await
    }

    async fn publish(&self, events: &[EventEnvelope]) -> Result<(), SagaError> {
        if events.is_empty() {
            return Ok(());
        }
        let report = self.publisher.publish(events).await?;
        if !report.failed.is_empty() {
            return Err(SagaError::NotPublished);
        }
        if let Err(e) = self.orders.clear_outbox(events).await {
            tracing::warn!(error = %e, "outbox entries published but not cleared");
        }
        Ok(())
    }

    async fn anomaly(
        &self,
        envelope: &EventEnvelope,
        payment: &PaymentEvent,
        reason: &str,
    ) -> Result<SagaOutcome, SagaError> {
        let anomaly = PaymentAnomaly {
            event_id: envelope.event_id.clone(),
            event_type: envelope.event_type.clone(),
            order_id: payment.order_id().to_owned(),
            payment_intent_id: payment.payment_intent_id().to_owned(),
            reason: reason.to_owned(),
        };
        self.anomalies.record(&anomaly).await?;
        // The alarm field is what the CloudWatch metric filter matches.
        tracing::warn!(
            alarm = "payment_anomaly",
            event_id = %anomaly.event_id,
            order_id = %anomaly.order_id,
            payment_intent_id = %anomaly.payment_intent_id,
            reason = %anomaly.reason,
            "payment not applied"
        );
        Ok(SagaOutcome::Anomaly(anomaly.reason))
    }
}
