//! Implementations of the ports, grouped by technology.

pub mod memory;

#[cfg(feature = "dynamodb")]
pub mod dynamodb;
#[cfg(feature = "secretsmanager")]
pub mod secrets;
#[cfg(feature = "sns")]
pub mod sns;
#[cfg(feature = "sqs")]
pub mod sqs;
