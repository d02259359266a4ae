//! The whole local cloud, as the end-to-end tests use it: one per test process, shared by
//! tests that each run on their own runtime.

use dev::InvokeError;
use dev::testing::shared_cloud;
use serde_json::{Value, json};

#[tokio::test]
async fn serves_the_templates_routes() {
    let cloud = shared_cloud();
    let client = reqwest::Client::new();

    let missing = client
        .get(format!("{}/nowhere", cloud.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(
        missing.headers()["content-type"],
        "application/problem+json"
    );

    // product-reads, through the gateway, reads the sample catalog.
    let products = client
        .get(format!("{}/products?limit=5", cloud.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(products.status(), 200);
    let body: Value = products.json().await.unwrap();
    assert!(!body["items"].as_array().unwrap().is_empty(), "{body}");
}

#[tokio::test]
async fn exposes_resources_environment_and_invoke() {
    let cloud = shared_cloud();
    let queue = cloud.resources().queue("OrdersQueue").unwrap();
    assert!(queue.url.starts_with(cloud.endpoint()));
    let env = cloud.function_env("order-relay").unwrap();
    assert_eq!(env["ORDERS_QUEUE_URL"], queue.url);
    // The functions call the emulator's second port, where faults can be injected.
    assert_eq!(env["AWS_ENDPOINT_URL"], cloud.functions_endpoint());
    assert_ne!(cloud.functions_endpoint(), cloud.endpoint());
    assert_eq!(env["WEBHOOK_SECRET"], dev::LOCAL_WEBHOOK_SECRET);

    // Clients built in this test's runtime reach the same emulator.
    let dynamodb = aws_sdk_dynamodb::Client::new(&cloud.sdk_config().await);
    let scan = dynamodb
        .scan()
        .table_name(cloud.resources().table("ProductsTable").unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(scan.count, 24);

    assert_eq!(
        cloud.invoke("no-such-function", json!({})).await,
        Err(InvokeError::UnknownFunction("no-such-function".into()))
    );
}
