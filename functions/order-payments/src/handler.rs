//! Translates payment events from SQS into saga steps; each message succeeds or fails alone.

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent};
use shop::kernel::EventEnvelope;
use shop::ordering::saga::PaymentSaga;
use tracing::Instrument;

pub async fn handle(
    saga: &PaymentSaga<'_>,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, Error> {
    let mut response = SqsBatchResponse::default();
    // One at a time, in delivery order: two events for one order in the same batch then meet
    // the order in a definite state.
    for record in event.payload.records {
        let message_id = record.message_id.unwrap_or_default();
        let body = record.body.as_deref().unwrap_or_default();
        let envelope: EventEnvelope = match serde_json::from_str(body) {
            Ok(envelope) => envelope,
            Err(e) => {
                tracing::warn!(message_id = %message_id, error = %e, "unreadable message");
                response.batch_item_failures.push(failure(message_id));
                continue;
            }
        };
        let span = tracing::info_span!(
            "payment_event",
            event_id = %envelope.event_id,
            event_type = %envelope.event_type,
            correlation_id = %envelope.correlation_id
        );
        match saga.handle(&envelope).instrument(span.clone()).await {
            Ok(outcome) => {
                span.in_scope(|| tracing::info!(outcome = ?outcome, "payment event handled"))
            }
            Err(e) => {
                span.in_scope(|| tracing::warn!(message_id = %message_id, error = %e, "payment event will be retried"));
                response.batch_item_failures.push(failure(message_id));
            }
        }
    }
    Ok(response)
}

fn failure(message_id: String) -> BatchItemFailure {
    let mut failure = BatchItemFailure::default();
    failure.item_identifier = message_id;
    failure
}
