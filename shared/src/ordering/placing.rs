//! Placing an order: recording it as PENDING, within the customer's unpaid-order limit. The
//! relay queues it for the processor once it is committed (see [`super::relay`]).

use super::command::{OrderRequest, PlaceOrder};
use super::order::Order;
use super::ports::{
    IdempotencyClaim, IdempotencyKeys, OrderCommit, OrderRepository, Placement, PlacementError,
};
use crate::kernel::{Clock, CorrelationId, CustomerId, InfraError};

crate::kernel::string_id!(
    /// The client's `Idempotency-Key`: a retry with the same key finds the order it placed.
    IdempotencyKey,
    |v| {
        if (1..=255).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
            Ok(())
        } else {
            Err("Idempotency-Key must be 1 to 255 visible ASCII characters".into())
        }
    }
);

#[derive(Debug, thiserror::Error)]
pub enum PlaceError {
    #[error("Idempotency-Key was already used for a different request")]
    KeyReused,
    #[error("the customer already holds {0} unpaid orders")]
    TooManyUnpaidOrders(u32),
    #[error(transparent)]
    Infra(#[from] InfraError),
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
        idempotency_key: Option<&IdempotencyKey>,
        correlation_id: CorrelationId,
    ) -> Result<Placed, PlaceError> {
        let fingerprint = request.fingerprint();
        let now = self.clock.now();
        let key = idempotency_key.map(|key| customer_key(&request.customer_id, key));
        let placed = Order::place(PlaceOrder::new(request, correlation_id, now));
        let order = placed.order.clone();
        let placement = Placement {
            commit: OrderCommit::new_order(placed),
            unpaid_limit: self.max_unpaid,
            idempotency: key.as_ref().map(|key| IdempotencyClaim {
                key: key.clone(),
                request_hash: fingerprint.clone(),
                order_id: order.id().clone(),
                expires_at: now + IDEMPOTENCY_KEY_TTL,
            }),
        };
        let fresh = |order| Placed {
            order,
            replayed: false,
        };
        match self.orders.place(placement).await {
            Ok(()) => Ok(fresh(order)),
            Err(PlacementError::IdempotencyKeyTaken) => {
                self.replay(key.as_deref().unwrap_or_default(), &fingerprint)
                    .await
            }
            Err(PlacementError::TooManyUnpaidOrders) => {
                Err(PlaceError::TooManyUnpaidOrders(self.max_unpaid))
            }
            // DynamoDB applied our write, its answer was lost, and the SDK's retry found it.
            Err(PlacementError::AlreadyRecorded) => match self.orders.load(order.id()).await? {
                Some(order) => Ok(fresh(order)),
                None => Err(InfraError::new("placing the order conflicted; retry").into()),
            },
            Err(PlacementError::Infra(e)) => Err(e.into()),
        }
    }

    async fn replay(&self, key: &str, fingerprint: &str) -> Result<Placed, PlaceError> {
        let record = self
            .keys
            .find(key)
            .await?
            .ok_or_else(|| InfraError::new("idempotency record vanished; retry"))?;
        if record.request_hash != fingerprint {
            return Err(PlaceError::KeyReused);
        }
        let order = self
            .orders
            .load(&record.order_id)
            .await?
            .ok_or_else(|| InfraError::new("idempotent order not found; retry"))?;
        Ok(Placed {
            order,
            replayed: true,
        })
    }
}

/// The stored form of a customer's `Idempotency-Key`: the customer's length first, so that no
/// customer id and key can spell another customer's.
fn customer_key(customer: &CustomerId, key: &IdempotencyKey) -> String {
    format!("{}:{customer}#{key}", customer.as_str().len())
}
