//! `order-processor`: the orders queue's consumer (SQS, partial batch responses).

mod handler;
#[cfg(test)]
mod tests;

use lambda_runtime::{Error, service_fn};
use shop::adapters::dynamodb::{DynamoCatalog, DynamoOrders};
use shop::aws::env;
use shop::kernel::SystemClock;
use shop::ordering::deadline::parse_payment_window;
use shop::ordering::processing::OrderProcessor;
use shop::telemetry::metrics::flushed;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shop::telemetry::init();
    let config = shop::aws::sdk_config().await;
    let dynamodb = shop::aws::dynamodb(&config);
    let products_table = env("PRODUCTS_TABLE")?;
    let orders = DynamoOrders::new(dynamodb.clone(), env("ORDERS_TABLE")?)
        .with_products_table(&products_table);
    // Price against the latest catalog; the reservation itself is checked in the transaction.
    let catalog = DynamoCatalog::new(dynamodb, products_table).consistent();
    let payment_window = parse_payment_window(&env("PAYMENT_WINDOW")?)?;
    let processor = OrderProcessor {
        orders: &orders,
        products: &catalog,
        clock: &SystemClock,
        payment_window,
    };
    lambda_runtime::run(service_fn(|event| {
        flushed(handler::handle(&processor, event))
    }))
    .await
}
