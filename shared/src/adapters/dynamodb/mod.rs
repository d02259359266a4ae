//! DynamoDB adapters. Items are mapped with `serde_dynamo` from the domain types themselves;
//! the key layout is in docs/architecture.md.

mod batch;
mod catalog;
mod ledger;
mod orders;

pub use catalog::DynamoCatalog;
pub use ledger::DynamoLedger;
pub use orders::DynamoOrders;

use crate::kernel::StoreError;
use aws_sdk_dynamodb::error::DisplayErrorContext;

/// The SDK's errors, with their whole cause chain, as a store error.
fn store_error(error: impl std::error::Error) -> StoreError {
    StoreError::new(DisplayErrorContext(error))
}

fn item_error(error: serde_dynamo::Error) -> StoreError {
    StoreError::new(format!("item does not match its type: {error}"))
}
