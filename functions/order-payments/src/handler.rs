//! Translates the saga's SQS messages into one batch for the saga (payment events, and payment
//! deadlines from the deadline queue) and its outcomes into a partial batch response: a
//! message is reported as failed only for itself, never for its batch.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent};
use shop::kernel::EventEnvelope;
use shop::ordering::CancellationReason;
use shop::ordering::deadline::DeadlineOutcome;
use shop::ordering::saga::SagaOutcome;
use shop::ordering::saga_batch::{Saga, StepOutcome};
use shop::telemetry::metrics;

pub async fn handle(
    saga: &Saga<'_>,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, Error> {
    let mut response = SqsBatchResponse::default();
    let size = event.payload.records.len();
    let mut messages = Vec::new();
    let mut message_ids = Vec::new();
    for record in event.payload.records {
        let message_id = record.message_id.unwrap_or_default();
        let body = record.body.as_deref().unwrap_or_default();
        match serde_json::from_str::<EventEnvelope>(body) {
            Ok(envelope) => {
                messages.push(envelope);
                message_ids.push(message_id);
            }
            // Poison: retried, then kept intact in the dead-letter queue for a person.
            Err(e) => {
                tracing::warn!(message_id = %message_id, error = %e, "unreadable message");
                response.add_failure(message_id);
            }
        }
    }
    let results = saga.handle_batch(&messages).await;
    for ((message_id, envelope), result) in message_ids.into_iter().zip(&messages).zip(results) {
        let span = tracing::info_span!(
            "saga_event",
            event_id = %envelope.event_id,
            event_type = %envelope.event_type,
            correlation_id = %envelope.correlation_id
        );
        let _entered = span.enter();
        match result {
            Ok(outcome) => tracing::info!(outcome = %counted(outcome), "saga step done"),
            Err(error) => {
                tracing::warn!(message_id = %message_id, error = %error, "saga step will be retried");
                response.add_failure(message_id);
            }
        }
    }
    metrics::batch(size, response.batch_item_failures.len());
    Ok(response)
}

/// Counts what a step did; its description for the log.
fn counted(outcome: StepOutcome) -> String {
    match outcome {
        StepOutcome::Deadline(outcome) => {
            if outcome == DeadlineOutcome::Expired {
                metrics::order_cancelled(CancellationReason::PaymentTimeout);
            }
            format!("{outcome:?}")
        }
        StepOutcome::Payment(outcome) => {
            match &outcome {
                SagaOutcome::Paid(amount) => metrics::order_paid(*amount),
                SagaOutcome::Cancelled => {
                    metrics::order_cancelled(CancellationReason::PaymentFailed)
                }
                SagaOutcome::Anomaly { .. } => metrics::payment_anomaly(),
                SagaOutcome::AlreadyApplied => {}
            }
            format!("{outcome:?}")
        }
    }
}
