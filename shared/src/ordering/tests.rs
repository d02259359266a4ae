//! Application logic of ordering, against the in-memory adapters.

use super::cancelling::cancel_order;
use super::placing::{IdempotencyKey, PlaceError, Placing};
use super::ports::OrderRepository;
use super::processing::{OrderProcessor, ProcessResult, Processed};
use super::relay::Relay;
use super::saga_tests::{pay, payment_succeeded};
use super::{
    Cancellation, Confirmation, LinesError, Order, OrderLines, OrderRequest, OrderState,
    OrderStatus, PlaceOrder, Rejection, RejectionReason, RequestedLine,
};
use crate::adapters::memory::{InMemoryStore, RecordingPublisher, RecordingQueue};
use crate::catalog::test_product;
use crate::kernel::{CorrelationId, Currency, CustomerId, FixedClock, Money, ProductId, Quantity};
use serde_json::json;

pub(super) const PAYMENT_WINDOW: time::Duration = time::Duration::minutes(15);

pub(super) fn clock() -> FixedClock {
    FixedClock(time::macros::datetime!(2026-11-21 10:00 UTC))
}

pub(super) fn shop() -> InMemoryStore {
    InMemoryStore::with_products([test_product("p-1", 1_000, 5), test_product("p-2", 250, 100)])
}

pub(super) fn customer(id: &str) -> CustomerId {
    CustomerId::parse(id).unwrap()
}

pub(super) fn corr() -> CorrelationId {
    CorrelationId::parse("corr").unwrap()
}

fn key(key: &str) -> IdempotencyKey {
    IdempotencyKey::parse(key).unwrap()
}

/// Lines of `(product_id, quantity)`, as they come, valid or not.
fn requested(lines: &[(&str, i64)]) -> Vec<RequestedLine> {
    lines
        .iter()
        .map(|&(product_id, quantity)| RequestedLine {
            product_id: ProductId::parse(product_id).unwrap(),
            quantity: Quantity::new(quantity).unwrap(),
        })
        .collect()
}

/// A valid EUR request of `customer` for these lines.
fn request_of(customer_id: &str, lines: &[(&str, i64)]) -> OrderRequest {
    OrderRequest {
        customer_id: customer(customer_id),
        currency: Currency::Eur,
        lines: OrderLines::new(requested(lines)).unwrap(),
        discount_code: None,
    }
}

/// A valid request of customer `c-1` for these lines.
pub(super) fn request(lines: &[(&str, i64)]) -> OrderRequest {
    request_of("c-1", lines)
}

pub(super) fn command(lines: &[(&str, i64)]) -> PlaceOrder {
    PlaceOrder::new(
        request(lines),
        CorrelationId::parse("corr-1").unwrap(),
        clock().0,
    )
}

pub(super) fn placing<'a>(store: &'a InMemoryStore, clock: &'a FixedClock) -> Placing<'a> {
    Placing {
        orders: store,
        keys: store,
        clock,
        max_unpaid: 5,
    }
}

/// The prices a confirmed order was given (whatever happened to it since).
pub(super) fn confirmation(order: &Order) -> &Confirmation {
    order
        .state()
        .confirmation()
        .unwrap_or_else(|| panic!("{:?} was never confirmed", order.state()))
}

pub(super) fn cancellation(order: &Order) -> &Cancellation {
    match order.state() {
        OrderState::Cancelled(cancellation) => cancellation,
        other => panic!("expected a cancelled order, got {other:?}"),
    }
}

fn rejection(order: &Order) -> &Rejection {
    match order.state() {
        OrderState::Rejected(rejection) => rejection,
        other => panic!("expected a rejected order, got {other:?}"),
    }
}

/// What the relay would queue for the processor: the commands of the committed placements.
pub(super) fn queued(store: &InMemoryStore) -> Vec<PlaceOrder> {
    store
        .committed()
        .iter()
        .filter_map(PlaceOrder::from_placed)
        .collect()
}

pub(super) async fn process(store: &InMemoryStore, commands: &[PlaceOrder]) -> Vec<ProcessResult> {
    let clock = clock();
    OrderProcessor {
        orders: store,
        products: store,
        clock: &clock,
        payment_window: PAYMENT_WINDOW,
    }
    .process(commands)
    .await
}

#[test]
fn an_order_holds_one_to_fifty_lines() {
    let products: Vec<String> = (0..=50).map(|i| format!("p-{i}")).collect();
    let first = |n: usize| {
        let lines: Vec<(&str, i64)> = products[..n].iter().map(|p| (p.as_str(), 1)).collect();
        OrderLines::new(requested(&lines))
    };
    assert_eq!(first(0), Err(LinesError::Count));
    assert_eq!(first(1).unwrap().as_slice().len(), 1);
    assert_eq!(first(50).unwrap().as_slice().len(), 50);
    assert_eq!(first(51), Err(LinesError::Count));
}

#[test]
fn an_order_names_each_product_once() {
    let repeated = OrderLines::new(requested(&[("p-1", 1), ("p-2", 1), ("p-1", 2)]));
    assert_eq!(repeated, Err(LinesError::Repeated { line: 2, first: 0 }));
    // The same rules hold for lines read from JSON (a queued command, a stored event).
    let from_json = serde_json::from_value::<OrderLines>(json!([
        {"product_id": "p-1", "quantity": 1},
        {"product_id": "p-1", "quantity": 2}
    ]));
    assert!(from_json.is_err());
    assert!(serde_json::from_value::<OrderLines>(json!([])).is_err());
}

#[tokio::test]
async fn placing_records_pending_once_per_idempotency_key() {
    let store = shop();
    let clock = clock();
    let placing = placing(&store, &clock);
    let one = || request(&[("p-1", 1)]);
    let first = placing
        .place(one(), Some(&key("key-1")), corr())
        .await
        .unwrap();
    assert_eq!(first.order.status(), OrderStatus::Pending);
    assert!(!first.replayed);
    let again = placing
        .place(one(), Some(&key("key-1")), corr())
        .await
        .unwrap();
    assert!(again.replayed);
    assert_eq!(again.order.id(), first.order.id());
    // One placement committed, so the relay queues the order once.
    let queued = queued(&store);
    assert_eq!(queued.len(), 1);
    assert_eq!(&queued[0].order_id, first.order.id());
    assert_eq!(store.unpaid("c-1"), 1, "a replay takes no second slot");

    let other = request(&[("p-1", 2)]);
    let refused = placing.place(other, Some(&key("key-1")), corr()).await;
    assert!(matches!(refused, Err(PlaceError::KeyReused)));

    // Keys are the customer's own: another customer's "key-1" is another order.
    let theirs = request_of("c-2", &[("p-1", 2)]);
    let placed = placing
        .place(theirs, Some(&key("key-1")), corr())
        .await
        .unwrap();
    assert!(!placed.replayed);
    assert_ne!(placed.order.id(), first.order.id());
}

#[tokio::test]
async fn a_customer_holds_at_most_five_unpaid_orders_until_one_ends() {
    let store = shop();
    let clock = clock();
    let placing = placing(&store, &clock);
    let one = || request(&[("p-2", 1)]);
    for _ in 0..5 {
        placing.place(one(), None, corr()).await.unwrap();
    }
    let sixth = placing.place(one(), None, corr()).await;
    assert!(matches!(sixth, Err(PlaceError::TooManyUnpaidOrders(5))));
    assert_eq!(store.unpaid("c-1"), 5);

    // Processing confirms them (still unpaid); rejecting or cancelling one frees its slot.
    let commands = queued(&store);
    process(&store, &commands).await;
    assert_eq!(store.unpaid("c-1"), 5);
    cancel_order(&store, &clock, &commands[0].order_id, &customer("c-1"))
        .await
        .unwrap();
    assert_eq!(store.unpaid("c-1"), 4);
    placing.place(one(), None, corr()).await.unwrap();
    assert_eq!(store.unpaid("c-1"), 5);
}

#[tokio::test]
async fn a_valid_order_is_confirmed_priced_and_reserves_stock() {
    let store = shop();
    let order = command(&[("p-1", 2), ("p-2", 4)]);
    let results = process(&store, std::slice::from_ref(&order)).await;
    assert_eq!(results[0].as_ref().unwrap(), &Processed::Confirmed);
    assert_eq!((store.stock("p-1"), store.stock("p-2")), (3, 96));
    let stored = store.load(&order.order_id).await.unwrap().unwrap();
    assert_eq!(stored.status(), OrderStatus::Confirmed);
    // 20.00 + 10.00 = 30.00, VAT 20 % = 6.00
    assert_eq!(
        confirmation(&stored).totals.total,
        Money::new(3_600, Currency::Eur)
    );
    assert_eq!(store.announced_types(), ["order.confirmed"]);
}

#[tokio::test]
async fn too_little_stock_or_unknown_products_reject_without_touching_stock() {
    let store = shop();
    let greedy = command(&[("p-2", 1), ("p-1", 6)]);
    let unknown = command(&[("p-404", 1)]);
    let results = process(&store, &[greedy.clone(), unknown]).await;
    assert_eq!(
        results[0].as_ref().unwrap(),
        &Processed::Rejected(RejectionReason::InsufficientStock)
    );
    assert_eq!(
        results[1].as_ref().unwrap(),
        &Processed::Rejected(RejectionReason::UnknownProduct)
    );
    assert_eq!((store.stock("p-1"), store.stock("p-2")), (5, 100));
    let rejected = store.load(&greedy.order_id).await.unwrap().unwrap();
    assert_eq!(rejection(&rejected).detail, "not enough stock for p-1");
}

#[tokio::test]
async fn delivering_the_same_message_three_times_reserves_once() {
    let store = shop();
    let order = command(&[("p-1", 1)]);
    // Twice in one batch, then once more in the next.
    let first = process(&store, &[order.clone(), order.clone()]).await;
    let second = process(&store, std::slice::from_ref(&order)).await;
    assert!(
        first.iter().chain(&second).all(Result::is_ok),
        "{first:?} {second:?}"
    );
    assert_eq!(store.stock("p-1"), 4);
    assert_eq!(store.history(&order.order_id).await.unwrap().len(), 2);
    assert_eq!(
        second[0].as_ref().unwrap(),
        &Processed::AlreadyProcessed(OrderStatus::Confirmed)
    );
}

#[tokio::test]
async fn the_relay_queues_placements_and_publishes_the_rest_once_each() {
    let store = shop();
    let clock = clock();
    let placed = placing(&store, &clock)
        .place(request(&[("p-1", 1)]), None, corr())
        .await
        .unwrap();
    process(&store, &queued(&store)).await;
    let (queue, publisher) = (RecordingQueue::default(), RecordingPublisher::default());
    let relay = Relay {
        queue: &queue,
        publisher: &publisher,
    };
    // The stream hands a batch over again after a failure: the same events twice.
    let mut batch = store.committed();
    batch.extend(store.committed());
    let relayed = relay.relay(&batch).await;
    assert!(relayed.failed.is_empty() && relayed.unreadable.is_empty());
    assert_eq!(queue.sent().len(), 1);
    assert_eq!(&queue.sent()[0].order_id, placed.order.id());
    assert_eq!(&queue.sent()[0].lines, placed.order.requested_lines());
    assert_eq!(publisher.types(), ["order.confirmed"]);
}

#[tokio::test]
async fn what_the_bus_refuses_is_handed_over_again() {
    let store = shop();
    let order = command(&[("p-1", 1)]);
    process(&store, std::slice::from_ref(&order)).await;
    let (queue, publisher) = (RecordingQueue::default(), RecordingPublisher::default());
    let relay = Relay {
        queue: &queue,
        publisher: &publisher,
    };
    let events = store.committed();
    publisher.fail_next(1);
    let failed = relay.relay(&events).await;
    let confirmed = events.iter().find(|e| e.event_type == "order.confirmed");
    assert_eq!(
        failed.failed.into_iter().collect::<Vec<_>>(),
        [confirmed.unwrap().event_id.clone()]
    );
    assert!(publisher.published().is_empty());
    // The placement (recorded by the processor itself here) was queued all the same.
    assert_eq!(queue.sent().len(), 1);

    let retried = relay.relay(&events).await;
    assert!(retried.failed.is_empty());
    assert_eq!(publisher.types(), ["order.confirmed"]);
}

#[tokio::test]
async fn a_placement_the_relay_cannot_read_is_set_aside_not_retried() {
    let order = command(&[("p-1", 1)]);
    let mut placed = Order::place(order).envelope;
    placed.data = json!({"customer_id": "c-1"});
    let (queue, publisher) = (RecordingQueue::default(), RecordingPublisher::default());
    let relayed = Relay {
        queue: &queue,
        publisher: &publisher,
    }
    .relay(&[placed.clone()])
    .await;
    assert_eq!(relayed.unreadable, [placed.event_id]);
    assert!(relayed.failed.is_empty());
    assert!(queue.sent().is_empty() && publisher.published().is_empty());
}

#[tokio::test]
async fn replaying_the_history_gives_the_stored_order() {
    let store = shop();
    let publisher = RecordingPublisher::default();
    let order = command(&[("p-2", 3)]);
    process(&store, std::slice::from_ref(&order)).await;
    let confirmed = store.load(&order.order_id).await.unwrap().unwrap();
    let total = confirmation(&confirmed).totals.total.amount;
    pay(
        &store,
        &publisher,
        &payment_succeeded(&confirmed, "evt_1", total),
    )
    .await
    .unwrap();
    let history = store.history(&order.order_id).await.unwrap();
    let stored = store.load(&order.order_id).await.unwrap().unwrap();
    assert_eq!(
        history.iter().map(|e| e.sequence).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert_eq!(Order::replay(&history).unwrap(), stored);
    assert_eq!(stored.status(), OrderStatus::Paid);
}
