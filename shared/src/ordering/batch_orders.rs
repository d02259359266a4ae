//! The orders of one batch of messages: read together, one round trip for all of them
//! ([`OrderRepository::load_many`]), then kept as the batch's own commits leave them, so a
//! later message for the same order meets the earlier one's result, never a stale copy.

use super::order::Order;
use super::ports::{CommitError, OrderCommit, OrderRepository};
use crate::kernel::{InfraError, OrderId};
use std::collections::{HashMap, HashSet};

pub(super) struct BatchOrders<'a> {
    repository: &'a dyn OrderRepository,
    /// The orders found; an id missing here names no order.
    orders: HashMap<OrderId, Order>,
}

impl<'a> BatchOrders<'a> {
    /// Reads every order `ids` names, each once, in one round trip (none for no ids).
    pub(super) async fn load(
        repository: &'a dyn OrderRepository,
        ids: impl IntoIterator<Item = OrderId>,
    ) -> Result<Self, InfraError> {
        let ids = unique(ids.into_iter());
        let orders = if ids.is_empty() {
            HashMap::new()
        } else {
            repository.load_many(&ids).await?
        };
        Ok(BatchOrders { repository, orders })
    }

    /// The order as read, or as this batch last committed it.
    pub(super) fn get(&self, id: &OrderId) -> Option<&Order> {
        self.orders.get(id)
    }

    /// Reads one order again, after another writer moved it on (a commit `Conflict`).
    pub(super) async fn reload(&mut self, id: &OrderId) -> Result<(), InfraError> {
        match self.repository.load(id).await? {
            Some(order) => self.orders.insert(id.clone(), order),
            None => self.orders.remove(id),
        };
        Ok(())
    }

    /// Commits, and keeps the committed order for the batch's later messages. A failed commit
    /// keeps the order as it was: if it did commit after all, the next commit conflicts and
    /// reads it again.
    pub(super) async fn commit(&mut self, commit: OrderCommit) -> Result<(), CommitError> {
        let order = commit.order.clone();
        self.repository.commit(commit).await?;
        self.orders.insert(order.id().clone(), order);
        Ok(())
    }
}

/// `items` without repeats, first occurrence first: BatchGetItem refuses a key named twice.
pub(super) fn unique<T: Eq + std::hash::Hash + Clone>(items: impl Iterator<Item = T>) -> Vec<T> {
    let mut seen = HashSet::new();
    items.filter(|i| seen.insert(i.clone())).collect()
}
