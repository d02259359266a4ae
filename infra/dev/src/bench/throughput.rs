//! End-to-end throughput on the whole local cloud: orders POSTed to the HTTP gateway, paid
//! through the webhook as soon as they are confirmed, until each reaches a terminal state.
//! The bench watches `NotificationsQueue` (every order event, raw) to see each state.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use serde_json::Value;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

use super::counts::{BENCH_CALLER, Counts, fetch_all};
use super::lab::{named_config, plenty_of_stock};
use super::report::{OpCount, Throughput};
use super::stats::Dist;
use super::workload::Payment;
use crate::LocalCloud;
use crate::cloud::{CloudOptions, Progress};
use crate::logs::LogOutput;
use crate::webhook::local_signature;

pub struct ThroughputOptions {
    pub root: PathBuf,
    pub executables: HashMap<String, PathBuf>,
    pub release: bool,
    pub log_dir: PathBuf,
    pub orders: usize,
    pub in_flight: usize,
    pub concurrency: usize,
}

/// The latencies behind the throughput's distributions, for the plot.
#[derive(Default)]
pub struct Samples {
    pub confirmed: Vec<f64>,
    pub terminal: Vec<f64>,
}

pub async fn run(options: ThroughputOptions, progress: &Progress) -> Result<(Throughput, Samples)> {
    let cloud_progress = progress.clone();
    let cloud = LocalCloud::start(CloudOptions {
        repo_root: Some(options.root.clone()),
        port: 0,
        endpoint: None,
        concurrency: options.concurrency,
        release: options.release,
        retry_delay: Duration::from_secs(1),
        logs: LogOutput::Dir(options.log_dir.clone()),
        progress: Some(Arc::new(move |line: &str| {
            cloud_progress(&format!("throughput: local cloud: {line}"))
        })),
        executables: Some(options.executables.clone()),
        payment_window: None,
        parameters: Default::default(),
        faults: None,
    })
    .await?;
    let result = drive(&cloud, &options, progress).await;
    cloud.stop().await;
    result
}

/// A notification: (order id, event type, event data, when the bench saw it).
type Seen = (String, String, Value, Instant);

/// A POST's answer (the order id), when it was sent, and its place among those in flight.
type Posted = (Result<String>, Instant, OwnedSemaphorePermit);

struct Track {
    posted: Instant,
    confirmed: Option<Instant>,
    _permit: OwnedSemaphorePermit,
}

async fn drive(
    cloud: &LocalCloud,
    options: &ThroughputOptions,
    progress: &Progress,
) -> Result<(Throughput, Samples)> {
    let bench = named_config(cloud.emulator_settings(), BENCH_CALLER).await;
    plenty_of_stock(&bench, cloud.resources(), &options.root).await?;
    let notifications = cloud
        .resources()
        .queue("NotificationsQueue")
        .context("template.yaml has no NotificationsQueue")?;
    let stop = CancellationToken::new();
    let _stop_watchers = stop.clone().drop_guard();
    let (seen_tx, mut seen_rx) = mpsc::unbounded_channel::<Seen>();
    for _ in 0..2 {
        let sqs = aws_sdk_sqs::Client::new(&bench);
        let url = notifications.url.clone();
        tokio::spawn(watch(sqs, url, seen_tx.clone(), stop.clone()));
    }
    let before = fetch_all(cloud.endpoint())?;
    let mut tally = Tally::new(cloud, options, progress);
    // Bounded in time as well as in count: a stuck order cannot hold the bench forever.
    let deadline = tokio::time::Instant::now()
        + Duration::from_secs(60)
        + Duration::from_millis(200) * options.orders as u32;
    let mut posted_rx = post_orders(cloud, options, &stop)?;
    // Closes once every POST has answered; the notifications go on.
    let mut posting = true;
    while tally.finished < options.orders {
        tokio::select! {
            posted = posted_rx.recv(), if posting => match posted {
                Some(posted) => tally.posted(posted, &seen_tx),
                None => posting = false,
            },
            seen = seen_rx.recv() => match seen {
                Some(seen) => tally.seen(seen)?,
                None => break,
            },
            () = tokio::time::sleep_until(deadline) => {
                let unfinished = options.orders - tally.finished;
                progress(&format!("throughput: stopped at the time limit with {unfinished} orders unfinished"));
                break;
            }
        }
    }
    stop.cancel();
    let after = fetch_all(cloud.endpoint())?;
    // Everyone but the bench itself: the functions and the event source pollers.
    let mut system = Counts::default();
    for (caller, counts) in &after {
        if caller != BENCH_CALLER {
            system.add(&counts.since(&before.get(caller).cloned().unwrap_or_default()));
        }
    }
    Ok(tally.into_throughput(options, &system))
}

/// POSTs the orders, at most `in_flight` at a time, each answer to the returned channel.
fn post_orders(
    cloud: &LocalCloud,
    options: &ThroughputOptions,
    stop: &CancellationToken,
) -> Result<mpsc::UnboundedReceiver<Posted>> {
    let (posted_tx, posted_rx) = mpsc::unbounded_channel();
    let http = reqwest::Client::new();
    let url = format!("{}/orders", cloud.url());
    let permits = Arc::new(Semaphore::new(options.in_flight.max(1)));
    let stop = stop.clone();
    // Each order's customer signs in first (tokens are minted before the clock matters).
    let tokens = (0..options.orders)
        .map(|i| cloud.token(&OrderBodies::customer(i), Duration::from_secs(3600)))
        .collect::<Result<Vec<_>>>()?;
    tokio::spawn(async move {
        for (i, token) in tokens.into_iter().enumerate() {
            let permit = tokio::select! {
                permit = permits.clone().acquire_owned() => permit,
                () = stop.cancelled() => return,
            };
            let Ok(permit) = permit else { return };
            let (http, url, posted_tx) = (http.clone(), url.clone(), posted_tx.clone());
            let body = OrderBodies.body(i);
            tokio::spawn(async move {
                let posted = Instant::now();
                let answer = post_order(&http, &url, &token, &body).await;
                let _ = posted_tx.send((answer, posted, permit));
            });
        }
    });
    Ok(posted_rx)
}

/// What the run saw so far: the orders in flight and the finished ones' latencies.
struct Tally {
    http: reqwest::Client,
    webhook_url: String,
    progress: Progress,
    orders: usize,
    started: Instant,
    tracks: HashMap<String, Track>,
    /// Notifications of orders whose POST has not answered yet.
    early: HashMap<String, Vec<Seen>>,
    confirmed_ms: Vec<f64>,
    terminal_ms: Vec<f64>,
    paid: usize,
    rejected: usize,
    cancelled: usize,
    post_errors: usize,
    finished: usize,
    last_terminal: Instant,
}

impl Tally {
    fn new(cloud: &LocalCloud, options: &ThroughputOptions, progress: &Progress) -> Tally {
        let started = Instant::now();
        Tally {
            http: reqwest::Client::new(),
            webhook_url: format!("{}/webhooks/payments", cloud.url()),
            progress: progress.clone(),
            orders: options.orders,
            started,
            tracks: HashMap::new(),
            early: HashMap::new(),
            confirmed_ms: Vec::new(),
            terminal_ms: Vec::new(),
            paid: 0,
            rejected: 0,
            cancelled: 0,
            post_errors: 0,
            finished: 0,
            last_terminal: started,
        }
    }

    /// A POST answered: the order is tracked, and what was seen of it early is seen again.
    fn posted(&mut self, (answer, posted, permit): Posted, seen: &mpsc::UnboundedSender<Seen>) {
        match answer {
            Ok(order_id) => {
                let buffered = self.early.remove(&order_id).unwrap_or_default();
                let track = Track {
                    posted,
                    confirmed: None,
                    _permit: permit,
                };
                self.tracks.insert(order_id, track);
                for early in buffered {
                    let _ = seen.send(early);
                }
            }
            Err(e) => {
                self.post_errors += 1;
                self.finished += 1;
                if self.post_errors <= 3 {
                    (self.progress)(&format!("throughput: POST /orders failed: {e:#}"));
                }
            }
        }
    }

    /// An order event: a confirmed order is paid; a terminal one is done.
    fn seen(&mut self, (order_id, kind, data, at): Seen) -> Result<()> {
        let Some(track) = self.tracks.get_mut(&order_id) else {
            let early = self.early.entry(order_id.clone()).or_default();
            early.push((order_id, kind, data, at));
            return Ok(());
        };
        match kind.as_str() {
            "order.confirmed" => {
                track.confirmed = Some(at);
                self.confirmed_ms
                    .push((at - track.posted).as_secs_f64() * 1e3);
                let payment = payment_of(&order_id, &data)?;
                let (http, url) = (self.http.clone(), self.webhook_url.clone());
                tokio::spawn(pay(http, url, payment, self.progress.clone()));
                return Ok(());
            }
            "order.paid" => self.paid += 1,
            "order.rejected" => self.rejected += 1,
            "order.cancelled" => self.cancelled += 1,
            _ => return Ok(()),
        }
        let track = self.tracks.remove(&order_id).expect("tracked above");
        self.terminal_ms
            .push((at - track.posted).as_secs_f64() * 1e3);
        self.last_terminal = at;
        self.finished += 1;
        if self.finished.is_multiple_of(500) {
            let rate = self.finished as f64 / self.started.elapsed().as_secs_f64();
            let (finished, orders) = (self.finished, self.orders);
            (self.progress)(&format!(
                "throughput: {finished}/{orders} orders done ({rate:.1}/s)"
            ));
        }
        Ok(())
    }

    fn into_throughput(
        self,
        options: &ThroughputOptions,
        system: &Counts,
    ) -> (Throughput, Samples) {
        let completed = self.paid + self.rejected + self.cancelled;
        let seconds = (self.last_terminal - self.started).as_secs_f64();
        let throughput = Throughput {
            orders: options.orders,
            in_flight: options.in_flight,
            concurrency: options.concurrency,
            paid: self.paid,
            rejected: self.rejected,
            cancelled: self.cancelled,
            unfinished: options.orders - self.finished,
            seconds,
            orders_per_second: if seconds > 0.0 {
                completed as f64 / seconds
            } else {
                0.0
            },
            confirmed_ms: Dist::of(&self.confirmed_ms),
            terminal_ms: Dist::of(&self.terminal_ms),
            post_errors: self.post_errors,
            requests_per_order: OpCount::per(system, completed as f64),
        };
        let samples = Samples {
            confirmed: self.confirmed_ms,
            terminal: self.terminal_ms,
        };
        (throughput, samples)
    }
}

/// Order bodies for the throughput run, over the demo catalog's first products.
struct OrderBodies;

impl OrderBodies {
    /// One customer per order: nobody reaches the unpaid-order limit.
    fn customer(i: usize) -> String {
        format!("c-load-{i}")
    }

    fn body(&self, i: usize) -> String {
        let product = |n: usize| format!("p-{:04}", n % 20 + 1);
        serde_json::json!({
            "customer_id": Self::customer(i),
            "currency": "EUR",
            "items": [
                {"product_id": product(i), "quantity": 1},
                {"product_id": product(i + 7), "quantity": 2},
            ],
        })
        .to_string()
    }
}

async fn post_order(http: &reqwest::Client, url: &str, token: &str, body: &str) -> Result<String> {
    let response = http
        .post(url)
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await?;
    let status = response.status();
    let answer: Value = response.json().await.unwrap_or(Value::Null);
    if status.as_u16() != 202 {
        return Err(anyhow!("{status}: {answer}"));
    }
    answer["order_id"]
        .as_str()
        .map(str::to_owned)
        .context("202 without an order_id")
}

fn payment_of(order_id: &str, data: &Value) -> Result<Payment> {
    let total = &data["totals"]["total"];
    Ok(Payment {
        order_id: order_id.to_owned(),
        amount: total["amount"]
            .as_i64()
            .context("order.confirmed without totals.total.amount")?,
        currency: total["currency"].as_str().unwrap_or("EUR").to_owned(),
    })
}

/// The payment provider's part: a signed `payment_intent.succeeded` for the order.
async fn pay(http: reqwest::Client, url: String, payment: Payment, progress: Progress) {
    let body = payment.body();
    let sent = http
        .post(&url)
        .header("content-type", "application/json")
        .header("stripe-signature", local_signature(&body))
        .body(body)
        .send()
        .await;
    match sent {
        Ok(response) if response.status().is_success() => {}
        Ok(response) => progress(&format!(
            "throughput: webhook for {} answered {}",
            payment.order_id,
            response.status()
        )),
        Err(e) => progress(&format!(
            "throughput: webhook for {} failed: {e}",
            payment.order_id
        )),
    }
}

/// Reads order events off the notifications queue until stopped.
async fn watch(
    sqs: aws_sdk_sqs::Client,
    url: String,
    seen: mpsc::UnboundedSender<Seen>,
    stop: CancellationToken,
) {
    while !stop.is_cancelled() {
        let received = tokio::select! {
            received = sqs.receive_message().queue_url(&url).max_number_of_messages(10).wait_time_seconds(1).send() => received,
            () = stop.cancelled() => return,
        };
        let Ok(out) = received else { continue };
        let messages = out.messages.unwrap_or_default();
        let at = Instant::now();
        let mut delete = sqs.delete_message_batch().queue_url(&url);
        for (i, message) in messages.iter().enumerate() {
            let body: Value =
                serde_json::from_str(message.body().unwrap_or_default()).unwrap_or(Value::Null);
            if let (Some(id), Some(kind)) =
                (body["aggregate_id"].as_str(), body["event_type"].as_str())
            {
                let _ = seen.send((id.to_owned(), kind.to_owned(), body["data"].clone(), at));
            }
            if let Ok(entry) = aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .receipt_handle(message.receipt_handle().unwrap_or_default())
                .build()
            {
                delete = delete.entries(entry);
            }
        }
        if !messages.is_empty() {
            let _ = delete.send().await;
        }
    }
}
