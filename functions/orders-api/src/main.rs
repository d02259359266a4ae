//! `orders-api`: `POST /orders`, `GET /orders/{order_id}`, `GET /orders/{order_id}/events`,
//! `POST /orders/{order_id}/cancel`.

mod handler;
mod problems;
mod request;
#[cfg(test)]
mod tests;
mod view;

use lambda_http::{Error, service_fn};
use shop::adapters::dynamodb::DynamoOrders;
use shop::aws::env;
use shop::kernel::SystemClock;
use shop::ordering::deadline::parse_payment_window;
use shop::ordering::placing::Placing;
use shop::telemetry::metrics::flushed;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shop::telemetry::init();
    let config = shop::aws::sdk_config().await;
    let orders = DynamoOrders::new(shop::aws::dynamodb(&config), env("ORDERS_TABLE")?)
        .with_idempotency_table(env("IDEMPOTENCY_TABLE")?)
        // A cancelled order gives its reserved stock back.
        .with_products_table(env("PRODUCTS_TABLE")?);
    let max_unpaid: u32 = env("MAX_UNPAID_ORDERS")?
        .parse()
        .map_err(|e| format!("MAX_UNPAID_ORDERS: {e}"))?;
    let payment_window = parse_payment_window(&env("PAYMENT_WINDOW")?)?;
    let app = handler::App {
        placing: Placing {
            orders: &orders,
            keys: &orders,
            clock: &SystemClock,
            max_unpaid,
        },
        orders: &orders,
        clock: &SystemClock,
        retry_after_seconds: payment_window.whole_seconds().unsigned_abs(),
    };
    lambda_http::run(service_fn(|request| {
        flushed(handler::handle(&app, request))
    }))
    .await
}
