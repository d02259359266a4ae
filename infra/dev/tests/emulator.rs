//! The emulator launcher: its adjustments to moto, its faults and its errors.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::operation::transact_get_items::TransactGetItemsError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, Put, PutRequest,
    ScalarAttributeType, StreamSpecification, StreamViewType, TransactGetItem, TransactWriteItem,
    Update, WriteRequest,
};
use aws_sdk_dynamodbstreams::types::ShardIteratorType;
use dev::EmulatorSettings;
use dev::emulator::{Emulator, EmulatorError};
use dev::faults::{FaultKind, FaultSpec, fault_report, set_faults};
use dev::repo;

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

async fn create_table(client: &aws_sdk_dynamodb::Client, name: &str) {
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
}

/// Forty clients reserve the last 20 units of a product at once. Overlapping transactions
/// on one item are cancelled with TransactionConflict, as in DynamoDB (the launcher models
/// it); a client that retries those still ends with the exact count: never oversold, every
/// unit sold.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_conditional_transactions_keep_the_count_exact() {
    let config = common::sdk_config().await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    create_table(&client, "Stock").await;
    client
        .put_item()
        .table_name("Stock")
        .item("pk", s("product"))
        .item("stock", AttributeValue::N("20".into()))
        .send()
        .await
        .unwrap();

    let attempts = (0..40).map(|i| {
        let client = client.clone();
        tokio::spawn(async move {
            let mut conflicts = 0;
            loop {
                let reserve = Update::builder()
                    .table_name("Stock")
                    .key("pk", s("product"))
                    .update_expression("SET stock = stock - :one")
                    .condition_expression("stock >= :one")
                    .expression_attribute_values(":one", AttributeValue::N("1".into()))
                    .build()
                    .unwrap();
                let order = Put::builder()
                    .table_name("Stock")
                    .item("pk", s(&format!("order-{i}")))
                    .build()
                    .unwrap();
                let result = client
                    .transact_write_items()
                    .transact_items(TransactWriteItem::builder().update(reserve).build())
                    .transact_items(TransactWriteItem::builder().put(order).build())
                    .send()
                    .await;
                let reasons = match result {
                    Ok(_) => return (true, conflicts),
                    Err(e) => cancellation_codes(e.into_service_error()),
                };
                if reasons.iter().any(|code| code == "TransactionConflict") {
                    conflicts += 1;
                    tokio::time::sleep(Duration::from_millis(1 + (i % 5))).await;
                    continue;
                }
                assert_eq!(reasons, ["ConditionalCheckFailed", "None"]);
                return (false, conflicts);
            }
        })
    });
    let results = futures::future::join_all(attempts).await;
    let succeeded = results.iter().filter(|r| r.as_ref().unwrap().0).count();
    assert_eq!(succeeded, 20);
    let product = client
        .get_item()
        .table_name("Stock")
        .key("pk", s("product"))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(product["stock"], AttributeValue::N("0".into()));
    let orders = client
        .scan()
        .table_name("Stock")
        .filter_expression("begins_with(pk, :o)")
        .expression_attribute_values(":o", s("order-"))
        .send()
        .await
        .unwrap();
    assert_eq!(orders.count, 20);
}

/// The reason codes of a TransactionCanceledException, in item order; panics on any other
/// error.
fn cancellation_codes(error: TransactWriteItemsError) -> Vec<String> {
    let TransactWriteItemsError::TransactionCanceledException(cancelled) = error else {
        panic!("unexpected error: {error:?}")
    };
    cancelled
        .cancellation_reasons()
        .iter()
        .map(|reason| reason.code().unwrap_or("").to_owned())
        .collect()
}

fn increment(table: &str, pk: &str) -> TransactWriteItem {
    let update = Update::builder()
        .table_name(table)
        .key("pk", s(pk))
        .update_expression("ADD n :one")
        .expression_attribute_values(":one", AttributeValue::N("1".into()))
        .build()
        .unwrap();
    TransactWriteItem::builder().update(update).build()
}

fn put(table: &str, pk: &str) -> TransactWriteItem {
    let put = Put::builder()
        .table_name(table)
        .item("pk", s(pk))
        .build()
        .unwrap();
    TransactWriteItem::builder().put(put).build()
}

async fn counter(client: &aws_sdk_dynamodb::Client, table: &str, pk: &str) -> Option<String> {
    let item = client
        .get_item()
        .table_name(table)
        .key("pk", s(pk))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item?;
    Some(item.get("n")?.as_n().unwrap().clone())
}

/// Two transactions on one item, started together: when they overlap, DynamoDB cancels one
/// with TransactionConflict for that item (and "None" for the others) and applies the
/// other; never both cancelled, never both applied half.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn overlapping_transactions_on_one_item_conflict() {
    let config = common::sdk_config().await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    create_table(&client, "Hot").await;
    let (mut applied, mut conflicts) = (0, 0);
    for round in 0..40 {
        let barrier = Arc::new(tokio::sync::Barrier::new(2));
        let pair = (0..2).map(|side| {
            let (client, barrier) = (client.clone(), barrier.clone());
            tokio::spawn(async move {
                let request = client
                    .transact_write_items()
                    .transact_items(increment("Hot", "counter"))
                    .transact_items(put("Hot", &format!("order-{round}-{side}")));
                barrier.wait().await;
                request.send().await
            })
        });
        let mut applied_now = 0;
        for result in futures::future::join_all(pair).await {
            match result.unwrap() {
                Ok(_) => applied_now += 1,
                Err(e) => {
                    let service = e.into_service_error();
                    assert!(service.is_transaction_canceled_exception());
                    assert_eq!(cancellation_codes(service), ["TransactionConflict", "None"]);
                    conflicts += 1;
                }
            }
        }
        assert!(
            applied_now >= 1,
            "round {round}: both transactions were cancelled"
        );
        applied += applied_now;
    }
    assert!(conflicts > 0, "no two transactions overlapped in 40 rounds");
    assert_eq!(
        counter(&client, "Hot", "counter").await,
        Some(applied.to_string())
    );
    let orders = client
        .scan()
        .table_name("Hot")
        .filter_expression("begins_with(pk, :o)")
        .expression_attribute_values(":o", s("order-"))
        .send()
        .await
        .unwrap();
    assert_eq!(orders.count, applied);
}

/// A PutItem on an item an in-flight transaction holds fails with
/// TransactionConflictException, and a TransactGetItems naming an item that any in-flight
/// write holds is cancelled with TransactionConflict; GetItem never conflicts. The writer is
/// a 100-item transaction, slow enough that the probes started with it often overlap it:
/// rounds go on until each kind of conflict was seen.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn single_writes_and_transactional_reads_conflict_with_writes_in_flight() {
    let config = common::sdk_config().await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    create_table(&client, "Busy").await;
    let (mut put_conflicts, mut get_conflicts, mut batch_get_conflicts) = (0, 0, 0);
    for round in 0..100 {
        let mut items: Vec<TransactWriteItem> = (0..99)
            .map(|i| put("Busy", &format!("line-{round}-{i}")))
            .collect();
        items.push(increment("Busy", "hot"));
        let writer = client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send();
        // A BatchWriteItem is an in-flight write too, for TransactGetItems.
        let batch: Vec<WriteRequest> = (0..24)
            .map(|i| format!("batch-{round}-{i}"))
            .chain(std::iter::once("batched".to_owned()))
            .map(|pk| {
                let item = HashMap::from([("pk".to_owned(), s(&pk))]);
                WriteRequest::builder()
                    .put_request(PutRequest::builder().set_item(Some(item)).build().unwrap())
                    .build()
            })
            .collect();
        let batch_writer = client
            .batch_write_item()
            .request_items("Busy", batch)
            .send();
        let probe_put = async {
            tokio::time::sleep(Duration::from_millis(1)).await;
            client
                .put_item()
                .table_name("Busy")
                .item("pk", s("hot"))
                .item("n", AttributeValue::N("1000".into()))
                .send()
                .await
        };
        let get = |pk: &'static str| {
            let client = client.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(1)).await;
                let get = aws_sdk_dynamodb::types::Get::builder()
                    .table_name("Busy")
                    .key("pk", s("unrelated"))
                    .build()
                    .unwrap();
                let held = aws_sdk_dynamodb::types::Get::builder()
                    .table_name("Busy")
                    .key("pk", s(pk))
                    .build()
                    .unwrap();
                client
                    .transact_get_items()
                    .transact_items(TransactGetItem::builder().get(get).build())
                    .transact_items(TransactGetItem::builder().get(held).build())
                    .send()
                    .await
            }
        };
        let plain_get = async {
            tokio::time::sleep(Duration::from_millis(1)).await;
            client
                .get_item()
                .table_name("Busy")
                .key("pk", s("hot"))
                .send()
                .await
        };
        let (written, batched, put_result, get_result, batch_get_result, plain) = tokio::join!(
            writer,
            batch_writer,
            probe_put,
            get("hot"),
            get("batched"),
            plain_get
        );
        // A transaction conflicts only with another transaction: the writer goes through.
        written.expect("the 100-item transaction conflicts with nothing");
        batched.expect("a BatchWriteItem never conflicts");
        plain.expect("GetItem never conflicts");
        match put_result {
            Ok(_) => {}
            Err(e) => {
                let service = e.into_service_error();
                assert!(
                    service.is_transaction_conflict_exception(),
                    "unexpected error: {service:?}"
                );
                assert_eq!(service.code(), Some("TransactionConflictException"));
                put_conflicts += 1;
            }
        }
        for (result, seen) in [
            (get_result, &mut get_conflicts),
            (batch_get_result, &mut batch_get_conflicts),
        ] {
            if let Err(e) = result {
                let service = e.into_service_error();
                let TransactGetItemsError::TransactionCanceledException(cancelled) = &service
                else {
                    panic!("unexpected error: {service:?}")
                };
                let codes: Vec<_> = cancelled
                    .cancellation_reasons()
                    .iter()
                    .map(|r| r.code().unwrap_or(""))
                    .collect();
                assert_eq!(codes, ["None", "TransactionConflict"]);
                *seen += 1;
            }
        }
        if put_conflicts > 0 && get_conflicts > 0 && batch_get_conflicts > 0 {
            return;
        }
    }
    panic!(
        "not every conflict was seen in 100 rounds: PutItem {put_conflicts}, \
         TransactGetItems against a transaction {get_conflicts}, \
         against a BatchWriteItem {batch_get_conflicts}"
    );
}

/// The SDKs send a ClientRequestToken with every transaction and keep it across their
/// retries; as in DynamoDB, a repeated token answers the first success without applying the
/// transaction again, and a token reused for another request is refused.
#[tokio::test]
async fn a_repeated_client_request_token_applies_the_transaction_once() {
    let config = common::sdk_config().await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    create_table(&client, "Tokens").await;
    for _ in 0..3 {
        client
            .transact_write_items()
            .client_request_token("order-42")
            .transact_items(increment("Tokens", "counter"))
            .send()
            .await
            .unwrap();
    }
    assert_eq!(
        counter(&client, "Tokens", "counter").await.as_deref(),
        Some("1")
    );
    let other = client
        .transact_write_items()
        .client_request_token("order-42")
        .transact_items(increment("Tokens", "other"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(
        other.is_idempotent_parameter_mismatch_exception(),
        "{other:?}"
    );
    assert_eq!(counter(&client, "Tokens", "other").await, None);
}

/// The launcher undoes a failed transaction item by item: every write before the failing
/// condition is rolled back, whatever its kind, in tables with and without a sort key.
#[tokio::test]
async fn a_failed_transaction_leaves_no_trace() {
    let config = common::sdk_config().await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    create_table(&client, "Rollback").await;
    client
        .create_table()
        .table_name("RollbackSorted")
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("sk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("sk")
                .key_type(KeyType::Range)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    for (pk, stock) in [("kept", "5"), ("doomed", "1"), ("guard", "0")] {
        client
            .put_item()
            .table_name("Rollback")
            .item("pk", s(pk))
            .item("stock", AttributeValue::N(stock.into()))
            .send()
            .await
            .unwrap();
    }
    client
        .put_item()
        .table_name("RollbackSorted")
        .item("pk", s("order"))
        .item("sk", s("STATE"))
        .item("version", AttributeValue::N("1".into()))
        .send()
        .await
        .unwrap();

    let update = Update::builder()
        .table_name("Rollback")
        .key("pk", s("kept"))
        .update_expression("SET stock = stock - :one")
        .expression_attribute_values(":one", AttributeValue::N("1".into()))
        .build()
        .unwrap();
    let state = Update::builder()
        .table_name("RollbackSorted")
        .key("pk", s("order"))
        .key("sk", s("STATE"))
        .update_expression("SET version = :two")
        .expression_attribute_values(":two", AttributeValue::N("2".into()))
        .build()
        .unwrap();
    let event = Put::builder()
        .table_name("RollbackSorted")
        .item("pk", s("order"))
        .item("sk", s("EVENT#2"))
        .build()
        .unwrap();
    let delete = aws_sdk_dynamodb::types::Delete::builder()
        .table_name("Rollback")
        .key("pk", s("doomed"))
        .build()
        .unwrap();
    let failing = aws_sdk_dynamodb::types::ConditionCheck::builder()
        .table_name("Rollback")
        .key("pk", s("guard"))
        .condition_expression("attribute_not_exists(pk)")
        .build()
        .unwrap();
    let result = client
        .transact_write_items()
        .transact_items(TransactWriteItem::builder().update(update).build())
        .transact_items(TransactWriteItem::builder().update(state).build())
        .transact_items(TransactWriteItem::builder().put(event).build())
        .transact_items(TransactWriteItem::builder().delete(delete).build())
        .transact_items(
            TransactWriteItem::builder()
                .condition_check(failing)
                .build(),
        )
        .send()
        .await;
    assert!(
        result
            .unwrap_err()
            .into_service_error()
            .is_transaction_canceled_exception()
    );

    let get = |table: &'static str, key: Vec<(&'static str, &'static str)>| {
        let client = client.clone();
        async move {
            let mut request = client.get_item().table_name(table).consistent_read(true);
            for (name, value) in key {
                request = request.key(name, s(value));
            }
            request.send().await.unwrap().item
        }
    };
    let kept = get("Rollback", vec![("pk", "kept")]).await.unwrap();
    assert_eq!(kept["stock"], AttributeValue::N("5".into()));
    assert!(get("Rollback", vec![("pk", "doomed")]).await.is_some());
    let state = get("RollbackSorted", vec![("pk", "order"), ("sk", "STATE")])
        .await
        .unwrap();
    assert_eq!(state["version"], AttributeValue::N("1".into()));
    assert!(
        get("RollbackSorted", vec![("pk", "order"), ("sk", "EVENT#2")])
            .await
            .is_none()
    );
    let scan = client
        .scan()
        .table_name("RollbackSorted")
        .send()
        .await
        .unwrap();
    assert_eq!(scan.count, 1);
}

/// Reads a table's stream from where the last read stopped, as the local cloud's stream
/// event source does.
struct StreamReader {
    client: aws_sdk_dynamodbstreams::Client,
    iterator: String,
    last_sequence: u128,
}

impl StreamReader {
    async fn at_end_of(stream_arn: &str) -> StreamReader {
        let client = aws_sdk_dynamodbstreams::Client::new(&common::sdk_config().await);
        let described = client
            .describe_stream()
            .stream_arn(stream_arn)
            .send()
            .await
            .unwrap();
        let shard = described.stream_description().unwrap().shards()[0]
            .shard_id()
            .unwrap()
            .to_owned();
        let iterator = client
            .get_shard_iterator()
            .stream_arn(stream_arn)
            .shard_id(shard)
            .shard_iterator_type(ShardIteratorType::Latest)
            .send()
            .await
            .unwrap()
            .shard_iterator
            .unwrap();
        StreamReader {
            client,
            iterator,
            last_sequence: 0,
        }
    }

    /// (eventName, pk, NewImage's n) of the records written since the last call.
    async fn read(&mut self) -> Vec<(String, String, Option<String>)> {
        let answer = self
            .client
            .get_records()
            .shard_iterator(&self.iterator)
            .send()
            .await
            .unwrap();
        self.iterator = answer.next_shard_iterator.clone().unwrap();
        let mut records = Vec::new();
        for record in answer.records() {
            let change = record.dynamodb().unwrap();
            let sequence: u128 = change.sequence_number().unwrap().parse().unwrap();
            assert!(sequence > self.last_sequence, "{record:?}");
            self.last_sequence = sequence;
            let created = change.approximate_creation_date_time().unwrap();
            assert_eq!(created.subsec_nanos(), 0, "whole seconds, as in AWS");
            let pk = change.keys().unwrap()["pk"].as_s().unwrap().clone();
            let n = change
                .new_image()
                .and_then(|image| image.get("n"))
                .map(|n| n.as_n().unwrap().clone());
            let event = record.event_name().unwrap().as_str().to_owned();
            records.push((event, pk, n));
        }
        records
    }
}

/// The table's stream has what DynamoDB would write: a cancelled transaction leaves no
/// record (moto had written one for each item it applied before rolling back), a
/// transaction one record per item, an UpdateItem that creates its item one INSERT (moto
/// wrote two), a write that changes nothing none.
#[tokio::test]
async fn the_stream_has_no_record_of_a_cancelled_transaction() {
    let config = common::sdk_config().await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let created = client
        .create_table()
        .table_name("Streamed")
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("pk")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("pk")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .stream_specification(
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::NewAndOldImages)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let stream_arn = created
        .table_description()
        .and_then(|t| t.latest_stream_arn())
        .unwrap()
        .to_owned();
    let mut stream = StreamReader::at_end_of(&stream_arn).await;
    client
        .put_item()
        .table_name("Streamed")
        .item("pk", s("stock"))
        .item("n", AttributeValue::N("5".into()))
        .send()
        .await
        .unwrap();
    let record = |event: &str, pk: &str, n: Option<&str>| {
        (event.to_owned(), pk.to_owned(), n.map(str::to_owned))
    };
    assert_eq!(stream.read().await, [record("INSERT", "stock", Some("5"))]);

    // Cancelled by its second item's condition: moto applies the first and the third.
    let failing = aws_sdk_dynamodb::types::ConditionCheck::builder()
        .table_name("Streamed")
        .key("pk", s("stock"))
        .condition_expression("attribute_not_exists(pk)")
        .build()
        .unwrap();
    let cancelled = client
        .transact_write_items()
        .transact_items(put("Streamed", "order-1"))
        .transact_items(
            TransactWriteItem::builder()
                .condition_check(failing)
                .build(),
        )
        .transact_items(increment("Streamed", "new-counter"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert_eq!(
        cancellation_codes(cancelled),
        ["None", "ConditionalCheckFailed", "None"]
    );
    assert_eq!(stream.read().await, []);

    client
        .transact_write_items()
        .transact_items(put("Streamed", "order-2"))
        .transact_items(increment("Streamed", "stock"))
        .transact_items(increment("Streamed", "new-counter"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        stream.read().await,
        [
            record("INSERT", "order-2", None),
            record("MODIFY", "stock", Some("6")),
            record("INSERT", "new-counter", Some("1")),
        ]
    );

    client
        .put_item()
        .table_name("Streamed")
        .item("pk", s("stock"))
        .item("n", AttributeValue::N("6".into()))
        .send()
        .await
        .unwrap();
    client
        .delete_item()
        .table_name("Streamed")
        .key("pk", s("never-there"))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.read().await, [], "nothing changed");
}

/// The throttling codes the Rust SDK's standard retry classifies as throttling
/// (`aws_runtime::retries::classifiers::THROTTLING_ERRORS`) that the emulator sends.
const THROTTLING_CODES: [&str; 3] = ["ThrottlingException", "Throttling", "RequestThrottled"];

fn status(raw: Option<&aws_sdk_dynamodb::config::http::HttpResponse>) -> u16 {
    raw.map(|r| r.status().as_u16()).unwrap_or(0)
}

/// A PutItem that must fail: (HTTP status, the error).
async fn failing_put_item(
    ddb: &aws_sdk_dynamodb::Client,
    pk: &str,
) -> (u16, aws_sdk_dynamodb::operation::put_item::PutItemError) {
    let error = ddb
        .put_item()
        .table_name("Faulty")
        .item("pk", s(pk))
        .send()
        .await
        .unwrap_err();
    (status(error.raw_response()), error.into_service_error())
}

/// A SendMessage that must fail: (HTTP status, error code).
async fn failing_send_message(sqs: &aws_sdk_sqs::Client, queue: &str) -> (u16, String) {
    let error = sqs
        .send_message()
        .queue_url(queue)
        .message_body("hello")
        .send()
        .await
        .unwrap_err();
    let code = error.code().unwrap_or("").to_owned();
    (status(error.raw_response()), code)
}

/// A Publish that must fail: (HTTP status, error code).
async fn failing_publish(sns: &aws_sdk_sns::Client, topic: &str) -> (u16, String) {
    let error = sns
        .publish()
        .topic_arn(topic)
        .message("hello")
        .send()
        .await
        .unwrap_err();
    let code = error.code().unwrap_or("").to_owned();
    (status(error.raw_response()), code)
}

/// The same three calls succeed (on the clean port).
async fn all_work(
    ddb: &aws_sdk_dynamodb::Client,
    sqs: &aws_sdk_sqs::Client,
    sns: &aws_sdk_sns::Client,
    queue: &str,
    topic: &str,
) {
    ddb.put_item()
        .table_name("Faulty")
        .item("pk", s("clean"))
        .send()
        .await
        .unwrap();
    sqs.send_message()
        .queue_url(queue)
        .message_body("hello")
        .send()
        .await
        .unwrap();
    sns.publish()
        .topic_arn(topic)
        .message("hello")
        .send()
        .await
        .unwrap();
}

/// Faults happen on the functions' port only, in the shapes the SDKs expect, and are
/// counted. One test, because the spec is the emulator's: no other test uses that port.
#[tokio::test]
async fn faults_hit_only_the_functions_port() {
    let emulator = common::emulator();
    let clean_endpoint = emulator.endpoint();
    let functions_endpoint = emulator.functions_endpoint();
    assert_ne!(clean_endpoint, functions_endpoint);
    let clean = common::sdk_config().await;
    let functions = EmulatorSettings::new(&functions_endpoint)
        .sdk_config()
        .await;
    let no_retries = RetryConfig::disabled();
    let ddb = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&functions)
            .retry_config(no_retries.clone())
            .build(),
    );
    let sqs = aws_sdk_sqs::Client::from_conf(
        aws_sdk_sqs::config::Builder::from(&functions)
            .retry_config(no_retries.clone())
            .build(),
    );
    let sns = aws_sdk_sns::Client::from_conf(
        aws_sdk_sns::config::Builder::from(&functions)
            .retry_config(no_retries)
            .build(),
    );
    let clean_ddb = aws_sdk_dynamodb::Client::new(&clean);
    let clean_sqs = aws_sdk_sqs::Client::new(&clean);
    let clean_sns = aws_sdk_sns::Client::new(&clean);
    create_table(&clean_ddb, "Faulty").await;
    let queue = clean_sqs
        .create_queue()
        .queue_name("faulty")
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let topic = clean_sns
        .create_topic()
        .name("faulty")
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    let before = fault_report(&clean_endpoint).await.unwrap();
    let spec = |text: &str| text.parse::<FaultSpec>().unwrap();

    // Server errors. Set through the functions' port: /_dev/faults is never faulted.
    let report = set_faults(&functions_endpoint, &spec("error5xx=1"))
        .await
        .unwrap();
    assert_eq!(report.spec, spec("error5xx=1"));
    let (code, error) = failing_put_item(&ddb, "error").await;
    assert_eq!(code, 500);
    assert!(error.is_internal_server_error(), "{error:?}");
    assert_eq!(
        failing_send_message(&sqs, &queue).await,
        (500, "InternalFailure".to_owned())
    );
    assert_eq!(
        failing_publish(&sns, &topic).await,
        (500, "InternalError".to_owned())
    );
    all_work(&clean_ddb, &clean_sqs, &clean_sns, &queue, &topic).await;

    // Throttling, with the codes the SDK's retry classifies as throttling.
    set_faults(&clean_endpoint, &spec("throttle=1"))
        .await
        .unwrap();
    let (code, error) = failing_put_item(&ddb, "throttled").await;
    assert_eq!(code, 400);
    assert!(error.is_throttling_exception(), "{error:?}");
    assert_eq!(error.code(), Some("ThrottlingException"));
    let (code, sqs_code) = failing_send_message(&sqs, &queue).await;
    assert_eq!((code, sqs_code.as_str()), (400, "RequestThrottled"));
    let (code, sns_code) = failing_publish(&sns, &topic).await;
    assert_eq!((code, sns_code.as_str()), (400, "Throttling"));
    for code in [error.code().unwrap(), &sqs_code, &sns_code] {
        assert!(THROTTLING_CODES.contains(&code), "{code}");
    }
    // And the SDK's standard retry does retry it: three attempts, all throttled.
    let retrying = aws_sdk_dynamodb::Client::from_conf(
        aws_sdk_dynamodb::config::Builder::from(&functions)
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(3)
                    .with_initial_backoff(Duration::from_millis(1))
                    .with_max_backoff(Duration::from_millis(20)),
            )
            .build(),
    );
    let error = retrying
        .get_item()
        .table_name("Faulty")
        .key("pk", s("clean"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    assert!(error.is_throttling_exception(), "{error:?}");
    all_work(&clean_ddb, &clean_sqs, &clean_sns, &queue, &topic).await;

    // Lost: applied, then answered with a server error.
    set_faults(&clean_endpoint, &spec("lost=1")).await.unwrap();
    let (code, error) = failing_put_item(&ddb, "lost").await;
    assert_eq!(code, 500);
    assert!(error.is_internal_server_error(), "{error:?}");
    let lost = clean_ddb
        .get_item()
        .table_name("Faulty")
        .key("pk", s("lost"))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    assert!(lost.item.is_some(), "a lost PutItem was applied");

    // Injected transaction conflicts: cancelled, nothing written.
    set_faults(&clean_endpoint, &spec("conflict=1"))
        .await
        .unwrap();
    let error = ddb
        .transact_write_items()
        .transact_items(put("Faulty", "tx-1"))
        .transact_items(put("Faulty", "tx-2"))
        .transact_items(put("Faulty", "tx-3"))
        .send()
        .await
        .unwrap_err()
        .into_service_error();
    let mut codes = cancellation_codes(error);
    codes.sort();
    assert_eq!(codes, ["None", "None", "TransactionConflict"]);
    let written = clean_ddb
        .scan()
        .table_name("Faulty")
        .filter_expression("begins_with(pk, :tx)")
        .expression_attribute_values(":tx", s("tx-"))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    assert_eq!(written.count, 0);
    // The clean port never injects them.
    clean_ddb
        .transact_write_items()
        .transact_items(put("Faulty", "tx-clean"))
        .send()
        .await
        .unwrap();

    let report = set_faults(&clean_endpoint, &FaultSpec::none())
        .await
        .unwrap();
    assert!(report.spec.is_none());
    let injected = report.since(&before);
    let expected = [
        (FaultKind::Error5xx, "dynamodb", "PutItem", 1),
        (FaultKind::Error5xx, "sqs", "SendMessage", 1),
        (FaultKind::Error5xx, "sns", "Publish", 1),
        (FaultKind::Throttle, "dynamodb", "PutItem", 1),
        (FaultKind::Throttle, "dynamodb", "GetItem", 3),
        (FaultKind::Throttle, "sqs", "SendMessage", 1),
        (FaultKind::Throttle, "sns", "Publish", 1),
        (FaultKind::Lost, "dynamodb", "PutItem", 1),
        (FaultKind::Conflict, "dynamodb", "TransactWriteItems", 1),
    ];
    for (kind, service, operation, count) in expected {
        assert_eq!(
            injected.count(kind, service, operation),
            count,
            "{kind} {service}:{operation} in\n{injected}"
        );
    }
    let totals = injected.totals();
    assert_eq!(totals[&FaultKind::Throttle], 6, "{injected}");
    assert_eq!(totals[&FaultKind::Error5xx], 3, "{injected}");
    assert_eq!(fault_report(&functions_endpoint).await.unwrap(), report);
}

/// DynamoDB takes 100 items per transaction; moto alone stops at 25.
#[tokio::test]
async fn a_transaction_may_hold_100_items() {
    let config = common::sdk_config().await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    create_table(&client, "Wide").await;
    let puts = |n: usize| -> Vec<TransactWriteItem> {
        (0..n)
            .map(|i| {
                let put = Put::builder()
                    .table_name("Wide")
                    .item("pk", s(&format!("item-{n}-{i}")))
                    .build()
                    .unwrap();
                TransactWriteItem::builder().put(put).build()
            })
            .collect()
    };
    client
        .transact_write_items()
        .set_transact_items(Some(puts(100)))
        .send()
        .await
        .expect("100 items are allowed");
    let too_many = client
        .transact_write_items()
        .set_transact_items(Some(puts(101)))
        .send()
        .await;
    assert!(too_many.is_err(), "101 items are refused");
}

#[test]
fn a_taken_port_is_reported_clearly() {
    let taken = common::emulator().port();
    let root = repo::repo_root().unwrap();
    match Emulator::start(&root, taken) {
        Err(EmulatorError::Start(reason)) => {
            assert!(
                reason.contains(&format!("port {taken}")) && reason.contains("already in use"),
                "{reason}"
            )
        }
        Err(other) => panic!("unexpected error: {other}"),
        Ok(_) => panic!("a second emulator started on a taken port"),
    }
}

#[test]
fn a_failing_pip_install_names_its_log() {
    let root = std::env::temp_dir().join(format!("dev-pip-failure-{}", std::process::id()));
    let pins = root.join("infra/emulator");
    std::fs::create_dir_all(&pins).unwrap();
    // Rejected by pip itself, without asking a package index.
    std::fs::write(
        pins.join("requirements.txt"),
        "this is not === a requirement\n",
    )
    .unwrap();

    let heard = std::cell::RefCell::new(Vec::new());
    let error = dev::emulator::ensure_venv(&root, &|line| heard.borrow_mut().push(line.to_owned()))
        .expect_err("pip cannot install that");
    assert_eq!(*heard.borrow(), ["installing emulator (first run only)"]);
    let EmulatorError::Pip { log, .. } = &error else {
        panic!("unexpected error: {error}")
    };
    assert_eq!(log, &root.join(".dev/pip.log"));
    assert!(
        error.to_string().contains(&log.display().to_string()),
        "{error}"
    );
    assert!(!std::fs::read_to_string(log).unwrap().is_empty());
    // No stamp: the next run tries again.
    assert!(!root.join(".dev/venv/.requirements.sha256").exists());
    std::fs::remove_dir_all(&root).unwrap();
}
