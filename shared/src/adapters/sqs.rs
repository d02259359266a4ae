//! Queueing place-order commands for the processor, and payment deadlines for the saga.

use super::order_message;
use crate::kernel::{EventEnvelope, InfraError, OrderId};
use crate::ordering::PlaceOrder;
use crate::ordering::ports::{DeadlineTimer, OrderQueue};
use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::{MessageAttributeValue, SendMessageBatchRequestEntry};

#[derive(Clone)]
pub struct SqsOrderQueue {
    client: Client,
    queue_url: String,
}

impl SqsOrderQueue {
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }
}

fn entry(index: usize, command: &PlaceOrder) -> Result<SendMessageBatchRequestEntry, String> {
    let body = order_message::to_body(command).map_err(|e| e.to_string())?;
    let correlation = MessageAttributeValue::builder()
        .data_type("String")
        .string_value(command.correlation_id.as_str())
        .build()
        .map_err(|e| DisplayErrorContext(e).to_string())?;
    SendMessageBatchRequestEntry::builder()
        .id(index.to_string())
        .message_body(body)
        .message_attributes("correlation_id", correlation)
        .build()
        .map_err(|e| DisplayErrorContext(e).to_string())
}

#[async_trait]
impl OrderQueue for SqsOrderQueue {
    /// Ten commands to a SendMessageBatch call.
    async fn send(&self, commands: &[PlaceOrder]) -> Vec<OrderId> {
        let mut not_sent = Vec::new();
        for chunk in commands.chunks(10) {
            let entries: Result<Vec<_>, String> =
                chunk.iter().enumerate().map(|(i, c)| entry(i, c)).collect();
            let sent = match entries {
                Ok(entries) => {
                    self.client
                        .send_message_batch()
                        .queue_url(&self.queue_url)
                        .set_entries(Some(entries))
                        .send()
                        .await
                }
                Err(reason) => {
                    tracing::warn!(%reason, "cannot build the orders-queue messages");
                    not_sent.extend(chunk.iter().map(|c| c.order_id.clone()));
                    continue;
                }
            };
            match sent {
                Ok(out) => {
                    for failed in out.failed() {
                        tracing::warn!(code = failed.code(), "SQS refused a place-order message");
                        if let Some(command) =
                            failed.id().parse::<usize>().ok().and_then(|i| chunk.get(i))
                        {
                            not_sent.push(command.order_id.clone());
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %DisplayErrorContext(&e), "SendMessageBatch failed");
                    not_sent.extend(chunk.iter().map(|c| c.order_id.clone()));
                }
            }
        }
        not_sent
    }
}

/// Payment deadlines as delayed SQS messages: the order's `order.confirmed`, sent back to the
/// deadline queue with a delay. SQS delays a message 15 minutes at most, so a longer wait is
/// several hops; each delivery checks the order again.
#[derive(Clone)]
pub struct SqsDeadlineTimer {
    client: Client,
    queue_url: String,
}

/// SQS's longest message delay.
const MAX_DELAY_SECONDS: u64 = 900;

impl SqsDeadlineTimer {
    pub fn new(client: Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }
}

#[async_trait]
impl DeadlineTimer for SqsDeadlineTimer {
    async fn recheck_after(
        &self,
        confirmed: &EventEnvelope,
        delay: std::time::Duration,
    ) -> Result<(), InfraError> {
        let body = serde_json::to_string(confirmed).map_err(InfraError::new)?;
        let seconds = delay.as_secs().clamp(1, MAX_DELAY_SECONDS);
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .delay_seconds(i32::try_from(seconds).unwrap_or(900))
            .send()
            .await
            .map_err(|e| InfraError::new(DisplayErrorContext(e)))?;
        Ok(())
    }
}
