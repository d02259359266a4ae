//! The order aggregate. Its state only changes by applying one of its events, so replaying its
//! history rebuilds it exactly.

use super::command::{OrderLines, PlaceOrder};
use super::events::{CancellationReason, OrderEvent, RejectionReason};
use super::lines::RequestedLine;
use super::pricing::{DiscountCode, Priced};
use super::state::{Cancellation, Confirmation, OrderState, OrderStatus, Rejection};
use crate::kernel::{
    CorrelationId, Currency, CustomerId, EventEnvelope, OrderId, PaymentIntentId, Timestamp,
};

/// An order: the placement it started from, and where it is now.
#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    placed: PlaceOrder,
    state: OrderState,
    /// The sequence of the last event applied: the optimistic-concurrency token.
    version: u64,
    updated_at: Timestamp,
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
    #[error("an order's history must start with a readable order.placed at sequence 1")]
    NoPlacement,
    #[error("event {sequence} follows {version}: the history has a gap or is out of order")]
    OutOfSequence { version: u64, sequence: u64 },
    #[error(transparent)]
    Unreadable(#[from] crate::kernel::UnreadableEvent),
    #[error(transparent)]
    Transition(#[from] TransitionError),
}

/// An event recorded against an order, with the state it leads to.
#[derive(Debug, Clone)]
pub struct Transition {
    pub envelope: EventEnvelope,
    pub order: Order,
}

impl Order {
    /// The first event of every order, and the PENDING order it starts.
    pub fn place(command: PlaceOrder) -> Transition {
        let event = OrderEvent::Placed {
            customer_id: command.customer_id.clone(),
            currency: command.currency,
            lines: command.lines.clone(),
            discount_code: command.discount_code,
        };
        let envelope = EventEnvelope::wrap(
            &event,
            ulid::Ulid::new().to_string(),
            command.order_id.to_string(),
            1,
            command.placed_at,
            command.correlation_id.clone(),
            None,
        );
        let order = Order {
            updated_at: command.placed_at,
            placed: command,
            state: OrderState::Pending,
            version: 1,
        };
        Transition { envelope, order }
    }

    /// An order as a store kept it (its latest state, not its history).
    pub fn restore(
        placed: PlaceOrder,
        state: OrderState,
        version: u64,
        updated_at: Timestamp,
    ) -> Order {
        Order {
            placed,
            state,
            version,
            updated_at,
        }
    }

    /// Rebuilds an order from its history, oldest first.
    pub fn replay(history: &[EventEnvelope]) -> Result<Order, ReplayError> {
        let (first, rest) = history.split_first().ok_or(ReplayError::NoPlacement)?;
        let placed = PlaceOrder::from_placed(first)
            .filter(|_| first.sequence == 1)
            .ok_or(ReplayError::NoPlacement)?;
        // The placement's own state, without recording its event again.
        let placed_at = placed.placed_at;
        let mut order = Order::restore(placed, OrderState::Pending, 1, placed_at);
        for envelope in rest {
            order.apply(envelope)?;
        }
        Ok(order)
    }

    pub fn id(&self) -> &OrderId {
        &self.placed.order_id
    }

    pub fn customer(&self) -> &CustomerId {
        &self.placed.customer_id
    }

    pub fn currency(&self) -> Currency {
        self.placed.currency
    }

    pub fn discount_code(&self) -> Option<DiscountCode> {
        self.placed.discount_code
    }

    pub fn correlation_id(&self) -> &CorrelationId {
        &self.placed.correlation_id
    }

    /// The placement the order started from.
    pub fn placement(&self) -> &PlaceOrder {
        &self.placed
    }

    pub fn state(&self) -> &OrderState {
        &self.state
    }

    pub fn status(&self) -> OrderStatus {
        self.state.status()
    }

    pub fn version(&self) -> u64 {
        self.version
    }

    pub fn created_at(&self) -> Timestamp {
        self.placed.placed_at
    }

    pub fn updated_at(&self) -> Timestamp {
        self.updated_at
    }

    /// The lines as requested, which is what a reservation holds and a cancellation releases.
    pub fn requested_lines(&self) -> &OrderLines {
        &self.placed.lines
    }

    /// Applies one event of this order's history.
    pub fn apply(&mut self, envelope: &EventEnvelope) -> Result<(), ReplayError> {
        if envelope.sequence != self.version + 1 {
            return Err(ReplayError::OutOfSequence {
                version: self.version,
                sequence: envelope.sequence,
            });
        }
        self.state = self.next(envelope.decode::<OrderEvent>()?)?;
        self.version = envelope.sequence;
        self.updated_at = envelope.occurred_at;
        Ok(())
    }

    /// The state `event` leads to from this one, if the lifecycle allows it.
    fn next(&self, event: OrderEvent) -> Result<OrderState, TransitionError> {
        match (&self.state, event) {
            (
                OrderState::Pending,
                OrderEvent::Confirmed {
                    items,
                    totals,
                    payment_due_by,
                    ..
                },
            ) => Ok(OrderState::Confirmed(Confirmation {
                lines: items,
                totals,
                payment_due_by,
            })),
            (OrderState::Pending, OrderEvent::Rejected { reason, detail, .. }) => {
                Ok(OrderState::Rejected(Rejection { reason, detail }))
            }
            (
                OrderState::Confirmed(confirmation),
                OrderEvent::Paid {
                    payment_intent_id, ..
                },
            ) => Ok(OrderState::Paid {
                confirmation: confirmation.clone(),
                payment_intent_id,
            }),
            (
                OrderState::Pending | OrderState::Confirmed(_),
                OrderEvent::Cancelled {
                    reason,
                    detail,
                    payment_intent_id,
                    ..
                },
            ) => Ok(OrderState::Cancelled(Cancellation {
                reason,
                detail,
                payment_intent_id,
                confirmation: self.state.confirmation().cloned(),
            })),
            (_, event) => Err(self.refuse(event.attempt())),
        }
    }

    /// Records a new event: the next sequence number, a fresh event id, this order's
    /// correlation id, and the state it leads to. Refuses transitions the lifecycle forbids.
    fn record(
        &self,
        event: OrderEvent,
        at: Timestamp,
        causation_id: Option<String>,
    ) -> Result<Transition, TransitionError> {
        let envelope = EventEnvelope::wrap(
            &event,
            ulid::Ulid::new().to_string(),
            self.id().to_string(),
            self.version + 1,
            at,
            self.correlation_id().clone(),
            causation_id,
        );
        let order = Order {
            placed: self.placed.clone(),
            state: self.next(event)?,
            version: self.version + 1,
            updated_at: at,
        };
        Ok(Transition { envelope, order })
    }

    /// Confirms the priced order; it must be paid within `payment_window`.
    pub fn confirm(
        &self,
        priced: Priced,
        at: Timestamp,
        payment_window: time::Duration,
    ) -> Result<Transition, TransitionError> {
        let event = OrderEvent::Confirmed {
            customer_id: self.customer().clone(),
            items: priced.lines,
            totals: priced.totals,
            payment_due_by: at + payment_window,
        };
        self.record(event, at, None)
    }

    pub fn reject(
        &self,
        reason: RejectionReason,
        detail: String,
        at: Timestamp,
    ) -> Result<Transition, TransitionError> {
        let event = OrderEvent::Rejected {
            customer_id: self.customer().clone(),
            reason,
            detail,
        };
        self.record(event, at, None)
    }

    /// Marks the order paid by `payment_intent_id`, caused by the payment event `causation_id`.
    pub fn pay(
        &self,
        payment_intent_id: PaymentIntentId,
        at: Timestamp,
        causation_id: String,
    ) -> Result<Transition, TransitionError> {
        let OrderState::Confirmed(confirmation) = &self.state else {
            return Err(self.refuse("mark as paid"));
        };
        let event = OrderEvent::Paid {
            customer_id: self.customer().clone(),
            payment_intent_id,
            amount: confirmation.totals.total,
        };
        self.record(event, at, Some(causation_id))
    }

    /// Whether the order holds one of its customer's unpaid-order slots.
    pub fn is_unpaid(&self) -> bool {
        matches!(self.state, OrderState::Pending | OrderState::Confirmed(_))
    }

    /// Cancels the order. A CONFIRMED order gives its reserved stock back (the event lists
    /// it); a PENDING one has reserved nothing yet.
    pub fn cancel(&self, cancel: Cancel, at: Timestamp) -> Result<Transition, TransitionError> {
        let event = OrderEvent::Cancelled {
            customer_id: self.customer().clone(),
            reason: cancel.reason,
            detail: cancel.detail,
            payment_intent_id: cancel.payment_intent_id,
            released: self.reserved_lines(),
        };
        self.record(event, at, cancel.causation_id)
    }

    /// The stock this order holds: its lines once CONFIRMED (reserved), else nothing.
    pub fn reserved_lines(&self) -> Vec<RequestedLine> {
        match self.state {
            OrderState::Confirmed(_) => self.placed.lines.as_slice().to_vec(),
            _ => Vec::new(),
        }
    }

    fn refuse(&self, attempted: &'static str) -> TransitionError {
        TransitionError {
            order_id: self.id().clone(),
            status: self.status(),
            attempted,
        }
    }
}

/// What a cancellation says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cancel {
    pub reason: CancellationReason,
    pub detail: Option<String>,
    pub payment_intent_id: Option<PaymentIntentId>,
    /// The event that caused it (a payment event, the order's own confirmation).
    pub causation_id: Option<String>,
}

impl Cancel {
    pub fn because(reason: CancellationReason) -> Self {
        Cancel {
            reason,
            detail: None,
            payment_intent_id: None,
            causation_id: None,
        }
    }
}

impl OrderEvent {
    /// What applying this event attempts, for a refusal's message.
    fn attempt(&self) -> &'static str {
        match self {
            OrderEvent::Placed { .. } => "be placed again",
            OrderEvent::Confirmed { .. } => "confirm",
            OrderEvent::Rejected { .. } => "reject",
            OrderEvent::Paid { .. } => "mark as paid",
            OrderEvent::Cancelled { .. } => "cancel",
        }
    }
}
