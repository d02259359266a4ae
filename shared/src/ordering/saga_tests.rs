//! The payment saga against the in-memory adapters: payments that pay, fail, or cannot apply,
//! and a batch's payment losing its order to another writer.

use super::ports::{CommitError, OrderCommit, OrderRepository, Placement, PlacementError};
use super::saga::{SagaError, SagaOutcome};
use super::saga_batch::{Saga, StepOutcome};
use super::tests::{
    cancellation, clock, command, confirmation, corr, placing, process, request, shop,
};
use super::{Cancel, CancellationReason, Order, OrderStatus};
use crate::adapters::memory::{InMemoryStore, RecordingPublisher, RecordingTimer};
use crate::kernel::{Currency, EventEnvelope, InfraError, Money, OrderId, PaymentIntentId};
use crate::payments::PaymentEvent;
use std::collections::HashMap;

fn payment(order: &Order, provider_event_id: &str, event: PaymentEvent) -> EventEnvelope {
    EventEnvelope::wrap(
        &event,
        provider_event_id.into(),
        "pi_1".into(),
        1,
        clock().0,
        order.correlation_id().clone(),
        None,
    )
}

fn pi_1() -> PaymentIntentId {
    PaymentIntentId::parse("pi_1").unwrap()
}

/// `payment.succeeded` of `amount` euro cents for `order`, by the payment intent `pi_1`.
pub(super) fn payment_succeeded(order: &Order, id: &str, amount: i64) -> EventEnvelope {
    payment(
        order,
        id,
        PaymentEvent::Succeeded {
            order_id: order.id().clone(),
            payment_intent_id: pi_1(),
            amount: Money::new(amount, Currency::Eur),
            provider_event_id: id.into(),
        },
    )
}

pub(super) fn payment_failed(order: &Order, id: &str, amount: i64) -> EventEnvelope {
    payment(
        order,
        id,
        PaymentEvent::Failed {
            order_id: order.id().clone(),
            payment_intent_id: pi_1(),
            amount: Money::new(amount, Currency::Eur),
            provider_event_id: id.into(),
            failure_message: Some("card declined".into()),
        },
    )
}

pub(super) async fn pay(
    store: &InMemoryStore,
    publisher: &RecordingPublisher,
    event: &EventEnvelope,
) -> Result<SagaOutcome, SagaError> {
    let (clock, timer) = (clock(), RecordingTimer::default());
    let saga = Saga {
        orders: store,
        publisher,
        anomalies: store,
        timer: &timer,
        clock: &clock,
    };
    match saga.handle_batch(std::slice::from_ref(event)).await.pop() {
        Some(Ok(StepOutcome::Payment(outcome))) => Ok(outcome),
        Some(Err(e)) => Err(e),
        other => panic!("a payment event's step: {other:?}"),
    }
}

pub(super) async fn confirmed_order(store: &InMemoryStore, quantity: i64) -> Order {
    let order = command(&[("p-1", quantity)]);
    process(store, std::slice::from_ref(&order)).await;
    store.load(&order.order_id).await.unwrap().unwrap()
}

/// An order the store has never heard of.
pub(super) fn stranger() -> Order {
    Order::place(command(&[("p-1", 1)])).order
}

#[tokio::test]
async fn a_successful_payment_pays_once_and_a_late_failure_changes_nothing() {
    let store = shop();
    let publisher = RecordingPublisher::default();
    let order = confirmed_order(&store, 2).await;
    let total = confirmation(&order).totals.total.amount;
    let succeeded = payment_succeeded(&order, "evt_ok", total);
    assert_eq!(
        pay(&store, &publisher, &succeeded).await.unwrap(),
        SagaOutcome::Paid(confirmation(&order).totals.total)
    );
    assert_eq!(
        pay(&store, &publisher, &succeeded).await.unwrap(),
        SagaOutcome::AlreadyApplied
    );
    let late_failure = pay(
        &store,
        &publisher,
        &payment_failed(&order, "evt_late", total),
    )
    .await
    .unwrap();
    assert!(matches!(late_failure, SagaOutcome::Anomaly { .. }));
    let stored = store.load(order.id()).await.unwrap().unwrap();
    assert_eq!(stored.status(), OrderStatus::Paid);
    assert_eq!(store.stock("p-1"), 3);
    assert_eq!(store.announced_types(), ["order.confirmed", "order.paid"]);
}

#[tokio::test]
async fn a_failed_payment_cancels_and_gives_the_stock_back() {
    let store = shop();
    let publisher = RecordingPublisher::default();
    let order = confirmed_order(&store, 4).await;
    assert_eq!(store.stock("p-1"), 1);
    let failed = payment_failed(&order, "evt_ko", confirmation(&order).totals.total.amount);
    assert_eq!(
        pay(&store, &publisher, &failed).await.unwrap(),
        SagaOutcome::Cancelled
    );
    assert_eq!(
        pay(&store, &publisher, &failed).await.unwrap(),
        SagaOutcome::AlreadyApplied
    );
    assert_eq!(store.stock("p-1"), 5);
    let stored = store.load(order.id()).await.unwrap().unwrap();
    assert_eq!(stored.status(), OrderStatus::Cancelled);
    assert_eq!(
        cancellation(&stored).reason,
        CancellationReason::PaymentFailed
    );
}

#[tokio::test]
async fn a_wrong_amount_or_unknown_order_is_an_anomaly_not_a_change() {
    let store = shop();
    let publisher = RecordingPublisher::default();
    let order = confirmed_order(&store, 1).await;
    let short = payment_succeeded(&order, "evt_short", 1);
    assert!(matches!(
        pay(&store, &publisher, &short).await.unwrap(),
        SagaOutcome::Anomaly { .. }
    ));
    let unknown = payment_succeeded(&stranger(), "evt_stranger", 1);
    assert!(matches!(
        pay(&store, &publisher, &unknown).await.unwrap(),
        SagaOutcome::Anomaly { .. }
    ));
    assert_eq!(
        store.load(order.id()).await.unwrap().unwrap().status(),
        OrderStatus::Confirmed
    );
    assert_eq!(store.anomalies().len(), 2);
}

#[tokio::test]
async fn a_payment_for_an_order_still_pending_is_retried_later() {
    let store = shop();
    let publisher = RecordingPublisher::default();
    let clock = clock();
    let placed = placing(&store, &clock)
        .place(request(&[("p-1", 1)]), None, corr())
        .await
        .unwrap();
    let early = payment_succeeded(&placed.order, "evt_early", 1);
    assert!(matches!(
        pay(&store, &publisher, &early).await,
        Err(SagaError::NotYetConfirmed(_))
    ));
}

/// The store, where another writer (the customer) cancels `order` just after a batch read it.
struct CancelledAfterRead<'a> {
    store: &'a InMemoryStore,
    order: Order,
}

#[async_trait::async_trait]
impl OrderRepository for CancelledAfterRead<'_> {
    async fn load(&self, id: &OrderId) -> Result<Option<Order>, InfraError> {
        self.store.load(id).await
    }

    async fn load_many(&self, ids: &[OrderId]) -> Result<HashMap<OrderId, Order>, InfraError> {
        let read = self.store.load_many(ids).await?;
        let cancel = Cancel::because(CancellationReason::CustomerCancelled);
        let commit = super::cancelling::cancellation(&self.order, cancel, clock().0).unwrap();
        self.store.commit(commit).await.unwrap();
        Ok(read)
    }

    async fn history(&self, id: &OrderId) -> Result<Vec<EventEnvelope>, InfraError> {
        self.store.history(id).await
    }

    async fn commit(&self, commit: OrderCommit) -> Result<(), CommitError> {
        self.store.commit(commit).await
    }

    async fn place(&self, placement: Placement) -> Result<(), PlacementError> {
        self.store.place(placement).await
    }
}

#[tokio::test]
async fn a_payment_of_a_batch_that_loses_its_order_to_another_writer_reads_that_order_again() {
    let (store, publisher, timer) = (
        shop(),
        RecordingPublisher::default(),
        RecordingTimer::default(),
    );
    let order = confirmed_order(&store, 1).await;
    let raced = CancelledAfterRead {
        store: &store,
        order: order.clone(),
    };
    let clock = clock();
    let saga = Saga {
        orders: &raced,
        publisher: &publisher,
        anomalies: &store,
        timer: &timer,
        clock: &clock,
    };
    let paid = payment_succeeded(&order, "evt_ok", confirmation(&order).totals.total.amount);
    let before = store.order_reads();
    let results = saga.handle_batch(&[paid]).await;
    // Its commit conflicted; the order read again (one GetItem) is CANCELLED: a refund.
    assert!(
        matches!(
            results.as_slice(),
            [Ok(StepOutcome::Payment(SagaOutcome::Anomaly {
                refund: true,
                ..
            }))]
        ),
        "{results:?}"
    );
    let after = store.order_reads();
    assert_eq!(after.load_many - before.load_many, 1);
    assert_eq!(after.load - before.load, 1);
    assert_eq!(publisher.types(), ["payment.refund_required"]);
}
