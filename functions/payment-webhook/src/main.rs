//! `payment-webhook`: `POST /webhooks/payments`, Stripe-compatible.

mod handler;
mod secret;
#[cfg(test)]
mod tests;

use lambda_http::{Error, service_fn};
use shop::adapters::dynamodb::DynamoLedger;
use shop::adapters::sns::SnsPublisher;
use shop::aws::env;
use shop::kernel::SystemClock;
use shop::telemetry::metrics::flushed;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shop::telemetry::init();
    let config = shop::aws::sdk_config().await;
    let ledger = DynamoLedger::new(shop::aws::dynamodb(&config), env("IDEMPOTENCY_TABLE")?);
    let publisher = SnsPublisher::new(shop::aws::sns(&config), env("EVENTS_TOPIC_ARN")?);
    let secret = secret::EndpointSecret::from_env(&config)?;
    let app = handler::App {
        ledger: &ledger,
        publisher: &publisher,
        clock: &SystemClock,
        secret: &secret,
    };
    lambda_http::run(service_fn(|request| {
        flushed(handler::handle(&app, request))
    }))
    .await
}
