//! The handler against the in-memory adapters: payment events and deadline checks of a batch,
//! each applied once, each failing alone. Batches of several orders: [`batch`].

mod batch;

use crate::handler::handle;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::{Context, LambdaEvent};
use shop::adapters::memory::{InMemoryStore, RecordingPublisher, RecordingTimer};
use shop::catalog::test_product;
use shop::kernel::{
    CorrelationId, Currency, CustomerId, EventEnvelope, FixedClock, PaymentIntentId, ProductId,
    Quantity, Timestamp,
};
use shop::ordering::placing::Placing;
use shop::ordering::ports::OrderRepository;
use shop::ordering::processing::{OrderProcessor, Processed};
use shop::ordering::saga_batch::Saga;
use shop::ordering::{Order, OrderLines, OrderRequest, OrderState, OrderStatus, RequestedLine};
use shop::payments::PaymentEvent;
use std::time::Duration;

const PLACED_AT: Timestamp = time::macros::datetime!(2026-11-21 10:00 UTC);
const PAYMENT_WINDOW: time::Duration = time::Duration::minutes(15);

struct World {
    store: InMemoryStore,
    publisher: RecordingPublisher,
    timer: RecordingTimer,
}

impl World {
    fn new() -> Self {
        Self::stocked(5)
    }

    /// A world whose `p-1` has `units` in stock.
    fn stocked(units: i64) -> Self {
        World {
            store: InMemoryStore::with_products([test_product("p-1", 1_000, units)]),
            publisher: RecordingPublisher::default(),
            timer: RecordingTimer::default(),
        }
    }

    /// An order of two units of `p-1`, placed and processed as the API and the processor do.
    async fn confirmed_order(&self) -> Order {
        self.confirmed_order_of("c-1").await
    }

    /// [`World::confirmed_order`], by `customer`.
    async fn confirmed_order_of(&self, customer: &str) -> Order {
        let clock = FixedClock(PLACED_AT);
        let request = OrderRequest {
            customer_id: CustomerId::parse(customer).unwrap(),
            currency: Currency::Eur,
            lines: OrderLines::new(vec![RequestedLine {
                product_id: ProductId::parse("p-1").unwrap(),
                quantity: Quantity::new(2).unwrap(),
            }])
            .unwrap(),
            discount_code: None,
        };
        let placing = Placing {
            orders: &self.store,
            keys: &self.store,
            clock: &clock,
            max_unpaid: 5,
        };
        let placed = placing
            .place(request, None, CorrelationId::parse("corr-1").unwrap())
            .await
            .unwrap();
        let processor = OrderProcessor {
            orders: &self.store,
            products: &self.store,
            clock: &clock,
            payment_window: PAYMENT_WINDOW,
        };
        let processed = processor.process(&[placed.order.placement().clone()]).await;
        assert!(
            matches!(processed.as_slice(), [Ok(Processed::Confirmed)]),
            "{processed:?}"
        );
        self.order(&placed.order).await
    }

    async fn order(&self, order: &Order) -> Order {
        self.store.load(order.id()).await.unwrap().unwrap()
    }

    /// The order's `order.confirmed`, as the deadline queue delivers it.
    fn confirmed_event(&self, order: &Order) -> EventEnvelope {
        self.store
            .committed()
            .into_iter()
            .find(|e| e.aggregate_id == order.id().as_str() && e.event_type == "order.confirmed")
            .expect("the order was confirmed")
    }

    /// Delivers `(message_id, body)` as one batch, handled at `now`.
    async fn deliver(&self, now: Timestamp, messages: &[(&str, &str)]) -> SqsBatchResponse {
        let clock = FixedClock(now);
        let saga = Saga {
            orders: &self.store,
            publisher: &self.publisher,
            anomalies: &self.store,
            timer: &self.timer,
            clock: &clock,
        };
        let mut event = SqsEvent::default();
        event.records = messages
            .iter()
            .map(|(id, body)| {
                let mut message = SqsMessage::default();
                message.message_id = Some((*id).to_owned());
                message.body = Some((*body).to_owned());
                message
            })
            .collect();
        handle(&saga, LambdaEvent::new(event, Context::default()))
            .await
            .unwrap()
    }

    fn committed_types(&self, order: &Order) -> Vec<String> {
        self.store
            .committed()
            .into_iter()
            .filter(|e| e.aggregate_id == order.id().as_str())
            .map(|e| e.event_type)
            .collect()
    }
}

/// The order's total, as a confirmed order states it.
fn total(order: &Order) -> i64 {
    match order.state() {
        OrderState::Confirmed(confirmation) => confirmation.totals.total.amount,
        other => panic!("expected a confirmed order, got {other:?}"),
    }
}

/// `payment.succeeded` of `amount` euro cents for `order`, as the webhook publishes it.
fn payment_succeeded(order: &Order, provider_event_id: &str, amount: i64) -> String {
    let event = PaymentEvent::Succeeded {
        order_id: order.id().clone(),
        payment_intent_id: PaymentIntentId::parse("pi_1").unwrap(),
        amount: shop::kernel::Money::new(amount, Currency::Eur),
        provider_event_id: provider_event_id.into(),
    };
    payment_message(order, provider_event_id, &event)
}

/// `payment.failed` of the order's total.
fn payment_failed(order: &Order, provider_event_id: &str) -> String {
    let event = PaymentEvent::Failed {
        order_id: order.id().clone(),
        payment_intent_id: PaymentIntentId::parse("pi_1").unwrap(),
        amount: shop::kernel::Money::new(total(order), Currency::Eur),
        provider_event_id: provider_event_id.into(),
        failure_message: Some("card declined".into()),
    };
    payment_message(order, provider_event_id, &event)
}

fn payment_message(order: &Order, provider_event_id: &str, event: &PaymentEvent) -> String {
    let envelope = EventEnvelope::wrap(
        event,
        provider_event_id.into(),
        "pi_1".into(),
        1,
        PLACED_AT,
        order.correlation_id().clone(),
        None,
    );
    serde_json::to_string(&envelope).unwrap()
}

fn failed_ids(response: &SqsBatchResponse) -> Vec<&str> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect()
}

#[tokio::test]
async fn a_payment_delivered_twice_in_one_batch_pays_the_order_once() {
    let world = World::new();
    let order = world.confirmed_order().await;
    let paid = payment_succeeded(&order, "evt_1", total(&order));
    let response = world
        .deliver(PLACED_AT, &[("m-1", &paid), ("m-2", &paid)])
        .await;
    assert!(failed_ids(&response).is_empty(), "{response:?}");
    assert_eq!(world.order(&order).await.status(), OrderStatus::Paid);
    assert_eq!(
        world.committed_types(&order),
        ["order.placed", "order.confirmed", "order.paid"]
    );
    assert!(world.store.anomalies().is_empty(), "a repeat is no anomaly");
    assert!(world.publisher.published().is_empty(), "no refund asked");
}

#[tokio::test]
async fn an_unreadable_message_is_handed_back_alone_and_the_rest_goes_on() {
    let world = World::new();
    let order = world.confirmed_order().await;
    let paid = payment_succeeded(&order, "evt_1", total(&order));
    // An envelope whose data is no payment event: readable JSON, unreadable event.
    let mut not_a_payment: serde_json::Value = serde_json::from_str(&paid).unwrap();
    not_a_payment["data"] = serde_json::json!({"order_id": 42});
    let not_a_payment = not_a_payment.to_string();
    let response = world
        .deliver(
            PLACED_AT,
            &[("m-1", "not json"), ("m-2", &not_a_payment), ("m-3", &paid)],
        )
        .await;
    assert_eq!(failed_ids(&response), ["m-1", "m-2"]);
    assert_eq!(world.order(&order).await.status(), OrderStatus::Paid);
}

#[tokio::test]
async fn a_deadline_check_before_the_deadline_asks_for_a_recheck_when_due() {
    let world = World::new();
    let order = world.confirmed_order().await;
    let confirmed = world.confirmed_event(&order);
    let body = serde_json::to_string(&confirmed).unwrap();
    let now = PLACED_AT + time::Duration::minutes(5);
    let response = world.deliver(now, &[("m-1", &body)]).await;
    assert!(failed_ids(&response).is_empty(), "{response:?}");
    // Due 15 minutes after confirmation, checked 5 minutes in: back in 10 minutes (and a
    // second, rounded up).
    assert_eq!(
        world.timer.rechecks(),
        [(confirmed, Duration::from_secs(10 * 60 + 1))]
    );
    assert_eq!(world.order(&order).await.status(), OrderStatus::Confirmed);
    assert_eq!(world.store.stock("p-1"), 3);
}

#[tokio::test]
async fn a_deadline_check_past_the_deadline_cancels_and_gives_the_stock_back() {
    let world = World::new();
    let order = world.confirmed_order().await;
    let body = serde_json::to_string(&world.confirmed_event(&order)).unwrap();
    let late = PLACED_AT + PAYMENT_WINDOW + time::Duration::seconds(1);
    let response = world.deliver(late, &[("m-1", &body), ("m-2", &body)]).await;
    assert!(failed_ids(&response).is_empty(), "{response:?}");
    assert!(world.timer.rechecks().is_empty());
    assert_eq!(world.order(&order).await.status(), OrderStatus::Cancelled);
    assert_eq!(world.store.stock("p-1"), 5);
    assert_eq!(
        world.committed_types(&order),
        ["order.placed", "order.confirmed", "order.cancelled"]
    );
}
