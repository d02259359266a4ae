//! Publishing domain events to the SNS topic, ten to a PublishBatch call.

use crate::kernel::{EventEnvelope, EventPublisher, InfraError, PublishReport};
use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_sns::Client;
use aws_sdk_sns::error::DisplayErrorContext;
use aws_sdk_sns::types::{MessageAttributeValue, PublishBatchRequestEntry};
use std::sync::{Arc, LazyLock};

#[derive(Clone)]
pub struct SnsPublisher {
    client: Arc<LazyLock<Client, BuildClient>>,
    topic_arn: String,
}

type BuildClient = Box<dyn FnOnce() -> Client + Send>;

impl SnsPublisher {
    pub fn new(client: Client, topic_arn: impl Into<String>) -> Self {
        Self {
            client: Arc::new(LazyLock::new(Box::new(move || client))),
            topic_arn: topic_arn.into(),
        }
    }

    /// A publisher whose client is built at its first publication, for a function that
    /// rarely publishes (order-payments: refund requests only). Building an SDK client reads
    /// its crate's endpoint partitions, about a fifth of a function's init (callgrind,
    /// docs/benchmarks.md); an execution environment that never publishes never pays it.
    pub fn on_first_use(config: &SdkConfig, topic_arn: impl Into<String>) -> Self {
        let config = config.clone();
        Self {
            client: Arc::new(LazyLock::new(Box::new(move || crate::aws::sns(&config)))),
            topic_arn: topic_arn.into(),
        }
    }
}

fn attribute(value: &str) -> Result<MessageAttributeValue, InfraError> {
    MessageAttributeValue::builder()
        .data_type("String")
        .string_value(value)
        .build()
        .map_err(|e| InfraError::new(DisplayErrorContext(e)))
}

fn entry(index: usize, event: &EventEnvelope) -> Result<PublishBatchRequestEntry, InfraError> {
    let body = serde_json::to_string(event).map_err(|e| InfraError::new(e.to_string()))?;
    PublishBatchRequestEntry::builder()
        .id(index.to_string())
        .message(body)
        // Subscribers filter on event_type; correlation_id lets them log the order's thread
        // before parsing the body.
        .message_attributes("event_type", attribute(&event.event_type)?)
        .message_attributes("correlation_id", attribute(event.correlation_id.as_str())?)
        .build()
        .map_err(|e| InfraError::new(DisplayErrorContext(e)))
}

#[async_trait]
impl EventPublisher for SnsPublisher {
    async fn publish(&self, events: &[EventEnvelope]) -> Result<PublishReport, InfraError> {
        let mut report = PublishReport::default();
        for chunk in events.chunks(10) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, e)| entry(i, e))
                .collect::<Result<Vec<_>, _>>()?;
            match self
                .client
                .publish_batch()
                .topic_arn(&self.topic_arn)
                .set_publish_batch_request_entries(Some(entries))
                .send()
                .await
            {
                Ok(out) => {
                    for failed in out.failed() {
                        tracing::warn!(code = failed.code(), "SNS refused an event");
                        if let Some(event) =
                            failed.id().parse::<usize>().ok().and_then(|i| chunk.get(i))
                        {
                            report.failed.push(event.event_id.clone());
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %DisplayErrorContext(&e), "PublishBatch failed");
                    report
                        .failed
                        .extend(chunk.iter().map(|e| e.event_id.clone()));
                }
            }
        }
        Ok(report)
    }
}
