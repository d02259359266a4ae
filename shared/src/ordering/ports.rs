//! What ordering needs from the outside world.

use super::command::PlaceOrder;
use super::lines::RequestedLine;
use super::order::{Order, Transition};
use crate::kernel::{
    CustomerId, EventEnvelope, InfraError, OrderId, PaymentIntentId, ProductId, Quantity, Timestamp,
};
use async_trait::async_trait;
use std::collections::HashMap;

/// A change of stock that commits with the order's events, all or nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StockMovement {
    /// Take units off the shelf; fails the whole commit if fewer are available.
    Reserve(ProductId, Quantity),
    /// Give units back (a cancelled order).
    Release(ProductId, Quantity),
}

impl StockMovement {
    /// Gives back what these lines held.
    pub fn releases(lines: &[RequestedLine]) -> Vec<StockMovement> {
        lines
            .iter()
            .map(|l| StockMovement::Release(l.product_id.clone(), l.quantity))
            .collect()
    }

    pub fn product(&self) -> &ProductId {
        match self {
            StockMovement::Reserve(product, _) | StockMovement::Release(product, _) => product,
        }
    }

    /// Takes off the shelf what these lines ask for.
    pub fn reservations(lines: &[RequestedLine]) -> Vec<StockMovement> {
        lines
            .iter()
            .map(|l| StockMovement::Reserve(l.product_id.clone(), l.quantity))
            .collect()
    }
}

/// The request behind an `Idempotency-Key`, claimed in the same commit as the order it created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyClaim {
    pub key: String,
    pub request_hash: String,
    pub order_id: OrderId,
    pub expires_at: Timestamp,
}

/// A customer's count of unpaid (PENDING or CONFIRMED) orders, kept in step with their orders
/// in the same transactions: the anti-hoarding limit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnpaidSlot {
    /// A new unpaid order.
    Take(CustomerId),
    /// The order was paid, rejected or cancelled: never refused, an order must always end.
    Give(CustomerId),
}

/// One atomic change to an order: its new state, the events that led there, the stock they
/// move and the customer's unpaid-order count. The events are also the outbox: the relay
/// publishes each one once it is committed (see [`super::relay`]).
#[derive(Debug, Clone)]
pub struct OrderCommit {
    pub order: Order,
    /// The version the stored order must still have; 0 when the order must not exist yet.
    pub expected_version: u64,
    pub events: Vec<EventEnvelope>,
    pub stock: Vec<StockMovement>,
    pub unpaid: Option<UnpaidSlot>,
}

impl OrderCommit {
    /// A new order: its first event, and the unpaid slot it takes.
    pub fn new_order(placed: Transition) -> Self {
        OrderCommit {
            unpaid: Some(UnpaidSlot::Take(placed.order.customer().clone())),
            order: placed.order,
            expected_version: 0,
            events: vec![placed.envelope],
            stock: vec![],
        }
    }

    /// A commit that changes nothing yet of the stored `order`.
    pub fn of(order: &Order) -> Self {
        OrderCommit {
            order: order.clone(),
            expected_version: order.version(),
            events: vec![],
            stock: vec![],
            unpaid: None,
        }
    }

    /// Moves the order on by one recorded event and the stock it moves. An order that stops
    /// being unpaid gives its customer's slot back (or never takes it, if it is new).
    pub fn then(mut self, recorded: Transition, stock: Vec<StockMovement>) -> Self {
        if self.order.is_unpaid() && !recorded.order.is_unpaid() {
            self.unpaid = match self.unpaid {
                Some(UnpaidSlot::Take(_)) => None,
                _ => Some(UnpaidSlot::Give(recorded.order.customer().clone())),
            };
        }
        self.order = recorded.order;
        self.events.push(recorded.envelope);
        self.stock.extend(stock);
        self
    }
}

/// A new order as placing records it: under its customer's unpaid-order limit, and with the
/// `Idempotency-Key` it was placed with.
#[derive(Debug, Clone)]
pub struct Placement {
    pub commit: OrderCommit,
    pub unpaid_limit: u32,
    pub idempotency: Option<IdempotencyClaim>,
}

/// Why a commit did not take effect.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CommitError {
    /// Another writer moved the order on since it was read: read it again, decide again.
    #[error("the order changed since it was read")]
    Conflict,
    #[error(transparent)]
    Stock(#[from] StockRefused),
    /// The store failed, or stayed contended (DynamoDB's TransactionConflict) through the
    /// adapter's own retries: worth retrying later.
    #[error(transparent)]
    Infra(#[from] InfraError),
}

/// A stock movement the products refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StockRefused {
    /// A reservation asked for more units than these products have.
    #[error("not enough stock for {0:?}")]
    Insufficient(Vec<ProductId>),
    /// Stock was to go back to products no longer in the catalog: kept for a person.
    #[error("cannot give stock back to {0:?}: no such product")]
    ProductGone(Vec<ProductId>),
}

/// Why a placement was not recorded.
#[derive(Debug, Clone, thiserror::Error)]
pub enum PlacementError {
    #[error("the idempotency key is already taken")]
    IdempotencyKeyTaken,
    #[error("the customer already holds the most unpaid orders allowed")]
    TooManyUnpaidOrders,
    /// The order is already stored: its id is new, so this very placement was applied and
    /// its answer lost.
    #[error("the order is already recorded")]
    AlreadyRecorded,
    #[error(transparent)]
    Infra(#[from] InfraError),
}

#[async_trait]
pub trait OrderRepository: Send + Sync {
    async fn load(&self, id: &OrderId) -> Result<Option<Order>, InfraError>;

    /// Several orders at once (one round trip where the store allows it).
    async fn load_many(&self, ids: &[OrderId]) -> Result<HashMap<OrderId, Order>, InfraError>;

    /// The order's events, oldest first.
    async fn history(&self, id: &OrderId) -> Result<Vec<EventEnvelope>, InfraError>;

    /// All of the commit or none of it. A commit cancelled only because another writer held
    /// one of its items at that moment is retried by the adapter, with jittered backoff.
    async fn commit(&self, commit: OrderCommit) -> Result<(), CommitError>;

    /// Records a new order, all or nothing, as [`Self::commit`] does.
    async fn place(&self, placement: Placement) -> Result<(), PlacementError>;
}

/// A remembered `Idempotency-Key`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    pub request_hash: String,
    pub order_id: OrderId,
}

#[async_trait]
pub trait IdempotencyKeys: Send + Sync {
    async fn find(&self, key: &str) -> Result<Option<IdempotencyRecord>, InfraError>;
}

/// The queue of orders waiting to be processed.
#[async_trait]
pub trait OrderQueue: Send + Sync {
    /// Queues every command (an order queued twice is processed once); returns the ids of
    /// the orders that were not queued.
    async fn send(&self, commands: &[PlaceOrder]) -> Vec<OrderId>;
}

pub use crate::kernel::{EventPublisher, PublishReport};

/// Re-delivers an order's `order.confirmed` later, so its payment deadline is checked again.
#[async_trait]
pub trait DeadlineTimer: Send + Sync {
    /// Delivers `confirmed` again after about `delay` (an adapter may deliver it sooner,
    /// never later: the check simply runs again).
    async fn recheck_after(
        &self,
        confirmed: &EventEnvelope,
        delay: std::time::Duration,
    ) -> Result<(), InfraError>;
}

/// A payment the saga could not apply to an order.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct PaymentAnomaly {
    pub event_id: String,
    pub event_type: String,
    pub order_id: OrderId,
    pub payment_intent_id: PaymentIntentId,
    pub reason: String,
    #[serde(with = "time::serde::rfc3339")]
    pub recorded_at: Timestamp,
    /// `payment.refund_required`, when the payment took money the shop must give back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refund: Option<EventEnvelope>,
}

/// What the ledger knew of an anomaly when it was recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AnomalyEntry {
    /// Transition now; its refund (if any) is this delivery's to publish.
    New,
    /// Transition by an earlier delivery (at `recorded_at`), which may still be publishing the
    /// refund, or may have died before it did.
    Seen {
        refund_published: bool,
        recorded_at: Timestamp,
    },
}

/// Where anomalies are kept for a person to look at (refunds, support). LedgerEntry the same
/// anomaly twice keeps the first.
#[async_trait]
pub trait PaymentAnomalies: Send + Sync {
    async fn record(&self, anomaly: &PaymentAnomaly) -> Result<AnomalyEntry, InfraError>;

    /// Notes that the anomaly's refund event was accepted by the bus.
    async fn mark_refund_published(&self, event_id: &str) -> Result<(), InfraError>;
}
