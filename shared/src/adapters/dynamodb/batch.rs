//! BatchGetItem with its limit (100 keys) and its unprocessed leftovers, which the SDK's
//! retry does not resend.

use super::{back_off, store_error};
use crate::kernel::InfraError;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use std::collections::HashMap;

pub type Item = HashMap<String, AttributeValue>;

const MAX_ROUNDS: u32 = 8;

pub async fn get_all(
    client: &Client,
    table: &str,
    keys: Vec<Item>,
    consistent: bool,
) -> Result<Vec<Item>, InfraError> {
    let mut found = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(100) {
        let mut pending = Some(
            KeysAndAttributes::builder()
                .set_keys(Some(chunk.to_vec()))
                .consistent_read(consistent)
                .build()
                .map_err(store_error)?,
        );
        let mut round = 0;
        while let Some(request) = pending.take() {
            let out = client
                .batch_get_item()
                .request_items(table, request)
                .send()
                .await
                .map_err(store_error)?;
            if let Some(items) = out.responses().and_then(|r| r.get(table)) {
                found.extend(items.iter().cloned());
            }
            pending = out
                .unprocessed_keys()
                .and_then(|u| u.get(table))
                .filter(|k| !k.keys().is_empty())
                .cloned();
            if pending.is_some() {
                round += 1;
                if round > MAX_ROUNDS {
                    return Err(InfraError::new(
                        "BatchGetItem kept leaving keys unprocessed",
                    ));
                }
                back_off(round).await;
            }
        }
    }
    Ok(found)
}
