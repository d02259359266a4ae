//! Order processing on the local cloud: POST /orders, the orders queue, order-processor,
//! the event store and the SNS fan-out.

use e2e::*;
use serde_json::{Value, json};
use shop::adapters::dynamodb::DynamoOrders;
use shop::ordering::Order;
use shop::ordering::ports::OrderRepository;
use std::time::Duration;

#[tokio::test]
async fn a_valid_order_is_confirmed_with_its_totals_its_stock_taken_and_announced() {
    let product = seed_product("e2e", 1_250, 10).await;
    let body = json!({"currency": "EUR", "discount_code": "WELCOME10",
        "items": [{"product_id": product, "quantity": 3}]});
    let (status, placed) = post_order(&body, &[("x-correlation-id", "corr-happy-path")]).await;
    assert_eq!(status, 202, "{placed}");
    assert_eq!(placed["status"], "PENDING");
    let order_id = placed["order_id"].as_str().unwrap();

    let order = settled_order(order_id).await;
    assert_eq!(order["status"], "CONFIRMED", "{order}");
    // 3 × 12.50 = 37.50; 10 % off = 3.75; VAT 20 % of 33.75 = 6.75; total 40.50
    assert_eq!(
        order["totals"],
        json!({"subtotal": {"amount": 3750, "currency": "EUR"}, "discount": {"amount": 375, "currency": "EUR"},
               "tax": {"amount": 675, "currency": "EUR"}, "total": {"amount": 4050, "currency": "EUR"}})
    );
    assert_eq!(order["items"][0]["unit_price"]["amount"], 1250);
    assert_eq!(stock(&product).await, 7);

    let announced = notifications().wait_for(order_id, "order.confirmed").await;
    assert_eq!(announced["correlation_id"], "corr-happy-path");
    assert_eq!(announced["data"]["totals"]["total"]["amount"], 4050);
}

#[tokio::test]
async fn the_location_header_points_at_the_order() {
    let product = seed_product("e2e", 100, 5).await;
    let customer = new_customer();
    let response = http()
        .post(url("/orders"))
        .bearer_auth(token_for(&customer))
        .json(&order_body(product.as_str(), 1))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    let placed: Value = response.json().await.unwrap();
    remember_owner(placed["order_id"].as_str().unwrap(), &customer);
    assert_eq!(
        location,
        format!("/orders/{}", placed["order_id"].as_str().unwrap())
    );
    let (status, order) = get_json(&location).await;
    assert_eq!(status, 200);
    assert_eq!(order["order_id"], placed["order_id"]);
}

#[tokio::test]
async fn an_order_for_more_than_the_stock_is_rejected_with_a_reason_and_stock_unchanged() {
    let product = seed_product("e2e", 500, 4).await;
    let (_, placed) = post_order(&order_body(product.as_str(), 5), &[]).await;
    let order_id = placed["order_id"].as_str().unwrap();
    let order = settled_order(order_id).await;
    assert_eq!(order["status"], "REJECTED");
    assert_eq!(order["reason"], format!("not enough stock for {product}"));
    assert_eq!(stock(&product).await, 4);
    let announced = notifications().wait_for(order_id, "order.rejected").await;
    assert_eq!(announced["data"]["reason"], "insufficient_stock");
}

#[tokio::test]
async fn two_hundred_concurrent_orders_for_fifty_units_confirm_exactly_fifty() {
    let product = seed_product("e2e", 100, 50).await;
    let body = order_body(product.as_str(), 1);
    let placed = futures::future::join_all((0..200).map(|_| post_order(&body, &[]))).await;
    let refused: Vec<&(u16, Value)> = placed.iter().filter(|(status, _)| *status != 202).collect();
    assert!(
        refused.is_empty(),
        "{} refused, first: {:?}",
        refused.len(),
        refused.first()
    );
    let mut settled = Vec::new();
    for (_, order) in &placed {
        settled.push(settled_order(order["order_id"].as_str().unwrap()).await);
    }
    let counts = tally(&settled, "status");
    assert_eq!(counts.get("CONFIRMED"), Some(&50), "{counts:?}");
    assert_eq!(counts.get("REJECTED"), Some(&150), "{counts:?}");
    assert_eq!(stock(&product).await, 0);
}

#[tokio::test]
async fn poison_messages_go_to_the_dead_letter_queue_intact_and_the_rest_of_the_batch_is_processed()
{
    let product = seed_product("e2e", 100, 100).await;
    let client = sqs().await;
    let marker = ulid::Ulid::new().to_string();
    let mut valid_ids = Vec::new();
    let mut entries = Vec::new();
    for i in 0..7 {
        let order_id = ulid::Ulid::new().to_string();
        let body = json!({"schema_version": 1, "type": "place_order", "order_id": order_id,
            "customer_id": "c-e2e", "currency": "EUR", "lines": [{"product_id": product, "quantity": 1}],
            "correlation_id": marker, "placed_at": "2026-11-21T10:00:00Z"});
        valid_ids.push(order_id);
        entries.push((format!("valid-{i}"), body.to_string()));
    }
    let poison = [
        format!("not json at all {marker}"),
        json!({"schema_version": 2, "type": "place_order", "marker": marker}).to_string(),
        json!({"schema_version": 1, "type": "place_order", "order_id": "bad id", "marker": marker})
            .to_string(),
    ];
    for (i, body) in poison.iter().enumerate() {
        entries.push((format!("poison-{i}"), body.clone()));
    }
    let batch = entries
        .into_iter()
        .map(|(id, body)| {
            aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                .id(id)
                .message_body(body)
                .build()
                .unwrap()
        })
        .collect();
    let sent = client
        .send_message_batch()
        .queue_url(queue_url("OrdersQueue"))
        .set_entries(Some(batch))
        .send()
        .await
        .unwrap();
    assert!(sent.failed().is_empty());

    for order_id in &valid_ids {
        assert_eq!(settled_order(order_id).await["status"], "CONFIRMED");
    }
    assert_eq!(stock(&product).await, 93);
    let dead: Vec<String> = eventually(
        "the poison messages in OrdersDLQ",
        Duration::from_secs(60),
        || async {
            let mine: Vec<String> = peek_bodies("OrdersDLQ")
                .await
                .into_iter()
                .filter(|b| b.contains(&marker))
                .collect();
            (mine.len() == poison.len()).then_some(mine)
        },
    )
    .await;
    for body in &poison {
        assert!(dead.contains(body), "{body} should be in the DLQ unchanged");
    }
}

#[tokio::test]
async fn a_message_delivered_three_times_makes_one_order_and_reserves_once() {
    let product = seed_product("e2e", 100, 10).await;
    let order_id = ulid::Ulid::new().to_string();
    let body = json!({"schema_version": 1, "type": "place_order", "order_id": order_id,
        "customer_id": "c-e2e", "currency": "EUR", "lines": [{"product_id": product, "quantity": 2}],
        "correlation_id": "corr-thrice", "placed_at": "2026-11-21T10:00:00Z"})
    .to_string();
    send_copies("OrdersQueue", &body, 3).await;
    assert_eq!(settled_order(&order_id).await["status"], "CONFIRMED");
    notifications().wait_for(&order_id, "order.confirmed").await;
    // Every copy consumed before judging.
    queue_drained("OrdersQueue").await;
    assert_eq!(stock(&product).await, 8);
    let (_, history) = get_json(&format!("/orders/{order_id}/events")).await;
    assert_eq!(history["items"].as_array().unwrap().len(), 2, "{history}");
    let confirmed: std::collections::HashSet<String> = notifications()
        .events_for(&order_id)
        .iter()
        .filter(|e| e["event_type"] == "order.confirmed")
        .map(|e| e["event_id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        confirmed.len(),
        1,
        "one order.confirmed event (possibly delivered more than once)"
    );
}

#[tokio::test]
async fn the_history_lists_the_events_and_replaying_it_gives_the_stored_order() {
    let product = seed_product("e2e", 990, 3).await;
    let (_, placed) = post_order(&order_body(product.as_str(), 2), &[]).await;
    let order_id = placed["order_id"].as_str().unwrap();
    let stored = settled_order(order_id).await;
    let (status, history) = get_json(&format!("/orders/{order_id}/events")).await;
    assert_eq!(status, 200);
    let items = history["items"].as_array().unwrap();
    let types: Vec<&str> = items
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["order.placed", "order.confirmed"]);
    let sequences: Vec<u64> = items
        .iter()
        .map(|e| e["sequence"].as_u64().unwrap())
        .collect();
    assert_eq!(sequences, [1, 2]);
    let envelopes: Vec<shop::kernel::EventEnvelope> =
        serde_json::from_value(history["items"].clone()).unwrap();
    let replayed = Order::replay(&envelopes).unwrap();
    let orders = DynamoOrders::new(dynamodb().await, table("OrdersTable"));
    let kept = orders.load(replayed.id()).await.unwrap().unwrap();
    assert_eq!(
        replayed, kept,
        "the state view is what the history replays to"
    );
    let total = replayed.state().confirmation().unwrap().totals.total;
    assert_eq!(
        (stored["version"].as_u64(), &stored["totals"]["total"]),
        (
            Some(replayed.version()),
            &serde_json::to_value(total).unwrap()
        ),
        "and what the API answers: {stored}"
    );
}

#[tokio::test]
async fn the_same_idempotency_key_gives_the_same_order_and_another_body_is_refused() {
    let product = seed_product("e2e", 100, 10).await;
    let key = format!("key-{}", ulid::Ulid::new());
    // One customer: keys are each customer's own.
    let customer = new_customer();
    let mine = |quantity| {
        let mut body = order_body(product.as_str(), quantity);
        body["customer_id"] = json!(customer);
        body
    };
    let (first_status, first) = post_order(&mine(1), &[("idempotency-key", &key)]).await;
    let (second_status, second) = post_order(&mine(1), &[("idempotency-key", &key)]).await;
    assert_eq!((first_status, second_status), (202, 202));
    assert_eq!(first["order_id"], second["order_id"]);
    let (status, problem) = post_order(&mine(2), &[("idempotency-key", &key)]).await;
    assert_eq!(status, 422);
    assert_eq!(
        problem["type"],
        "https://shop.example/problems/idempotency-key-reused"
    );
    settled_order(first["order_id"].as_str().unwrap()).await;
    assert_eq!(stock(&product).await, 9);
}

#[tokio::test]
async fn bad_requests_get_problem_details_naming_what_is_wrong() {
    let token = token_for(&new_customer());
    let response = http()
        .post(url("/orders"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{\"customer_id\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );

    let (status, problem) = post_order(
        &json!({"currency": "EURO", "items": [{"product_id": "p-0001", "quantity": 1001}]}),
        &[],
    )
    .await;
    assert_eq!(status, 422);
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["currency", "items[0].quantity"]);

    let huge = "x".repeat(70 * 1024);
    let response = http()
        .post(url("/orders"))
        .bearer_auth(&token)
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);

    let (status, _) = get_json("/orders/01JDQ0000000000000000000ZZ").await;
    assert_eq!(status, 404);
    let (status, _) = get_json("/orders/not-an-order/events").await;
    assert_eq!(status, 404);
}
