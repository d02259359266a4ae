//! `product-reads`: the catalog API (`GET /products`, `GET /products/{product_id}`).

mod handler;
#[cfg(test)]
mod tests;

use lambda_http::{Error, service_fn};
use shop::adapters::dynamodb::DynamoCatalog;
use shop::telemetry::metrics::flushed;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    shop::telemetry::init();
    let config = shop::aws::sdk_config().await;
    let catalog = DynamoCatalog::new(
        shop::aws::dynamodb(&config),
        shop::aws::env("PRODUCTS_TABLE")?,
    );
    lambda_http::run(service_fn(|request| {
        flushed(handler::handle(&catalog, request))
    }))
    .await
}
