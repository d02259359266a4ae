//! The saga a batch at a time, as order-payments receives it: payment events (`payment.*`)
//! move confirmed orders to PAID or CANCELLED; an order's own `order.confirmed` (from the
//! deadline queue) checks its payment deadline.
//!
//! The batch's orders are read in one round trip, then its messages are applied one at a time
//! in delivery order, each against its order as the messages before it left it: two events for
//! one order meet it in a definite state, and a second copy of one is a repeat. Each message
//! that changes its order commits on its own, and succeeds or fails alone. The refunds the
//! batch's anomalies require are published together at its end (`refunds`).

use super::batch_orders::BatchOrders;
use super::deadline::{DeadlineOutcome, PaymentDeadline};
use super::ports::{DeadlineTimer, EventPublisher, OrderRepository, PaymentAnomalies};
use super::refunds::Refunds;
use super::saga::{PaymentSaga, SagaError, SagaOutcome};
use crate::kernel::{Clock, EventEnvelope, OrderId};
use crate::payments::PaymentEvent;
use tracing::Instrument;

pub struct Saga<'a> {
    pub orders: &'a dyn OrderRepository,
    /// For refund requests: order events are the relay's to publish.
    pub publisher: &'a dyn EventPublisher,
    pub anomalies: &'a dyn PaymentAnomalies,
    pub timer: &'a dyn DeadlineTimer,
    pub clock: &'a dyn Clock,
}

/// What one message of a batch did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepOutcome {
    Payment(SagaOutcome),
    Deadline(DeadlineOutcome),
}

/// A step that failed is worth retrying: its message goes back to the queue (an unreadable
/// one, after its retries, to the dead-letter queue).
pub type StepResult = Result<StepOutcome, SagaError>;

/// A message as read before the batch's orders are.
enum Step {
    Payment(PaymentEvent),
    /// An order's `order.confirmed`: check its payment deadline.
    Deadline,
}

impl Step {
    fn read(message: &EventEnvelope) -> Result<Step, SagaError> {
        if message.event_type == "order.confirmed" {
            return Ok(Step::Deadline);
        }
        Ok(Step::Payment(message.decode()?))
    }

    /// The order the message is about, when it names one.
    fn order_id(&self, message: &EventEnvelope) -> Option<OrderId> {
        match self {
            Step::Payment(payment) => Some(payment.order_id().clone()),
            Step::Deadline => OrderId::parse(message.aggregate_id.as_str()).ok(),
        }
    }
}

impl Saga<'_> {
    /// Handles a batch; the results line up with `messages`.
    pub async fn handle_batch(&self, messages: &[EventEnvelope]) -> Vec<StepResult> {
        let steps: Vec<Result<Step, SagaError>> = messages.iter().map(Step::read).collect();
        let ids = messages
            .iter()
            .zip(&steps)
            .filter_map(|(message, step)| step.as_ref().ok()?.order_id(message));
        let mut orders = match BatchOrders::load(self.orders, ids).await {
            Ok(orders) => orders,
            Err(e) => {
                // An unreadable message keeps its own reason.
                let failed = |step: Result<Step, SagaError>| match step {
                    Err(unreadable) => Err(unreadable),
                    Ok(_) => Err(e.clone().into()),
                };
                return steps.into_iter().map(failed).collect();
            }
        };
        let (payments, deadline) = (self.payments(), self.deadline());
        let mut refunds = Refunds::default();
        let mut results = Vec::with_capacity(messages.len());
        for (i, (message, step)) in messages.iter().zip(steps).enumerate() {
            let span = tracing::info_span!(
                "saga_event",
                event_id = %message.event_id,
                event_type = %message.event_type,
                correlation_id = %message.correlation_id
            );
            let (orders, refunds) = (&mut orders, &mut refunds);
            let (payments, deadline) = (&payments, &deadline);
            let result = async move {
                match step? {
                    Step::Payment(payment) => {
                        let applied = payments.apply(orders, refunds, i, message, &payment);
                        Ok(StepOutcome::Payment(applied.await?))
                    }
                    Step::Deadline => Ok(StepOutcome::Deadline(
                        deadline.check(orders, message).await?,
                    )),
                }
            };
            results.push(result.instrument(span).await);
        }
        for (i, refund_failed) in refunds.publish(self.publisher, self.anomalies).await {
            results[i] = Err(refund_failed);
        }
        results
    }

    fn payments(&self) -> PaymentSaga<'_> {
        PaymentSaga {
            anomalies: self.anomalies,
            clock: self.clock,
        }
    }

    fn deadline(&self) -> PaymentDeadline<'_> {
        PaymentDeadline {
            timer: self.timer,
            clock: self.clock,
        }
    }
}
