//! Orders: one partition per order holding its `STATE` view and its `EVENT#` history. A
//! commit is one TransactWriteItems over the order, the products whose stock moves, the
//! customer's unpaid-order count and the idempotency record, so all of it happens or none of
//! it does. Each new `EVENT#` item reaches the table's stream, which the relay reads
//! ([`event_of_stream_image`]).

mod transaction;

use super::batch::{self, Item};
use super::order_item::OrderItem;
use super::{item_error, store_error};
use crate::kernel::{CustomerId, EventEnvelope, InfraError, OrderId};
use crate::ordering::Order;
use crate::ordering::ports::{
    CommitError, IdempotencyKeys, IdempotencyRecord, OrderCommit, OrderRepository, Placement,
    PlacementError,
};
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use transaction::{PlacementTerms, Refusal};

#[derive(Clone)]
pub struct DynamoOrders {
    client: Client,
    orders_table: String,
    /// Needed only by functions that move stock.
    products_table: Option<String>,
    /// Needed only by functions that take idempotency keys.
    idempotency_table: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct EventItem {
    pk: String,
    sk: String,
    #[serde(flatten)]
    envelope: EventEnvelope,
}

#[derive(Serialize, Deserialize)]
struct IdempotencyItem {
    pk: String,
    request_hash: String,
    order_id: OrderId,
    /// Epoch seconds: the table's TTL attribute.
    expires_at: i64,
}

const STATE: &str = "STATE";

fn order_pk(id: &str) -> String {
    format!("ORDER#{id}")
}

fn event_sk(sequence: u64) -> String {
    format!("{EVENT_PREFIX}{sequence:010}")
}

const EVENT_PREFIX: &str = "EVENT#";

/// The event a new `EVENT#` item of the orders table holds, from its stream record's new
/// image: `None` for any other item (the state view, a customer's count).
pub fn event_of_stream_image(
    image: impl Into<serde_dynamo::Item>,
) -> Result<Option<EventEnvelope>, InfraError> {
    let image: serde_dynamo::Item = image.into();
    let is_event = matches!(
        image.get("sk"),
        Some(serde_dynamo::AttributeValue::S(sk)) if sk.starts_with(EVENT_PREFIX)
    );
    if !is_event {
        return Ok(None);
    }
    serde_dynamo::from_item::<_, EventItem>(image)
        .map(|item| Some(item.envelope))
        .map_err(item_error)
}

/// The order a `STATE` item of the orders table holds (for tools that scan the table).
pub fn order_of_item(item: impl Into<serde_dynamo::Item>) -> Result<Order, InfraError> {
    serde_dynamo::from_item::<_, OrderItem>(item.into())
        .map(OrderItem::into_order)
        .map_err(item_error)
}

/// A customer's unpaid-order count lives beside their orders, in its own partition.
fn customer_pk(customer: &CustomerId) -> String {
    format!("CUSTOMER#{customer}")
}

fn request_pk(key: &str) -> String {
    format!("REQUEST#{key}")
}

fn key(pk: String, sk: String) -> Item {
    HashMap::from([
        ("pk".to_owned(), AttributeValue::S(pk)),
        ("sk".to_owned(), AttributeValue::S(sk)),
    ])
}

impl DynamoOrders {
    pub fn new(client: Client, orders_table: impl Into<String>) -> Self {
        Self {
            client,
            orders_table: orders_table.into(),
            products_table: None,
            idempotency_table: None,
        }
    }

    /// Where stock lives, for commits that reserve or release it.
    pub fn with_products_table(mut self, table: impl Into<String>) -> Self {
        self.products_table = Some(table.into());
        self
    }

    /// Where `Idempotency-Key` claims live.
    pub fn with_idempotency_table(mut self, table: impl Into<String>) -> Self {
        self.idempotency_table = Some(table.into());
        self
    }

    fn table<'a>(table: &'a Option<String>, what: &str) -> Result<&'a str, InfraError> {
        table
            .as_deref()
            .ok_or_else(|| InfraError::new(format!("no {what} table configured")))
    }

    async fn query_prefix(
        &self,
        id: &OrderId,
        prefix: &str,
    ) -> Result<Vec<EventEnvelope>, InfraError> {
        let items: Vec<Item> = self
            .client
            .query()
            .table_name(&self.orders_table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", AttributeValue::S(order_pk(id.as_str())))
            .expression_attribute_values(":prefix", AttributeValue::S(prefix.to_owned()))
            .consistent_read(true)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(store_error)?;
        items
            .into_iter()
            .map(|item| {
                serde_dynamo::from_item::<_, EventItem>(item)
                    .map(|i| i.envelope)
                    .map_err(item_error)
            })
            .collect()
    }
}

#[async_trait]
impl OrderRepository for DynamoOrders {
    async fn load(&self, id: &OrderId) -> Result<Option<Order>, InfraError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.orders_table)
            .set_key(Some(key(order_pk(id.as_str()), STATE.to_owned())))
            .consistent_read(true)
            .send()
            .await
            .map_err(store_error)?;
        out.item
            .map(|item| serde_dynamo::from_item::<_, OrderItem>(item).map(OrderItem::into_order))
            .transpose()
            .map_err(item_error)
    }

    async fn load_many(&self, ids: &[OrderId]) -> Result<HashMap<OrderId, Order>, InfraError> {
        let keys = ids
            .iter()
            .map(|id| key(order_pk(id.as_str()), STATE.to_owned()))
            .collect();
        batch::get_all(&self.client, &self.orders_table, keys, true)
            .await?
            .into_iter()
            .map(|item| {
                let item: OrderItem = serde_dynamo::from_item(item).map_err(item_error)?;
                let order = item.into_order();
                Ok((order.id().clone(), order))
            })
            .collect()
    }

    async fn history(&self, id: &OrderId) -> Result<Vec<EventEnvelope>, InfraError> {
        self.query_prefix(id, EVENT_PREFIX).await
    }

    async fn commit(&self, commit: OrderCommit) -> Result<(), CommitError> {
        let (items, roles) = self.transaction(&commit, None)?;
        self.transact(items, &roles)
            .await
            .map_err(|refusal| match refusal {
                Refusal::Order => CommitError::Conflict,
                Refusal::Stock(refused) => CommitError::Stock(refused),
                Refusal::Failed(e) => CommitError::Infra(e),
                // Only a placement claims a key or takes a slot under a limit.
                other => CommitError::Infra(InfraError::new(format!("refused: {other:?}"))),
            })
    }

    async fn place(&self, placement: Placement) -> Result<(), PlacementError> {
        let terms = PlacementTerms {
            unpaid_limit: placement.unpaid_limit,
            idempotency: placement.idempotency.as_ref(),
        };
        let (items, roles) = self.transaction(&placement.commit, Some(&terms))?;
        self.transact(items, &roles)
            .await
            .map_err(|refusal| match refusal {
                Refusal::Idempotency => PlacementError::IdempotencyKeyTaken,
                Refusal::Order => PlacementError::AlreadyRecorded,
                Refusal::Unpaid => PlacementError::TooManyUnpaidOrders,
                Refusal::Failed(e) => PlacementError::Infra(e),
                // A new order moves no stock.
                other => PlacementError::Infra(InfraError::new(format!("refused: {other:?}"))),
            })
    }
}

#[async_trait]
impl IdempotencyKeys for DynamoOrders {
    async fn find(&self, key: &str) -> Result<Option<IdempotencyRecord>, InfraError> {
        let out = self
            .client
            .get_item()
            .table_name(Self::table(&self.idempotency_table, "idempotency")?)
            .key("pk", AttributeValue::S(request_pk(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(store_error)?;
        let Some(item) = out.item else {
            return Ok(None);
        };
        let record: IdempotencyItem = serde_dynamo::from_item(item).map_err(item_error)?;
        Ok(Some(IdempotencyRecord {
            request_hash: record.request_hash,
            order_id: record.order_id,
        }))
    }
}
