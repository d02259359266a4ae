//! Products: one item per product, the catalog data and the live stock together. Listings
//! page through the table (all products) or the `by_category` index (one category).

use super::batch::{self, Item};
use super::{item_error, store_error};
use crate::catalog::ports::{ProductListing, ProductLookup, ProductPage};
use crate::catalog::{Category, Product};
use crate::kernel::{InfraError, ProductId};
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;

pub const CATEGORY_INDEX: &str = "by_category";

#[derive(Clone)]
pub struct DynamoCatalog {
    client: Client,
    table: String,
    consistent_reads: bool,
}

impl DynamoCatalog {
    /// Reads are eventually consistent (half the cost, typically under a second behind);
    /// see [`DynamoCatalog::consistent`].
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            consistent_reads: false,
        }
    }

    /// Strongly consistent reads, for pricing an order against the latest catalog.
    pub fn consistent(mut self) -> Self {
        self.consistent_reads = true;
        self
    }

    fn decode(items: Vec<Item>) -> Result<Vec<Product>, InfraError> {
        items
            .into_iter()
            .map(|i| serde_dynamo::from_item(i).map_err(item_error))
            .collect()
    }
}

fn product_key(id: &ProductId) -> Item {
    HashMap::from([("product_id".to_owned(), AttributeValue::S(id.to_string()))])
}

#[async_trait]
impl ProductLookup for DynamoCatalog {
    async fn products(&self, ids: &[ProductId]) -> Result<HashMap<ProductId, Product>, InfraError> {
        let keys = ids.iter().map(product_key).collect();
        let items = batch::get_all(&self.client, &self.table, keys, self.consistent_reads).await?;
        Ok(Self::decode(items)?
            .into_iter()
            .map(|p| (p.product_id.clone(), p))
            .collect())
    }

    async fn product(&self, id: &ProductId) -> Result<Option<Product>, InfraError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(product_key(id)))
            .consistent_read(self.consistent_reads)
            .send()
            .await
            .map_err(store_error)?;
        out.item
            .map(|i| serde_dynamo::from_item(i).map_err(item_error))
            .transpose()
    }
}

#[async_trait]
impl ProductListing for DynamoCatalog {
    async fn page(
        &self,
        category: Option<&Category>,
        after: Option<&ProductId>,
        limit: u16,
    ) -> Result<ProductPage, InfraError> {
        // One more than asked: see ProductPage::from_overfetch.
        let fetch = i32::from(limit) + 1;
        let items = match category {
            Some(category) => {
                let start = after.map(|a| {
                    let mut key = product_key(a);
                    key.insert("category".into(), AttributeValue::S(category.to_string()));
                    key
                });
                self.client
                    .query()
                    .table_name(&self.table)
                    .index_name(CATEGORY_INDEX)
                    .key_condition_expression("category = :category")
                    .expression_attribute_values(
                        ":category",
                        AttributeValue::S(category.to_string()),
                    )
                    .set_exclusive_start_key(start)
                    .limit(fetch)
                    .send()
                    .await
                    .map_err(store_error)?
                    .items
            }
            None => {
                self.client
                    .scan()
                    .table_name(&self.table)
                    .set_exclusive_start_key(after.map(product_key))
                    .limit(fetch)
                    .consistent_read(self.consistent_reads)
                    .send()
                    .await
                    .map_err(store_error)?
                    .items
            }
        };
        Ok(ProductPage::from_overfetch(
            Self::decode(items.unwrap_or_default())?,
            limit,
        ))
    }
}
