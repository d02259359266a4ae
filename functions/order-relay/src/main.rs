//! `order-relay`: the orders table's change stream (DynamoDB Streams, partial batch
//! responses). Each committed `order.placed` is queued for `order-processor`, every other
//! order event is published on the event bus.

mod handler;
#[cfg(test)]
mod tests;

use lambda_runtime::{Error, service_fn};
use shop::adapters::sns::SnsPublisher;
use shop::adapters::sqs::SqsOrderQueue;
use shop::aws::env;
use shop::ordering::relay::Relay;
use shop::telemetry::metrics::flushed;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shop::telemetry::init();
    let config = shop::aws::sdk_config().await;
    let queue = SqsOrderQueue::new(shop::aws::sqs(&config), env("ORDERS_QUEUE_URL")?);
    let publisher = SnsPublisher::new(shop::aws::sns(&config), env("EVENTS_TOPIC_ARN")?);
    let relay = Relay {
        queue: &queue,
        publisher: &publisher,
    };
    lambda_runtime::run(service_fn(|event| flushed(handler::handle(&relay, event)))).await
}
