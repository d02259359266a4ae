//! The Lambda Runtime API host and the SQS event source, with the function played by the
//! test over HTTP or by a small Python process.

mod common;
mod support;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_sdk_sqs::types::QueueAttributeName;
use dev::event_source::{self, SqsSourceConfig};
use dev::logs::{LogOutput, Logs};
use dev::repo;
use dev::resources::{ACCOUNT_ID, REGION};
use dev::runtime::{FunctionConfig, FunctionHost, InvokeError, Program};
use serde_json::{Value, json};
use support::{Answer, play_function};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

fn host(
    name: &str,
    timeout: Duration,
    environment: BTreeMap<String, String>,
) -> (FunctionHost, CancellationToken) {
    let shutdown = CancellationToken::new();
    let host = FunctionHost::new(
        FunctionConfig {
            binary: name.to_owned(),
            function_name: name.to_owned(),
            function_arn: format!("arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{name}"),
            timeout,
            queue_timeout: timeout,
            environment,
        },
        Logs::new(LogOutput::Terminal),
        shutdown.clone(),
        TaskTracker::new(),
    );
    (host, shutdown)
}

/// A queue with a DLQ after `max_receive_count` receives, and the template's long
/// visibility timeout: retries must come from the event source's retry delay.
async fn queue_with_dlq(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    max_receive_count: u32,
) -> (String, String, String) {
    let dlq_url = sqs
        .create_queue()
        .queue_name(format!("{name}DLQ"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let dlq_arn = format!("arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{name}DLQ");
    let redrive = json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count});
    let url = sqs
        .create_queue()
        .queue_name(name)
        .attributes(QueueAttributeName::VisibilityTimeout, "180")
        .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    (
        url,
        format!("arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{name}"),
        dlq_url,
    )
}

async fn count(sqs: &aws_sdk_sqs::Client, url: &str) -> usize {
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    let number = |name| attributes[&name].parse::<usize>().unwrap();
    number(QueueAttributeName::ApproximateNumberOfMessages)
        + number(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
}

type Seen = Arc<Mutex<Vec<Vec<(String, String)>>>>;

/// Remembers each batch as (body, ApproximateReceiveCount) pairs.
fn record(seen: &Seen, event: &Value, queue_arn: &str) -> Vec<Value> {
    let records = event["Records"].as_array().unwrap().clone();
    let mut batch = Vec::new();
    for record in &records {
        assert_eq!(record["eventSource"], "aws:sqs");
        assert_eq!(record["eventSourceARN"], queue_arn);
        assert_eq!(record["awsRegion"], REGION);
        for attribute in [
            "SentTimestamp",
            "ApproximateFirstReceiveTimestamp",
            "SenderId",
        ] {
            assert!(
                record["attributes"].get(attribute).is_some(),
                "{attribute} missing: {record}"
            );
        }
        batch.push((
            record["body"].as_str().unwrap().to_owned(),
            record["attributes"]["ApproximateReceiveCount"]
                .as_str()
                .unwrap()
                .to_owned(),
        ));
    }
    seen.lock().unwrap().push(batch);
    records
}

#[tokio::test]
async fn partial_batch_failures_are_retried_then_dead_lettered() {
    let config = common::sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let (url, arn, dlq_url) = queue_with_dlq(&sqs, "Partial", 3).await;
    for body in ["ok-1", "ok-2", "fail-1", "ok-3", "fail-2"] {
        sqs.send_message()
            .queue_url(&url)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }

    let (host, shutdown) = host("consumer", Duration::from_secs(10), BTreeMap::new());
    let environment = host.add_environment().await.unwrap();
    let seen: Seen = Arc::default();
    let function = tokio::spawn({
        let (seen, arn) = (seen.clone(), arn.clone());
        play_function(environment.runtime_api(), move |event| {
            let records = record(&seen, &event, &arn);
            let failures: Vec<Value> = records
                .iter()
                .filter(|r| r["body"].as_str().unwrap().starts_with("fail"))
                .map(|r| json!({"itemIdentifier": r["messageId"]}))
                .collect();
            async move { Answer::Response(json!({"batchItemFailures": failures})) }
        })
    });
    let source = SqsSourceConfig {
        queue_url: url.clone(),
        queue_arn: arn,
        batch_size: 5,
        batching_window: Duration::from_secs(1),
        report_batch_item_failures: true,
        retry_delay: Duration::from_secs(1),
    };
    let tasks = TaskTracker::new();
    event_source::start(
        &sqs,
        &host,
        &source,
        1,
        &Logs::new(LogOutput::Terminal),
        &shutdown,
        &tasks,
    );

    common::eventually(
        "both failures in the DLQ",
        Duration::from_secs(60),
        || async { (count(&sqs, &dlq_url).await == 2).then_some(()) },
    )
    .await;
    shutdown.cancel();
    function.abort();

    assert_eq!(
        count(&sqs, &url).await,
        0,
        "the successes were deleted, the failures moved"
    );
    let dead = sqs
        .receive_message()
        .queue_url(&dlq_url)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap()
        .messages
        .unwrap_or_default();
    let mut bodies: Vec<_> = dead.iter().map(|m| m.body().unwrap()).collect();
    bodies.sort_unstable();
    assert_eq!(bodies, ["fail-1", "fail-2"], "bodies unchanged");

    let seen = seen.lock().unwrap();
    assert_eq!(seen[0].len(), 5, "the first batch held all five: {seen:?}");
    let mut deliveries: HashMap<&str, Vec<&str>> = HashMap::new();
    for (body, receive_count) in seen.iter().flatten() {
        deliveries.entry(body).or_default().push(receive_count);
    }
    for ok in ["ok-1", "ok-2", "ok-3"] {
        assert_eq!(deliveries[ok], ["1"], "{ok} was processed once");
    }
    for failed in ["fail-1", "fail-2"] {
        assert_eq!(
            deliveries[failed],
            ["1", "2", "3"],
            "{failed} was tried maxReceiveCount times"
        );
    }
}

#[tokio::test]
async fn a_failed_invocation_deletes_nothing() {
    let config = common::sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&config);
    let (url, arn, _) = queue_with_dlq(&sqs, "Whole", 5).await;
    for body in ["a", "b", "c"] {
        sqs.send_message()
            .queue_url(&url)
            .message_body(body)
            .send()
            .await
            .unwrap();
    }
    let (host, shutdown) = host("consumer", Duration::from_secs(10), BTreeMap::new());
    let environment = host.add_environment().await.unwrap();
    let seen: Seen = Arc::default();
    let function = tokio::spawn({
        let (seen, arn) = (seen.clone(), arn.clone());
        play_function(environment.runtime_api(), move |event| {
            record(&seen, &event, &arn);
            let first = seen.lock().unwrap().len() == 1;
            async move {
                if first {
                    Answer::Error("Boom", "the whole batch failed")
                } else {
                    Answer::Response(Value::Null)
                }
            }
        })
    });
    let source = SqsSourceConfig {
        queue_url: url.clone(),
        queue_arn: arn,
        batch_size: 10,
        batching_window: Duration::from_secs(1),
        report_batch_item_failures: true,
        retry_delay: Duration::from_secs(1),
    };
    let tasks = TaskTracker::new();
    event_source::start(
        &sqs,
        &host,
        &source,
        1,
        &Logs::new(LogOutput::Terminal),
        &shutdown,
        &tasks,
    );

    common::eventually("the queue to drain", Duration::from_secs(30), || async {
        (count(&sqs, &url).await == 0).then_some(())
    })
    .await;
    shutdown.cancel();
    function.abort();
    let seen = seen.lock().unwrap();
    let mut deliveries: HashMap<&str, usize> = HashMap::new();
    for (body, _) in seen.iter().flatten() {
        *deliveries.entry(body).or_default() += 1;
    }
    assert_eq!(
        deliveries,
        HashMap::from([("a", 2), ("b", 2), ("c", 2)]),
        "{seen:?}"
    );
}

fn fake_function() -> Program {
    let script = repo::repo_root()
        .unwrap()
        .join("infra/dev/tests/fake_function.py");
    Program {
        path: "python3".into(),
        args: vec![script.display().to_string()],
    }
}

fn millis_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[tokio::test]
async fn runs_a_real_process_and_replaces_it_when_it_dies() {
    let environment = BTreeMap::from([
        ("CUSTOM".to_owned(), "yes".to_owned()),
        ("AWS_LAMBDA_FUNCTION_NAME".to_owned(), "Fake".to_owned()),
    ]);
    let timeout = Duration::from_secs(3);
    let (host, shutdown) = host("fake", timeout, environment);
    host.spawn(fake_function()).await.unwrap();

    let before = millis_now();
    let answer = host
        .invoke(&json!({"action": "echo", "n": 1}))
        .await
        .unwrap();
    assert_eq!(answer["event"], json!({"action": "echo", "n": 1}));
    assert_eq!(answer["env"]["CUSTOM"], "yes");
    assert_eq!(answer["env"]["AWS_LAMBDA_FUNCTION_NAME"], "Fake");
    assert_eq!(
        answer["env"]["HOME"],
        Value::Null,
        "only the function's own environment"
    );
    assert!(
        answer["env"]["AWS_LAMBDA_LOG_STREAM_NAME"]
            .as_str()
            .unwrap()
            .starts_with("local/fake#")
    );
    assert_eq!(
        answer["arn"],
        format!("arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:fake")
    );
    let deadline = answer["deadline_ms"].as_u64().unwrap();
    assert!(
        deadline >= before + 2_900 && deadline <= millis_now() + 3_100,
        "deadline {deadline}"
    );
    let first_pid = answer["pid"].clone();

    let error = host.invoke(&json!({"action": "error"})).await.unwrap_err();
    assert_eq!(
        error,
        InvokeError::Function {
            function: "fake".into(),
            error_type: "FakeError".into(),
            error_message: "failed on purpose".into()
        }
    );
    let again = host.invoke(&json!({})).await.unwrap();
    assert_eq!(again["pid"], first_pid, "an error keeps the process");

    let crash = host.invoke(&json!({"action": "crash"})).await.unwrap_err();
    assert!(matches!(crash, InvokeError::Crashed { .. }), "{crash:?}");
    let replaced = host.invoke(&json!({})).await.unwrap();
    assert_ne!(replaced["pid"], first_pid, "a new process took over");

    let started = std::time::Instant::now();
    let slow = host.invoke(&json!({"action": "sleep"})).await.unwrap_err();
    assert_eq!(
        slow,
        InvokeError::Timeout {
            function: "fake".into(),
            timeout
        }
    );
    assert!(started.elapsed() < timeout + Duration::from_secs(2));
    let after_timeout = host.invoke(&json!({})).await.unwrap();
    assert_ne!(
        after_timeout["pid"], replaced["pid"],
        "the timed-out process was replaced"
    );

    shutdown.cancel();
    assert_eq!(host.invoke(&json!({})).await, Err(InvokeError::Stopped));
}

#[tokio::test]
async fn an_invocation_nobody_takes_times_out() {
    let (host, _shutdown) = host("idle", Duration::from_millis(300), BTreeMap::new());
    let result = host.invoke(&json!({})).await;
    assert!(
        matches!(result, Err(InvokeError::NoEnvironment { .. })),
        "{result:?}"
    );
}
