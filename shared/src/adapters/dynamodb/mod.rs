//! DynamoDB adapters. Items are mapped with `serde_dynamo` from the domain types themselves;
//! the key layout is in docs/architecture.md.

mod batch;
mod catalog;
mod ledger;
mod order_item;
mod orders;

pub use catalog::DynamoCatalog;
pub use ledger::DynamoLedger;
pub use orders::{DynamoOrders, event_of_stream_image, order_of_item};

use crate::kernel::InfraError;
use aws_sdk_dynamodb::error::DisplayErrorContext;

/// The SDK's errors, with their whole cause chain, as a store error.
fn store_error(error: impl std::error::Error) -> InfraError {
    InfraError::new(DisplayErrorContext(error))
}

fn item_error(error: serde_dynamo::Error) -> InfraError {
    InfraError::new(format!("item does not match its type: {error}"))
}

/// Waits before try `attempt` + 1 of something DynamoDB turned away for now (unprocessed batch
/// keys, a transaction conflict): full jitter under a ceiling doubling from 10 ms to 1 s,
/// so that writers who collided do not collide again in step.
async fn back_off(attempt: u32) {
    let ceiling = std::time::Duration::from_millis(10 << attempt.min(7))
        .min(std::time::Duration::from_secs(1));
    tokio::time::sleep(ceiling.mul_f64(fastrand::f64())).await;
}
