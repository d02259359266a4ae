//! In-memory adapters, for unit tests of the domain and application logic only. Integration
//! and end-to-end tests use the real emulator.

use crate::catalog::ports::{ProductListing, ProductLookup, ProductPage};
use crate::catalog::{Category, Product, Stock};
use crate::kernel::{CustomerId, EventEnvelope, InfraError, OrderId, ProductId, Timestamp};
use crate::ordering::Order;
use crate::ordering::ports::{
    AnomalyEntry, CommitError, IdempotencyKeys, IdempotencyRecord, OrderCommit, OrderRepository,
    PaymentAnomalies, PaymentAnomaly, Placement, PlacementError, StockMovement, StockRefused,
    UnpaidSlot,
};
use crate::payments::ports::{LedgerEntry, WebhookLedger};
use async_trait::async_trait;
use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

mod recording;
pub use recording::{RecordingPublisher, RecordingQueue, RecordingTimer};

#[derive(Default)]
struct OrderStream {
    state: Option<Order>,
    events: Vec<EventEnvelope>,
}

#[derive(Default)]
struct State {
    orders: HashMap<OrderId, OrderStream>,
    products: BTreeMap<ProductId, Product>,
    keys: HashMap<String, IdempotencyRecord>,
    webhooks: HashMap<String, (EventEnvelope, bool)>,
    anomalies: BTreeMap<String, (PaymentAnomaly, bool)>,
    unpaid: HashMap<CustomerId, u32>,
    /// Every event committed, in commit order: what the table's change stream would carry.
    committed: Vec<EventEnvelope>,
    reads: OrderReads,
}

/// How often orders were read, by which call: what a batch costs in round trips.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OrderReads {
    /// [`OrderRepository::load`] calls (a GetItem each).
    pub load: usize,
    /// [`OrderRepository::load_many`] calls (a BatchGetItem each).
    pub load_many: usize,
}

/// Orders, products, idempotency records and the webhook ledger, with the same all-or-nothing
/// commit semantics as the DynamoDB adapter.
#[derive(Default)]
pub struct InMemoryStore {
    state: Mutex<State>,
}

impl InMemoryStore {
    pub fn with_products(products: impl IntoIterator<Item = Product>) -> Self {
        let store = Self::default();
        store.state.lock().unwrap().products = products
            .into_iter()
            .map(|p| (p.product_id.clone(), p))
            .collect();
        store
    }

    pub fn stock(&self, id: &str) -> i64 {
        let state = self.state.lock().unwrap();
        state.products[&ProductId::parse(id).unwrap()].stock.units()
    }

    pub fn anomalies(&self) -> Vec<PaymentAnomaly> {
        self.state
            .lock()
            .unwrap()
            .anomalies
            .values()
            .map(|(anomaly, _)| anomaly.clone())
            .collect()
    }

    /// How many unpaid orders the store counts for `customer`.
    pub fn unpaid(&self, customer: &str) -> u32 {
        let state = self.state.lock().unwrap();
        let customer = CustomerId::parse(customer).unwrap();
        state.unpaid.get(&customer).copied().unwrap_or(0)
    }

    /// The order reads so far.
    pub fn order_reads(&self) -> OrderReads {
        self.state.lock().unwrap().reads
    }

    /// Every event committed so far, oldest first: what the relay would hand on.
    pub fn committed(&self) -> Vec<EventEnvelope> {
        self.state.lock().unwrap().committed.clone()
    }

    /// The types of [`InMemoryStore::committed`] events that subscribers hear of (all but
    /// `order.placed`, which the relay queues instead).
    pub fn announced_types(&self) -> Vec<String> {
        self.committed()
            .into_iter()
            .map(|e| e.event_type)
            .filter(|t| t != "order.placed")
            .collect()
    }
}

#[async_trait]
impl OrderRepository for InMemoryStore {
    async fn load(&self, id: &OrderId) -> Result<Option<Order>, InfraError> {
        let mut state = self.state.lock().unwrap();
        state.reads.load += 1;
        Ok(state.orders.get(id).and_then(|s| s.state.clone()))
    }

    async fn load_many(&self, ids: &[OrderId]) -> Result<HashMap<OrderId, Order>, InfraError> {
        let mut state = self.state.lock().unwrap();
        state.reads.load_many += 1;
        Ok(ids
            .iter()
            .filter_map(|id| Some((id.clone(), state.orders.get(id)?.state.clone()?)))
            .collect())
    }

    async fn history(&self, id: &OrderId) -> Result<Vec<EventEnvelope>, InfraError> {
        let state = self.state.lock().unwrap();
        Ok(state
            .orders
            .get(id)
            .map(|s| s.events.clone())
            .unwrap_or_default())
    }

    async fn commit(&self, commit: OrderCommit) -> Result<(), CommitError> {
        let mut state = self.state.lock().unwrap();
        state.check(&commit)?;
        state.apply(commit);
        Ok(())
    }

    async fn place(&self, placement: Placement) -> Result<(), PlacementError> {
        let mut state = self.state.lock().unwrap();
        if let Some(claim) = &placement.idempotency
            && state.keys.contains_key(&claim.key)
        {
            return Err(PlacementError::IdempotencyKeyTaken);
        }
        let commit = placement.commit;
        if state.check(&commit).is_err() {
            return Err(PlacementError::AlreadyRecorded);
        }
        let held = state.unpaid.get(commit.order.customer()).copied();
        if held.unwrap_or(0) >= placement.unpaid_limit {
            return Err(PlacementError::TooManyUnpaidOrders);
        }
        if let Some(claim) = placement.idempotency {
            let record = IdempotencyRecord {
                request_hash: claim.request_hash,
                order_id: claim.order_id,
            };
            state.keys.insert(claim.key, record);
        }
        state.apply(commit);
        Ok(())
    }
}

impl State {
    /// What DynamoDB's conditions would refuse.
    fn check(&self, commit: &OrderCommit) -> Result<(), CommitError> {
        let version = self
            .orders
            .get(commit.order.id())
            .and_then(|s| s.state.as_ref())
            .map_or(0, Order::version);
        if version != commit.expected_version {
            return Err(CommitError::Conflict);
        }
        let (mut short, mut gone) = (Vec::new(), Vec::new());
        for movement in &commit.stock {
            match (movement, self.products.get(movement.product())) {
                (StockMovement::Reserve(p, q), found)
                    if found.map_or(0, |p| p.stock.units()) < i64::from(q.get()) =>
                {
                    short.push(p.clone())
                }
                (StockMovement::Release(p, _), None) => gone.push(p.clone()),
                _ => {}
            }
        }
        match (short.is_empty(), gone.is_empty()) {
            (false, _) => Err(StockRefused::Insufficient(short).into()),
            (true, false) => Err(StockRefused::ProductGone(gone).into()),
            (true, true) => Ok(()),
        }
    }

    fn apply(&mut self, commit: OrderCommit) {
        match &commit.unpaid {
            Some(UnpaidSlot::Take(customer)) => {
                *self.unpaid.entry(customer.clone()).or_default() += 1;
            }
            Some(UnpaidSlot::Give(customer)) => {
                let held = self.unpaid.entry(customer.clone()).or_default();
                *held = held.saturating_sub(1);
            }
            None => {}
        }
        for movement in &commit.stock {
            let delta = match movement {
                StockMovement::Reserve(_, q) => -i64::from(q.get()),
                StockMovement::Release(_, q) => i64::from(q.get()),
            };
            if let Some(product) = self.products.get_mut(movement.product()) {
                // The checks above keep it at zero or more, as DynamoDB's conditions do.
                product.stock = Stock::new(product.stock.units() + delta).unwrap_or(product.stock);
            }
        }
        self.committed.extend(commit.events.iter().cloned());
        let stream = self.orders.entry(commit.order.id().clone()).or_default();
        stream.state = Some(commit.order);
        stream.events.extend(commit.events);
    }
}

#[async_trait]
impl IdempotencyKeys for InMemoryStore {
    async fn find(&self, key: &str) -> Result<Option<IdempotencyRecord>, InfraError> {
        Ok(self.state.lock().unwrap().keys.get(key).cloned())
    }
}

#[async_trait]
impl ProductLookup for InMemoryStore {
    async fn products(&self, ids: &[ProductId]) -> Result<HashMap<ProductId, Product>, InfraError> {
        let state = self.state.lock().unwrap();
        Ok(ids
            .iter()
            .filter_map(|id| Some((id.clone(), state.products.get(id)?.clone())))
            .collect())
    }
}

#[async_trait]
impl ProductListing for InMemoryStore {
    async fn page(
        &self,
        category: Option<&Category>,
        after: Option<&ProductId>,
        limit: u16,
    ) -> Result<ProductPage, InfraError> {
        let state = self.state.lock().unwrap();
        let items = state
            .products
            .values()
            .filter(|p| category.is_none_or(|c| &p.category == c))
            .filter(|p| after.is_none_or(|a| &p.product_id > a))
            .take(usize::from(limit) + 1)
            .cloned()
            .collect();
        Ok(ProductPage::from_overfetch(items, limit))
    }
}

#[async_trait]
impl WebhookLedger for InMemoryStore {
    async fn record(
        &self,
        provider_event_id: &str,
        envelope: &EventEnvelope,
        _expires_at: Timestamp,
    ) -> Result<LedgerEntry, InfraError> {
        let mut state = self.state.lock().unwrap();
        match state.webhooks.get(provider_event_id) {
            Some((envelope, published)) => Ok(LedgerEntry::Seen {
                envelope: Box::new(envelope.clone()),
                published: *published,
            }),
            None => {
                state
                    .webhooks
                    .insert(provider_event_id.to_owned(), (envelope.clone(), false));
                Ok(LedgerEntry::New)
            }
        }
    }

    async fn mark_published(&self, provider_event_id: &str) -> Result<(), InfraError> {
        let mut state = self.state.lock().unwrap();
        if let Some(entry) = state.webhooks.get_mut(provider_event_id) {
            entry.1 = true;
        }
        Ok(())
    }
}

#[async_trait]
impl PaymentAnomalies for InMemoryStore {
    async fn record(&self, anomaly: &PaymentAnomaly) -> Result<AnomalyEntry, InfraError> {
        let mut state = self.state.lock().unwrap();
        match state.anomalies.get(&anomaly.event_id) {
            Some((first, refund_published)) => Ok(AnomalyEntry::Seen {
                refund_published: *refund_published,
                recorded_at: first.recorded_at,
            }),
            None => {
                state
                    .anomalies
                    .insert(anomaly.event_id.clone(), (anomaly.clone(), false));
                Ok(AnomalyEntry::New)
            }
        }
    }

    async fn mark_refund_published(&self, event_id: &str) -> Result<(), InfraError> {
        if let Some(entry) = self.state.lock().unwrap().anomalies.get_mut(event_id) {
            entry.1 = true;
        }
        Ok(())
    }
}
