use super::events::{CancellationReason, OrderEvent, RejectionReason, RequestedLine};
use super::pricing::Priced;
use crate::kernel::{
    Currency, CustomerId, EventEnvelope, Money, OrderId, ProductId, Quantity, Sku, Timestamp,
};
use serde::{Deserialize, Serialize};

/// The lifecycle of the contract: PENDING -> CONFIRMED | REJECTED | CANCELLED (the customer);
/// CONFIRMED -> PAID | CANCELLED (payment failed, payment timeout, the customer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderStatus {
    Pending,
    Confirmed,
    Rejected,
    Paid,
    Cancelled,
}

/// One line of an order; prices appear once the order is confirmed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLine {
    pub product_id: ProductId,
    pub quantity: Quantity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<Sku>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit_price: Option<Money>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line_total: Option<Money>,
}

impl From<&RequestedLine> for OrderLine {
    fn from(line: &RequestedLine) -> Self {
        Self {
            product_id: line.product_id.clone(),
            quantity: line.quantity,
            sku: None,
            name: None,
            unit_price: None,
            line_total: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totals {
    pub subtotal: Money,
    pub discount: Money,
    pub tax: Money,
    pub total: Money,
}

/// The order aggregate and, serialised, the order view of the contract. Its state is only
/// ever changed by applying one of its events, so replaying the history rebuilds it exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Order {
    pub order_id: OrderId,
    pub customer_id: CustomerId,
    pub status: OrderStatus,
    pub currency: Currency,
    pub items: Vec<OrderLine>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub totals: Option<Totals>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discount_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_intent_id: Option<String>,
    /// Set on confirmation: unpaid at this instant, the order is cancelled.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    pub payment_due_by: Option<Timestamp>,
    pub correlation_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: Timestamp,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: Timestamp,
    /// The sequence of the last event applied: the optimistic-concurrency token.
    pub version: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("order {order_id} is {status:?}: cannot {attempted}")]
pub struct TransitionError {
    pub order_id: OrderId,
    pub status: OrderStatus,
    pub attempted: &'static str,
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("an order's history must start with order.placed at sequence 1")]
    NoPlacement,
    #[error("event {sequence} follows {version}: the history has a gap or is out of order")]
    OutOfSequence { version: u64, sequence: u64 },
    #[error(transparent)]
    Unreadable(#[from] crate::kernel::UnreadableEvent),
    #[error(transparent)]
    Transition(#[from] TransitionError),
    #[error("invalid order id in history: {0}")]
    BadId(String),
}

/// An event recorded against an order, with the state it leads to.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub envelope: EventEnvelope,
    pub order: Order,
}

impl Order {
    /// The first event of every order.
    pub fn placed(
        order_id: &OrderId,
        customer_id: &CustomerId,
        currency: Currency,
        lines: &[RequestedLine],
        discount_code: Option<&str>,
        correlation_id: &str,
        at: Timestamp,
    ) -> Recorded {
        let event = OrderEvent::Placed {
            customer_id: customer_id.clone(),
            currency,
            lines: lines.to_vec(),
            discount_code: discount_code.map(str::to_owned),
        };
        let envelope = EventEnvelope::wrap(
            &event,
            ulid::Ulid::new().to_string(),
            order_id.to_string(),
            1,
            at,
            correlation_id.to_owned(),
            None,
        );
        let order = Order::replay(std::slice::from_ref(&envelope))
            .expect("a fresh placement always replays");
        Recorded { envelope, order }
    }

    /// Rebuilds an order from its history, oldest first.
    pub fn replay(history: &[EventEnvelope]) -> Result<Order, ReplayError> {
        let (first, rest) = history.split_first().ok_or(ReplayError::NoPlacement)?;
        let mut order = Self::start(first)?;
        for envelope in rest {
            order.apply(envelope)?;
        }
        Ok(order)
    }

    fn start(envelope: &EventEnvelope) -> Result<Order, ReplayError> {
        let OrderEvent::Placed {
            customer_id,
            currency,
            lines,
            discount_code,
        } = envelope.decode::<OrderEvent>()?
        else {
            return Err(ReplayError::NoPlacement);
        };
        if envelope.sequence != 1 {
            return Err(ReplayError::NoPlacement);
        }
        Ok(Order {
            order_id: OrderId::parse(envelope.aggregate_id.clone())
                .map_err(|e| ReplayError::BadId(e.0))?,
            customer_id,
            status: OrderStatus::Pending,
            currency,
            items: lines.iter().map(OrderLine::from).collect(),
            totals: None,
            discount_code,
            reason: None,
            payment_intent_id: None,
            payment_due_by: None,
            correlation_id: envelope.correlation_id.clone(),
            created_at: envelope.occurred_at,
            updated_at: envelope.occurred_at,
            version: 1,
        })
    }

    /// Applies one event of this order's history.
    pub fn apply(&mut self, envelope: &EventEnvelope) -> Result<(), ReplayError> {
        if envelope.sequence != self.version + 1 {
            return Err(ReplayError::OutOfSequence {
                version: self.version,
                sequence: envelope.sequence,
            });
        }
        match envelope.decode::<OrderEvent>()? {
            OrderEvent::Placed { .. } => return Err(self.refuse("be placed again").into()),
            OrderEvent::Confirmed {
                items,
                totals,
                payment_due_by,
                ..
            } => {
                self.expect(OrderStatus::Pending, "confirm")?;
                self.status = OrderStatus::Confirmed;
                self.items = items;
                self.totals = Some(totals);
                self.payment_due_by = Some(payment_due_by);
            }
            OrderEvent::Rejected { detail, .. } => {
                self.expect(OrderStatus::Pending, "reject")?;
                self.status = OrderStatus::Rejected;
                self.reason = Some(detail);
            }
            OrderEvent::Paid {
                payment_intent_id, ..
            } => {
                self.expect(OrderStatus::Confirmed, "mark as paid")?;
                self.status = OrderStatus::Paid;
                self.payment_intent_id = Some(payment_intent_id);
            }
            OrderEvent::Cancelled {
                reason,
                payment_intent_id,
                ..
            } => {
                if !self.is_cancellable() {
                    return Err(self.refuse("cancel").into());
                }
                self.status = OrderStatus::Cancelled;
                self.reason = Some(reason.as_str().to_owned());
                self.payment_intent_id = payment_intent_id;
            }
        }
        self.version = envelope.sequence;
        self.updated_at = envelope.occurred_at;
        Ok(())
    }

    /// Records a new event: the next sequence number, a fresh event id, this order's
    /// correlation id, and the state it leads to. Refuses transitions the lifecycle forbids.
    pub fn record(
        &self,
        event: OrderEvent,
        at: Timestamp,
        causation_id: Option<String>,
    ) -> Result<Recorded, TransitionError> {
        let envelope = EventEnvelope::wrap(
            &event,
            ulid::Ulid::new().to_string(),
            self.order_id.to_string(),
            self.version + 1,
            at,
            self.correlation_id.clone(),
            causation_id,
        );
        let mut order = self.clone();
        match order.apply(&envelope) {
            Ok(()) => Ok(Recorded { envelope, order }),
            Err(ReplayError::Transition(refused)) => Err(refused),
            Err(other) => unreachable!("a recorded event always reads back: {other}"),
        }
    }

    /// Confirms the priced order; it must be paid within `payment_window`.
    pub fn confirm(
        &self,
        priced: Priced,
        at: Timestamp,
        payment_window: time::Duration,
    ) -> Result<Recorded, TransitionError> {
        let event = OrderEvent::Confirmed {
            customer_id: self.customer_id.clone(),
            items: priced.items,
            totals: priced.totals,
            payment_due_by: at + payment_window,
        };
        self.record(event, at, None)
    }

    /// Whether the order holds one of its customer's unpaid-order slots.
    pub fn is_unpaid(&self) -> bool {
        matches!(self.status, OrderStatus::Pending | OrderStatus::Confirmed)
    }

    /// Whether the lifecycle still allows a cancellation: before payment, and before a
    /// rejection or an earlier cancellation ended the order.
    pub fn is_cancellable(&self) -> bool {
        matches!(self.status, OrderStatus::Pending | OrderStatus::Confirmed)
    }

    /// Cancels the order. A CONFIRMED order gives its reserved stock back (the event lists
    /// it); a PENDING one has reserved nothing yet.
    pub fn cancel(
        &self,
        reason: CancellationReason,
        detail: Option<String>,
        payment_intent_id: Option<String>,
        at: Timestamp,
        causation_id: Option<String>,
    ) -> Result<Recorded, TransitionError> {
        let event = OrderEvent::Cancelled {
            customer_id: self.customer_id.clone(),
            reason,
            detail,
            payment_intent_id,
            released: self.reserved_lines(),
        };
        self.record(event, at, causation_id)
    }

    pub fn reject(
        &self,
        reason: RejectionReason,
        detail: String,
        at: Timestamp,
    ) -> Result<Recorded, TransitionError> {
        let event = OrderEvent::Rejected {
            customer_id: self.customer_id.clone(),
            reason,
            detail,
        };
        self.record(event, at, None)
    }

    /// The stock this order holds: its lines once CONFIRMED (reserved), else nothing.
    pub fn reserved_lines(&self) -> Vec<RequestedLine> {
        if self.status == OrderStatus::Confirmed {
            self.requested_lines()
        } else {
            Vec::new()
        }
    }

    /// The lines as requested, which is what a reservation holds and a cancellation releases.
    pub fn requested_lines(&self) -> Vec<RequestedLine> {
        self.items
            .iter()
            .map(|l| RequestedLine {
                product_id: l.product_id.clone(),
                quantity: l.quantity,
            })
            .collect()
    }

    fn expect(&self, status: OrderStatus, attempted: &'static str) -> Result<(), TransitionError> {
        if self.status == status {
            Ok(())
        } else {
            Err(self.refuse(attempted))
        }
    }

    fn refuse(&self, attempted: &'static str) -> TransitionError {
        TransitionError {
            order_id: self.order_id.clone(),
            status: self.status,
            attempted,
        }
    }
}
