//! `order-payments`: ordering's steps of the payment saga, fed by payment events and by the
//! payment deadlines of confirmed orders (SNS to SQS).

mod handler;
#[cfg(test)]
mod tests;

use lambda_runtime::{Error, service_fn};
use shop::adapters::dynamodb::{DynamoLedger, DynamoOrders};
use shop::adapters::sns::SnsPublisher;
use shop::adapters::sqs::SqsDeadlineTimer;
use shop::aws::env;
use shop::kernel::SystemClock;
use shop::ordering::saga_batch::Saga;
use shop::telemetry::metrics::flushed;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shop::telemetry::init();
    let config = shop::aws::sdk_config().await;
    let dynamodb = shop::aws::dynamodb(&config);
    let orders = DynamoOrders::new(dynamodb.clone(), env("ORDERS_TABLE")?)
        .with_products_table(env("PRODUCTS_TABLE")?);
    let anomalies = DynamoLedger::new(dynamodb, env("IDEMPOTENCY_TABLE")?);
    // Refund requests are rare: the SNS client is built when the first one goes out.
    let publisher = SnsPublisher::on_first_use(&config, env("EVENTS_TOPIC_ARN")?);
    let timer = SqsDeadlineTimer::new(shop::aws::sqs(&config), env("PAYMENT_DEADLINES_QUEUE_URL")?);
    let saga = Saga {
        orders: &orders,
        publisher: &publisher,
        anomalies: &anomalies,
        timer: &timer,
        clock: &SystemClock,
    };
    lambda_runtime::run(service_fn(|event| flushed(handler::handle(&saga, event)))).await
}
