//! The one AWS SDK configuration every client is built from, once per execution environment.

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use std::time::Duration;

/// Reads region, credentials and (locally) `AWS_ENDPOINT_URL` from the environment.
///
/// Retries are the SDK's own: standard mode (exponential backoff with jitter, throttling and
/// transient errors only), three attempts, so a throttled call is retried inside the
/// invocation before the message is handed back to SQS. Timeouts keep a stuck connection
/// from eating the function's whole budget.
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(50)),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(2))
                .operation_attempt_timeout(Duration::from_secs(5))
                .build(),
        )
        .load()
        .await
}

/// A required environment variable, with an error that names it.
pub fn env(name: &str) -> Result<String, MissingEnv> {
    std::env::var(name).map_err(|_| MissingEnv(name.to_owned()))
}

#[derive(Debug, thiserror::Error)]
#[error("environment variable {0} is not set (see template.yaml, or `cargo dev env` locally)")]
pub struct MissingEnv(pub String);
