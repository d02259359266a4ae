//! Ordering: placing an order, pricing it, reserving its stock, and the payment saga that
//! takes a confirmed order to PAID or CANCELLED (payment failed, payment deadline, the
//! customer).

pub mod cancelling;
pub mod deadline;
mod events;
mod order;
pub mod outbox;
pub mod placing;
pub mod ports;
pub mod pricing;
pub mod processing;
pub mod relay;
mod request;
pub mod saga;

pub use events::{CancellationReason, OrderEvent, RejectionReason, RequestedLine};
pub use order::{Order, OrderLine, OrderStatus, ReplayError, Totals, TransitionError};

#[cfg(test)]
mod lifecycle_tests;
#[cfg(test)]
mod tests;
