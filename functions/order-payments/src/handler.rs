//! Translates the saga's SQS messages into steps: payment events (`payment.*`) move a
//! confirmed order to PAID or CANCELLED; an order's own `order.confirmed` (from the deadline
//! queue) checks its payment deadline. Each message succeeds or fails alone.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent};
use shop::kernel::EventEnvelope;
use shop::ordering::CancellationReason;
use shop::ordering::deadline::{DeadlineOutcome, PaymentDeadline};
use shop::ordering::saga::{PaymentSaga, SagaOutcome};
use shop::telemetry::metrics;
use tracing::Instrument;

pub struct Saga<'a> {
    pub payments: PaymentSaga<'a>,
    pub deadline: PaymentDeadline<'a>,
}

pub async fn handle(
    saga: &Saga<'_>,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, Error> {
    let mut response = SqsBatchResponse::default();
    let size = event.payload.records.len();
    // One at a time, in delivery order: two events for one order in the same batch then meet
    // the order in a definite state.
    for record in event.payload.records {
        let message_id = record.message_id.unwrap_or_default();
        let body = record.body.as_deref().unwrap_or_default();
        let envelope: EventEnvelope = match serde_json::from_str(body) {
            Ok(envelope) => envelope,
            Err(e) => {
                tracing::warn!(message_id = %message_id, error = %e, "unreadable message");
                response.add_failure(message_id);
                continue;
            }
        };
        let span = tracing::info_span!(
            "saga_event",
            event_id = %envelope.event_id,
            event_type = %envelope.event_type,
            correlation_id = %envelope.correlation_id
        );
        let outcome = async {
            if envelope.event_type == "order.confirmed" {
                let outcome = saga.deadline.handle(&envelope).await;
                outcome.map(deadline_checked).map_err(|e| e.to_string())
            } else {
                let outcome = saga.payments.handle(&envelope).await;
                outcome.map(payment_applied).map_err(|e| e.to_string())
            }
        }
        .instrument(span.clone())
        .await;
        let _entered = span.enter();
        match outcome {
            Ok(outcome) => tracing::info!(outcome = %outcome, "saga step done"),
            Err(error) => {
                tracing::warn!(message_id = %message_id, error = %error, "saga step will be retried");
                response.add_failure(message_id);
            }
        }
    }
    metrics::batch(size, response.batch_item_failures.len());
    Ok(response)
}

/// Counts what a deadline check did; its description for the log.
fn deadline_checked(outcome: DeadlineOutcome) -> String {
    if outcome == DeadlineOutcome::Expired {
        metrics::order_cancelled(CancellationReason::PaymentTimeout);
    }
    format!("{outcome:?}")
}

/// Counts what a payment event did; its description for the log.
fn payment_applied(outcome: SagaOutcome) -> String {
    match &outcome {
        SagaOutcome::Paid(amount) => metrics::order_paid(*amount),
        SagaOutcome::Cancelled => metrics::order_cancelled(CancellationReason::PaymentFailed),
        SagaOutcome::Anomaly { .. } => metrics::payment_anomaly(),
        SagaOutcome::AlreadyApplied => {}
    }
    format!("{outcome:?}")
}
