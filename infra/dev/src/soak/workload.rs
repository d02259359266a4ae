//! The soak's clients: customers placing, paying and cancelling orders through the HTTP API
//! as real clients would, retrying what a 5xx or a dropped connection interrupted.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use shop::catalog::{Category, Price, Product, ProductName, Stock};
use shop::kernel::{Currency, Money, ProductId, Sku};

use super::SoakOptions;
use super::invariants::Invariants;
use crate::LocalCloud;
use crate::webhook::{Outcome, local_signature, provider_event};

/// Products the soak sells, each with this much stock: enough for most orders, not all.
const PRODUCTS: usize = 8;
/// How often a client sends a request before it gives up (a real app would tell its user).
const ATTEMPTS: u32 = 10;
pub(super) const ATTEMPTS_FOR_REPORT: u32 = ATTEMPTS;

/// What the clients did.
#[derive(Clone, Debug, Default)]
pub struct Figures {
    pub orders_attempted: usize,
    /// Answered 202 in the end.
    pub orders_accepted: usize,
    /// Gave up after every retry (the order may still exist: a lost 202).
    pub orders_abandoned: usize,
    /// Requests sent again after a 5xx or a dropped connection.
    pub client_retries: usize,
    pub payments_acknowledged: usize,
    pub payments_refused_by_provider: usize,
    pub duplicate_webhooks: usize,
    pub cancellations: usize,
    pub left_unpaid: usize,
    /// Order ids answered 202.
    pub accepted: Vec<String>,
    /// Provider event ids answered 200, with the order each is for.
    pub webhooks: Vec<(String, String)>,
    pub took: Duration,
}

/// One run's products, clients and what they saw.
pub struct World<'a> {
    pub(super) cloud: &'a LocalCloud,
    pub(super) http: reqwest::Client,
    pub(super) dynamodb: aws_sdk_dynamodb::Client,
    pub(super) sqs: aws_sdk_sqs::Client,
    /// Each product with its stock before the soak.
    pub(super) products: BTreeMap<String, i64>,
    /// (queue logical id, body) of the poison messages sent.
    pub(super) poison: Vec<(String, String)>,
    run: String,
    figures: Mutex<Figures>,
}

impl<'a> World<'a> {
    /// Seeds the products and sends the poison messages.
    pub async fn prepare(cloud: &'a LocalCloud, options: &SoakOptions) -> Result<World<'a>> {
        let config = cloud.sdk_config().await;
        let run = ulid::Ulid::new().to_string().to_lowercase();
        let world = World {
            cloud,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(35))
                .build()?,
            dynamodb: aws_sdk_dynamodb::Client::new(&config),
            sqs: aws_sdk_sqs::Client::new(&config),
            products: (0..PRODUCTS)
                .map(|i| {
                    (
                        format!("soak-{}-{i}", &run[..10]),
                        stock_for(options.orders),
                    )
                })
                .collect(),
            poison: Vec::new(),
            run,
            figures: Mutex::new(Figures::default()),
        };
        world.seed().await?;
        let mut world = world;
        world.send_poison().await?;
        Ok(world)
    }

    async fn seed(&self) -> Result<()> {
        let table = self.table("ProductsTable")?;
        for (id, stock) in &self.products {
            let product = Product {
                product_id: ProductId::parse(id.clone()).map_err(|e| anyhow::anyhow!("{e}"))?,
                sku: Sku::parse(format!("SOAK-{}", id.rsplit('-').next().unwrap_or("0")))
                    .map_err(|e| anyhow::anyhow!("{e}"))?,
                name: ProductName::parse(format!("Soak product {id}"))?,
                description: "sold by cargo dev soak".into(),
                category: Category::parse("soak").map_err(|e| anyhow::anyhow!("{e}"))?,
                price: Price::new(Money::new(1_250, Currency::Eur))?,
                stock: Stock::new(*stock)?,
                updated_at: time::OffsetDateTime::now_utc(),
            };
            self.dynamodb
                .put_item()
                .table_name(&table)
                .set_item(Some(serde_dynamo::to_item(&product)?))
                .send()
                .await
                .map_err(crate::aws::aws_error)?;
        }
        Ok(())
    }

    async fn send_poison(&mut self) -> Result<()> {
        let marker = format!("soak-{}", self.run);
        let poison = [
            ("OrdersQueue", format!("not json at all {marker}")),
            (
                "OrdersQueue",
                json!({"schema_version": 99, "type": "place_order", "marker": marker}).to_string(),
            ),
            (
                "PaymentEventsQueue",
                json!({"event_type": "payment.succeeded", "marker": marker}).to_string(),
            ),
        ];
        for (queue, body) in poison {
            let url = self.queue_url(queue)?;
            self.sqs
                .send_message()
                .queue_url(url)
                .message_body(&body)
                .send()
                .await
                .map_err(crate::aws::aws_error)?;
            self.poison.push((queue.to_owned(), body));
        }
        Ok(())
    }

    pub(super) fn table(&self, logical_id: &str) -> Result<String> {
        self.cloud
            .resources()
            .table(logical_id)
            .map(str::to_owned)
            .with_context(|| format!("no {logical_id} in template.yaml"))
    }

    pub(super) fn queue_url(&self, logical_id: &str) -> Result<String> {
        self.cloud
            .resources()
            .queue(logical_id)
            .map(|q| q.url.clone())
            .with_context(|| format!("no {logical_id} in template.yaml"))
    }

    /// Every customer's story, `clients` at a time.
    pub async fn run(
        &self,
        orders: usize,
        clients: usize,
        progress: &(dyn Fn(&str) + Sync),
    ) -> Figures {
        let started = Instant::now();
        let done = std::sync::atomic::AtomicUsize::new(0);
        futures::stream::iter(0..orders)
            .for_each_concurrent(clients.max(1), |i| {
                let done = &done;
                async move {
                    self.customer(i).await;
                    let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                    if n.is_multiple_of(50) || n == orders {
                        progress(&format!("{n}/{orders} customers done"));
                    }
                }
            })
            .await;
        let mut figures = self
            .figures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        figures.took = started.elapsed();
        figures
    }

    fn note(&self, change: impl FnOnce(&mut Figures)) {
        change(&mut self.figures.lock().unwrap_or_else(|e| e.into_inner()));
    }

    /// Places one order, then pays it, has it refused, cancels it or leaves it unpaid.
    async fn customer(&self, i: usize) {
        self.note(|f| f.orders_attempted += 1);
        let customer = format!("soak-{}-{i}", &self.run[..10]);
        let Ok(token) = self.cloud.token(&customer, Duration::from_secs(3600)) else {
            return;
        };
        let Some(id) = self.place(i, &token).await else {
            return;
        };
        let Some(order) = self.settled(&id, &token).await else {
            return;
        };
        if order["status"] != "CONFIRMED" {
            return;
        }
        match i % 10 {
            0..=5 => {
                self.pay(&id, &order, Outcome::Succeeded, i.is_multiple_of(5))
                    .await
            }
            6 => self.pay(&id, &order, Outcome::Failed, false).await,
            7 => {
                let cancelled = self
                    .send(|| {
                        self.http
                            .post(format!("{}/orders/{id}/cancel", self.cloud.url()))
                            .bearer_auth(&token)
                    })
                    .await;
                if matches!(cancelled, Some((StatusCode::OK, _))) {
                    self.note(|f| f.cancellations += 1);
                }
            }
            _ => self.note(|f| f.left_unpaid += 1),
        }
    }

    /// Places customer `i`'s order: its id, once accepted.
    async fn place(&self, i: usize, token: &str) -> Option<String> {
        let products: Vec<&String> = self.products.keys().collect();
        let product = products[i % products.len()];
        // One order in thirty names a product that does not exist: REJECTED.
        let product = if i % 30 == 29 {
            "soak-no-such-product"
        } else {
            product
        };
        let body = json!({"currency": "EUR",
            "items": [{"product_id": product, "quantity": 1 + i % 3}]});
        let key = (!i.is_multiple_of(4)).then(|| format!("soak-{}-{i}", self.run));
        let placed = self
            .send(|| {
                let request = self
                    .http
                    .post(format!("{}/orders", self.cloud.url()))
                    .bearer_auth(token)
                    .json(&body);
                match &key {
                    Some(key) => request.header("idempotency-key", key),
                    None => request,
                }
            })
            .await;
        let Some((StatusCode::ACCEPTED, order)) = placed else {
            self.note(|f| f.orders_abandoned += 1);
            return None;
        };
        let id = order["order_id"].as_str()?.to_owned();
        self.note(|f| {
            f.orders_accepted += 1;
            f.accepted.push(id.clone());
        });
        Some(id)
    }

    /// The order once it has left PENDING (the client polls, as an app would).
    async fn settled(&self, id: &str, token: &str) -> Option<Value> {
        let deadline = Instant::now() + Duration::from_secs(120);
        while Instant::now() < deadline {
            let got = self
                .send(|| {
                    self.http
                        .get(format!("{}/orders/{id}", self.cloud.url()))
                        .bearer_auth(token)
                })
                .await;
            if let Some((StatusCode::OK, order)) = got
                && order["status"] != "PENDING"
            {
                return Some(order);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        None
    }

    /// The provider's webhook for the order's total, retried until acknowledged; `twice`: the
    /// provider delivers it again afterwards, as providers sometimes do.
    async fn pay(&self, id: &str, order: &Value, outcome: Outcome, twice: bool) {
        let amount = order["totals"]["total"]["amount"]
            .as_i64()
            .unwrap_or_default();
        let event = provider_event(id, outcome, amount, "eur");
        let event_id = event["id"].as_str().unwrap_or_default().to_owned();
        let body = event.to_string();
        for delivery in 0..if twice { 2 } else { 1 } {
            let answer = self
                .send(|| {
                    self.http
                        .post(format!("{}/webhooks/payments", self.cloud.url()))
                        .header("content-type", "application/json")
                        // Signed afresh each time: the timestamp is part of the signature.
                        .header("stripe-signature", local_signature(&body))
                        .body(body.clone())
                })
                .await;
            if !matches!(answer, Some((StatusCode::OK, _))) {
                return;
            }
            if delivery == 0 {
                self.note(|f| {
                    f.webhooks.push((event_id.clone(), id.to_owned()));
                    match outcome {
                        Outcome::Succeeded => f.payments_acknowledged += 1,
                        Outcome::Failed => f.payments_refused_by_provider += 1,
                    }
                });
            } else {
                self.note(|f| f.duplicate_webhooks += 1);
            }
        }
    }

    /// Sends the request `make` builds until it gets an answer below 500, with backoff.
    async fn send(
        &self,
        make: impl Fn() -> reqwest::RequestBuilder,
    ) -> Option<(StatusCode, Value)> {
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                self.note(|f| f.client_retries += 1);
                let backoff = Duration::from_millis(100 << attempt.min(4));
                tokio::time::sleep(backoff).await;
            }
            let Ok(response) = make().send().await else {
                continue;
            };
            let status = response.status();
            if status.is_server_error() {
                continue;
            }
            return Some((status, response.json().await.unwrap_or(Value::Null)));
        }
        None
    }

    /// Waits until every order has settled (none PENDING or CONFIRMED: the unpaid ones
    /// expire) and the work queues are empty.
    pub async fn heal(&self, within: Duration) -> Result<()> {
        let deadline = Instant::now() + within;
        loop {
            let unsettled = self.unsettled_orders().await?;
            let waiting = self.queued_work().await?;
            if unsettled == 0 && waiting == 0 {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "not healed after {within:?}: {unsettled} orders PENDING or CONFIRMED, \
                     {waiting} messages in the work queues"
                );
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    async fn unsettled_orders(&self) -> Result<usize> {
        let orders = super::invariants::orders(&self.dynamodb, &self.table("OrdersTable")?).await?;
        Ok(orders
            .iter()
            .filter(|o| {
                matches!(
                    o.status(),
                    shop::ordering::OrderStatus::Pending | shop::ordering::OrderStatus::Confirmed
                )
            })
            .count())
    }

    /// Messages waiting, in flight or delayed in the work queues, poison included until it
    /// has reached its dead-letter queue.
    async fn queued_work(&self) -> Result<usize> {
        let mut total = 0;
        for queue in ["OrdersQueue", "PaymentEventsQueue", "PaymentDeadlinesQueue"] {
            total += super::invariants::queue_depth(&self.sqs, &self.queue_url(queue)?).await?;
        }
        Ok(total)
    }

    pub async fn check(&self, figures: &Figures) -> Result<Invariants> {
        super::invariants::check(self, figures).await
    }
}

/// Each product's stock: about two thirds of what the orders ask for, so that some are
/// rejected for want of stock while most are confirmed.
fn stock_for(orders: usize) -> i64 {
    let units_asked = orders * 2;
    ((units_asked * 2 / 3) / PRODUCTS).max(3) as i64
}
