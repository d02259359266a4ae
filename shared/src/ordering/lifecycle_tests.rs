//! The end of an order's life, against the in-memory adapters: the payment deadline, the
//! customer's cancellation, late and mismatched payments.

use super::cancelling::{CancelError, CustomerCancellation, cancel_order};
use super::deadline::DeadlineOutcome;
use super::ports::OrderRepository;
use super::processing::Processed;
use super::saga::SagaOutcome;
use super::saga_batch::{Saga, StepOutcome};
use super::saga_tests::{confirmed_order, pay, payment_failed, payment_succeeded, stranger};
use super::tests::{PAYMENT_WINDOW, cancellation, clock, command, confirmation, process, shop};
use super::{CancellationReason, Order, OrderStatus};
use crate::adapters::memory::{InMemoryStore, RecordingPublisher, RecordingTimer};
use crate::kernel::{EventEnvelope, FixedClock, PaymentIntentId};
use serde_json::json;
use std::time::Duration;

/// The `order.confirmed` the deadline queue receives for `order`.
fn confirmed_event(store: &InMemoryStore, order: &Order) -> EventEnvelope {
    store
        .committed()
        .into_iter()
        .find(|e| e.event_type == "order.confirmed" && e.aggregate_id == order.id().as_str())
        .expect("the order was confirmed")
}

async fn check_deadline(
    store: &InMemoryStore,
    timer: &RecordingTimer,
    confirmed: &EventEnvelope,
    at: time::OffsetDateTime,
) -> DeadlineOutcome {
    let publisher = RecordingPublisher::default();
    let saga = Saga {
        orders: store,
        publisher: &publisher,
        anomalies: store,
        timer,
        clock: &FixedClock(at),
    };
    match saga
        .handle_batch(std::slice::from_ref(confirmed))
        .await
        .pop()
    {
        Some(Ok(StepOutcome::Deadline(outcome))) => outcome,
        other => panic!("an order.confirmed's deadline check: {other:?}"),
    }
}

async fn cancel(store: &InMemoryStore, order: &Order) -> Result<CustomerCancellation, CancelError> {
    cancel_order(store, &clock(), order.id(), order.customer()).await
}

async fn stored(store: &InMemoryStore, order: &Order) -> Order {
    store.load(order.id()).await.unwrap().unwrap()
}

#[tokio::test]
async fn an_order_unpaid_at_its_deadline_is_cancelled_once_and_gives_its_stock_back() {
    let (store, timer) = (shop(), RecordingTimer::default());
    let order = confirmed_order(&store, 2).await;
    assert_eq!(
        confirmation(&order).payment_due_by,
        clock().0 + PAYMENT_WINDOW
    );
    assert_eq!(store.stock("p-1"), 3);
    let confirmed = confirmed_event(&store, &order);
    assert_eq!(
        confirmed.data["payment_due_by"],
        json!("2026-11-21T10:15:00Z")
    );

    // Delivered at once: not due, so it asks to come back when it is.
    let early = check_deadline(&store, &timer, &confirmed, clock().0).await;
    assert_eq!(early, DeadlineOutcome::NotYetDue(Duration::from_secs(901)));
    assert_eq!(timer.rechecks().len(), 1);
    assert_eq!(
        stored(&store, &order).await.status(),
        OrderStatus::Confirmed
    );

    let due = confirmation(&order).payment_due_by;
    let expired = check_deadline(&store, &timer, &confirmed, due).await;
    assert_eq!(expired, DeadlineOutcome::Expired);
    let cancelled = stored(&store, &order).await;
    assert_eq!(cancelled.status(), OrderStatus::Cancelled);
    assert_eq!(
        cancellation(&cancelled).reason,
        CancellationReason::PaymentTimeout
    );
    assert_eq!(store.stock("p-1"), 5);
    let announced = store.committed().pop().unwrap();
    assert_eq!(announced.event_type, "order.cancelled");
    assert_eq!(announced.data["reason"], "payment_timeout");
    assert_eq!(
        announced.data["released"],
        json!([{"product_id": "p-1", "quantity": 2}])
    );

    // The same check again (a redelivery) changes nothing and releases nothing.
    let again = check_deadline(&store, &timer, &confirmed, due).await;
    assert_eq!(again, DeadlineOutcome::Settled(OrderStatus::Cancelled));
    assert_eq!(store.stock("p-1"), 5);
    assert_eq!(
        store
            .announced_types()
            .iter()
            .filter(|t| *t == "order.cancelled")
            .count(),
        1
    );
    let history = store.history(order.id()).await.unwrap();
    assert_eq!(Order::replay(&history).unwrap(), cancelled);
}

#[tokio::test]
async fn a_payment_before_the_deadline_wins_and_the_expiry_changes_nothing() {
    let (store, publisher, timer) = (
        shop(),
        RecordingPublisher::default(),
        RecordingTimer::default(),
    );
    let order = confirmed_order(&store, 1).await;
    let total = confirmation(&order).totals.total.amount;
    let paid = pay(
        &store,
        &publisher,
        &payment_succeeded(&order, "evt_paid", total),
    )
    .await;
    assert!(matches!(paid.unwrap(), SagaOutcome::Paid(_)));
    let confirmed = confirmed_event(&store, &order);
    let due = confirmation(&order).payment_due_by;
    let outcome = check_deadline(&store, &timer, &confirmed, due).await;
    assert_eq!(outcome, DeadlineOutcome::Settled(OrderStatus::Paid));
    assert_eq!(stored(&store, &order).await.status(), OrderStatus::Paid);
    assert_eq!(store.stock("p-1"), 4);
}

#[tokio::test]
async fn a_payment_after_the_expiry_is_an_anomaly_with_one_refund_request() {
    let (store, publisher, timer) = (
        shop(),
        RecordingPublisher::default(),
        RecordingTimer::default(),
    );
    let order = confirmed_order(&store, 1).await;
    let confirmed = confirmed_event(&store, &order);
    let due = confirmation(&order).payment_due_by;
    check_deadline(&store, &timer, &confirmed, due).await;
    let total = confirmation(&order).totals.total.amount;
    let late = payment_succeeded(&order, "evt_late", total);
    for _ in 0..3 {
        let outcome = pay(&store, &publisher, &late).await.unwrap();
        assert!(matches!(outcome, SagaOutcome::Anomaly { refund: true, .. }));
    }
    let refunds: Vec<EventEnvelope> = publisher
        .published()
        .into_iter()
        .filter(|e| e.event_type == "payment.refund_required")
        .collect();
    assert_eq!(refunds.len(), 1, "one refund request for three deliveries");
    assert_eq!(refunds[0].data["order_id"], order.id().as_str());
    assert_eq!(refunds[0].data["payment_intent_id"], "pi_1");
    assert_eq!(refunds[0].data["reason"], "order_cancelled");
    assert_eq!(
        refunds[0].data["amount"],
        json!({"amount": total, "currency": "EUR"})
    );
    assert_eq!(
        stored(&store, &order).await.status(),
        OrderStatus::Cancelled
    );
    assert_eq!(store.anomalies().len(), 1);
}

#[tokio::test]
async fn a_mismatched_payment_never_changes_the_order() {
    let (store, publisher) = (shop(), RecordingPublisher::default());
    let order = confirmed_order(&store, 1).await;
    let failed_short = pay(&store, &publisher, &payment_failed(&order, "evt_ko", 1)).await;
    assert!(matches!(
        failed_short.unwrap(),
        SagaOutcome::Anomaly { refund: false, .. }
    ));
    let paid_short = pay(
        &store,
        &publisher,
        &payment_succeeded(&order, "evt_short", 1),
    )
    .await;
    assert!(matches!(
        paid_short.unwrap(),
        SagaOutcome::Anomaly { refund: true, .. }
    ));
    assert_eq!(
        stored(&store, &order).await.status(),
        OrderStatus::Confirmed
    );
    assert_eq!(store.stock("p-1"), 4);
    assert_eq!(store.announced_types(), ["order.confirmed"]);
    assert_eq!(publisher.types(), ["payment.refund_required"]);
}

#[tokio::test]
async fn the_customer_cancels_a_confirmed_order_once() {
    let store = shop();
    let order = confirmed_order(&store, 3).await;
    assert_eq!(store.stock("p-1"), 2);
    let CustomerCancellation::Cancelled(cancelled) = cancel(&store, &order).await.unwrap() else {
        panic!("the first request cancels");
    };
    assert_eq!(
        cancellation(&cancelled).reason,
        CancellationReason::CustomerCancelled
    );
    assert_eq!(store.stock("p-1"), 5);
    let again = cancel(&store, &order).await.unwrap();
    assert_eq!(again, CustomerCancellation::AlreadyCancelled(cancelled));
    assert_eq!(store.stock("p-1"), 5);
    assert_eq!(
        store.announced_types(),
        ["order.confirmed", "order.cancelled"]
    );
}

#[tokio::test]
async fn a_pending_order_cancelled_before_processing_is_never_confirmed() {
    let store = shop();
    let placing = command(&[("p-1", 2)]);
    let placement = Order::place(placing.clone());
    let pending = placement.order.clone();
    store
        .commit(super::ports::OrderCommit::new_order(placement))
        .await
        .unwrap();
    let outcome = cancel(&store, &pending).await.unwrap();
    assert!(matches!(outcome, CustomerCancellation::Cancelled(_)));
    let cancelled = store.committed().pop().unwrap();
    assert_eq!(cancelled.data["released"], json!([]));
    assert_eq!(
        store.unpaid("c-1"),
        0,
        "the cancelled order gave its slot back"
    );

    let processed = process(&store, &[placing]).await;
    assert_eq!(
        processed[0].as_ref().unwrap(),
        &Processed::AlreadyProcessed(OrderStatus::Cancelled)
    );
    assert_eq!(store.stock("p-1"), 5);
}

#[tokio::test]
async fn a_paid_order_is_not_cancellable() {
    let (store, publisher) = (shop(), RecordingPublisher::default());
    let order = confirmed_order(&store, 1).await;
    let total = confirmation(&order).totals.total.amount;
    pay(
        &store,
        &publisher,
        &payment_succeeded(&order, "evt_ok", total),
    )
    .await
    .unwrap();
    assert!(matches!(
        cancel(&store, &order).await,
        Err(CancelError::NotCancellable(OrderStatus::Paid))
    ));
    assert_eq!(store.stock("p-1"), 4);
}

#[tokio::test]
async fn a_copy_handled_while_the_refund_is_being_published_waits_then_takes_over_if_needed() {
    use super::ports::{PaymentAnomalies, PaymentAnomaly};
    use super::saga::SagaError;
    let (store, publisher) = (shop(), RecordingPublisher::default());
    confirmed_order(&store, 1).await;
    let stranger = stranger();
    let payment = payment_succeeded(&stranger, "evt_copy", 100);
    // Another delivery recorded the anomaly and has not published the refund yet.
    let in_flight = |recorded_at| PaymentAnomaly {
        event_id: "evt_copy".into(),
        event_type: "payment.succeeded".into(),
        order_id: stranger.id().clone(),
        payment_intent_id: PaymentIntentId::parse("pi_1").unwrap(),
        reason: "no such order".into(),
        recorded_at,
        refund: None,
    };
    store.record(&in_flight(clock().0)).await.unwrap();
    assert!(matches!(
        pay(&store, &publisher, &payment).await,
        Err(SagaError::InFlight)
    ));
    assert!(
        !publisher
            .types()
            .contains(&"payment.refund_required".to_owned())
    );

    // That delivery died long ago: this one publishes the refund, once.
    let (store, publisher) = (shop(), RecordingPublisher::default());
    store
        .record(&in_flight(clock().0 - time::Duration::minutes(5)))
        .await
        .unwrap();
    for _ in 0..2 {
        let outcome = pay(&store, &publisher, &payment).await.unwrap();
        assert!(matches!(outcome, SagaOutcome::Anomaly { refund: true, .. }));
    }
    assert_eq!(publisher.types(), ["payment.refund_required"]);
}
