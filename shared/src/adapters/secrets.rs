//! Reading a secret from Secrets Manager (the webhook endpoint secret, in the cloud).

use crate::kernel::InfraError;
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::DisplayErrorContext;

/// The secret's current string value.
pub async fn secret_string(client: &Client, secret_id: &str) -> Result<String, InfraError> {
    let out = client
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|e| InfraError::new(DisplayErrorContext(e)))?;
    out.secret_string
        .ok_or_else(|| InfraError::new(format!("secret {secret_id} has no string value")))
}
