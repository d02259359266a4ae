//! Ordering: placing an order, pricing it, reserving its stock, and the payment saga that
//! takes a confirmed order to PAID or CANCELLED.

mod events;
mod order;
pub mod placing;
pub mod ports;
pub mod pricing;
pub mod processing;
pub mod saga;

pub use events::{OrderEvent, RejectionReason, RequestedLine};
pub use order::{Order, OrderLine, OrderStatus, ReplayError, Totals, TransitionError};

#[cfg(test)]
mod tests;
