//! DynamoDB stream event sources: what Lambda's event source mapping does for a table's
//! stream, from the template's `DynamoDB` event.
//!
//! One poller per shard reads records in order (`GetRecords`), drops those no filter pattern
//! matches, and invokes the function with a batch (up to `BatchSize`, waiting up to the
//! batching window to fill it), one batch at a time. What happens after an invocation is
//! Lambda's rule for streams:
//! - success: the batch is done (checkpointed);
//! - `batchItemFailures` (with `ReportBatchItemFailures`): the records before the lowest
//!   sequence number reported are done, the rest is handed over again;
//! - an error: the whole batch again, halved each time with `BisectBatchOnFunctionError`;
//! - after `MaximumRetryAttempts` retries (-1: no limit) the batch is described in the
//!   on-failure destination queue and skipped.
//!
//! Local differences, on purpose: the shard is polled every 100 ms (Lambda: about four times
//! a second), a failed batch is retried after the local cloud's retry delay, and
//! `MaximumRecordAgeInSeconds` is not applied (the emulator's stream keeps every record).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use aws_sdk_dynamodbstreams::types::{Record, ShardIteratorType};
use sam_template::{StreamEvent, reports_batch_item_failures};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::event_source::{BatchOutcome, batch_outcome};
use crate::logs::Logs;
use crate::resources::REGION;
use crate::runtime::FunctionHost;

/// How often an idle shard is asked for new records.
const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// GetRecords returns at most 1,000 records.
const MAX_RECORDS_PER_READ: usize = 1000;

/// One `DynamoDB` event of a function.
#[derive(Clone, Debug)]
pub struct StreamSourceConfig {
    /// The table whose stream is read.
    pub table: String,
    pub starting_position: ShardIteratorType,
    pub batch_size: usize,
    pub batching_window: Duration,
    /// `None`: retried until it succeeds.
    pub maximum_retry_attempts: Option<u32>,
    pub bisect_batch_on_function_error: bool,
    pub report_batch_item_failures: bool,
    /// Filter patterns (Lambda event filtering); none: every record.
    pub filters: Vec<Value>,
    /// Where a batch given up on is described (an SQS queue URL).
    pub on_failure_queue_url: Option<String>,
    /// How soon a failed batch is handed over again.
    pub retry_delay: Duration,
}

/// SAM's `BatchSize` when the event has none.
const DEFAULT_BATCH_SIZE: u32 = 100;

impl StreamSourceConfig {
    /// `event`'s settings, SAM's defaults where it has none, for the stream of `table`.
    pub fn new(
        event: &StreamEvent,
        table: String,
        on_failure_queue_url: Option<String>,
        retry_delay: Duration,
    ) -> Self {
        StreamSourceConfig {
            table,
            starting_position: event.starting_position.as_str().into(),
            batch_size: event.batch_size.unwrap_or(DEFAULT_BATCH_SIZE).max(1) as usize,
            batching_window: Duration::from_secs(
                event.maximum_batching_window_in_seconds.unwrap_or(0),
            ),
            // SAM's default is -1: retry until the record expires.
            maximum_retry_attempts: event
                .maximum_retry_attempts
                .and_then(|n| u32::try_from(n).ok()),
            bisect_batch_on_function_error: event.bisect_batch_on_function_error.unwrap_or(false),
            report_batch_item_failures: reports_batch_item_failures(
                event.function_response_types.as_ref(),
            ),
            filters: event.filter_patterns(),
            on_failure_queue_url,
            retry_delay,
        }
    }
}

/// The AWS clients a stream poller uses (the emulator's, never the functions' endpoint).
#[derive(Clone)]
pub struct StreamClients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub streams: aws_sdk_dynamodbstreams::Client,
    pub sqs: aws_sdk_sqs::Client,
}

/// Starts polling every shard of `config.table`'s stream for `host`, until `shutdown`.
pub async fn start(
    clients: &StreamClients,
    host: &FunctionHost,
    config: &StreamSourceConfig,
    logs: &Logs,
    shutdown: &CancellationToken,
    tasks: &TaskTracker,
) -> anyhow::Result<()> {
    let (stream_arn, shards) =
        shards_of(&clients.dynamodb, &clients.streams, &config.table).await?;
    for shard_id in shards {
        let poller = ShardPoller {
            clients: clients.clone(),
            host: host.clone(),
            config: config.clone(),
            logs: logs.clone(),
            label: format!("stream {}", config.table),
            stream_arn: stream_arn.clone(),
            shard_id,
            last_sequence: None,
        };
        let shutdown = shutdown.clone();
        tasks.spawn(async move {
            tokio::select! {
                () = poller.run() => {}
                () = shutdown.cancelled() => {}
            }
        });
    }
    Ok(())
}

/// The table's latest stream and the ids of its shards.
pub async fn shards_of(
    dynamodb: &aws_sdk_dynamodb::Client,
    streams: &aws_sdk_dynamodbstreams::Client,
    table: &str,
) -> anyhow::Result<(String, Vec<String>)> {
    let stream_arn = dynamodb
        .describe_table()
        .table_name(table)
        .send()
        .await
        .map_err(crate::aws::aws_error)?
        .table
        .and_then(|t| t.latest_stream_arn)
        .ok_or_else(|| anyhow::anyhow!("table {table} has no stream"))?;
    let shards = streams
        .describe_stream()
        .stream_arn(&stream_arn)
        .send()
        .await
        .map_err(crate::aws::aws_error)?
        .stream_description
        .and_then(|d| d.shards)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|s| s.shard_id)
        .collect();
    Ok((stream_arn, shards))
}

struct ShardPoller {
    clients: StreamClients,
    host: FunctionHost,
    config: StreamSourceConfig,
    logs: Logs,
    label: String,
    stream_arn: String,
    shard_id: String,
    /// The last record read, to pick up after it if an iterator is lost.
    last_sequence: Option<String>,
}

/// What became of one batch.
enum Handled {
    /// The first `n` records of the batch are done.
    Done(usize),
    Failed,
}

impl ShardPoller {
    async fn run(mut self) {
        let mut pending: VecDeque<Record> = VecDeque::new();
        let mut iterator: Option<String> = None;
        let mut size = self.config.batch_size;
        let mut retries = 0u32;
        let mut last_error = String::new();
        loop {
            if let Err(error) = self.fill(&mut pending, &mut iterator, size).await {
                // The emulator restarting or gone: say it once, keep trying.
                if error != last_error {
                    self.logs
                        .dev(&self.label, &format!("cannot read the stream: {error}"));
                    last_error = error;
                }
                iterator = None;
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
            last_error.clear();
            if pending.is_empty() {
                tokio::time::sleep(POLL_INTERVAL).await;
                continue;
            }
            let take = size.min(pending.len());
            let batch: Vec<Record> = pending.iter().take(take).cloned().collect();
            match self.handle(&batch).await {
                Handled::Done(n) if n == take => {
                    pending.drain(..n);
                    size = self.config.batch_size;
                    retries = 0;
                }
                Handled::Done(n) => {
                    pending.drain(..n);
                    retries += 1;
                }
                Handled::Failed => {
                    retries += 1;
                    if self.config.bisect_batch_on_function_error {
                        size = (take / 2).max(1);
                    }
                }
            }
            if retries == 0 {
                continue;
            }
            if self
                .config
                .maximum_retry_attempts
                .is_some_and(|max| retries > max)
            {
                let take = size.min(pending.len());
                let skipped: Vec<Record> = pending.drain(..take).collect();
                self.give_up(&skipped, retries).await;
                size = self.config.batch_size;
                retries = 0;
            } else {
                tokio::time::sleep(self.config.retry_delay).await;
            }
        }
    }

    /// Reads until `pending` holds `size` records, the batching window has passed, or the
    /// shard has nothing more for now.
    async fn fill(
        &mut self,
        pending: &mut VecDeque<Record>,
        iterator: &mut Option<String>,
        size: usize,
    ) -> Result<(), String> {
        let deadline = Instant::now() + self.config.batching_window;
        while pending.len() < size {
            let current = match iterator.take() {
                Some(current) => current,
                None => self.iterator().await?,
            };
            let output = self
                .clients
                .streams
                .get_records()
                .shard_iterator(current)
                .limit((size - pending.len()).min(MAX_RECORDS_PER_READ) as i32)
                .send()
                .await
                .map_err(|e| aws_sdk_dynamodbstreams::error::DisplayErrorContext(e).to_string())?;
            *iterator = output.next_shard_iterator;
            let records = output.records.unwrap_or_default();
            let got_none = records.is_empty();
            if let Some(last) = records.last().and_then(|r| r.dynamodb()?.sequence_number()) {
                self.last_sequence = Some(last.to_owned());
            }
            pending.extend(records);
            if iterator.is_none()
                || (got_none && (pending.is_empty() || Instant::now() >= deadline))
            {
                return Ok(());
            }
            if got_none {
                tokio::time::sleep(POLL_INTERVAL).await;
            }
        }
        Ok(())
    }

    /// A fresh iterator: after the last record read, else at the starting position.
    async fn iterator(&self) -> Result<String, String> {
        let request = self
            .clients
            .streams
            .get_shard_iterator()
            .stream_arn(&self.stream_arn)
            .shard_id(&self.shard_id);
        let request = match &self.last_sequence {
            Some(sequence) => request
                .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                .sequence_number(sequence),
            None => request.shard_iterator_type(self.config.starting_position.clone()),
        };
        request
            .send()
            .await
            .map_err(|e| aws_sdk_dynamodbstreams::error::DisplayErrorContext(e).to_string())?
            .shard_iterator
            .ok_or_else(|| "no shard iterator".to_owned())
    }

    async fn handle(&self, batch: &[Record]) -> Handled {
        let records: Vec<Value> = batch
            .iter()
            .map(|r| lambda_record(r, &self.stream_arn))
            .collect();
        let selected: Vec<&Value> = records
            .iter()
            .filter(|r| selected(&self.config.filters, r))
            .collect();
        if selected.is_empty() {
            return Handled::Done(batch.len());
        }
        let sequences: Vec<String> = selected.iter().map(|r| sequence_of(r)).collect();
        let event = json!({ "Records": selected });
        let outcome = match self.host.invoke(&event).await {
            Ok(answer) => {
                batch_outcome(&answer, &sequences, self.config.report_batch_item_failures)
            }
            Err(error) => BatchOutcome::AllFailed(error.to_string()),
        };
        let function = &self.host.config().binary;
        match outcome {
            BatchOutcome::Succeeded => Handled::Done(batch.len()),
            BatchOutcome::Partial(failed) => {
                // Everything before the first failed record is done.
                let first = records
                    .iter()
                    .position(|r| failed.contains(&sequence_of(r)))
                    .unwrap_or(batch.len());
                self.logs.dev(
                    &self.label,
                    &format!(
                        "{function} reported a failure at record {} of {}; the rest is retried",
                        first + 1,
                        batch.len()
                    ),
                );
                Handled::Done(first)
            }
            BatchOutcome::AllFailed(reason) => {
                self.logs.dev(
                    &self.label,
                    &format!(
                        "{function} failed a batch of {}: {reason}; it is retried",
                        selected.len()
                    ),
                );
                Handled::Failed
            }
        }
    }

    /// Describes a skipped batch in the on-failure destination, as Lambda does (the records
    /// themselves are not copied).
    async fn give_up(&self, batch: &[Record], attempts: u32) {
        let sequence = |r: Option<&Record>| {
            r.and_then(|r| r.dynamodb()?.sequence_number())
                .unwrap_or_default()
                .to_owned()
        };
        let description = json!({
            "version": "1.0",
            "timestamp": time::OffsetDateTime::now_utc()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
            "requestContext": {
                "functionArn": self.host.config().function_arn,
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": attempts + 1,
            },
            "DDBStreamBatchInfo": {
                "shardId": self.shard_id,
                "startSequenceNumber": sequence(batch.first()),
                "endSequenceNumber": sequence(batch.last()),
                "batchSize": batch.len(),
                "streamArn": self.stream_arn,
            },
        });
        self.logs.dev(
            &self.label,
            &format!(
                "gave up on {} records after {attempts} retries",
                batch.len()
            ),
        );
        let Some(queue_url) = &self.config.on_failure_queue_url else {
            return;
        };
        if let Err(e) = self
            .clients
            .sqs
            .send_message()
            .queue_url(queue_url)
            .message_body(description.to_string())
            .send()
            .await
        {
            self.logs.dev(
                &self.label,
                &format!(
                    "cannot describe the skipped batch in its destination: {}",
                    aws_sdk_sqs::error::DisplayErrorContext(e)
                ),
            );
        }
    }
}

fn sequence_of(record: &Value) -> String {
    record["dynamodb"]["SequenceNumber"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// A stream record as Lambda puts it in the event.
pub fn lambda_record(record: &Record, stream_arn: &str) -> Value {
    let image = |item: Option<&std::collections::HashMap<_, _>>| {
        item.map(|item| {
            serde_json::to_value(serde_dynamo::Item::from(item.clone())).unwrap_or(Value::Null)
        })
    };
    let change = record.dynamodb();
    let mut dynamodb = json!({
        "ApproximateCreationDateTime": change
            .and_then(|c| c.approximate_creation_date_time())
            .map(|t| t.secs()),
        "Keys": image(change.and_then(|c| c.keys.as_ref())),
        "NewImage": image(change.and_then(|c| c.new_image.as_ref())),
        "OldImage": image(change.and_then(|c| c.old_image.as_ref())),
        "SequenceNumber": change.and_then(|c| c.sequence_number()),
        "SizeBytes": change.and_then(|c| c.size_bytes()),
        "StreamViewType": change.and_then(|c| c.stream_view_type()).map(|v| v.as_str()),
    });
    // Lambda leaves out what the record does not have (an INSERT has no OldImage).
    if let Value::Object(fields) = &mut dynamodb {
        fields.retain(|_, v| !v.is_null());
    }
    json!({
        "eventID": record.event_id(),
        "eventName": record.event_name().map(|n| n.as_str()),
        "eventVersion": record.event_version().unwrap_or("1.1"),
        "eventSource": record.event_source().unwrap_or("aws:dynamodb"),
        "awsRegion": record.aws_region().unwrap_or(REGION),
        "eventSourceARN": stream_arn,
        "dynamodb": dynamodb,
    })
}

/// Whether Lambda's event filtering hands `record` over: no patterns, or any pattern
/// matches. The subset of the pattern language the template uses: nested fields, lists of
/// values, and `{"prefix": ...}`; anything else is refused when the poller starts.
pub fn selected(patterns: &[Value], record: &Value) -> bool {
    patterns.is_empty() || patterns.iter().any(|p| matches(p, record))
}

fn matches(pattern: &Value, value: &Value) -> bool {
    match pattern {
        Value::Object(fields) => fields
            .iter()
            .all(|(key, wanted)| value.get(key).is_some_and(|v| matches(wanted, v))),
        Value::Array(options) => options.iter().any(|option| match option {
            Value::Object(operator) => match operator.get("prefix") {
                Some(Value::String(prefix)) => value
                    .as_str()
                    .is_some_and(|v| v.starts_with(prefix.as_str())),
                _ => false,
            },
            literal => literal == value,
        }),
        _ => false,
    }
}

/// Refuses what [`selected`] would not understand, so that a pattern never silently drops
/// records.
pub(crate) fn unsupported(pattern: &Value) -> Result<(), String> {
    match pattern {
        Value::Object(fields) => fields.values().try_for_each(unsupported),
        Value::Array(options) => options.iter().try_for_each(|option| match option {
            Value::Object(operator) if operator.len() == 1 && operator.contains_key("prefix") => {
                Ok(())
            }
            Value::Object(operator) => Err(format!(
                "the operator {} is not run by the local cloud (only prefix)",
                Value::Object(operator.clone())
            )),
            _ => Ok(()),
        }),
        other => Err(format!("{other} must be a list of values")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(name: &str, sk: &str) -> Value {
        json!({"eventName": name, "dynamodb": {"Keys": {"pk": {"S": "ORDER#1"}, "sk": {"S": sk}}}})
    }

    #[test]
    fn filters_as_lambda_event_filtering_does() {
        let pattern: Value = serde_json::from_str(
            r#"{"eventName": ["INSERT"], "dynamodb": {"Keys": {"sk": {"S": [{"prefix": "EVENT#"}]}}}}"#,
        )
        .unwrap();
        let patterns = [pattern];
        assert!(selected(&patterns, &record("INSERT", "EVENT#0000000001")));
        assert!(!selected(&patterns, &record("MODIFY", "EVENT#0000000001")));
        assert!(!selected(&patterns, &record("INSERT", "STATE")));
        assert!(!selected(&patterns, &json!({"eventName": "INSERT"})));
        assert!(selected(&[], &record("REMOVE", "STATE")));
        assert!(unsupported(&patterns[0]).is_ok());
        assert!(unsupported(&json!({"eventName": [{"anything-but": ["REMOVE"]}]})).is_err());
        assert!(unsupported(&json!({"eventName": "INSERT"})).is_err());
    }

    #[test]
    fn records_read_as_the_functions_read_them() {
        use aws_sdk_dynamodbstreams::types::{AttributeValue, OperationType, StreamRecord};
        let change = StreamRecord::builder()
            .keys("pk", AttributeValue::S("ORDER#1".into()))
            .keys("sk", AttributeValue::S("EVENT#0000000001".into()))
            .new_image("pk", AttributeValue::S("ORDER#1".into()))
            .new_image("sequence", AttributeValue::N("1".into()))
            .sequence_number("100")
            .size_bytes(42)
            .build();
        let sdk = Record::builder()
            .event_id("e-1")
            .event_name(OperationType::Insert)
            .dynamodb(change)
            .build();
        let value = lambda_record(&sdk, "arn:stream");
        assert_eq!(
            value["dynamodb"]["Keys"]["sk"],
            json!({"S": "EVENT#0000000001"})
        );
        assert_eq!(value["dynamodb"]["NewImage"]["sequence"], json!({"N": "1"}));
        let event: aws_lambda_events::dynamodb::Event =
            serde_json::from_value(json!({"Records": [value]})).unwrap();
        let record = &event.records[0];
        assert_eq!(record.event_name, "INSERT");
        assert_eq!(record.change.sequence_number.as_deref(), Some("100"));
        assert!(record.change.new_image.get("sequence").is_some());
    }
}
