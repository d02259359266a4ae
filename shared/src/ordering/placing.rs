//! Placing an order: validating the request, recording the order as PENDING and queueing it.

use super::ports::{
    CommitError, IdempotencyClaim, IdempotencyKeys, OrderCommit, OrderQueue, OrderRepository,
};
use super::pricing::Discount;
use super::{Order, OrderStatus, RequestedLine};
use crate::kernel::{
    Clock, Currency, CustomerId, OrderId, ProductId, Quantity, StoreError, Timestamp,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::HashMap;

pub const MAX_LINES: usize = 50;

/// One thing wrong with a request, named by its path in the body (`items[2].quantity`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub detail: String,
}

impl FieldError {
    fn new(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            detail: detail.into(),
        }
    }
}

/// A valid place-order request, before the shop gives it an id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRequest {
    pub customer_id: CustomerId,
    pub currency: Currency,
    pub lines: Vec<RequestedLine>,
    pub discount_code: Option<String>,
}

impl OrderRequest {
    /// Checks the whole body and names every bad field, not only the first.
    pub fn validate(body: &Value) -> Result<Self, Vec<FieldError>> {
        let mut errors = Vec::new();
        let Some(body) = body.as_object() else {
            return Err(vec![FieldError::new("", "the body must be a JSON object")]);
        };
        let customer_id = match body.get("customer_id") {
            Some(Value::String(s)) => CustomerId::parse(s.clone())
                .map_err(|e| errors.push(FieldError::new("customer_id", e.0)))
                .ok(),
            Some(_) => {
                errors.push(FieldError::new("customer_id", "must be a string"));
                None
            }
            None => {
                errors.push(FieldError::new("customer_id", "is required"));
                None
            }
        };
        let currency = match body.get("currency") {
            Some(Value::String(s)) => Currency::parse(s)
                .map_err(|e| errors.push(FieldError::new("currency", e.to_string())))
                .ok(),
            Some(_) => {
                errors.push(FieldError::new(
                    "currency",
                    "must be a string such as \"EUR\"",
                ));
                None
            }
            None => {
                errors.push(FieldError::new("currency", "is required"));
                None
            }
        };
        let discount_code = match body.get("discount_code") {
            None | Some(Value::Null) => None,
            Some(Value::String(code)) if Discount::from_code(code).is_some() => {
                Some(code.to_ascii_uppercase())
            }
            Some(Value::String(_)) => {
                errors.push(FieldError::new("discount_code", "is not a known code"));
                None
            }
            Some(_) => {
                errors.push(FieldError::new("discount_code", "must be a string"));
                None
            }
        };
        let lines = validate_lines(body.get("items"), &mut errors);
        match (customer_id, currency, lines) {
            (Some(customer_id), Some(currency), Some(lines)) if errors.is_empty() => Ok(Self {
                customer_id,
                currency,
                lines,
                discount_code,
            }),
            _ => Err(errors),
        }
    }

    /// A fingerprint of the request, to tell a retry from a different order under the same
    /// `Idempotency-Key`.
    pub fn fingerprint(&self) -> String {
        let canonical = serde_json::json!({
            "customer_id": self.customer_id,
            "currency": self.currency,
            "lines": self.lines,
            "discount_code": self.discount_code,
        });
        hex::encode(Sha256::digest(canonical.to_string()))
    }
}

fn validate_lines(
    items: Option<&Value>,
    errors: &mut Vec<FieldError>,
) -> Option<Vec<RequestedLine>> {
    let items = match items {
        Some(Value::Array(items)) => items,
        Some(_) => {
            errors.push(FieldError::new("items", "must be an array"));
            return None;
        }
        None => {
            errors.push(FieldError::new("items", "is required"));
            return None;
        }
    };
    if items.is_empty() || items.len() > MAX_LINES {
        errors.push(FieldError::new(
            "items",
            format!("must hold 1 to {MAX_LINES} lines"),
        ));
        return None;
    }
    let before = errors.len();
    let mut seen: HashMap<ProductId, usize> = HashMap::new();
    let mut lines = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let product_id = match item.get("product_id") {
            Some(Value::String(s)) => ProductId::parse(s.clone())
                .map_err(|e| errors.push(FieldError::new(format!("items[{i}].product_id"), e.0)))
                .ok(),
            _ => {
                errors.push(FieldError::new(
                    format!("items[{i}].product_id"),
                    "is required and must be a string",
                ));
                None
            }
        };
        let quantity = match item.get("quantity").and_then(Value::as_i64) {
            Some(q) => Quantity::new(q)
                .map_err(|e| errors.push(FieldError::new(format!("items[{i}].quantity"), e.0)))
                .ok(),
            None => {
                errors.push(FieldError::new(
                    format!("items[{i}].quantity"),
                    "is required and must be an integer",
                ));
                None
            }
        };
        if let Some(id) = &product_id {
            // One line per product: a stock reservation touches each product once.
            if let Some(first) = seen.insert(id.clone(), i) {
                errors.push(FieldError::new(
                    format!("items[{i}].product_id"),
                    format!("repeats items[{first}]: put the whole quantity on one line"),
                ));
            }
        }
        if let (Some(product_id), Some(quantity)) = (product_id, quantity) {
            lines.push(RequestedLine {
                product_id,
                quantity,
            });
        }
    }
    (errors.len() == before).then_some(lines)
}

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

/// Records a new order as PENDING and queues it for processing.
///
/// The order is written before it is queued, so a queued order always exists. If queueing
/// fails the caller gets an error to retry; a retry with the same `Idempotency-Key` finds the
/// order and queues it again (the processor ignores an order it has already processed).
pub async fn place_order(
    orders: &dyn OrderRepository,
    keys: &dyn IdempotencyKeys,
    queue: &dyn OrderQueue,
    clock: &dyn Clock,
    request: OrderRequest,
    idempotency_key: Option<&str>,
    correlation_id: String,
) -> Result<Placed, PlaceError> {
    let fingerprint = request.fingerprint();
    let now = clock.now();
    let command = PlaceOrder::new(request, correlation_id, now);
    let placement = command.placement();
    let commit = OrderCommit {
        order: placement.order.clone(),
        expected_version: 0,
        events: vec![placement.envelope],
        outbox: vec![],
        stock: vec![],
        idempotency: idempotency_key.map(|key| IdempotencyClaim {
            key: key.to_owned(),
            request_hash: fingerprint.clone(),
            order_id: command.order_id.clone(),
            expires_at: now + IDEMPOTENCY_KEY_TTL,
        }),
    };
    match orders.commit(commit).await {
        Ok(()) => {
            queue.send(&command).await?;
            Ok(Placed {
                order: placement.order,
                replayed: false,
            })
        }
        Err(CommitError::IdempotencyKeyTaken) => {
            let key = idempotency_key.unwrap_or_default();
            replay(orders, keys, queue, key, &fingerprint).await
        }
        Err(CommitError::Store(e)) => Err(e.into()),
        Err(other) => Err(StoreError::new(format!("unexpected commit outcome: {other}")).into()),
    }
}

async fn replay(
    orders: &dyn OrderRepository,
    keys: &dyn IdempotencyKeys,
    queue: &dyn OrderQueue,
    key: &str,
    fingerprint: &str,
) -> Result<Placed, PlaceError> {
    let record = keys
        .find(key)
        .await?
        .ok_or_else(|| StoreError::new("idempotency record vanished; retry"))?;
    if record.request_hash != fingerprint {
        return Err(PlaceError::KeyReused);
    }
    let order = orders
        .load(&record.order_id)
        .await?
        .ok_or_else(|| StoreError::new("idempotent order not found; retry"))?;
    if order.status == OrderStatus::Pending {
        // The first attempt may have died before queueing: queue again, harmlessly.
        queue.send(&PlaceOrder::of_order(&order)).await?;
    }
    Ok(Placed {
        order,
        replayed: true,
    })
}
