//! The AWS adapters against the emulator, driven in-process to inject faults between the
//! DynamoDB write and the SNS publish, and to cut the network.

use e2e::*;
use serde_json::json;
use shop::adapters::dynamodb::{DynamoCatalog, DynamoLedger, DynamoOrders};
use shop::adapters::sns::SnsPublisher;
use shop::kernel::{EventEnvelope, EventPublisher, PublishReport, StoreError, SystemClock};
use shop::ordering::OrderStatus;
use shop::ordering::outbox::Outbox;
use shop::ordering::placing::{OrderRequest, PlaceOrder};
use shop::ordering::ports::OrderRepository;
use shop::ordering::processing::{OrderProcessor, ProcessError, Processed};
use shop::payments::ports::{Recording, WebhookLedger};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Wraps the real SNS adapter and fails its first calls, as an outage would.
struct Outage<'a> {
    real: &'a SnsPublisher,
    failures_left: AtomicUsize,
}

#[async_trait::async_trait]
impl EventPublisher for Outage<'_> {
    async fn publish(&self, events: &[EventEnvelope]) -> Result<PublishReport, StoreError> {
        if self
            .failures_left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Err(StoreError::new("injected: SNS unreachable"));
        }
        self.real.publish(events).await
    }
}

async fn adapters() -> (DynamoOrders, DynamoCatalog, SnsPublisher) {
    let config = cloud().sdk_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let orders = DynamoOrders::new(dynamodb.clone(), table("OrdersTable"))
        .with_products_table(table("ProductsTable"));
    let catalog = DynamoCatalog::new(dynamodb, table("ProductsTable")).consistent();
    let publisher = SnsPublisher::new(aws_sdk_sns::Client::new(&config), topic_arn());
    (orders, catalog, publisher)
}

fn command(product: &str, quantity: u32) -> PlaceOrder {
    let request = OrderRequest::validate(
        &json!({"currency": "EUR",
        "items": [{"product_id": product, "quantity": quantity}]}),
        &shop::kernel::CustomerId::parse("c-adapters").unwrap(),
    )
    .unwrap();
    PlaceOrder::new(
        request,
        "corr-adapters".into(),
        time::OffsetDateTime::now_utc(),
    )
}

#[tokio::test]
async fn an_event_committed_but_not_published_is_published_on_the_retry() {
    let product = seed_product("adapters", 200, 5).await;
    let (orders, catalog, publisher) = adapters().await;
    let outage = Outage {
        real: &publisher,
        failures_left: AtomicUsize::new(1),
    };
    let order = command(product.as_str(), 2);

    let processor = OrderProcessor {
        outbox: Outbox {
            orders: &orders,
            publisher: &outage,
        },
        products: &catalog,
        clock: &SystemClock,
        payment_window: time::Duration::minutes(15),
    };
    let first = processor.process(std::slice::from_ref(&order)).await;
    assert!(
        matches!(first[0], Err(ProcessError::NotPublished)),
        "{first:?}"
    );
    // The write happened: the order is confirmed, its stock reserved, its event in the outbox.
    let stored = orders.load(&order.order_id).await.unwrap().unwrap();
    assert_eq!(stored.status, OrderStatus::Confirmed);
    assert_eq!(stock(&product).await, 3);
    assert_eq!(orders.outbox(&order.order_id).await.unwrap().len(), 1);

    // The message comes back (SQS redelivers what was reported failed).
    let retry = processor.process(std::slice::from_ref(&order)).await;
    assert_eq!(
        retry[0].as_ref().unwrap(),
        &Processed::AlreadyProcessed(OrderStatus::Confirmed)
    );
    let event = notifications()
        .wait_for(order.order_id.as_str(), "order.confirmed")
        .await;
    assert_eq!(event["sequence"], 2);
    assert!(orders.outbox(&order.order_id).await.unwrap().is_empty());
    assert_eq!(stock(&product).await, 3, "the retry reserved nothing more");
}

#[tokio::test]
async fn an_unreachable_store_fails_every_order_for_a_retry_without_crashing() {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "test", "test", None, None, "test",
        ))
        .endpoint_url("http://127.0.0.1:9")
        .load()
        .await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let orders =
        DynamoOrders::new(dynamodb.clone(), "OrdersTable").with_products_table("ProductsTable");
    let catalog = DynamoCatalog::new(dynamodb, "ProductsTable");
    let publisher = SnsPublisher::new(
        aws_sdk_sns::Client::new(&config),
        "arn:aws:sns:us-east-1:123456789012:none",
    );
    let batch = [command("p-0001", 1), command("p-0002", 1)];
    let results = OrderProcessor {
        outbox: Outbox {
            orders: &orders,
            publisher: &publisher,
        },
        products: &catalog,
        clock: &SystemClock,
        payment_window: time::Duration::minutes(15),
    }
    .process(&batch)
    .await;
    assert_eq!(results.len(), 2);
    assert!(
        results
            .iter()
            .all(|r| matches!(r, Err(ProcessError::Store(_)))),
        "{results:?}"
    );
}

#[tokio::test]
async fn the_webhook_ledger_records_an_event_once_and_remembers_publication() {
    let config = cloud().sdk_config().await;
    let ledger = DynamoLedger::new(
        aws_sdk_dynamodb::Client::new(&config),
        table("IdempotencyTable"),
    );
    let id = format!("evt_{}", ulid::Ulid::new());
    let envelope = EventEnvelope {
        event_id: id.clone(),
        event_type: "payment.succeeded".into(),
        schema_version: 1,
        occurred_at: time::OffsetDateTime::now_utc()
            .replace_nanosecond(0)
            .unwrap(),
        aggregate_id: "pi_1".into(),
        sequence: 1,
        correlation_id: "c".into(),
        causation_id: None,
        data: json!({"amount": 1200}),
    };
    let expires = time::OffsetDateTime::now_utc() + time::Duration::days(1);
    assert_eq!(
        ledger.record(&id, &envelope, expires).await.unwrap(),
        Recording::New
    );
    assert_eq!(
        ledger.record(&id, &envelope, expires).await.unwrap(),
        Recording::Seen {
            envelope: Box::new(envelope.clone()),
            published: false
        }
    );
    ledger.mark_published(&id).await.unwrap();
    assert!(matches!(
        ledger.record(&id, &envelope, expires).await.unwrap(),
        Recording::Seen {
            published: true,
            ..
        }
    ));
}

#[tokio::test]
async fn the_webhook_secret_is_read_from_secrets_manager() {
    let client = aws_sdk_secretsmanager::Client::new(&cloud().sdk_config().await);
    let name = format!("webhook-{}", ulid::Ulid::new());
    let created = client
        .create_secret()
        .name(&name)
        .secret_string("whsec_from_the_vault")
        .send()
        .await
        .unwrap();
    let value = shop::adapters::secrets::secret_string(&client, created.arn().unwrap())
        .await
        .unwrap();
    assert_eq!(value, "whsec_from_the_vault");
    assert!(
        shop::adapters::secrets::secret_string(&client, "no-such-secret")
            .await
            .is_err()
    );
}
