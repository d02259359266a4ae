//! Placing an order: recording it as PENDING, within the customer's unpaid-order limit, and
//! queueing it.

use super::ports::{
    CommitError, IdempotencyClaim, IdempotencyKeys, OrderCommit, OrderQueue, OrderRepository,
    UnpaidSlot,
};
use super::{Order, OrderStatus, RequestedLine};
use crate::kernel::{Clock, Currency, CustomerId, OrderId, StoreError, Timestamp};
use serde::{Deserialize, Serialize};

pub use super::request::{FieldError, MAX_LINES, OrderRequest, RequestRejected};

/// The place-order command, as it travels on the orders queue. It carries everything needed to
/// record the order, so the processor can record it even if the API's write never happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlaceOrder {
    pub order_id: OrderId,
    pub customer_id: CustomerId,
    pub currency: Currency,
    pub lines: Vec<RequestedLine>,
    #[serde(default)]
    pub discount_code: Option<String>,
    pub correlation_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub placed_at: Timestamp,
}

impl PlaceOrder {
    pub fn new(request: OrderRequest, correlation_id: String, placed_at: Timestamp) -> Self {
        Self {
            order_id: OrderId::generate(),
            customer_id: request.customer_id,
            currency: request.currency,
            lines: request.lines,
            discount_code: request.discount_code,
            correlation_id,
            placed_at,
        }
    }

    /// The command that placed an existing order (to queue it again).
    pub fn of_order(order: &Order) -> Self {
        Self {
            order_id: order.order_id.clone(),
            customer_id: order.customer_id.clone(),
            currency: order.currency,
            lines: order.requested_lines(),
            discount_code: order.discount_code.clone(),
            correlation_id: order.correlation_id.clone(),
            placed_at: order.created_at,
        }
    }

    /// The order's first event and the state it starts in.
    pub fn placement(&self) -> super::order::Recorded {
        Order::placed(
            &self.order_id,
            &self.customer_id,
            self.currency,
            &self.lines,
            self.discount_code.as_deref(),
            &self.correlation_id,
            self.placed_at,
        )
    }
}

/// The body of an orders-queue message: versioned, so an old processor refuses a message it
/// cannot read instead of misreading it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderMessage {
    pub schema_version: u32,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(flatten)]
    pub command: PlaceOrder,
}

#[derive(Debug, thiserror::Error)]
pub enum UnreadableMessage {
    #[error("not a place-order message: {0}")]
    Malformed(String),
    #[error("unsupported message: type {kind:?}, schema version {schema_version}")]
    Unsupported { kind: String, schema_version: u32 },
}

impl OrderMessage {
    pub const SCHEMA_VERSION: u32 = 1;
    pub const PLACE_ORDER: &'static str = "place_order";

    pub fn place_order(command: PlaceOrder) -> Self {
        Self {
            schema_version: Self::SCHEMA_VERSION,
            kind: Self::PLACE_ORDER.into(),
            command,
        }
    }

    pub fn parse(body: &str) -> Result<PlaceOrder, UnreadableMessage> {
        #[derive(Deserialize)]
        struct Header {
            schema_version: u32,
            #[serde(rename = "type")]
            kind: String,
        }
        let header: Header =
            serde_json::from_str(body).map_err(|e| UnreadableMessage::Malformed(e.to_string()))?;
        if header.schema_version != Self::SCHEMA_VERSION || header.kind != Self::PLACE_ORDER {
            return Err(UnreadableMessage::Unsupported {
                kind: header.kind,
                schema_version: header.schema_version,
            });
        }
        let message: OrderMessage =
            serde_json::from_str(body).map_err(|e| UnreadableMessage::Malformed(e.to_string()))?;
        Ok(message.command)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PlaceError {
    #[error("Idempotency-Key was already used for a different request")]
    KeyReused,
    #[error("the customer already holds {0} unpaid orders")]
    TooManyUnpaidOrders(u32),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The outcome of a place-order request: the order, and whether this request created it.
#[derive(Debug, Clone)]
pub struct Placed {
    pub order: Order,
    pub replayed: bool,
}

/// How long an `Idempotency-Key` is remembered.
pub const IDEMPOTENCY_KEY_TTL: time::Duration = time::Duration::hours(24);

/// `POST /orders`.
pub struct Placing<'a> {
    pub orders: &'a dyn OrderRepository,
    pub keys: &'a dyn IdempotencyKeys,
    pub queue: &'a dyn OrderQueue,
    pub clock: &'a dyn Clock,
    /// How many unpaid orders one customer may hold at once.
    pub max_unpaid: u32,
}

impl Placing<'_> {
    /// Records a new order as PENDING and queues it for processing.
    ///
    /// The order is written before it is queued, so a queued order always exists. If queueing
    /// fails the caller gets an error to retry; a retry with the same `Idempotency-Key` finds
    /// the order and queues it again (the processor ignores an order it has already
    /// processed). Keys are the customer's own: two customers may use the same key.
    pub async fn place(
        &self,
        request: OrderRequest,
        idempotency_key: Option<&str>,
        correlation_id: String,
    ) -> Result<Placed, PlaceError> {
        let fingerprint = request.fingerprint();
        let now = self.clock.now();
        let key = idempotency_key.map(|key| customer_key(&request.customer_id, key));
        let command = PlaceOrder::new(request, correlation_id, now);
        let placement = command.placement();
        let commit = OrderCommit {
            order: placement.order.clone(),
            expected_version: 0,
            events: vec![placement.envelope],
            outbox: vec![],
            stock: vec![],
            unpaid: Some(UnpaidSlot::Take {
                customer: command.customer_id.clone(),
                limit: Some(self.max_unpaid),
            }),
            idempotency: key.as_ref().map(|key| IdempotencyClaim {
                key: key.clone(),
                request_hash: fingerprint.clone(),
                order_id: command.order_id.clone(),
                expires_at: now + IDEMPOTENCY_KEY_TTL,
            }),
        };
        match self.orders.commit(commit).await {
            Ok(()) => {
                self.queue.send(&command).await?;
                Ok(Placed {
                    order: placement.order,
                    replayed: false,
                })
            }
            Err(CommitError::IdempotencyKeyTaken) => {
                self.replay(key.as_deref().unwrap_or_default(), &fingerprint)
                    .await
            }
            Err(CommitError::TooManyUnpaidOrders) => {
                Err(PlaceError::TooManyUnpaidOrders(self.max_unpaid))
            }
            Err(CommitError::Store(e)) => Err(e.into()),
            // A new order has no version to conflict with and reserves no stock; DynamoDB
            // cancelling the transaction for contention lands here.
            Err(other @ (CommitError::Conflict | CommitError::InsufficientStock(_))) => {
                Err(StoreError::new(format!("placing the order failed: {other}")).into())
            }
        }
    }

    async fn replay(&self, key: &str, fingerprint: &str) -> Result<Placed, PlaceError> {
        let record = self
            .keys
            .find(key)
            .await?
            .ok_or_else(|| StoreError::new("idempotency record vanished; retry"))?;
        if record.request_hash != fingerprint {
            return Err(PlaceError::KeyReused);
        }
        let order = self
            .orders
            .load(&record.order_id)
            .await?
            .ok_or_else(|| StoreError::new("idempotent order not found; retry"))?;
        if order.status == OrderStatus::Pending {
            // The first attempt may have died before queueing: queue again, harmlessly.
            self.queue.send(&PlaceOrder::of_order(&order)).await?;
        }
        Ok(Placed {
            order,
            replayed: true,
        })
    }
}

/// The stored form of a customer's `Idempotency-Key`: the customer's length first, so that no
/// customer id and key can spell another customer's.
fn customer_key(customer: &CustomerId, key: &str) -> String {
    format!("{}:{customer}#{key}", customer.as_str().len())
}
