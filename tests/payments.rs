//! The payment saga on the local cloud: signed webhooks in, PAID or CANCELLED out.

use e2e::*;
use serde_json::json;
use shop::payments::signature::sign;

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
    assert_eq!(cancelled["reason"], "payment_failed");
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
    let event = provider_event("payment_intent.succeeded", &order, total(&order));
    let envelope = payment_envelope(&event, &order).to_string();
    send_copies("PaymentEventsQueue", &envelope, 2).await;
    order_in(order_id, "PAID").await;
    // Every copy consumed before judging.
    queue_drained("PaymentEventsQueue").await;
    assert_eq!(
        history_types(order_id).await,
        ["order.placed", "order.confirmed", "order.paid"]
    );
    assert_eq!(stock(&product).await, 8);
}

#[tokio::test]
async fn a_failed_payment_of_the_wrong_amount_cancels_nothing() {
    let (product, order) = confirmed_order(10, 2).await;
    let order_id = order["order_id"].as_str().unwrap();
    let mut failed = provider_event("payment_intent.payment_failed", &order, total(&order) + 1);
    failed["data"]["object"]["currency"] = json!("usd");
    deliver_signed(&failed).await;
    let anomaly = recorded_anomaly(&failed).await;
    assert!(anomaly.contains("the order stays CONFIRMED"), "{anomaly}");
    assert_eq!(
        get_json(&format!("/orders/{order_id}")).await.1["status"],
        "CONFIRMED"
    );
    assert_eq!(stock(&product).await, 8, "no stock was released");
}

#[tokio::test]
async fn the_customer_cancels_a_confirmed_order_and_gets_the_same_answer_again() {
    let (product, order) = confirmed_order(10, 3).await;
    let order_id = order["order_id"].as_str().unwrap();
    assert_eq!(stock(&product).await, 7);
    let (status, cancelled, content_type) = cancel_order(order_id).await;
    assert_eq!((status, content_type.as_str()), (200, "application/json"));
    assert_eq!(cancelled["status"], "CANCELLED");
    assert_eq!(cancelled["reason"], "customer_cancelled");
    assert_eq!(stock(&product).await, 10);
    let announced = notifications().wait_for(order_id, "order.cancelled").await;
    assert_eq!(announced["data"]["reason"], "customer_cancelled");
    assert_eq!(
        announced["data"]["released"],
        json!([{"product_id": product, "quantity": 3}])
    );

    let (again, view, _) = cancel_order(order_id).await;
    assert_eq!((again, &view), (200, &cancelled));
    assert_eq!(stock(&product).await, 10, "released once");
}

#[tokio::test]
async fn twenty_concurrent_cancellations_cancel_once() {
    let (product, order) = confirmed_order(10, 4).await;
    let order_id = order["order_id"].as_str().unwrap();
    let answers = futures::future::join_all((0..20).map(|_| cancel_order(order_id))).await;
    for (status, view, _) in &answers {
        assert_eq!(
            (*status, view["status"].as_str()),
            (200, Some("CANCELLED")),
            "{view}"
        );
    }
    let types = history_types(order_id).await;
    assert_eq!(
        types,
        ["order.placed", "order.confirmed", "order.cancelled"]
    );
    assert_eq!(stock(&product).await, 10);
    notifications().wait_for(order_id, "order.cancelled").await;
    let cancelled = notifications()
        .events_for(order_id)
        .into_iter()
        .filter(|e| e["event_type"] == "order.cancelled")
        .map(|e| e["event_id"].clone())
        .collect::<std::collections::HashSet<_>>();
    assert_eq!(cancelled.len(), 1, "one order.cancelled event");
}

#[tokio::test]
async fn a_paid_order_cannot_be_cancelled() {
    let (product, order) = confirmed_order(10, 1).await;
    let order_id = order["order_id"].as_str().unwrap();
    pay_in_full(&order).await;
    let (status, problem, content_type) = cancel_order(order_id).await;
    assert_eq!(
        (status, content_type.as_str()),
        (409, "application/problem+json")
    );
    assert_eq!(
        problem["type"],
        "https://shop.example/problems/order-not-cancellable"
    );
    assert_eq!(
        get_json(&format!("/orders/{order_id}")).await.1["status"],
        "PAID"
    );
    assert_eq!(stock(&product).await, 9);

    let (unknown, problem, _) = cancel_order("01JDQ0000000000000000000ZZ").await;
    assert_eq!((unknown, problem["status"].as_i64()), (404, Some(404)));
}

#[tokio::test]
async fn an_order_cancelled_before_processing_is_never_confirmed() {
    use shop::ordering::ports::{OrderCommit, OrderRepository};
    use shop::ordering::{Cancel, CancellationReason, Order};
    let product = seed_product("payments", 500, 5).await;
    let command = place_order_command("c-pay", product.as_str(), 2);
    // Placed and cancelled in one commit, so the cancellation is surely first: the relay
    // then queues a placement whose order is already CANCELLED.
    let placed = Order::place(command.clone());
    let pending = placed.order.clone();
    let cancel = Cancel::because(CancellationReason::CustomerCancelled);
    let cancelled = pending
        .cancel(cancel, time::OffsetDateTime::now_utc())
        .unwrap();
    let orders =
        shop::adapters::dynamodb::DynamoOrders::new(dynamodb().await, table("OrdersTable"));
    orders
        .commit(OrderCommit::new_order(placed).then(cancelled, vec![]))
        .await
        .unwrap();
    let order_id = command.order_id.to_string();
    remember_owner(&order_id, "c-pay");
    notifications().wait_for(&order_id, "order.cancelled").await;
    queue_drained("OrdersQueue").await;
    assert_eq!(
        history_types(&order_id).await,
        ["order.placed", "order.cancelled"]
    );
    assert_eq!(stock(&product).await, 5, "nothing was reserved");
}
