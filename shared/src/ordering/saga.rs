//! The payment saga, ordering's side: a confirmed order becomes PAID when its payment
//! succeeds, or CANCELLED when it fails, its reserved stock released in the same transaction
//! (the compensation).
//!
//! Deterministic under redelivery and reordering: an order leaves CONFIRMED once, and every
//! later payment event for it is either a repeat of the one applied or an anomaly (recorded and logged with `alarm = "payment_anomaly"`), never a second change.
//! So `payment.failed` arriving after `payment.succeeded` leaves the order PAID. A payment
//! that took money it cannot pay with (late, unknown order, wrong amount or currency, a second
//! payment) also publishes `payment.refund_required`, once per payment event.
//!
//! Payments are applied a batch at a time ([`super::saga_batch`]): each one against its order as
//! the batch holds it, and the batch's refund requests published together at its end.

use super::batch_orders::BatchOrders;
use super::cancelling::ATTEMPTS;
use super::order::{Cancel, Order};
use super::ports::{AnomalyEntry, CommitError, OrderCommit, PaymentAnomalies, PaymentAnomaly};
use super::refunds::Refunds;
use super::state::OrderState;
use super::{CancellationReason, OrderStatus};
use crate::kernel::{Clock, EventEnvelope, InfraError, Money, OrderId, Timestamp, UnreadableEvent};
use crate::payments::{PaymentEvent, RefundEvent, RefundReason};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SagaOutcome {
    /// Paid, with this much.
    Paid(Money),
    Cancelled,
    /// This payment event was applied before (a redelivery).
    AlreadyApplied,
    /// The payment could not be applied; recorded for a person to act on, and a refund
    /// requested when it took money.
    Anomaly {
        reason: String,
        refund: bool,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum SagaError {
    /// Poison: the message goes to the dead-letter queue after its retries.
    #[error(transparent)]
    Unreadable(#[from] UnreadableEvent),
    /// The order is still being processed: retry later.
    #[error("order {0} is still PENDING")]
    NotYetConfirmed(OrderId),
    /// Another delivery of the same payment event is publishing its refund request: retry
    /// later, and publish only if that delivery never finished.
    #[error("another delivery of this payment event is being handled; retry")]
    InFlight,
    /// The bus did not take the refund request: retry, and publish it then.
    #[error("the refund request was not published; retry")]
    RefundNotPublished,
    #[error(transparent)]
    Commit(#[from] CommitError),
}

/// How long a delivery that recorded an anomaly may take to publish its refund request before
/// a redelivery takes over: longer than the function's 30-second timeout, so the first
/// delivery is certainly over.
const TAKE_OVER_AFTER: time::Duration = time::Duration::seconds(60);

impl From<InfraError> for SagaError {
    fn from(e: InfraError) -> Self {
        SagaError::Commit(e.into())
    }
}

/// The orders come with each payment (the batch's [`BatchOrders`]), and the refund requests
/// it leaves are the batch's to publish ([`Refunds`]).
pub(super) struct PaymentSaga<'a> {
    pub anomalies: &'a dyn PaymentAnomalies,
    pub clock: &'a dyn Clock,
}

impl PaymentSaga<'_> {
    /// Applies message `message` of a batch, `payment`, to its order as the batch holds it. A
    /// refund it requires is left in `refunds`, for the batch to publish.
    pub(super) async fn apply(
        &self,
        orders: &mut BatchOrders<'_>,
        refunds: &mut Refunds,
        message: usize,
        envelope: &EventEnvelope,
        payment: &PaymentEvent,
    ) -> Result<SagaOutcome, SagaError> {
        // Losing a race (the deadline, the customer) means reading the order again: the
        // payment then meets the order as the winner left it.
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                orders.reload(payment.order_id()).await?;
            }
            let outcome = match decide(orders.get(payment.order_id()), envelope, payment) {
                Decision::Pay(order) => self.pay(orders, &order, envelope, payment).await,
                Decision::Cancel(order) => self.cancel(orders, &order, envelope, payment).await,
                Decision::Done(outcome) => outcome,
                Decision::Anomaly(reason, refund) => {
                    self.anomaly(refunds, message, envelope, payment, reason, refund)
                        .await
                }
            };
            match outcome {
                Err(SagaError::Commit(CommitError::Conflict)) => continue,
                outcome => return outcome,
            }
        }
        Err(CommitError::Conflict.into())
    }

    async fn pay(
        &self,
        orders: &mut BatchOrders<'_>,
        order: &Order,
        envelope: &EventEnvelope,
        payment: &PaymentEvent,
    ) -> Result<SagaOutcome, SagaError> {
        let paid = order
            .pay(
                payment.payment_intent_id().clone(),
                self.clock.now(),
                envelope.event_id.clone(),
            )
            .map_err(|_| CommitError::Conflict)?;
        orders
            .commit(OrderCommit::of(order).then(paid, vec![]))
            .await?;
        Ok(SagaOutcome::Paid(payment.amount()))
    }

    async fn cancel(
        &self,
        orders: &mut BatchOrders<'_>,
        order: &Order,
        envelope: &EventEnvelope,
        payment: &PaymentEvent,
    ) -> Result<SagaOutcome, SagaError> {
        let detail = match payment {
            PaymentEvent::Failed {
                failure_message, ..
            } => failure_message.clone(),
            PaymentEvent::Succeeded { .. } => None,
        };
        let cancel = Cancel {
            reason: CancellationReason::PaymentFailed,
            detail,
            payment_intent_id: Some(payment.payment_intent_id().clone()),
            causation_id: Some(envelope.event_id.clone()),
        };
        let commit = super::cancelling::cancellation(order, cancel, self.clock.now())
            .map_err(|_| CommitError::Conflict)?;
        orders.commit(commit).await?;
        Ok(SagaOutcome::Cancelled)
    }

    /// Records the anomaly once and, for a payment that took money, leaves its
    /// `payment.refund_required` for the batch to publish, until the bus has taken it once.
    async fn anomaly(
        &self,
        refunds: &mut Refunds,
        message: usize,
        envelope: &EventEnvelope,
        payment: &PaymentEvent,
        reason: String,
        refund_reason: RefundReason,
    ) -> Result<SagaOutcome, SagaError> {
        let now = self.clock.now();
        let anomaly = PaymentAnomaly {
            event_id: envelope.event_id.clone(),
            event_type: envelope.event_type.clone(),
            order_id: payment.order_id().clone(),
            payment_intent_id: payment.payment_intent_id().clone(),
            reason,
            recorded_at: now,
            refund: refund_request(envelope, payment, refund_reason, now),
        };
        let entry = self.anomalies.record(&anomaly).await?;
        // The alarm field is what the CloudWatch metric filter matches.
        tracing::warn!(
            alarm = "payment_anomaly",
            event_id = %anomaly.event_id,
            order_id = %anomaly.order_id,
            payment_intent_id = %anomaly.payment_intent_id,
            reason = %anomaly.reason,
            refund_required = anomaly.refund.is_some(),
            "payment not applied"
        );
        let refund = anomaly.refund.is_some();
        if let Some(request) = &anomaly.refund {
            match refund_due(entry, now) {
                // A copy earlier in this batch recorded it: its publication is this one's too.
                _ if refunds.publishes(request) => {
                    refunds.wait_for(message, &anomaly.event_id, request)
                }
                RefundDue::Yes => refunds.wait_for(message, &anomaly.event_id, request),
                RefundDue::InFlight => return Err(SagaError::InFlight),
                RefundDue::No => {}
            }
        }
        Ok(SagaOutcome::Anomaly {
            reason: anomaly.reason,
            refund,
        })
    }
}

/// What a payment event does to its order as it stands.
enum Decision {
    Pay(Order),
    Cancel(Order),
    /// Nothing to commit: a repeat, or an order not confirmed yet.
    Done(Result<SagaOutcome, SagaError>),
    /// It cannot apply, for this reason: recorded, and refunded for this one if it took money.
    Anomaly(String, RefundReason),
}

/// Decides what `payment` does to `order` (`None`: there is no such order).
fn decide(order: Option<&Order>, envelope: &EventEnvelope, payment: &PaymentEvent) -> Decision {
    let Some(order) = order else {
        return Decision::Anomaly("no such order".into(), RefundReason::UnknownOrder);
    };
    let succeeded = matches!(payment, PaymentEvent::Succeeded { .. });
    let intent = Some(payment.payment_intent_id());
    match order.state() {
        OrderState::Pending => Decision::Done(Err(SagaError::NotYetConfirmed(order.id().clone()))),
        OrderState::Paid {
            payment_intent_id, ..
        } if succeeded && intent == Some(payment_intent_id) => {
            Decision::Done(Ok(SagaOutcome::AlreadyApplied))
        }
        OrderState::Cancelled(cancellation)
            if !succeeded && intent == cancellation.payment_intent_id.as_ref() =>
        {
            Decision::Done(Ok(SagaOutcome::AlreadyApplied))
        }
        OrderState::Confirmed(confirmation) if payment.amount() == confirmation.totals.total => {
            if succeeded {
                Decision::Pay(order.clone())
            } else {
                Decision::Cancel(order.clone())
            }
        }
        OrderState::Confirmed(confirmation) => {
            let reason = format!(
                "{} of {} but the order total is {}: the order stays CONFIRMED",
                envelope.event_type,
                payment.amount(),
                confirmation.totals.total,
            );
            Decision::Anomaly(reason, RefundReason::AmountMismatch)
        }
        settled => {
            let status = settled.status();
            let reason = format!("{} for an order already {status:?}", envelope.event_type);
            let refund = match status {
                OrderStatus::Paid => RefundReason::AlreadyPaid,
                OrderStatus::Rejected => RefundReason::OrderRejected,
                _ => RefundReason::OrderCancelled,
            };
            Decision::Anomaly(reason, refund)
        }
    }
}

/// The `payment.refund_required` of a payment that took money (`None` for a failed one).
fn refund_request(
    envelope: &EventEnvelope,
    payment: &PaymentEvent,
    reason: RefundReason,
    now: Timestamp,
) -> Option<EventEnvelope> {
    RefundEvent::of(payment, reason).map(|refund| {
        EventEnvelope::wrap(
            &refund,
            format!("{}.refund", envelope.event_id),
            envelope.aggregate_id.clone(),
            envelope.sequence,
            now,
            envelope.correlation_id.clone(),
            Some(envelope.event_id.clone()),
        )
    })
}

/// Whether this delivery publishes the anomaly's refund request.
enum RefundDue {
    Yes,
    No,
    /// Another delivery recorded it moments ago and may be publishing it now.
    InFlight,
}

/// One publication per payment event, even when copies of it are handled at once: the
/// delivery that recorded the anomaly publishes (its batch, at the batch's end); a copy takes
/// over only from one that died (`TAKE_OVER_AFTER`).
fn refund_due(entry: AnomalyEntry, now: Timestamp) -> RefundDue {
    match entry {
        AnomalyEntry::New => RefundDue::Yes,
        AnomalyEntry::Seen {
            refund_published: true,
            ..
        } => RefundDue::No,
        AnomalyEntry::Seen { recorded_at, .. } if now - recorded_at < TAKE_OVER_AFTER => {
            RefundDue::InFlight
        }
        AnomalyEntry::Seen { .. } => RefundDue::Yes,
    }
}
