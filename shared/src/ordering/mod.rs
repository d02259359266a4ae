//! Ordering: placing an order, pricing it, reserving its stock, and the payment saga that
//! takes a confirmed order to PAID or CANCELLED (payment failed, payment deadline, the
//! customer).
//!
//! Modules depend one way: `lines` <- `events`, `pricing` <- `command`, `state` <- `order` <-
//! `ports`
//! <- the use cases (`placing`, `processing`, `cancelling`, `deadline`, `saga`, `relay`), and
//! `saga_batch` over `saga` and `deadline`.

mod batch_orders;
pub mod cancelling;
mod command;
pub mod deadline;
mod events;
mod lines;
mod order;
pub mod placing;
pub mod ports;
pub mod pricing;
pub mod processing;
mod refunds;
pub mod relay;
pub mod saga;
pub mod saga_batch;
mod state;

pub use command::{LinesError, OrderLines, OrderRequest, PlaceOrder};
pub use events::{CancellationReason, OrderEvent, RejectionReason};
pub use lines::{PricedLine, RequestedLine, Totals};
pub use order::{Cancel, Order, ReplayError, Transition, TransitionError};
pub use state::{Cancellation, Confirmation, OrderState, OrderStatus, Rejection};

#[cfg(test)]
mod lifecycle_tests;
#[cfg(test)]
mod saga_tests;
#[cfg(test)]
mod tests;
