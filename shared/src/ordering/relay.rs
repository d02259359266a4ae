//! The relay: the second half of the outbox. Whatever a use case commits reaches the orders
//! table's change stream (DynamoDB Streams), and `order-relay` hands each new event on:
//! `order.placed` is queued as a place-order command for the processor, every other order
//! event is published on the event bus. Nothing depends on the writer living past its commit,
//! and no outbox rows are written and deleted.
//!
//! At least once: the stream hands a batch over again from its first failed record, so an
//! event may be published or queued twice; subscribers deduplicate on `event_id`, and the
//! processor on the order's state.

use super::command::PlaceOrder;
use super::ports::{EventPublisher, OrderQueue};
use crate::kernel::{EventEnvelope, OrderId};
use std::collections::HashSet;

/// The event type the relay queues instead of publishing: `order.placed` stays in the
/// order's history, and the processor hears of it as a command on the orders queue. Read from
/// the envelope, not decoded: an order event of a newer schema is still published.
const PLACED: &str = "order.placed";

pub struct Relay<'a> {
    pub queue: &'a dyn OrderQueue,
    pub publisher: &'a dyn EventPublisher,
}

/// What became of a batch of committed events.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Relayed {
    /// Events to hand over again: the bus or the queue did not take them.
    pub failed: HashSet<String>,
    /// Events that can never be relayed (an `order.placed` this code cannot read): left in
    /// the table, logged for a person; retrying would block the stream behind them.
    pub unreadable: Vec<String>,
}

impl Relay<'_> {
    /// Relays `events` (oldest first); the same event twice is relayed once.
    pub async fn relay(&self, events: &[EventEnvelope]) -> Relayed {
        let mut seen = HashSet::new();
        let mut relayed = Relayed::default();
        let mut commands: Vec<(PlaceOrder, String)> = Vec::new();
        let mut announcements = Vec::new();
        for event in events.iter().filter(|e| seen.insert(e.event_id.as_str())) {
            if event.event_type != PLACED {
                // Published as committed, whatever its schema: subscribers read it.
                announcements.push(event.clone());
            } else if let Some(command) = PlaceOrder::from_placed(event) {
                commands.push((command, event.event_id.clone()));
            } else {
                relayed.unreadable.push(event.event_id.clone());
            }
        }
        let to_queue: Vec<PlaceOrder> = commands.iter().map(|(c, _)| c.clone()).collect();
        let (not_queued, published) = futures::join!(
            self.queue.send(&to_queue),
            self.publisher.publish(&announcements)
        );
        let not_queued: HashSet<OrderId> = not_queued.into_iter().collect();
        relayed.failed.extend(
            commands
                .iter()
                .filter(|(c, _)| not_queued.contains(&c.order_id))
                .map(|(_, event_id)| event_id.clone()),
        );
        match published {
            Ok(report) => relayed.failed.extend(report.failed),
            Err(e) => {
                tracing::warn!(error = %e, "publishing failed; the events are handed over again");
                relayed
                    .failed
                    .extend(announcements.iter().map(|e| e.event_id.clone()));
            }
        }
        for event_id in &relayed.unreadable {
            // The alarm field is what the CloudWatch metric filter matches.
            tracing::error!(
                alarm = "relay_unreadable",
                event_id,
                "cannot relay this event"
            );
        }
        relayed
    }
}
