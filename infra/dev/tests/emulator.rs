//! The emulator launcher: its adjustments to moto and its errors.

mod common;

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, Put, PutRequest,
    ScalarAttributeType, TransactWriteItem, Update, WriteRequest,
};
use dev::emulator::{Emulator, EmulatorError};
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

/// moto's TransactWriteItems copies whole tables and restores them when a condition fails,
/// so without the launcher's lock concurrent transactions undo each other (oversold stock).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_conditional_transactions_keep_the_count_exact() {
    let config = common::sdk_config().await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    create_table(&client, "Stock").await;
    // Filler makes each table copy slow enough for transactions to overlap.
    for chunk in 0..12 {
        let requests = (0..25)
            .map(|i| {
                let item = HashMap::from([
                    ("pk".to_owned(), s(&format!("filler-{chunk}-{i}"))),
                    ("data".to_owned(), s(&"x".repeat(500))),
                ]);
                WriteRequest::builder()
                    .put_request(PutRequest::builder().set_item(Some(item)).build().unwrap())
                    .build()
            })
            .collect();
        client
            .batch_write_item()
            .request_items("Stock", requests)
            .send()
            .await
            .unwrap();
    }
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
            client
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().update(reserve).build())
                .transact_items(TransactWriteItem::builder().put(order).build())
                .send()
                .await
        })
    });
    let results = futures::future::join_all(attempts).await;
    let mut succeeded = 0;
    for result in results {
        match result.unwrap() {
            Ok(_) => succeeded += 1,
            Err(e) => {
                let service = e.into_service_error();
                assert!(
                    service.is_transaction_canceled_exception(),
                    "unexpected error: {service:?}"
                );
            }
        }
    }
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
    let EmulatorError::Pip { log } = &error else {
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
