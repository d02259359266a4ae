//! The shop's domain, shared by every function.
//!
//! - [`kernel`]: value objects every context uses (money, ids, time, the event envelope).
//! - [`ordering`]: the order aggregate, pricing, placing and processing orders, the payment saga.
//! - [`payments`]: Stripe-compatible webhook verification and the payment events it yields.
//! - [`catalog`]: products, availability and the paged catalog read model.
//!
//! Ports are traits next to the context that needs them; [`adapters`] holds their
//! implementations (DynamoDB, SNS, SQS behind cargo features, and in-memory ones for tests).

pub mod adapters;
pub mod catalog;
pub mod kernel;
pub mod ordering;
pub mod payments;
pub mod telemetry;

#[cfg(feature = "aws")]
pub mod aws;
#[cfg(feature = "http")]
pub mod http;
