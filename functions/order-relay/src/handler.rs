//! Translates a batch of stream records into committed events, and what could not be relayed
//! into a partial batch response. Lambda hands the stream over again from the lowest sequence
//! number reported, so the first record that failed is reported and everything after it
//! comes back (relayed twice, which subscribers and the processor absorb).

use aws_lambda_events::dynamodb::Event;
use aws_lambda_events::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use lambda_runtime::{Error, LambdaEvent};
use shop::adapters::dynamodb::event_of_stream_image;
use shop::kernel::EventEnvelope;
use shop::ordering::relay::Relay;
use shop::telemetry::metrics;

/// Only new items carry something to relay; the event source's filter already drops the
/// rest, this keeps the function right without it.
const INSERT: &str = "INSERT";

pub async fn handle(
    relay: &Relay<'_>,
    event: LambdaEvent<Event>,
) -> Result<DynamoDbEventResponse, Error> {
    let mut committed: Vec<(String, EventEnvelope)> = Vec::new();
    for record in event.payload.records {
        if record.event_name != INSERT {
            continue;
        }
        let sequence = record.change.sequence_number.unwrap_or_default();
        match event_of_stream_image(record.change.new_image) {
            Ok(Some(envelope)) => committed.push((sequence, envelope)),
            Ok(None) => {}
            // Not an event this code can read: left in the table for a person, never retried
            // (it would hold up every later record of its shard).
            Err(e) => tracing::error!(
                alarm = "relay_unreadable",
                sequence_number = %sequence,
                error = %e,
                "cannot relay this stream record"
            ),
        }
    }
    let size = committed.len();
    let events: Vec<EventEnvelope> = committed.iter().map(|(_, e)| e.clone()).collect();
    let relayed = relay.relay(&events).await;
    let mut response = DynamoDbEventResponse::default();
    if let Some((sequence, first)) = committed
        .iter()
        .find(|(_, e)| relayed.failed.contains(&e.event_id))
    {
        tracing::warn!(
            failed = relayed.failed.len(),
            first_event_id = %first.event_id,
            "events not relayed; the stream hands them over again"
        );
        // The one response type of aws_lambda_events without an `add_failure`.
        let mut failure = DynamoDbBatchItemFailure::default();
        failure.item_identifier = Some(sequence.clone());
        response.batch_item_failures.push(failure);
    }
    tracing::info!(
        events = events.len(),
        failed = relayed.failed.len(),
        "batch relayed"
    );
    metrics::batch(size, response.batch_item_failures.len());
    Ok(response)
}
