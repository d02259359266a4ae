//! BatchGetItem and BatchWriteItem with their limits (100 keys, 25 writes) and their
//! unprocessed leftovers, which the SDK's retry does not resend.

use super::store_error;
use crate::kernel::StoreError;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, KeysAndAttributes, WriteRequest};
use std::collections::HashMap;
use std::time::Duration;

pub type Item = HashMap<String, AttributeValue>;

const MAX_ROUNDS: u32 = 8;

async fn back_off(round: u32) {
    tokio::time::sleep(Duration::from_millis(20 << round.min(5))).await;
}

pub async fn get_all(
    client: &Client,
    table: &str,
    keys: Vec<Item>,
    consistent: bool,
) -> Result<Vec<Item>, StoreError> {
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
                    return Err(StoreError::new(
                        "BatchGetItem kept leaving keys unprocessed",
                    ));
                }
                back_off(round).await;
            }
        }
    }
    Ok(found)
}

pub async fn delete_all(client: &Client, table: &str, keys: Vec<Item>) -> Result<(), StoreError> {
    for chunk in keys.chunks(25) {
        let mut pending: Vec<WriteRequest> = chunk
            .iter()
            .map(|key| {
                let delete = DeleteRequest::builder()
                    .set_key(Some(key.clone()))
                    .build()
                    .map_err(store_error)?;
                Ok(WriteRequest::builder().delete_request(delete).build())
            })
            .collect::<Result<_, StoreError>>()?;
        let mut round = 0;
        while !pending.is_empty() {
            let out = client
                .batch_write_item()
                .request_items(table, std::mem::take(&mut pending))
                .send()
                .await
                .map_err(store_error)?;
            pending = out
                .unprocessed_items()
                .and_then(|u| u.get(table))
                .cloned()
                .unwrap_or_default();
            if !pending.is_empty() {
                round += 1;
                if round > MAX_ROUNDS {
                    return Err(StoreError::new(
                        "BatchWriteItem kept leaving items unprocessed",
                    ));
                }
                back_off(round).await;
            }
        }
    }
    Ok(())
}
