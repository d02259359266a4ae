//! Placing an order: recording it as PENDING, within the customer's unpaid-order limit. The
//! relay queues it for the processor once it is committed (see [`super::relay`]).

use super::ports::{
    CommitError, IdempotencyClaim, IdempotencyKeys, OrderCommit, OrderRepository, UnpaidSlot,
};
use super::{Order, OrderEvent, RequestedLine};
use crate::kernel::{Clock, Currency, CustomerId, EventEnvelope, OrderId, StoreError, Timestamp};
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

    /// The command an `order.placed` records (`None` if it is not one this code can read).
    pub fn from_placed(placed: &EventEnvelope) -> Option<Self> {
        let Ok(OrderEvent::Placed {
            customer_id,
            currency,
            lines,
            discount_code,
        }) = placed.decode::<OrderEvent>()
        else {
            return None;
        };
        Some(Self {
            order_id: OrderId::parse(&placed.aggregate_id).ok()?,
            customer_id,
            currency,
            lines,
            discount_code,
            correlation_id: placed.correlation_id.clone(),
            placed_at: placed.occurred_at,
        })
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
    pub clock: &'a dyn Clock,
    /// How many unpaid orders one customer may hold at once.
    pub max_unpaid: u32,
}

impl Placing<'_> {
    /// Records a new order as PENDING; the relay queues it for processing.
    ///
    /// A retry with the same `Idempotency-Key` finds the order instead of placing another.
    /// Keys are the customer's own: two customers may use the same key.
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
            Ok(()) => Ok(Placed {
                order: placement.order,
                replayed: false,
            }),
            Err(CommitError::IdempotencyKeyTaken) => {
                self.replay(key.as_deref().unwrap_or_default(), &fingerprint)
                    .await
            }
            Err(CommitError::TooManyUnpaidOrders) => {
                Err(PlaceError::TooManyUnpaidOrders(self.max_unpaid))
            }
            // The order id is new, so only our own write can already be there: DynamoDB
            // applied it, its answer was lost, and the SDK's retry found it.
            Err(CommitError::Conflict) => match self.orders.load(&command.order_id).await? {
                Some(order) => Ok(Placed {
                    order,
                    replayed: false,
                }),
                None => Err(StoreError::new("placing the order conflicted; retry").into()),
            },
            Err(CommitError::Store(e)) => Err(e.into()),
            Err(other @ CommitError::InsufficientStock(_)) => {
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
