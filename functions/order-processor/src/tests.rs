//! The handler against the in-memory adapters: what a batch of queued messages becomes, and
//! which messages are handed back to the queue (only the ones that failed themselves).

use crate::handler::handle;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use lambda_runtime::{Context, LambdaEvent};
use shop::adapters::memory::InMemoryStore;
use shop::adapters::order_message;
use shop::catalog::test_product;
use shop::kernel::{CorrelationId, Currency, CustomerId, FixedClock, ProductId, Quantity};
use shop::ordering::placing::Placing;
use shop::ordering::ports::OrderRepository;
use shop::ordering::processing::OrderProcessor;
use shop::ordering::{Order, OrderLines, OrderRequest, OrderStatus, PlaceOrder, RequestedLine};

struct World {
    store: InMemoryStore,
    clock: FixedClock,
}

impl World {
    fn new() -> Self {
        World {
            store: InMemoryStore::with_products([test_product("p-1", 1_000, 5)]),
            clock: FixedClock(time::macros::datetime!(2026-11-21 10:00 UTC)),
        }
    }

    fn processor(&self) -> OrderProcessor<'_> {
        OrderProcessor {
            orders: &self.store,
            products: &self.store,
            clock: &self.clock,
            payment_window: time::Duration::minutes(15),
        }
    }

    /// An order of `quantity` units of `p-1`, placed as the API does (PENDING), and the
    /// command the relay queues for it.
    async fn placed(&self, quantity: i64) -> PlaceOrder {
        let request = OrderRequest {
            customer_id: CustomerId::parse("c-1").unwrap(),
            currency: Currency::Eur,
            lines: OrderLines::new(vec![RequestedLine {
                product_id: ProductId::parse("p-1").unwrap(),
                quantity: Quantity::new(quantity).unwrap(),
            }])
            .unwrap(),
            discount_code: None,
        };
        let placing = Placing {
            orders: &self.store,
            keys: &self.store,
            clock: &self.clock,
            max_unpaid: 5,
        };
        let placed = placing
            .place(request, None, CorrelationId::parse("corr-1").unwrap())
            .await
            .unwrap();
        placed.order.placement().clone()
    }

    /// Delivers `(message_id, body)` as one batch.
    async fn deliver(&self, messages: &[(&str, &str)]) -> SqsBatchResponse {
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
        handle(
            &self.processor(),
            LambdaEvent::new(event, Context::default()),
        )
        .await
        .unwrap()
    }

    async fn order(&self, command: &PlaceOrder) -> Order {
        self.store.load(&command.order_id).await.unwrap().unwrap()
    }

    fn committed_types(&self) -> Vec<String> {
        self.store
            .committed()
            .into_iter()
            .map(|e| e.event_type)
            .collect()
    }
}

fn failed_ids(response: &SqsBatchResponse) -> Vec<&str> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect()
}

#[tokio::test]
async fn a_batch_confirms_its_order_once_and_hands_back_only_the_poison_messages() {
    let world = World::new();
    let command = world.placed(2).await;
    let body = order_message::to_body(&command).unwrap();
    let response = world
        .deliver(&[
            ("m-1", &body),
            ("m-2", &body),
            ("m-3", "not json"),
            ("m-4", r#"{"schema_version": 1, "type": "cancel_order"}"#),
            ("m-5", r#"{"schema_version": 2, "type": "place_order"}"#),
        ])
        .await;
    assert_eq!(failed_ids(&response), ["m-3", "m-4", "m-5"]);
    assert_eq!(world.order(&command).await.status(), OrderStatus::Confirmed);
    assert_eq!(world.store.stock("p-1"), 3, "2 of 5 reserved, once");
    assert_eq!(
        world.committed_types(),
        ["order.placed", "order.confirmed"],
        "one confirmation for two deliveries"
    );
}

#[tokio::test]
async fn a_delivery_in_a_later_batch_changes_nothing() {
    let world = World::new();
    let command = world.placed(2).await;
    let body = order_message::to_body(&command).unwrap();
    assert!(failed_ids(&world.deliver(&[("m-1", &body)]).await).is_empty());
    let confirmed = world.order(&command).await;
    let committed = world.store.committed();

    let again = world.deliver(&[("m-1-again", &body)]).await;
    assert!(
        failed_ids(&again).is_empty(),
        "a repeat is done, not retried"
    );
    assert_eq!(world.order(&command).await, confirmed);
    assert_eq!(world.store.committed(), committed);
    assert_eq!(world.store.stock("p-1"), 3);
}

#[tokio::test]
async fn an_order_short_of_stock_is_rejected_not_retried() {
    let world = World::new();
    let command = world.placed(6).await;
    let body = order_message::to_body(&command).unwrap();
    let response = world.deliver(&[("m-1", &body)]).await;
    assert!(failed_ids(&response).is_empty());
    assert_eq!(world.order(&command).await.status(), OrderStatus::Rejected);
    assert_eq!(world.store.stock("p-1"), 5, "nothing reserved");
}
