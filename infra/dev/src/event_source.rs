//! SQS event sources: pollers that do what Lambda's event source mapping does.
//!
//! Each poller receives a batch (up to `BatchSize`, waiting up to the batching window to
//! fill it), invokes the function with an `SqsEvent`, then deletes the messages that
//! succeeded. Failed messages stay in the queue and come back; the queue's redrive policy
//! moves them to the DLQ after `maxReceiveCount` receives.
//!
//! One local difference, on purpose: a failed message is made visible again after a short
//! retry delay (1 s by default) instead of the queue's visibility timeout (180 s in the
//! template), so retries and redrives happen in seconds on a laptop.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use aws_lambda_events::encodings::Base64Data;
use aws_lambda_events::sqs::{SqsEvent, SqsMessage, SqsMessageAttribute};
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry, Message,
    MessageSystemAttributeName,
};
use sam_template::reports_batch_item_failures;
use serde_json::Value;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::logs::Logs;
use crate::resources::REGION;
use crate::runtime::FunctionHost;

/// SQS returns at most 10 messages per receive and takes at most 10 entries per batch call.
const SQS_MAX_BATCH: usize = 10;
/// Long-poll this long per receive: short, so a stop is noticed quickly.
const WAIT_TIME_SECONDS: i32 = 1;

/// One SQS event of a function, with the local cloud's retry delay.
#[derive(Clone, Debug)]
pub struct SqsSourceConfig {
    pub queue_url: String,
    pub queue_arn: String,
    pub batch_size: usize,
    pub batching_window: Duration,
    pub report_batch_item_failures: bool,
    /// How soon a failed message is visible again (Lambda: the queue's visibility timeout).
    pub retry_delay: Duration,
}

/// SAM's `BatchSize` when the event has none.
const DEFAULT_BATCH_SIZE: u32 = 10;

impl SqsSourceConfig {
    /// `event`'s settings, SAM's defaults where it has none, for the queue it names.
    pub fn new(
        event: &sam_template::SqsEvent,
        queue_url: String,
        queue_arn: String,
        retry_delay: Duration,
    ) -> Self {
        SqsSourceConfig {
            queue_url,
            queue_arn,
            batch_size: event.batch_size.unwrap_or(DEFAULT_BATCH_SIZE).max(1) as usize,
            batching_window: Duration::from_secs(
                event.maximum_batching_window_in_seconds.unwrap_or(0),
            ),
            report_batch_item_failures: reports_batch_item_failures(
                event.function_response_types.as_ref(),
            ),
            retry_delay,
        }
    }
}

/// Starts `pollers` pollers feeding `host` until `shutdown`.
pub fn start(
    client: &aws_sdk_sqs::Client,
    host: &FunctionHost,
    config: &SqsSourceConfig,
    pollers: usize,
    logs: &Logs,
    shutdown: &CancellationToken,
    tasks: &TaskTracker,
) {
    for _ in 0..pollers.max(1) {
        let poller = Poller {
            client: client.clone(),
            host: host.clone(),
            config: config.clone(),
            logs: logs.clone(),
            label: format!("sqs {}", queue_name(&config.queue_arn)),
        };
        let shutdown = shutdown.clone();
        tasks.spawn(async move {
            tokio::select! {
                () = poller.run() => {}
                () = shutdown.cancelled() => {}
            }
        });
    }
}

fn queue_name(arn: &str) -> &str {
    arn.rsplit(':').next().unwrap_or(arn)
}

struct Poller {
    client: aws_sdk_sqs::Client,
    host: FunctionHost,
    config: SqsSourceConfig,
    logs: Logs,
    label: String,
}

impl Poller {
    async fn run(self) {
        let mut last_error = String::new();
        loop {
            let messages = match self.receive().await {
                Ok(messages) => {
                    last_error.clear();
                    messages
                }
                Err(error) => {
                    // The emulator restarting or gone: say it once, keep trying.
                    if error != last_error {
                        self.logs
                            .dev(&self.label, &format!("cannot receive: {error}"));
                        last_error = error;
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            if messages.is_empty() {
                continue;
            }
            self.process(messages).await;
        }
    }

    async fn receive(&self) -> Result<Vec<Message>, String> {
        let deadline = Instant::now() + self.config.batching_window;
        let mut messages = Vec::new();
        loop {
            let wanted = (self.config.batch_size - messages.len()).min(SQS_MAX_BATCH);
            let output = self
                .client
                .receive_message()
                .queue_url(&self.config.queue_url)
                .max_number_of_messages(wanted as i32)
                .wait_time_seconds(WAIT_TIME_SECONDS)
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .message_attribute_names("All")
                .send()
                .await
                .map_err(|e| aws_sdk_sqs::error::DisplayErrorContext(e).to_string())?;
            let received = output.messages.unwrap_or_default();
            let got_none = received.is_empty();
            messages.extend(received);
            if messages.is_empty()
                || got_none
                || messages.len() >= self.config.batch_size
                || Instant::now() >= deadline
            {
                return Ok(messages);
            }
        }
    }

    async fn process(&self, messages: Vec<Message>) {
        let event = sqs_event(&messages, &self.config.queue_arn);
        let ids: Vec<String> = messages
            .iter()
            .map(|m| m.message_id().unwrap_or_default().to_owned())
            .collect();
        let outcome = match self
            .host
            .invoke(&serde_json::to_value(&event).expect("serializes"))
            .await
        {
            Ok(answer) => batch_outcome(&answer, &ids, self.config.report_batch_item_failures),
            Err(error) => BatchOutcome::AllFailed(error.to_string()),
        };
        let failed: HashSet<&str> = match &outcome {
            BatchOutcome::Succeeded => HashSet::new(),
            BatchOutcome::Partial(failed) => failed.iter().map(String::as_str).collect(),
            BatchOutcome::AllFailed(_) => ids.iter().map(String::as_str).collect(),
        };
        let function = &self.host.config().binary;
        match &outcome {
            BatchOutcome::Succeeded => {}
            BatchOutcome::Partial(failed) => self.logs.dev(
                &self.label,
                &format!(
                    "{function} reported {} of {} messages failed; they are retried",
                    failed.len(),
                    ids.len()
                ),
            ),
            BatchOutcome::AllFailed(reason) => self.logs.dev(
                &self.label,
                &format!(
                    "{function} failed a batch of {}: {reason}; it is retried",
                    ids.len()
                ),
            ),
        }
        let (retry, done): (Vec<&Message>, Vec<&Message>) = messages
            .iter()
            .partition(|m| failed.contains(m.message_id().unwrap_or_default()));
        self.delete(&done).await;
        self.retry_soon(&retry).await;
    }

    async fn delete(&self, messages: &[&Message]) {
        for chunk in messages.chunks(SQS_MAX_BATCH) {
            let entries = chunk
                .iter()
                .enumerate()
                .filter_map(|(i, m)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(m.receipt_handle()?)
                        .build()
                        .ok()
                })
                .collect();
            let result = self
                .client
                .delete_message_batch()
                .queue_url(&self.config.queue_url)
                .set_entries(Some(entries))
                .send()
                .await;
            match result {
                Ok(output) if output.failed().is_empty() => {}
                Ok(output) => self.logs.dev(
                    &self.label,
                    &format!(
                        "{} messages could not be deleted and will come back",
                        output.failed().len()
                    ),
                ),
                Err(e) => self.logs.dev(
                    &self.label,
                    &format!(
                        "cannot delete processed messages, they will come back: {}",
                        aws_sdk_sqs::error::DisplayErrorContext(e)
                    ),
                ),
            }
        }
    }

    async fn retry_soon(&self, messages: &[&Message]) {
        let seconds = self.config.retry_delay.as_secs_f64().ceil() as i32;
        for chunk in messages.chunks(SQS_MAX_BATCH) {
            let entries = chunk
                .iter()
                .enumerate()
                .filter_map(|(i, m)| {
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(m.receipt_handle()?)
                        .visibility_timeout(seconds)
                        .build()
                        .ok()
                })
                .collect();
            // If this fails the messages still come back, after the queue's own timeout.
            if let Err(e) = self
                .client
                .change_message_visibility_batch()
                .queue_url(&self.config.queue_url)
                .set_entries(Some(entries))
                .send()
                .await
            {
                self.logs.dev(
                    &self.label,
                    &format!(
                        "cannot shorten the retry delay: {}",
                        aws_sdk_sqs::error::DisplayErrorContext(e)
                    ),
                );
            }
        }
    }
}

/// The event Lambda sends for a batch of SQS messages.
pub fn sqs_event(messages: &[Message], queue_arn: &str) -> SqsEvent {
    let mut event = SqsEvent::default();
    event.records = messages.iter().map(|m| sqs_message(m, queue_arn)).collect();
    event
}

fn sqs_message(message: &Message, queue_arn: &str) -> SqsMessage {
    let mut record = SqsMessage::default();
    record.message_id = message.message_id().map(str::to_owned);
    record.receipt_handle = message.receipt_handle().map(str::to_owned);
    record.body = message.body().map(str::to_owned);
    record.md5_of_body = message.md5_of_body().map(str::to_owned);
    record.md5_of_message_attributes = message.md5_of_message_attributes().map(str::to_owned);
    record.attributes = message
        .attributes()
        .into_iter()
        .flatten()
        .map(|(name, value)| (name.as_str().to_owned(), value.clone()))
        .collect();
    record.message_attributes = message
        .message_attributes()
        .into_iter()
        .flatten()
        .map(|(name, value)| {
            let mut attribute = SqsMessageAttribute::default();
            attribute.data_type = Some(value.data_type().to_owned());
            attribute.string_value = value.string_value().map(str::to_owned);
            attribute.binary_value = value.binary_value().map(|b| base64_data(b.as_ref()));
            attribute.string_list_values = value.string_list_values().to_vec();
            attribute.binary_list_values = value
                .binary_list_values()
                .iter()
                .map(|b| base64_data(b.as_ref()))
                .collect();
            (name.clone(), attribute)
        })
        .collect::<HashMap<_, _>>();
    record.event_source = Some("aws:sqs".to_owned());
    record.event_source_arn = Some(queue_arn.to_owned());
    record.aws_region = Some(REGION.to_owned());
    record
}

fn base64_data(bytes: &[u8]) -> Base64Data {
    let mut data = Base64Data::default();
    data.0 = bytes.to_vec();
    data
}

/// What a function's answer means for the batch, by Lambda's rules for partial batch
/// responses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BatchOutcome {
    Succeeded,
    /// These message ids failed; the rest succeeded.
    Partial(Vec<String>),
    /// Nothing is deleted.
    AllFailed(String),
}

/// Without `ReportBatchItemFailures` any answer is success. With it, a missing or empty
/// `batchItemFailures` is success, and an identifier that is empty or not in the batch, or
/// an answer that is not a response object, fails the whole batch.
pub fn batch_outcome(
    answer: &Value,
    batch: &[String],
    report_batch_item_failures: bool,
) -> BatchOutcome {
    if !report_batch_item_failures {
        return BatchOutcome::Succeeded;
    }
    let failures = match answer {
        Value::Null => return BatchOutcome::Succeeded,
        Value::Object(fields) => match fields.get("batchItemFailures") {
            None | Some(Value::Null) => return BatchOutcome::Succeeded,
            Some(Value::Array(failures)) => failures,
            Some(_) => return BatchOutcome::AllFailed("batchItemFailures is not a list".into()),
        },
        _ => return BatchOutcome::AllFailed("the answer is not a batch response".into()),
    };
    let mut failed = Vec::new();
    for failure in failures {
        match failure.get("itemIdentifier").and_then(Value::as_str) {
            Some(id) if !id.is_empty() && batch.iter().any(|m| m == id) => {
                if !failed.iter().any(|f| f == id) {
                    failed.push(id.to_owned());
                }
            }
            _ => {
                return BatchOutcome::AllFailed(format!(
                    "batchItemFailures names {failure}, which is not a message of the batch"
                ));
            }
        }
    }
    if failed.is_empty() {
        BatchOutcome::Succeeded
    } else {
        BatchOutcome::Partial(failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_sqs::types::MessageAttributeValue;
    use serde_json::json;

    #[test]
    fn builds_the_event_lambda_sends() {
        let message = Message::builder()
            .message_id("m-1")
            .receipt_handle("rh-1")
            .body(r#"{"hello":"world"}"#)
            .md5_of_body("49dfdd54b01cbcd2d2ab5e9e5ee6b9b9")
            .attributes(MessageSystemAttributeName::ApproximateReceiveCount, "1")
            .attributes(MessageSystemAttributeName::SentTimestamp, "1700000000000")
            .attributes(MessageSystemAttributeName::SenderId, "AIDAEXAMPLE")
            .attributes(
                MessageSystemAttributeName::ApproximateFirstReceiveTimestamp,
                "1700000000001",
            )
            .message_attributes(
                "event_type",
                MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value("order.confirmed")
                    .build()
                    .unwrap(),
            )
            .build();
        let event = sqs_event(&[message], "arn:aws:sqs:us-east-1:123456789012:OrdersQueue");
        let value = serde_json::to_value(&event).unwrap();
        let record = &value["Records"][0];
        assert_eq!(record["messageId"], "m-1");
        assert_eq!(record["receiptHandle"], "rh-1");
        assert_eq!(record["body"], r#"{"hello":"world"}"#);
        assert_eq!(record["md5OfBody"], "49dfdd54b01cbcd2d2ab5e9e5ee6b9b9");
        assert_eq!(record["eventSource"], "aws:sqs");
        assert_eq!(
            record["eventSourceARN"],
            "arn:aws:sqs:us-east-1:123456789012:OrdersQueue"
        );
        assert_eq!(record["awsRegion"], "us-east-1");
        assert_eq!(record["attributes"]["ApproximateReceiveCount"], "1");
        assert_eq!(record["attributes"]["SentTimestamp"], "1700000000000");
        assert_eq!(record["attributes"]["SenderId"], "AIDAEXAMPLE");
        assert_eq!(
            record["attributes"]["ApproximateFirstReceiveTimestamp"],
            "1700000000001"
        );
        assert_eq!(
            record["messageAttributes"]["event_type"]["stringValue"],
            "order.confirmed"
        );
        assert_eq!(
            record["messageAttributes"]["event_type"]["dataType"],
            "String"
        );
        // Functions read it with the same types.
        let back: SqsEvent = serde_json::from_value(value).unwrap();
        assert_eq!(back.records[0].message_id.as_deref(), Some("m-1"));
    }

    #[test]
    fn reads_partial_batch_responses_like_lambda() {
        let batch = vec!["a".to_owned(), "b".to_owned(), "c".to_owned()];
        assert_eq!(
            batch_outcome(&json!(null), &batch, true),
            BatchOutcome::Succeeded
        );
        assert_eq!(
            batch_outcome(&json!({}), &batch, true),
            BatchOutcome::Succeeded
        );
        assert_eq!(
            batch_outcome(&json!({"batchItemFailures": []}), &batch, true),
            BatchOutcome::Succeeded
        );
        assert_eq!(
            batch_outcome(&json!({"batchItemFailures": null}), &batch, true),
            BatchOutcome::Succeeded
        );
        assert_eq!(
            batch_outcome(
                &json!({"batchItemFailures": [{"itemIdentifier": "b"}, {"itemIdentifier": "b"}]}),
                &batch,
                true
            ),
            BatchOutcome::Partial(vec!["b".to_owned()])
        );
        for bad in [
            json!({"batchItemFailures": [{"itemIdentifier": "zzz"}]}),
            json!({"batchItemFailures": [{"itemIdentifier": ""}]}),
            json!({"batchItemFailures": [{"itemIdentifier": null}]}),
            json!({"batchItemFailures": [{"id": "a"}]}),
            json!("ok"),
        ] {
            assert!(
                matches!(
                    batch_outcome(&bad, &batch, true),
                    BatchOutcome::AllFailed(_)
                ),
                "{bad}"
            );
        }
        // Without ReportBatchItemFailures the answer is ignored.
        assert_eq!(
            batch_outcome(
                &json!({"batchItemFailures": [{"itemIdentifier": "a"}]}),
                &batch,
                false
            ),
            BatchOutcome::Succeeded
        );
    }
}
