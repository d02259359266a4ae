//! The AWS adapters against the emulator, driven in-process: a writer that dies right after
//! its commit, and a store that cannot be reached.

use e2e::*;
use serde_json::json;
use shop::adapters::dynamodb::{DynamoCatalog, DynamoLedger, DynamoOrders};
use shop::kernel::{EventEnvelope, SystemClock};
use shop::ordering::ports::{CommitError, OrderCommit, OrderRepository};
use shop::ordering::processing::{OrderProcessor, Processed};
use shop::ordering::{Order, OrderStatus, PlaceOrder};
use shop::payments::ports::{LedgerEntry, WebhookLedger};

async fn adapters() -> (DynamoOrders, DynamoCatalog) {
    let config = cloud().sdk_config().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    let orders = DynamoOrders::new(dynamodb.clone(), table("OrdersTable"))
        .with_products_table(table("ProductsTable"));
    let catalog = DynamoCatalog::new(dynamodb, table("ProductsTable")).consistent();
    (orders, catalog)
}

fn command(product: &str, quantity: i64) -> PlaceOrder {
    place_order_command("c-adapters", product, quantity)
}

/// The placing commit orders-api makes, and nothing after it: the process died (or SQS
/// failed) before anything else.
async fn write_only(orders: &DynamoOrders, order: &PlaceOrder) {
    let placed = Order::place(order.clone());
    orders.commit(OrderCommit::new_order(placed)).await.unwrap();
}

#[tokio::test]
async fn an_order_written_and_never_queued_is_confirmed_without_any_retry() {
    let product = seed_product("adapters", 200, 5).await;
    let (orders, _) = adapters().await;
    let order = command(product.as_str(), 2);
    let written = std::time::Instant::now();
    write_only(&orders, &order).await;
    // The relay queued it from the table's stream; the processor confirmed it; the relay
    // published the confirmation. Nobody retried anything.
    let event = notifications()
        .wait_for(order.order_id.as_str(), "order.confirmed")
        .await;
    assert!(written.elapsed() < std::time::Duration::from_secs(60));
    assert_eq!(event["sequence"], 2);
    let stored = orders.load(&order.order_id).await.unwrap().unwrap();
    assert_eq!(stored.status(), OrderStatus::Confirmed);
    assert_eq!(stock(&product).await, 3);
}

#[tokio::test]
async fn a_decision_committed_by_a_processor_that_then_died_is_announced() {
    let product = seed_product("adapters", 200, 5).await;
    let (orders, catalog) = adapters().await;
    let order = command(product.as_str(), 1);
    // A processor in this process, with no way to publish at all: its commit is all it does.
    let processor = OrderProcessor {
        orders: &orders,
        products: &catalog,
        clock: &SystemClock,
        payment_window: time::Duration::minutes(15),
    };
    let first = processor.process(std::slice::from_ref(&order)).await;
    assert_eq!(first[0].as_ref().unwrap(), &Processed::Confirmed);
    let event = notifications()
        .wait_for(order.order_id.as_str(), "order.confirmed")
        .await;
    assert_eq!(event["sequence"], 2);
    // The relay also queued the placement it found in the stream: the processor function
    // met an order already confirmed and reserved nothing more.
    queue_drained("OrdersQueue").await;
    remember_owner(order.order_id.as_str(), "c-adapters");
    assert_eq!(
        history_types(order.order_id.as_str()).await,
        ["order.placed", "order.confirmed"]
    );
    assert_eq!(stock(&product).await, 4);
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
    let batch = [command("p-0001", 1), command("p-0002", 1)];
    let results = OrderProcessor {
        orders: &orders,
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
            .all(|r| matches!(r, Err(CommitError::Infra(_)))),
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
        correlation_id: shop::kernel::CorrelationId::parse("c").unwrap(),
        causation_id: None,
        data: json!({"amount": 1200}),
    };
    let expires = time::OffsetDateTime::now_utc() + time::Duration::days(1);
    assert_eq!(
        ledger.record(&id, &envelope, expires).await.unwrap(),
        LedgerEntry::New
    );
    assert_eq!(
        ledger.record(&id, &envelope, expires).await.unwrap(),
        LedgerEntry::Seen {
            envelope: Box::new(envelope.clone()),
            published: false
        }
    );
    ledger.mark_published(&id).await.unwrap();
    assert!(matches!(
        ledger.record(&id, &envelope, expires).await.unwrap(),
        LedgerEntry::Seen {
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
