//! The payment provider's side: signed webhooks for an order, and what the saga recorded.

use super::{
    dynamodb, eventually, get_json, http, owner_of, post_order, seed_product, table, token_for, url,
};
use crate::order_in;
use serde_json::{Value, json};
use shop::payments::signature::sign;

/// A product and a confirmed order of `quantity` of it; returns (product, order view).
pub async fn confirmed_order(stock: i64, quantity: u32) -> (shop::kernel::ProductId, Value) {
    let product = seed_product("payments", 1_000, stock).await;
    let (_, placed) = post_order(
        &json!({"currency": "EUR", "items": [{"product_id": product, "quantity": quantity}]}),
        &[],
    )
    .await;
    let order = order_in(placed["order_id"].as_str().unwrap(), "CONFIRMED").await;
    (product, order)
}

/// A provider event (`payment_intent.succeeded`, `payment_intent.payment_failed`) for the order.
pub fn provider_event(kind: &str, order: &Value, amount: i64) -> Value {
    let id = format!("evt_{}", ulid::Ulid::new());
    json!({
        "id": id, "object": "event", "type": kind, "created": now(),
        "data": {"object": {"id": format!("pi_{}", ulid::Ulid::new()), "object": "payment_intent",
            "amount": amount, "currency": "eur", "metadata": {"order_id": order["order_id"]},
            "last_payment_error": if kind.ends_with("failed") { json!({"message": "Your card was declined."}) } else { Value::Null }}}
    })
}

pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// The order view's total, in minor units.
pub fn total(order: &Value) -> i64 {
    order["totals"]["total"]["amount"].as_i64().unwrap()
}

/// The `payment.succeeded` envelope payment-webhook publishes for a provider event, as SNS
/// delivers it to PaymentEventsQueue.
pub fn payment_envelope(event: &Value, order: &Value) -> Value {
    let (event_id, intent) = (&event["id"], &event["data"]["object"]["id"]);
    json!({
        "event_id": event_id, "event_type": "payment.succeeded", "schema_version": 1,
        "occurred_at": "2026-11-21T10:05:00Z", "aggregate_id": intent, "sequence": event["created"],
        "correlation_id": order["correlation_id"], "causation_id": event_id,
        "data": {"order_id": order["order_id"], "payment_intent_id": intent,
                 "amount": event["data"]["object"]["amount"], "currency": "EUR",
                 "provider_event_id": event_id}
    })
}

/// Sends `body` as the provider would, with this signature header (or none).
pub async fn deliver(body: &str, signature: Option<String>) -> (u16, Value) {
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

/// A `Stripe-Signature` header for `body` with the local secret.
pub fn signed(body: &str) -> Option<String> {
    Some(sign(
        body.as_bytes(),
        dev::LOCAL_WEBHOOK_SECRET.as_bytes(),
        now(),
    ))
}

/// Sends the provider event, signed, and expects it taken (200).
pub async fn deliver_signed(event: &Value) {
    let body = event.to_string();
    let (status, answer) = deliver(&body, signed(&body)).await;
    assert_eq!(status, 200, "{answer}");
}

/// The provider reports the order's total paid; returns the order once PAID.
pub async fn pay_in_full(order: &Value) -> Value {
    deliver_signed(&provider_event(
        "payment_intent.succeeded",
        order,
        total(order),
    ))
    .await;
    order_in(order["order_id"].as_str().unwrap(), "PAID").await
}

/// Waits until the saga has recorded the provider event as an anomaly; returns the record.
pub async fn recorded_anomaly(event: &Value) -> String {
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

/// `POST /orders/{order_id}/cancel` by its owner: status, body and content type.
pub async fn cancel_order(order_id: &str) -> (u16, Value, String) {
    cancel_order_as(order_id, &owner_of(order_id)).await
}

/// `POST /orders/{order_id}/cancel` by `customer`: status, body and content type.
pub async fn cancel_order_as(order_id: &str, customer: &str) -> (u16, Value, String) {
    let response = http()
        .post(url(&format!("/orders/{order_id}/cancel")))
        .bearer_auth(token_for(customer))
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (
        status,
        response.json().await.unwrap_or(Value::Null),
        content_type,
    )
}

/// The event types of the order's history, oldest first.
pub async fn history_types(order_id: &str) -> Vec<String> {
    let (_, history) = get_json(&format!("/orders/{order_id}/events")).await;
    history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_type"].as_str().unwrap().to_owned())
        .collect()
}
