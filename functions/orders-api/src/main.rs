//! `orders-api`: `POST /orders`, `GET /orders/{order_id}`, `GET /orders/{order_id}/events`,
//! `POST /orders/{order_id}/cancel`.

mod handler;

use lambda_http::{Error, service_fn};
use shop::adapters::dynamodb::DynamoOrders;
use shop::adapters::sns::SnsPublisher;
use shop::adapters::sqs::SqsOrderQueue;
use shop::aws::env;
use shop::kernel::SystemClock;

#[tokio::main]
async fn main() -> Result<(), Error> {
    shop::telemetry::init();
    let config = shop::aws::sdk_config().await;
    let orders = DynamoOrders::new(aws_sdk_dynamodb::Client::new(&config), env("ORDERS_TABLE")?)
        .with_idempotency_table(env("IDEMPOTENCY_TABLE")?)
        // A cancelled order gives its reserved stock back.
        .with_products_table(env("PRODUCTS_TABLE")?);
    let queue = SqsOrderQueue::new(aws_sdk_sqs::Client::new(&config), env("ORDERS_QUEUE_URL")?);
    let publisher = SnsPublisher::new(aws_sdk_sns::Client::new(&config), env("EVENTS_TOPIC_ARN")?);
    let app = handler::App {
        orders: &orders,
        keys: &orders,
        queue: &queue,
        publisher: &publisher,
        clock: &SystemClock,
    };
    lambda_http::run(service_fn(|request| handler::handle(&app, request))).await
}
