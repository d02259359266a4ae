//! Reading a secret from Secrets Manager (the webhook endpoint secret, in the cloud).

use crate::kernel::StoreError;
use aws_sdk_secretsmanager::Client;
use aws_sdk_secretsmanager::error::DisplayErrorContext;

/// The secret's current string value.
pub async fn secret_string(client: &Client, secret_id: &str) -> Result<String, StoreError> {
    let out = client
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|e| StoreError::new(DisplayErrorContext(e)))?;
    out.secret_string
        .ok_or_else(|| StoreError::new(format!("secret {secret_id} has no string value")))
}
