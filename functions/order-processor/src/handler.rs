//! Translates an SQS batch into place-order commands and the results into a partial batch
//! response: a message is reported as failed only for itself, never for its batch.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent};
use shop::adapters::order_message;
use shop::ordering::processing::{OrderProcessor, Processed};
use shop::telemetry::metrics;

pub async fn handle(
    processor: &OrderProcessor<'_>,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, Error> {
    let mut response = SqsBatchResponse::default();
    let size = event.payload.records.len();
    let mut commands = Vec::new();
    let mut message_ids = Vec::new();
    for record in event.payload.records {
        let message_id = record.message_id.unwrap_or_default();
        match order_message::from_body(record.body.as_deref().unwrap_or_default()) {
            Ok(command) => {
                commands.push(command);
                message_ids.push(message_id);
            }
            // Poison: retried, then kept intact in the dead-letter queue for a person.
            Err(e) => {
                tracing::warn!(message_id = %message_id, error = %e, "unreadable message");
                response.add_failure(message_id);
            }
        }
    }
    let results = processor.process(&commands).await;
    for ((message_id, command), result) in message_ids.into_iter().zip(&commands).zip(results) {
        match result {
            Ok(outcome) => {
                tracing::info!(
                    order_id = %command.order_id,
                    correlation_id = %command.correlation_id,
                    outcome = ?outcome,
                    "order processed"
                );
                match outcome {
                    Processed::Confirmed => metrics::order_confirmed(),
                    Processed::Rejected(reason) => metrics::order_rejected(reason),
                    Processed::AlreadyProcessed(_) => {}
                }
            }
            Err(e) => {
                tracing::warn!(
                    order_id = %command.order_id,
                    correlation_id = %command.correlation_id,
                    message_id = %message_id,
                    error = %e,
                    "order will be retried"
                );
                response.add_failure(message_id);
            }
        }
    }
    metrics::batch(size, response.batch_item_failures.len());
    Ok(response)
}
