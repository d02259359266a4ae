//! Batches of several orders, or of several events for one order: one read of all the batch's
//! orders, each event meeting its order as the events before it left it, refunds published
//! together.

use super::{
    PAYMENT_WINDOW, PLACED_AT, World, failed_ids, payment_failed, payment_succeeded, total,
};
use shop::adapters::memory::OrderReads;
use shop::ordering::OrderStatus;

/// The order reads since `before`.
fn reads_since(world: &World, before: OrderReads) -> OrderReads {
    let now = world.store.order_reads();
    OrderReads {
        load: now.load - before.load,
        load_many: now.load_many - before.load_many,
    }
}

/// One read of all the batch's orders, none of one order alone (no lost race to read again).
const ONE_BATCH_READ: OrderReads = OrderReads {
    load: 0,
    load_many: 1,
};

/// `(message id, body)` pairs as [`World::deliver`] takes them.
fn batch(messages: &[(String, String)]) -> Vec<(&str, &str)> {
    messages
        .iter()
        .map(|(id, body)| (id.as_str(), body.as_str()))
        .collect()
}

#[tokio::test]
async fn a_batch_of_ten_payments_reads_its_ten_orders_in_one_round_trip() {
    let world = World::stocked(20);
    let mut orders = Vec::new();
    for i in 0..10 {
        orders.push(world.confirmed_order_of(&format!("c-{i}")).await);
    }
    let messages: Vec<(String, String)> = (orders.iter().enumerate())
        .map(|(i, o)| {
            (
                format!("m-{i}"),
                payment_succeeded(o, &format!("evt_{i}"), total(o)),
            )
        })
        .collect();
    let before = world.store.order_reads();
    let response = world.deliver(PLACED_AT, &batch(&messages)).await;
    assert!(failed_ids(&response).is_empty(), "{response:?}");
    assert_eq!(reads_since(&world, before), ONE_BATCH_READ);
    for order in &orders {
        assert_eq!(
            world.committed_types(order),
            ["order.placed", "order.confirmed", "order.paid"]
        );
    }
}

#[tokio::test]
async fn a_payment_then_its_copy_in_one_batch_the_copy_meets_the_order_paid() {
    let world = World::new();
    let order = world.confirmed_order().await;
    let paid = payment_succeeded(&order, "evt_1", total(&order));
    let before = world.store.order_reads();
    let response = world
        .deliver(PLACED_AT, &[("m-1", &paid), ("m-2", &paid)])
        .await;
    assert!(failed_ids(&response).is_empty(), "{response:?}");
    // The copy met the batch's own commit: a stale order would have lost a race, and been read
    // again.
    assert_eq!(reads_since(&world, before), ONE_BATCH_READ);
    assert_eq!(
        world.committed_types(&order),
        ["order.placed", "order.confirmed", "order.paid"]
    );
}

#[tokio::test]
async fn a_payment_then_a_failure_of_it_in_one_batch_leaves_the_order_paid() {
    let world = World::new();
    let order = world.confirmed_order().await;
    let paid = payment_succeeded(&order, "evt_1", total(&order));
    let failed = payment_failed(&order, "evt_2");
    let before = world.store.order_reads();
    let response = world
        .deliver(PLACED_AT, &[("m-1", &paid), ("m-2", &failed)])
        .await;
    assert!(failed_ids(&response).is_empty(), "{response:?}");
    assert_eq!(reads_since(&world, before), ONE_BATCH_READ);
    assert_eq!(world.order(&order).await.status(), OrderStatus::Paid);
    assert_eq!(world.store.stock("p-1"), 3);
    assert_eq!(world.store.anomalies().len(), 1, "the failure is recorded");
    assert!(
        world.publisher.published().is_empty(),
        "a failure took no money"
    );
}

#[tokio::test]
async fn a_failure_then_a_payment_in_one_batch_cancels_and_refunds_once() {
    let world = World::new();
    let order = world.confirmed_order().await;
    let failed = payment_failed(&order, "evt_1");
    let paid = payment_succeeded(&order, "evt_2", total(&order));
    let response = world
        .deliver(
            PLACED_AT,
            &[("m-1", &failed), ("m-2", &paid), ("m-3", &paid)],
        )
        .await;
    assert!(failed_ids(&response).is_empty(), "{response:?}");
    assert_eq!(world.order(&order).await.status(), OrderStatus::Cancelled);
    assert_eq!(world.store.stock("p-1"), 5);
    assert_eq!(world.publisher.types(), ["payment.refund_required"]);
    assert_eq!(world.publisher.calls(), 1);
}

#[tokio::test]
async fn a_poison_message_in_the_middle_of_a_batch_fails_alone() {
    let world = World::stocked(10);
    let (a, b) = (
        world.confirmed_order_of("c-1").await,
        world.confirmed_order_of("c-2").await,
    );
    let paid_a = payment_succeeded(&a, "evt_a", total(&a));
    let paid_b = payment_succeeded(&b, "evt_b", total(&b));
    let mut not_a_payment: serde_json::Value = serde_json::from_str(&paid_a).unwrap();
    not_a_payment["data"] = serde_json::json!({"order_id": 42});
    let not_a_payment = not_a_payment.to_string();
    let before = world.store.order_reads();
    let response = world
        .deliver(
            PLACED_AT,
            &[
                ("m-1", &paid_a),
                ("m-2", "not json"),
                ("m-3", &not_a_payment),
                ("m-4", &paid_b),
            ],
        )
        .await;
    assert_eq!(failed_ids(&response), ["m-2", "m-3"]);
    assert_eq!(reads_since(&world, before), ONE_BATCH_READ);
    assert_eq!(world.order(&a).await.status(), OrderStatus::Paid);
    assert_eq!(world.order(&b).await.status(), OrderStatus::Paid);
}

#[tokio::test]
async fn a_batchs_refunds_go_out_in_one_publication_or_are_retried_together() {
    let world = World::stocked(10);
    let mut messages = Vec::new();
    for i in 0..3 {
        let order = world.confirmed_order_of(&format!("c-{i}")).await;
        // One cent: the order stays CONFIRMED, the payment is refunded.
        let short = payment_succeeded(&order, &format!("evt_{i}"), 1);
        messages.push((format!("m-{i}"), short));
    }
    messages.push(("m-copy".into(), messages[1].1.clone()));
    world.publisher.fail_next(1);
    let response = world.deliver(PLACED_AT, &batch(&messages)).await;
    assert_eq!(failed_ids(&response), ["m-0", "m-1", "m-2", "m-copy"]);
    assert!(world.publisher.published().is_empty());

    // Redelivered once the failed delivery can be taken over: each refund once, one call.
    let later = PLACED_AT + time::Duration::minutes(2);
    let response = world.deliver(later, &batch(&messages)).await;
    assert!(failed_ids(&response).is_empty(), "{response:?}");
    assert_eq!(world.publisher.types(), ["payment.refund_required"; 3]);
    assert_eq!(world.publisher.calls(), 2);
    assert_eq!(world.store.anomalies().len(), 3);
}

#[tokio::test]
async fn a_deadline_then_a_payment_in_one_batch_the_payment_meets_the_order_cancelled() {
    let world = World::new();
    let order = world.confirmed_order().await;
    let deadline = serde_json::to_string(&world.confirmed_event(&order)).unwrap();
    let paid = payment_succeeded(&order, "evt_1", total(&order));
    let late = PLACED_AT + PAYMENT_WINDOW + time::Duration::seconds(1);
    let before = world.store.order_reads();
    let response = world
        .deliver(late, &[("m-1", &deadline), ("m-2", &paid)])
        .await;
    assert!(failed_ids(&response).is_empty(), "{response:?}");
    assert_eq!(reads_since(&world, before), ONE_BATCH_READ);
    assert_eq!(world.order(&order).await.status(), OrderStatus::Cancelled);
    assert_eq!(world.publisher.types(), ["payment.refund_required"]);
}
