//! Implementations of the ports, grouped by technology.

/// Unit tests only: not compiled into any function.
#[cfg(any(test, feature = "test-util"))]
pub mod memory;

#[cfg(feature = "dynamodb")]
pub mod dynamodb;
pub mod order_message;
#[cfg(feature = "secretsmanager")]
pub mod secrets;
#[cfg(feature = "sns")]
pub mod sns;
#[cfg(feature = "sqs")]
pub mod sqs;
