//! The payment saga on the local cloud: signed webhooks in, PAID or CANCELLED out.

use e2e::*;
use serde_json::{Value, json};
use shop::payments::signature::sign;

/// A product and a confirmed order of `quantity` of it; returns (product, order view).
async fn confirmed_order(stock: i64, quantity: u32) -> (shop::kernel::ProductId, Value) {
    let product = seed_product("payments", 1_000, stock).await;
    let (_, placed) = post_order(
        &json!({"customer_id": "c-pay", "currency": "EUR", "items": [{"product_id": product, "quantity": quantity}]}),
        &[],
    )
    .await;
    let order = order_in(placed["order_id"].as_str().unwrap(), "CONFIRMED").await;
    (product, order)
}

fn provider_event(kind: &str, order: &Value, amount: i64) -> Value {
    let id = format!("evt_{}", ulid::Ulid::new());
    json!({
        "id": id, "object": "event", "type": kind, "created": now(),
        "data": {"object": {"id": format!("pi_{}", ulid::Ulid::new()), "object": "payment_intent",
            "amount": amount, "currency": "eur", "metadata": {"order_id": order["order_id"]},
            "last_payment_error": if kind.ends_with("failed") { json!({"message": "Your card was declined."}) } else { Value::Null }}}
    })
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn total(order: &Value) -> i64 {
    order["totals"]["total"]["amount"].as_i64().unwrap()
}

/// Sends `body` as the provider would, with this signature header (or none).
async fn deliver(body: &str, signature: Option<String>) -> (u16, Value) {
    let mut request = http()
        .post(url("/webhooks/payments"))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(signature) = signature {
        request = request.header("stripe-signature", signature);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if status == 400 {
        assert_eq!(content_type.as_deref(), Some("application/problem+json"));
    }
    (status, body)
}

/// Waits until the saga has recorded the provider event as an anomaly; returns the record.
async fn recorded_anomaly(event: &Value) -> String {
    let key = format!("ANOMALY#{}", event["id"].as_str().unwrap());
    let client = dynamodb().await;
    let item = eventually(
        "the anomaly to be recorded",
        std::time::Duration::from_secs(60),
        || async {
            client
                .get_item()
                .table_name(table("IdempotencyTable"))
                .key(
                    "pk",
                    aws_sdk_dynamodb::types::AttributeValue::S(key.clone()),
                )
                .send()
                .await
                .ok()?
                .item
        },
    )
    .await;
    format!("{item:?}")
}

fn signed(body: &str) -> Option<String> {
    Some(sign(
        body.as_bytes(),
        dev::LOCAL_WEBHOOK_SECRET.as_bytes(),
        now(),
    ))
}

#[tokio::test]
async fn a_successful_payment_pays_the_order_and_announces_it() {
    let (product, order) = confirmed_order(10, 2).await;
    let body = provider_event("payment_intent.succeeded", &order, total(&order)).to_string();
    let (status, answer) = deliver(&body, signed(&body)).await;
    assert_eq!(
        (status, answer["outcome"].as_str()),
        (200, Some("processed"))
    );
    let order_id = order["order_id"].as_str().unwrap();
    let paid = order_in(order_id, "PAID").await;
    assert!(
        paid["payment_intent_id"]
            .as_str()
            .unwrap()
            .starts_with("pi_")
    );
    let announced = notifications().wait_for(order_id, "order.paid").await;
    assert_eq!(announced["data"]["amount"]["amount"], total(&order));
    assert_eq!(stock(&product).await, 8);
}

#[tokio::test]
async fn a_failed_payment_cancels_the_order_and_gives_its_stock_back() {
    let (product, order) = confirmed_order(9, 4).await;
    let before = get_json(&format!("/products/{product}")).await.1;
    assert_eq!(before["availability"]["quantity"], 5);
    let body = provider_event("payment_intent.payment_failed", &order, total(&order)).to_string();
    assert_eq!(deliver(&body, signed(&body)).await.0, 200);
    let order_id = order["order_id"].as_str().unwrap();
    let cancelled = order_in(order_id, "CANCELLED").await;
    assert_eq!(
        cancelled["reason"],
        "payment failed: Your card was declined."
    );
    notifications().wait_for(order_id, "order.cancelled").await;
    assert_eq!(stock(&product).await, 9);
    let after = get_json(&format!("/products/{product}")).await.1;
    assert_eq!(
        after["availability"],
        json!({"status": "in_stock", "quantity": 9})
    );
}

#[tokio::test]
async fn the_same_webhook_delivered_five_times_has_one_effect() {
    let (_, order) = confirmed_order(10, 1).await;
    let body = provider_event("payment_intent.succeeded", &order, total(&order)).to_string();
    let mut outcomes = Vec::new();
    for _ in 0..5 {
        let (status, answer) = deliver(&body, signed(&body)).await;
        assert_eq!(status, 200);
        outcomes.push(answer["outcome"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        outcomes,
        [
            "processed",
            "duplicate",
            "duplicate",
            "duplicate",
            "duplicate"
        ]
    );
    let order_id = order["order_id"].as_str().unwrap();
    order_in(order_id, "PAID").await;
    notifications().wait_for(order_id, "order.paid").await;
    let (_, history) = get_json(&format!("/orders/{order_id}/events")).await;
    let paid = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event_type"] == "order.paid")
        .count();
    assert_eq!(paid, 1);
}

#[tokio::test]
async fn a_payment_of_the_wrong_amount_leaves_the_order_confirmed_and_is_recorded() {
    let (_, order) = confirmed_order(10, 1).await;
    let event = provider_event("payment_intent.succeeded", &order, total(&order) - 1);
    let body = event.to_string();
    assert_eq!(deliver(&body, signed(&body)).await.0, 200);
    let anomaly = recorded_anomaly(&event).await;
    assert!(anomaly.contains("the order stays CONFIRMED"), "{anomaly}");
    let (_, now) = get_json(&format!("/orders/{}", order["order_id"].as_str().unwrap())).await;
    assert_eq!(now["status"], "CONFIRMED");
}

#[tokio::test]
async fn a_failure_arriving_after_the_success_leaves_the_order_paid() {
    let (product, order) = confirmed_order(10, 3).await;
    let order_id = order["order_id"].as_str().unwrap();
    let succeeded = provider_event("payment_intent.succeeded", &order, total(&order)).to_string();
    deliver(&succeeded, signed(&succeeded)).await;
    order_in(order_id, "PAID").await;
    let failed = provider_event("payment_intent.payment_failed", &order, total(&order));
    let failed_body = failed.to_string();
    assert_eq!(deliver(&failed_body, signed(&failed_body)).await.0, 200);
    recorded_anomaly(&failed).await;
    assert_eq!(
        get_json(&format!("/orders/{order_id}")).await.1["status"],
        "PAID"
    );
    assert_eq!(stock(&product).await, 7);
}

#[tokio::test]
async fn forged_stale_or_malformed_deliveries_are_refused_and_change_nothing() {
    let (_, order) = confirmed_order(10, 1).await;
    let event = provider_event("payment_intent.succeeded", &order, total(&order));
    let body = event.to_string();
    let tampered = body.replace(&format!("\"amount\":{}", total(&order)), "\"amount\":1");
    assert_ne!(tampered, body);
    let cases = [
        ("tampered body", tampered.clone(), signed(&body)),
        (
            "wrong secret",
            body.clone(),
            Some(sign(body.as_bytes(), b"whsec_someone_else", now())),
        ),
        (
            "stale timestamp",
            body.clone(),
            Some(sign(
                body.as_bytes(),
                dev::LOCAL_WEBHOOK_SECRET.as_bytes(),
                now() - 301,
            )),
        ),
        ("missing header", body.clone(), None),
        (
            "malformed header",
            body.clone(),
            Some("v1=abc,t=".to_owned()),
        ),
    ];
    for (case, payload, signature) in cases {
        let (status, problem) = deliver(&payload, signature).await;
        assert_eq!(status, 400, "{case}");
        assert_eq!(problem["status"], 400, "{case}");
        assert!(problem["detail"].as_str().is_some(), "{case}");
    }
    let recorded = dynamodb()
        .await
        .get_item()
        .table_name(table("IdempotencyTable"))
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!(
                "WEBHOOK#{}",
                event["id"].as_str().unwrap()
            )),
        )
        .send()
        .await
        .unwrap();
    assert!(
        recorded.item.is_none(),
        "a refused delivery must not be recorded"
    );
    assert_eq!(
        get_json(&format!("/orders/{}", order["order_id"].as_str().unwrap()))
            .await
            .1["status"],
        "CONFIRMED"
    );
}

#[tokio::test]
async fn other_event_types_are_acknowledged_and_ignored() {
    let body = json!({"id": format!("evt_{}", ulid::Ulid::new()), "type": "customer.created", "created": now(), "data": {"object": {"id": "cus_1"}}}).to_string();
    let (status, answer) = deliver(&body, signed(&body)).await;
    assert_eq!((status, answer["outcome"].as_str()), (200, Some("ignored")));
}

#[tokio::test]
async fn a_payment_event_delivered_twice_by_sns_pays_once() {
    let (product, order) = confirmed_order(10, 2).await;
    let order_id = order["order_id"].as_str().unwrap();
    let event_id = format!("evt_{}", ulid::Ulid::new());
    let envelope = json!({
        "event_id": event_id, "event_type": "payment.succeeded", "schema_version": 1,
        "occurred_at": "2026-11-21T10:05:00Z", "aggregate_id": "pi_twice", "sequence": 1,
        "correlation_id": "corr-twice", "causation_id": event_id,
        "data": {"order_id": order_id, "payment_intent_id": "pi_twice", "amount": total(&order),
                 "currency": "EUR", "provider_event_id": event_id}
    })
    .to_string();
    let client = sqs().await;
    for _ in 0..2 {
        client
            .send_message()
            .queue_url(queue_url("PaymentEventsQueue"))
            .message_body(&envelope)
            .send()
            .await
            .unwrap();
    }
    order_in(order_id, "PAID").await;
    // Every copy consumed before judging.
    queue_drained("PaymentEventsQueue").await;
    let (_, history) = get_json(&format!("/orders/{order_id}/events")).await;
    let types: Vec<&str> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["order.placed", "order.confirmed", "order.paid"]);
    assert_eq!(stock(&product).await, 8);
}
