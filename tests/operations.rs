//! Operating the system on the local cloud: what a person on call does with it. This test
//! binary has a cloud of its own, so moving a dead-letter queue's messages cannot take the
//! poison messages other tests leave there.

use e2e::*;
use serde_json::json;

#[tokio::test]
async fn redriving_the_messages_of_orders_already_processed_changes_nothing() {
    let product = seed_product("e2e", 100, 10).await;
    let (_, placed) = post_order(&order_body(product.as_str(), 2), &[]).await;
    let order_id = placed["order_id"].as_str().unwrap();
    let confirmed = settled_order(order_id).await;
    assert_eq!(confirmed["status"], "CONFIRMED");
    // Its place-order message, as if it had failed every retry after the work was done.
    let message = json!({"schema_version": 1, "type": "place_order", "order_id": order_id,
        "customer_id": confirmed["customer_id"], "currency": "EUR",
        "lines": [{"product_id": product, "quantity": 2}],
        "correlation_id": confirmed["correlation_id"], "placed_at": confirmed["created_at"]});
    send_copies("OrdersDLQ", &message.to_string(), 2).await;
    let client = sqs().await;
    let redrives =
        dev::redrive::redrives(cloud().template(), cloud().resources(), Some("OrdersDLQ")).unwrap();
    assert_eq!(redrives.len(), 1);
    assert_eq!(redrives[0].source.name, "OrdersQueue");
    let moved = dev::redrive::move_back(&client, &redrives[0])
        .await
        .unwrap();
    assert!(moved >= 2, "moved {moved}");
    queue_drained("OrdersQueue").await;
    assert!(
        !peek_bodies("OrdersDLQ")
            .await
            .iter()
            .any(|b| b.contains(order_id)),
        "processed again without failing"
    );
    assert_eq!(get_json(&format!("/orders/{order_id}")).await.1, confirmed);
    assert_eq!(stock(&product).await, 8, "nothing reserved twice");
}
