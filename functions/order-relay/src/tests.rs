//! The handler against the in-memory adapters: stream records of the orders table, built as
//! the DynamoDB adapter writes its items, relayed to the queue or the bus, and the partial
//! batch response when something could not be relayed.

use crate::handler::handle;
use aws_lambda_events::dynamodb::{Event, EventRecord};
use aws_lambda_events::streams::DynamoDbEventResponse;
use lambda_runtime::{Context, LambdaEvent};
use serde::Serialize;
use shop::adapters::memory::{InMemoryStore, RecordingPublisher, RecordingQueue};
use shop::catalog::test_product;
use shop::kernel::{
    CorrelationId, Currency, CustomerId, EventEnvelope, FixedClock, ProductId, Quantity,
};
use shop::ordering::processing::OrderProcessor;
use shop::ordering::relay::Relay;
use shop::ordering::{OrderLines, OrderRequest, PlaceOrder, RequestedLine};

/// An `EVENT#` item of the orders table, as `DynamoOrders` writes it.
#[derive(Serialize)]
struct EventItem<'a> {
    pk: String,
    sk: String,
    #[serde(flatten)]
    envelope: &'a EventEnvelope,
}

fn event_image(envelope: &EventEnvelope) -> serde_dynamo::Item {
    serde_dynamo::to_item(EventItem {
        pk: format!("ORDER#{}", envelope.aggregate_id),
        sk: format!("EVENT#{:010}", envelope.sequence),
        envelope,
    })
    .unwrap()
}

/// Any other item of the orders table: `pk`, `sk` and whatever else.
fn other_image(pk: &str, sk: &str, extra: (&str, &str)) -> serde_dynamo::Item {
    let item = std::collections::HashMap::from([("pk", pk), ("sk", sk), extra]);
    serde_dynamo::to_item(item).unwrap()
}

fn record(name: &str, sequence: &str, image: serde_dynamo::Item) -> EventRecord {
    let mut record = EventRecord::default();
    record.event_name = name.to_owned();
    record.change.sequence_number = Some(sequence.to_owned());
    record.change.new_image = image;
    record
}

/// Two orders of `p-1`, placed and confirmed: their committed events, oldest first
/// (`order.placed`, `order.confirmed` of the first, then of the second).
async fn two_orders() -> (Vec<PlaceOrder>, Vec<EventEnvelope>) {
    let store = InMemoryStore::with_products([test_product("p-1", 1_000, 10)]);
    let clock = FixedClock(time::macros::datetime!(2026-11-21 10:00 UTC));
    let commands: Vec<PlaceOrder> = (0..2)
        .map(|_| {
            let request = OrderRequest {
                customer_id: CustomerId::parse("c-1").unwrap(),
                currency: Currency::Eur,
                lines: OrderLines::new(vec![RequestedLine {
                    product_id: ProductId::parse("p-1").unwrap(),
                    quantity: Quantity::new(1).unwrap(),
                }])
                .unwrap(),
                discount_code: None,
            };
            PlaceOrder::new(request, CorrelationId::parse("corr-1").unwrap(), clock.0)
        })
        .collect();
    let processor = OrderProcessor {
        orders: &store,
        products: &store,
        clock: &clock,
        payment_window: time::Duration::minutes(15),
    };
    let results = processor.process(&commands).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let events = store.committed();
    let types: Vec<&str> = events.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        [
            "order.placed",
            "order.confirmed",
            "order.placed",
            "order.confirmed"
        ]
    );
    (commands, events)
}

struct World {
    queue: RecordingQueue,
    publisher: RecordingPublisher,
}

impl World {
    fn new() -> Self {
        World {
            queue: RecordingQueue::default(),
            publisher: RecordingPublisher::default(),
        }
    }

    async fn deliver(&self, records: Vec<EventRecord>) -> DynamoDbEventResponse {
        let relay = Relay {
            queue: &self.queue,
            publisher: &self.publisher,
        };
        let mut event = Event::default();
        event.records = records;
        handle(&relay, LambdaEvent::new(event, Context::default()))
            .await
            .unwrap()
    }
}

fn failed_sequences(response: &DynamoDbEventResponse) -> Vec<&str> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_deref().unwrap_or("<none>"))
        .collect()
}

#[tokio::test]
async fn new_event_items_are_queued_or_published_and_other_records_are_ignored() {
    let (commands, events) = two_orders().await;
    let (placed, confirmed) = (&events[0], &events[1]);
    let order_pk = format!("ORDER#{}", placed.aggregate_id);
    let world = World::new();
    let response = world
        .deliver(vec![
            record("INSERT", "1", event_image(placed)),
            record("INSERT", "2", event_image(confirmed)),
            // Only new items are relayed, not changed or removed ones.
            record("MODIFY", "3", event_image(&events[2])),
            record("REMOVE", "4", event_image(&events[3])),
            // Not an event item: the order's state view.
            record(
                "INSERT",
                "5",
                other_image(&order_pk, "STATE", ("status", "PAID")),
            ),
            // An event item this code cannot read: logged for a person, never retried.
            record(
                "INSERT",
                "6",
                other_image(&order_pk, "EVENT#0000000009", ("data", "?")),
            ),
        ])
        .await;
    assert!(failed_sequences(&response).is_empty(), "{response:?}");
    assert_eq!(world.queue.sent(), [commands[0].clone()]);
    assert_eq!(world.publisher.published(), std::slice::from_ref(confirmed));
}

#[tokio::test]
async fn when_the_bus_fails_the_first_record_not_relayed_is_handed_back() {
    let (commands, events) = two_orders().await;
    let world = World::new();
    world.publisher.fail_next(1);
    let records: Vec<EventRecord> = events
        .iter()
        .zip(["100", "200", "300", "400"])
        .map(|(event, sequence)| record("INSERT", sequence, event_image(event)))
        .collect();
    let response = world.deliver(records.clone()).await;
    // Both `order.confirmed` failed; the stream starts again from the first of them.
    assert_eq!(failed_sequences(&response), ["200"]);
    assert_eq!(world.queue.sent(), commands, "the queue took both orders");
    assert!(world.publisher.published().is_empty());

    let again = world.deliver(records[1..].to_vec()).await;
    assert!(failed_sequences(&again).is_empty(), "{again:?}");
    assert_eq!(
        world.publisher.published(),
        [events[1].clone(), events[3].clone()]
    );
}
