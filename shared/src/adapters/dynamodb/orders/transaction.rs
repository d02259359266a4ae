//! One commit of an order as one TransactWriteItems: the order's state (on its version), its
//! new events, the stock they move, the customer's unpaid-order count and, for a new order,
//! its `Idempotency-Key`; and what a cancelled transaction's reasons mean.

use super::super::order_item::OrderItem;
use super::super::{back_off, item_error, store_error};
use super::{
    DynamoOrders, EventItem, IdempotencyItem, Item, STATE, customer_pk, event_sk, key, order_pk,
    request_pk,
};
use crate::kernel::{EventEnvelope, InfraError, ProductId};
use crate::ordering::ports::{
    IdempotencyClaim, OrderCommit, StockMovement, StockRefused, UnpaidSlot,
};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};

/// What each item of a transaction is, to read its cancellation reason.
pub(super) enum Role {
    State,
    Event,
    Reserve(ProductId),
    Release(ProductId),
    Unpaid,
    Idempotency,
}

/// What a placement adds to a commit: the customer's limit and the client's key.
pub(super) struct PlacementTerms<'a> {
    pub unpaid_limit: u32,
    pub idempotency: Option<&'a IdempotencyClaim>,
}

/// How often a transaction cancelled only for contention (another transaction held one of
/// its items: `TransactionConflict`, or throttling) is sent, with jittered backoff between
/// tries, before the caller hears of it. A hot product's orders in several execution
/// environments meet here. Twelve tries wait at most about 5 s in all (2.6 s on average):
/// with eight under a 400 ms ceiling (1.3 s at most), fifty orders of one product, placed,
/// confirmed and expiring at once, ran out of tries in the end-to-end tests, and a message
/// given back waits out its queue's visibility timeout (3 minutes) before its next try.
const CONTENTION_ATTEMPTS: u32 = 12;

const UNPAID: &str = "UNPAID";

fn number(n: impl ToString) -> AttributeValue {
    AttributeValue::N(n.to_string())
}

impl DynamoOrders {
    fn put(&self, table: &str, item: Item, condition: Option<&str>) -> Result<Put, InfraError> {
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
    ) -> Result<TransactWriteItem, InfraError> {
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
    ) -> Result<(TransactWriteItem, Role), InfraError> {
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
    ) -> Result<TransactWriteItem, InfraError> {
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
    fn state_put(&self, commit: &OrderCommit) -> Result<TransactWriteItem, InfraError> {
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

    fn idempotency_put(&self, claim: &IdempotencyClaim) -> Result<TransactWriteItem, InfraError> {
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

    pub(super) fn transaction(
        &self,
        commit: &OrderCommit,
        terms: Option<&PlacementTerms<'_>>,
    ) -> Result<(Vec<TransactWriteItem>, Vec<Role>), InfraError> {
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
    pub(super) async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
        roles: &[Role],
    ) -> Result<(), Refusal> {
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
                    return Err(Refusal::Failed(InfraError::new(format!(
                        "the order's items stayed contended through {CONTENTION_ATTEMPTS} tries"
                    ))));
                }
                Cancellation::Refused(refusal) => return Err(refusal),
                Cancellation::Other => return Err(Refusal::Failed(store_error(error))),
            }
        }
    }
}

/// Which condition of a transaction refused it, in the order they are read.
#[derive(Debug)]
pub(super) enum Refusal {
    Idempotency,
    Order,
    Unpaid,
    Stock(StockRefused),
    Failed(InfraError),
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
    let refused: Vec<&Role> = roles
        .iter()
        .zip(&reasons)
        .filter(|(_, code)| **code == Some("ConditionalCheckFailed"))
        .map(|(role, _)| role)
        .collect();
    if let Some(refusal) = refusal(&refused) {
        return Cancellation::Refused(refusal);
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

/// What the items whose condition failed say, most telling first.
fn refusal(refused: &[&Role]) -> Option<Refusal> {
    let any = |wanted: fn(&Role) -> bool| refused.iter().any(|role| wanted(role));
    let products = |pick: fn(&Role) -> Option<&ProductId>| -> Vec<ProductId> {
        refused
            .iter()
            .filter_map(|role| pick(role).cloned())
            .collect()
    };
    // The key first, then the order: a new order's id is unique, so its state already
    // being there means this very transaction was applied once and its answer lost.
    if any(|r| matches!(r, Role::Idempotency)) {
        return Some(Refusal::Idempotency);
    }
    if any(|r| matches!(r, Role::State | Role::Event)) {
        return Some(Refusal::Order);
    }
    if any(|r| matches!(r, Role::Unpaid)) {
        return Some(Refusal::Unpaid);
    }
    let short = products(|r| match r {
        Role::Reserve(p) => Some(p),
        _ => None,
    });
    let gone = products(|r| match r {
        Role::Release(p) => Some(p),
        _ => None,
    });
    match (short.is_empty(), gone.is_empty()) {
        (false, _) => Some(Refusal::Stock(StockRefused::Insufficient(short))),
        (true, false) => Some(Refusal::Stock(StockRefused::ProductGone(gone))),
        (true, true) => None,
    }
}
