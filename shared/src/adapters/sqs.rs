//! Queueing place-order commands for the processor.

use crate::kernel::StoreError;
use crate::ordering::placing::{OrderMessage, PlaceOrder};
use crate::ordering::ports::OrderQueue;
use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::DisplayErrorContext;
use aws_sdk_sqs::types::MessageAttributeValue;

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

#[async_trait]
impl OrderQueue for SqsOrderQueue {
    async fn send(&self, command: &PlaceOrder) -> Result<(), StoreError> {
        let body = serde_json::to_string(&OrderMessage::place_order(command.clone()))
            .map_err(|e| StoreError::new(e.to_string()))?;
        let correlation = MessageAttributeValue::builder()
            .data_type("String")
            .string_value(&command.correlation_id)
            .build()
            .map_err(|e| StoreError::new(DisplayErrorContext(e)))?;
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .message_attributes("correlation_id", correlation)
            .send()
            .await
            .map_err(|e| StoreError::new(DisplayErrorContext(e)))?;
        Ok(())
    }
}
