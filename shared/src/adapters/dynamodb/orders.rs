//! Orders: one partition per order holding its `STATE` view and its `EVENT#` history. A
//! commit is one TransactWriteItems over the order, the products whose stock moves, the
//! customer's unpaid-order count and the idempotency record, so all of it happens or none of
//! it does. Each new `EVENT#` item reaches the table's stream, which the relay reads
//! ([`event_of_stream_image`]).

use super::batch::{self, Item};
use super::order_item::OrderItem;
use super::{back_off, item_error, store_error};
use crate::kernel::{CustomerId, EventEnvelope, OrderId, ProductId, StoreError};
use crate::ordering::Order;
use crate::ordering::ports::{
    CommitError, IdempotencyClaim, IdempotencyKeys, IdempotencyRecord, OrderCommit,
    OrderRepository, Placement, PlacementError, StockMovement, StockRefused, UnpaidSlot,
};
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

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

/// What each item of a transaction is, to read its cancellation reason.
enum Role {
    State,
    Event,
    Reserve(ProductId),
    Release(ProductId),
    Unpaid,
    Idempotency,
}

/// What a placement adds to a commit: the customer's limit and the client's key.
struct PlacementTerms<'a> {
    unpaid_limit: u32,
    idempotency: Option<&'a IdempotencyClaim>,
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
) -> Result<Option<EventEnvelope>, StoreError> {
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
pub fn order_of_item(item: impl Into<serde_dynamo::Item>) -> Result<Order, StoreError> {
    serde_dynamo::from_item::<_, OrderItem>(item.into())
        .map(OrderItem::into_order)
        .map_err(item_error)
}

/// How often a transaction cancelled only for contention (another transaction held one of
/// its items: `TransactionConflict`, or throttling) is sent, with jittered backoff between
/// tries, before the caller hears of it. A hot product's orders in several execution
/// environments meet here.
const CONTENTION_ATTEMPTS: u32 = 8;

/// A customer's unpaid-order count lives beside their orders, in its own partition.
fn customer_pk(customer: &CustomerId) -> String {
    format!("CUSTOMER#{customer}")
}

const UNPAID: &str = "UNPAID";

fn request_pk(key: &str) -> String {
    format!("REQUEST#{key}")
}

fn key(pk: String, sk: String) -> Item {
    HashMap::from([
        ("pk".to_owned(), AttributeValue::S(pk)),
        ("sk".to_owned(), AttributeValue::S(sk)),
    ])
}

fn number(n: impl ToString) -> AttributeValue {
    AttributeValue::N(n.to_string())
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

    fn table<'a>(table: &'a Option<String>, what: &str) -> Result<&'a str, StoreError> {
        table
            .as_deref()
            .ok_or_else(|| StoreError::new(format!("no {what} table configured")))
    }

    fn put(&self, table: &str, item: Item, condition: Option<&str>) -> Result<Put, StoreError> {
        Put::builder()
            .table_name(table)
            .set_item(Some(item))
            .set_condition_expression(condition.map(str::to_owned))
            .build()
            .map_err(store_error)
    }

    fn event_put(
        &self,
        envelope: &EventEnvelope,
        sk: String,
        condition: Option<&str>,
    ) -> Result<TransactWriteItem, StoreError> {
        let item = serde_dynamo::to_item(EventItem {
            pk: order_pk(&envelope.aggregate_id),
            sk,
            envelope: envelope.clone(),
        })
        .map_err(item_error)?;
        Ok(TransactWriteItem::builder()
            .put(self.put(&self.orders_table, item, condition)?)
            .build())
    }

    fn stock_update(
        &self,
        movement: &StockMovement,
    ) -> Result<(TransactWriteItem, Role), StoreError> {
        let (product, quantity, expression, condition) = match movement {
            // The condition is the reservation: never below zero, checked atomically.
            StockMovement::Reserve(p, q) => (p, q, "SET stock = stock - :q", "stock >= :q"),
            StockMovement::Release(p, q) => (
                p,
                q,
                "SET stock = stock + :q",
                "attribute_exists(product_id)",
            ),
        };
        let update = Update::builder()
            .table_name(Self::table(&self.products_table, "products")?)
            .key("product_id", AttributeValue::S(product.to_string()))
            .update_expression(expression)
            .condition_expression(condition)
            .expression_attribute_values(":q", number(quantity.get()))
            .build()
            .map_err(store_error)?;
        let role = match movement {
            StockMovement::Reserve(..) => Role::Reserve(product.clone()),
            StockMovement::Release(..) => Role::Release(product.clone()),
        };
        Ok((TransactWriteItem::builder().update(update).build(), role))
    }

    /// The update of the customer's unpaid-order count (attribute `unpaid` of the item
    /// `CUSTOMER#<id>` / `UNPAID`): a placement's limit is its condition.
    fn unpaid_update(
        &self,
        slot: &UnpaidSlot,
        limit: Option<u32>,
    ) -> Result<TransactWriteItem, StoreError> {
        let (customer, expression) = match slot {
            UnpaidSlot::Take(customer) => {
                (customer, "SET unpaid = if_not_exists(unpaid, :zero) + :one")
            }
            // Never below zero, and never refused: an order must always be able to end.
            UnpaidSlot::Give(customer) => {
                (customer, "SET unpaid = if_not_exists(unpaid, :one) - :one")
            }
        };
        let mut update = Update::builder()
            .table_name(&self.orders_table)
            .set_key(Some(key(customer_pk(customer), UNPAID.to_owned())))
            .update_expression(expression)
            .expression_attribute_values(":one", number(1));
        if let UnpaidSlot::Take(_) = slot {
            update = update.expression_attribute_values(":zero", number(0));
        }
        if let Some(limit) = limit {
            update = update
                .condition_expression("attribute_not_exists(unpaid) OR unpaid < :limit")
                .expression_attribute_values(":limit", number(limit));
        }
        Ok(TransactWriteItem::builder()
            .update(update.build().map_err(store_error)?)
            .build())
    }

    /// The order's `STATE` item, written only if the stored one is still at the version the
    /// change was decided on (optimistic concurrency), or absent for a new order.
    fn state_put(&self, commit: &OrderCommit) -> Result<TransactWriteItem, StoreError> {
        let order = &commit.order;
        let item = OrderItem::of(order, order_pk(order.id().as_str()), STATE.to_owned());
        let mut put = Put::builder()
            .table_name(&self.orders_table)
            .set_item(Some(serde_dynamo::to_item(item).map_err(item_error)?));
        put = if commit.expected_version == 0 {
            put.condition_expression("attribute_not_exists(pk)")
        } else {
            put.condition_expression("#version = :expected")
                .expression_attribute_names("#version", "version")
                .expression_attribute_values(":expected", number(commit.expected_version))
        };
        Ok(TransactWriteItem::builder()
            .put(put.build().map_err(store_error)?)
            .build())
    }

    fn idempotency_put(&self, claim: &IdempotencyClaim) -> Result<TransactWriteItem, StoreError> {
        let item = serde_dynamo::to_item(IdempotencyItem {
            pk: request_pk(&claim.key),
            request_hash: claim.request_hash.clone(),
            order_id: claim.order_id.clone(),
            expires_at: claim.expires_at.unix_timestamp(),
        })
        .map_err(item_error)?;
        let table = Self::table(&self.idempotency_table, "idempotency")?;
        let put = self.put(table, item, Some("attribute_not_exists(pk)"))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    fn transaction(
        &self,
        commit: &OrderCommit,
        terms: Option<&PlacementTerms<'_>>,
    ) -> Result<(Vec<TransactWriteItem>, Vec<Role>), StoreError> {
        let mut items = vec![self.state_put(commit)?];
        let mut roles = vec![Role::State];
        for event in &commit.events {
            let sk = event_sk(event.sequence);
            items.push(self.event_put(event, sk, Some("attribute_not_exists(sk)"))?);
            roles.push(Role::Event);
        }
        for movement in &commit.stock {
            let (item, role) = self.stock_update(movement)?;
            items.push(item);
            roles.push(role);
        }
        if let Some(slot) = &commit.unpaid {
            items.push(self.unpaid_update(slot, terms.map(|t| t.unpaid_limit))?);
            roles.push(Role::Unpaid);
        }
        if let Some(claim) = terms.and_then(|t| t.idempotency) {
            items.push(self.idempotency_put(claim)?);
            roles.push(Role::Idempotency);
        }
        Ok((items, roles))
    }

    /// Sends the transaction; one cancelled only for contention is sent again (jittered
    /// backoff) until it goes through, a condition refuses it, or the tries run out.
    async fn transact(&self, items: Vec<TransactWriteItem>, roles: &[Role]) -> Result<(), Refusal> {
        let mut attempt = 0;
        loop {
            let sent = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .send()
                .await;
            let Err(error) = sent else {
                return Ok(());
            };
            match cancellation(&error, roles) {
                Cancellation::Contended if attempt + 1 < CONTENTION_ATTEMPTS => {
                    tracing::info!(attempt, "transaction conflict; committing again");
                    crate::telemetry::metrics::transaction_conflict_retried();
                    back_off(attempt).await;
                    attempt += 1;
                }
                Cancellation::Contended => {
                    return Err(Refusal::Failed(StoreError::new(format!(
                        "the order's items stayed contended through {CONTENTION_ATTEMPTS} tries"
                    ))));
                }
                Cancellation::Refused(refusal) => return Err(refusal),
                Cancellation::Other => return Err(Refusal::Failed(store_error(error))),
            }
        }
    }

    async fn query_prefix(
        &self,
        id: &OrderId,
        prefix: &str,
    ) -> Result<Vec<EventEnvelope>, StoreError> {
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
    async fn load(&self, id: &OrderId) -> Result<Option<Order>, StoreError> {
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

    async fn load_many(&self, ids: &[OrderId]) -> Result<HashMap<OrderId, Order>, StoreError> {
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

    async fn history(&self, id: &OrderId) -> Result<Vec<EventEnvelope>, StoreError> {
        self.query_prefix(id, EVENT_PREFIX).await
    }

    async fn commit(&self, commit: OrderCommit) -> Result<(), CommitError> {
        let (items, roles) = self.transaction(&commit, None)?;
        self.transact(items, &roles)
            .await
            .map_err(|refusal| match refusal {
                Refusal::Order => CommitError::Conflict,
                Refusal::Stock(refused) => CommitError::Stock(refused),
                Refusal::Failed(e) => CommitError::Store(e),
                other => CommitError::Store(StoreError::new(format!("refused: {other:?}"))),
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
                Refusal::Failed(e) => PlacementError::Store(e),
                other => PlacementError::Store(StoreError::new(format!("refused: {other:?}"))),
            })
    }
}

/// Which condition of a transaction refused it, in the order they are read.
#[derive(Debug)]
enum Refusal {
    Idempotency,
    Order,
    Unpaid,
    Stock(StockRefused),
    Failed(StoreError),
}

/// What a failed TransactWriteItems means for the commit.
enum Cancellation {
    /// A condition refused it: the answer for the caller.
    Refused(Refusal),
    /// Cancelled only because its items were busy: the same transaction may succeed later.
    Contended,
    /// Not a cancellation (the service, the network): the SDK already retried it.
    Other,
}

fn cancellation(
    error: &aws_sdk_dynamodb::error::SdkError<TransactWriteItemsError>,
    roles: &[Role],
) -> Cancellation {
    let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
        error.as_service_error()
    else {
        return Cancellation::Other;
    };
    let reasons: Vec<Option<&str>> = cancelled
        .cancellation_reasons()
        .iter()
        .map(|r| r.code())
        .collect();
    let failed = |wanted: fn(&Role) -> bool| {
        roles
            .iter()
            .zip(&reasons)
            .any(|(role, code)| wanted(role) && *code == Some("ConditionalCheckFailed"))
    };
    // The key first, then the order: a new order's id is unique, so its state already
    // being there means this very transaction was applied once and its answer lost.
    if failed(|r| matches!(r, Role::Idempotency)) {
        return Cancellation::Refused(Refusal::Idempotency);
    }
    if failed(|r| matches!(r, Role::State | Role::Event)) {
        return Cancellation::Refused(Refusal::Order);
    }
    if failed(|r| matches!(r, Role::Unpaid)) {
        return Cancellation::Refused(Refusal::Unpaid);
    }
    let refused = |pick: fn(&Role) -> Option<&ProductId>| -> Vec<ProductId> {
        roles
            .iter()
            .zip(&reasons)
            .filter(|(_, code)| **code == Some("ConditionalCheckFailed"))
            .filter_map(|(role, _)| pick(role).cloned())
            .collect()
    };
    let short = refused(|r| match r {
        Role::Reserve(p) => Some(p),
        _ => None,
    });
    if !short.is_empty() {
        return Cancellation::Refused(Refusal::Stock(StockRefused::Insufficient(short)));
    }
    let gone = refused(|r| match r {
        Role::Release(p) => Some(p),
        _ => None,
    });
    if !gone.is_empty() {
        return Cancellation::Refused(Refusal::Stock(StockRefused::ProductGone(gone)));
    }
    let contended = reasons
        .iter()
        .any(|code| matches!(code, Some("TransactionConflict" | "ThrottlingError")));
    if contended {
        Cancellation::Contended
    } else {
        Cancellation::Other
    }
}

#[async_trait]
impl IdempotencyKeys for DynamoOrders {
    async fn find(&self, key: &str) -> Result<Option<IdempotencyRecord>, StoreError> {
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
