//! Payments: Stripe-compatible webhooks, verified and turned into the shop's payment events,
//! each taking effect once however often the provider delivers it.

mod events;
pub mod ports;
mod provider;
pub mod signature;
pub mod webhook;

pub use events::{PaymentEvent, ProviderAmount, RefundEvent, RefundReason};
