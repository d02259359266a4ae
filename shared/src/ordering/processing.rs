//! Processing queued orders: price, reserve stock, confirm or reject. The relay publishes
//! what is committed.
//!
//! Each order of a batch stands alone: one order's failure is reported for that order only.
//! Orders that share a product are committed one after another ([`commit_groups`]), the
//! others concurrently, so that the batch never conflicts with itself on DynamoDB.
//! Reads are batched (one round trip for the orders, one for the products), so a batch of
//! ten costs about twelve DynamoDB requests.

use super::batch_orders::unique;
use super::command::PlaceOrder;
use super::order::Order;
use super::ports::{CommitError, OrderCommit, OrderRepository, StockMovement, StockRefused};
use super::pricing::price_order;
use super::state::OrderState;
use super::{OrderStatus, RejectionReason};
use crate::catalog::Product;
use crate::catalog::ports::ProductLookup;
use crate::kernel::{Clock, OrderId, ProductId};
use futures::future::join_all;
use std::collections::HashMap;
use tracing::Instrument;

/// What became of one queued order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Processed {
    Confirmed,
    Rejected(RejectionReason),
    /// A repeated delivery: the order had already been processed.
    AlreadyProcessed(OrderStatus),
}

pub struct OrderProcessor<'a> {
    pub orders: &'a dyn OrderRepository,
    pub products: &'a dyn ProductLookup,
    pub clock: &'a dyn Clock,
    /// How long a confirmed order has to be paid (`payment_due_by`).
    pub payment_window: time::Duration,
}

/// A failure of one order's processing is worth retrying: its message goes back to the queue.
pub type ProcessResult = Result<Processed, CommitError>;

impl OrderProcessor<'_> {
    /// Processes a batch; the results line up with `commands`.
    pub async fn process(&self, commands: &[PlaceOrder]) -> Vec<ProcessResult> {
        let ids: Vec<OrderId> = unique(commands.iter().map(|c| c.order_id.clone()));
        let product_ids: Vec<ProductId> = unique(
            commands
                .iter()
                .flat_map(|c| c.lines.as_slice().iter().map(|l| l.product_id.clone())),
        );
        let (existing, catalog) = match futures::try_join!(
            self.orders.load_many(&ids),
            self.products.products(&product_ids)
        ) {
            Ok(found) => found,
            Err(e) => return commands.iter().map(|_| Err(e.clone().into())).collect(),
        };
        // Orders sharing a product commit one after another: on DynamoDB two transactions on
        // the same item at once cancel each other (TransactionConflict), so a batch of orders
        // for one popular product would otherwise fight itself.
        let groups = commit_groups(commands).into_iter().map(|group| {
            let (existing, catalog) = (&existing, &catalog);
            async move {
                let mut results = Vec::with_capacity(group.len());
                for i in group {
                    let command = &commands[i];
                    let span = tracing::info_span!(
                        "order",
                        order_id = %command.order_id,
                        correlation_id = %command.correlation_id
                    );
                    let existing = existing.get(&command.order_id);
                    let result = self.decide(command, existing, catalog).instrument(span);
                    results.push((i, result.await));
                }
                results
            }
        });
        let mut decided: Vec<_> = join_all(groups).await.into_iter().flatten().collect();
        decided.sort_by_key(|(i, _)| *i);
        decided.into_iter().map(|(_, result)| result).collect()
    }

    /// Decides and commits one order.
    async fn decide(
        &self,
        command: &PlaceOrder,
        existing: Option<&Order>,
        catalog: &HashMap<ProductId, Product>,
    ) -> ProcessResult {
        let base = match existing {
            Some(order) if order.state() != &OrderState::Pending => {
                return Ok(Processed::AlreadyProcessed(order.status()));
            }
            Some(order) => OrderCommit::of(order),
            // The API's write is missing (or this is a sample event): record the order here.
            None => OrderCommit::new_order(Order::place(command.clone())),
        };
        let order = &base.order;
        let now = self.clock.now();
        let lines = order.requested_lines().as_slice();
        let (decision, stock, processed) =
            match price_order(lines, order.currency(), order.discount_code(), catalog) {
                Ok(priced) => (
                    order.confirm(priced, now, self.payment_window),
                    StockMovement::reservations(lines),
                    Processed::Confirmed,
                ),
                Err(why) => (
                    order.reject(why.reason, why.detail, now),
                    vec![],
                    Processed::Rejected(why.reason),
                ),
            };
        let decided = decision.map_err(|_| CommitError::Conflict)?;
        match self.orders.commit(base.clone().then(decided, stock)).await {
            Ok(()) => Ok(processed),
            Err(CommitError::Stock(StockRefused::Insufficient(short))) => {
                let detail = format!(
                    "not enough stock for {}",
                    short
                        .iter()
                        .map(ProductId::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                let rejected = order
                    .reject(RejectionReason::InsufficientStock, detail, now)
                    .map_err(|_| CommitError::Conflict)?;
                match self
                    .orders
                    .commit(base.clone().then(rejected, vec![]))
                    .await
                {
                    Ok(()) => Ok(Processed::Rejected(RejectionReason::InsufficientStock)),
                    Err(e) => self.reconcile(order.id(), e).await,
                }
            }
            Err(e) => self.reconcile(order.id(), e).await,
        }
    }

    /// Another delivery of the same order may have won the race: then it is processed.
    async fn reconcile(&self, id: &OrderId, error: CommitError) -> ProcessResult {
        let CommitError::Conflict = error else {
            return Err(error);
        };
        match self.orders.load(id).await? {
            Some(order) if order.state() != &OrderState::Pending => {
                Ok(Processed::AlreadyProcessed(order.status()))
            }
            _ => Err(CommitError::Conflict),
        }
    }
}

/// The batch's orders grouped so that no two groups touch the same product: each group, in
/// delivery order, commits sequentially; the groups commit concurrently. Two deliveries of one
/// order share its products, so they land in one group too.
fn commit_groups(commands: &[PlaceOrder]) -> Vec<Vec<usize>> {
    // Union-find over the orders, joined by the products they share.
    fn root(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    let mut parent: Vec<usize> = (0..commands.len()).collect();
    let mut first_with: HashMap<&ProductId, usize> = HashMap::new();
    for (i, command) in commands.iter().enumerate() {
        for line in command.lines.as_slice() {
            let j = *first_with.entry(&line.product_id).or_insert(i);
            let (a, b) = (root(&mut parent, i), root(&mut parent, j));
            parent[a.max(b)] = a.min(b);
        }
    }
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut group_of_root: HashMap<usize, usize> = HashMap::new();
    for i in 0..commands.len() {
        let r = root(&mut parent, i);
        let g = *group_of_root.entry(r).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[g].push(i);
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::commit_groups;
    use crate::ordering::PlaceOrder;
    use crate::ordering::tests::command;

    fn of(products: &[&str]) -> PlaceOrder {
        let lines: Vec<(&str, i64)> = products.iter().map(|p| (*p, 1)).collect();
        command(&lines)
    }

    #[test]
    fn orders_sharing_a_product_commit_in_one_group_in_delivery_order() {
        let batch = [
            of(&["p-1"]),
            of(&["p-2"]),
            of(&["p-3", "p-1"]),
            of(&["p-4"]),
            of(&["p-5", "p-3"]),
            of(&["p-2"]),
        ];
        assert_eq!(commit_groups(&batch), [vec![0, 2, 4], vec![1, 5], vec![3]]);
        let twice = [of(&["p-9"]), of(&["p-9"])];
        assert_eq!(commit_groups(&twice), [vec![0, 1]]);
        assert!(commit_groups(&[]).is_empty());
    }
}
