//! The per-function measurements on the [`Lab`]: cold starts, warm latency next to the
//! direct path, peak RSS, and AWS requests per processed order by batch size.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use aws_sdk_sqs::types::Message;
use serde_json::{Value, json};
use shop::adapters::order_message;

use super::counts::{Counts, DIRECT_CALLER, FUNCTION_CALLER, fetch_all};
use super::lab::{HELLO, Lab, Process};
use super::report::{BatchRequests, ColdFunction, ColdStart, Memory, OpCount, Warm};
use super::stats::Dist;
use super::workload::{
    self, Direct, Events, Payment, StreamTail, check_answer, payments_for, receive, stream_event,
};
use crate::cloud::Progress;

/// The functions the bench knows how to drive, in the order an order meets them (each one's
/// inputs come from the one before).
pub const FUNCTIONS: [&str; 6] = [
    "product-reads",
    "orders-api",
    "order-relay",
    "order-processor",
    "payment-webhook",
    "order-payments",
];

/// How long a queue read may wait for what a function just sent.
const QUEUE_WAIT: Duration = Duration::from_secs(20);

/// Fails if the template has a function the bench cannot drive: it must measure them all.
pub fn check_functions(lab: &Lab) -> Result<()> {
    for binary in lab.functions() {
        if !FUNCTIONS.contains(&binary.as_str()) {
            bail!("the bench has no workload for {binary}: add one in infra/dev/src/bench");
        }
    }
    Ok(())
}

fn event_name(binary: &str) -> &'static str {
    match binary {
        HELLO => "{} (answers a constant)",
        "product-reads" => "GET /products/{id}",
        "orders-api" => "POST /orders (2 lines)",
        "order-relay" => "DynamoDB Streams, 1 order.placed",
        "order-processor" => "SQS, 1 place-order message",
        "payment-webhook" => "POST /webhooks/payments (succeeded)",
        "order-payments" => "SQS, 1 payment.succeeded",
        _ => "?",
    }
}

/// One invocation; the answer must be what the event asks for.
async fn invoke(
    process: &Process,
    binary: &str,
    payload: &Value,
) -> Result<crate::runtime::Timing> {
    let (result, timing) = process.host.invoke_timed(payload).await;
    let answer = result.map_err(|e| anyhow!("{e}"))?;
    let status = match binary {
        "product-reads" | "payment-webhook" => Some(200),
        "orders-api" => Some(202),
        _ => None,
    };
    if binary != HELLO {
        check_answer(binary, &answer, status)?;
    }
    Ok(timing)
}

/// Carries one order along the functions, for the cold starts: each function's event
/// comes from what the one before it did.
struct Chain<'a> {
    lab: &'a Lab,
    events: &'a Events,
    sqs: aws_sdk_sqs::Client,
    stream: StreamTail,
    order_id: Option<String>,
}

impl Chain<'_> {
    async fn event(&mut self, binary: &str, round: usize) -> Result<Value> {
        Ok(match binary {
            HELLO => json!({"round": round}),
            "product-reads" => self.events.get_product(round).await?,
            "orders-api" => self.events.place_order(round).await?,
            "order-relay" => stream_event(&self.stream.events("order.placed", 1).await?),
            "order-processor" => {
                let messages = self.next("OrdersQueue").await?;
                let command = order_message::from_body(messages[0].body().unwrap_or_default())?;
                self.order_id = Some(command.order_id.to_string());
                workload::sqs(&messages, &self.lab.queue_arn("OrdersQueue")?)
            }
            "payment-webhook" => {
                let id = self.order_id.clone().context("no order to pay")?;
                let payment = payments_for(self.lab, &[id]).await?.remove(0);
                self.events.webhook(&payment).await?
            }
            "order-payments" => {
                let messages = self.next("PaymentEventsQueue").await?;
                workload::sqs(&messages, &self.lab.queue_arn("PaymentEventsQueue")?)
            }
            other => bail!("no cold start event for {other}"),
        })
    }

    /// Reads what the last function sent to NotificationsQueue (nobody else reads it here),
    /// so the queue stays short.
    async fn drain_notifications(&self) -> Result<()> {
        let url = self.lab.queue_url("NotificationsQueue")?;
        receive(&self.sqs, &url, 10, Duration::ZERO).await?;
        Ok(())
    }

    async fn next(&self, queue: &str) -> Result<Vec<Message>> {
        let messages = receive(&self.sqs, &self.lab.queue_url(queue)?, 1, QUEUE_WAIT).await?;
        if messages.is_empty() {
            bail!("nothing arrived on {queue} within {QUEUE_WAIT:?}");
        }
        Ok(messages)
    }
}

/// `spawns` rounds; in each, every binary starts once and serves one event.
pub async fn cold_starts(
    lab: &Lab,
    events: &Events,
    spawns: usize,
    progress: &Progress,
) -> Result<ColdStart> {
    let binaries: Vec<&str> = std::iter::once(HELLO).chain(FUNCTIONS).collect();
    let mut samples: BTreeMap<&str, (Vec<Duration>, Vec<Duration>)> = BTreeMap::new();
    let mut chain = Chain {
        lab,
        events,
        sqs: aws_sdk_sqs::Client::new(&lab.bench),
        stream: StreamTail::open(lab).await?,
        order_id: None,
    };
    for round in 0..spawns {
        progress(&format!("cold start: round {}/{spawns}", round + 1));
        for binary in &binaries {
            chain.drain_notifications().await?;
            let payload = chain.event(binary, round).await?;
            let process = lab.spawn(binary).await?;
            let timing = invoke(&process, binary, &payload)
                .await
                .with_context(|| format!("{binary}'s first invocation"));
            let spawned = process.spawned;
            process.stop().await;
            let timing = timing?;
            let (Some(picked_up), Some(answered)) = (timing.picked_up, timing.answered) else {
                bail!("{binary}: no timing for its first invocation");
            };
            let entry = samples.entry(binary).or_default();
            entry.0.push(picked_up - spawned);
            entry.1.push(answered - spawned);
        }
    }
    let floor = samples
        .get(HELLO)
        .map(|(request, response)| {
            (
                Dist::of_durations(request).p50,
                Dist::of_durations(response).p50,
            )
        })
        .context("no floor measured")?;
    let functions = binaries
        .iter()
        .map(|binary| {
            let (request, response) = &samples[binary];
            let first_request_ms = Dist::of_durations(request);
            let first_response_ms = Dist::of_durations(response);
            ColdFunction {
                binary: (*binary).to_owned(),
                event: event_name(binary).to_owned(),
                first_request_ratio: first_request_ms.p50 / floor.0,
                first_response_ratio: first_response_ms.p50 / floor.1,
                first_request_ms,
                first_response_ms,
            }
        })
        .collect();
    Ok(ColdStart {
        spawns,
        floor: HELLO.to_owned(),
        functions,
    })
}

/// What one warm invocation is about; the same input makes the function's event and the
/// direct call.
#[derive(Clone)]
enum Input {
    Product(usize),
    Order(usize),
    /// A stream record of a committed event, for the relay.
    Committed(Value),
    Orders(Message),
    Payment(Payment),
    PaymentEvent(Message),
}

impl Input {
    async fn event(&self, lab: &Lab, events: &Events) -> Result<Value> {
        Ok(match self {
            Input::Product(i) => events.get_product(*i).await?,
            Input::Order(i) => events.place_order(*i).await?,
            Input::Committed(record) => stream_event(std::slice::from_ref(record)),
            Input::Orders(m) => {
                workload::sqs(std::slice::from_ref(m), &lab.queue_arn("OrdersQueue")?)
            }
            // Signed now: signatures expire after five minutes.
            Input::Payment(p) => events.webhook(p).await?,
            Input::PaymentEvent(m) => workload::sqs(
                std::slice::from_ref(m),
                &lab.queue_arn("PaymentEventsQueue")?,
            ),
        })
    }

    async fn direct(&self, direct: &Direct, events: &Events) -> Result<()> {
        match self {
            Input::Product(i) => direct.get_product(events.product_id(*i)).await,
            Input::Order(i) => direct.place_order(&events.order_body(*i)).await.map(|_| ()),
            Input::Committed(record) => direct.relay(std::slice::from_ref(record)).await,
            Input::Orders(m) => direct.process(std::slice::from_ref(m)).await,
            Input::Payment(p) => direct.webhook(p).await,
            Input::PaymentEvent(m) => direct.payment(m).await,
        }
    }
}

/// The floor's warm duration: the Runtime API round trip with nothing behind it, what every
/// function pays on top of its own work.
pub async fn warm_floor(lab: &Lab, counts: &WarmCounts) -> Result<Dist> {
    let process = lab.spawn(HELLO).await?;
    let result = async {
        let mut durations = Vec::with_capacity(counts.invocations);
        for i in 0..counts.warmup + counts.invocations {
            let timing = invoke(&process, HELLO, &json!({"i": i})).await?;
            if i >= counts.warmup {
                durations.push(timing.duration().context("no billed duration")?);
            }
        }
        anyhow::Ok(Dist::of_durations(&durations))
    }
    .await;
    process.stop().await;
    result
}

/// Per-function results of the warm run.
pub struct WarmRun {
    pub warm: Warm,
    pub memory: Memory,
}

pub struct WarmCounts {
    pub invocations: usize,
    pub warmup: usize,
    pub rss_after: usize,
}

/// Every function in turn: `warmup` unmeasured invocations, then `invocations` measured
/// ones, each followed by the same work done directly. Each function's inputs are what the
/// one before it produced (orders placed, then processed, then paid), read off their queue
/// one at a time as they are produced. No queue is let grow: the emulator's ReceiveMessage
/// takes time in proportion to the queue's length (about a second at 2,000 messages), and so
/// does an SNS publish delivered to it (NotificationsQueue is drained for that reason).
pub async fn warm(
    lab: &Lab,
    events: &Events,
    direct: &Direct,
    counts: &WarmCounts,
    progress: &Progress,
) -> Result<Vec<WarmRun>> {
    let sqs = aws_sdk_sqs::Client::new(&lab.bench);
    // Left over from the cold starts: the inputs below must be only this run's.
    for queue in ["OrdersQueue", "PaymentEventsQueue", "NotificationsQueue"] {
        sqs.purge_queue()
            .queue_url(lab.queue_url(queue)?)
            .send()
            .await
            .map_err(crate::aws::aws_error)?;
    }
    let per_side = counts.warmup + counts.invocations;
    // Opened before anything is placed: the relay's inputs are the placements that follow.
    let mut stream = StreamTail::open(lab).await?;
    let mut runs = Vec::new();
    let mut produced: Vec<Message> = Vec::new();
    for binary in FUNCTIONS {
        // (inputs, the queue its output lands on, whether that output is the next one's input)
        let (inputs, collect, keep): (Vec<Input>, Option<&str>, bool) = match binary {
            "product-reads" => ((0..2 * per_side).map(Input::Product).collect(), None, false),
            "orders-api" => ((0..2 * per_side).map(Input::Order).collect(), None, false),
            "order-relay" => (
                stream
                    .events("order.placed", 2 * per_side)
                    .await?
                    .into_iter()
                    .map(Input::Committed)
                    .collect(),
                Some("OrdersQueue"),
                true,
            ),
            // Their events are the relay's to publish: nothing lands on a queue.
            "order-processor" => (produced.drain(..).map(Input::Orders).collect(), None, false),
            "payment-webhook" => {
                let ids: Vec<String> = runs
                    .last()
                    .map(|w: &WarmInputs| w.orders.clone())
                    .unwrap_or_default();
                (
                    payments_for(lab, &ids)
                        .await?
                        .into_iter()
                        .map(Input::Payment)
                        .collect(),
                    Some("PaymentEventsQueue"),
                    true,
                )
            }
            "order-payments" => (
                produced.drain(..).map(Input::PaymentEvent).collect(),
                None,
                false,
            ),
            other => bail!("no warm inputs for {other}"),
        };
        if inputs.len() < 2 * per_side {
            bail!(
                "{binary}: only {} of {} inputs arrived",
                inputs.len(),
                2 * per_side
            );
        }
        let orders: Vec<String> = inputs
            .iter()
            .filter_map(|input| match input {
                Input::Orders(m) => order_message::from_body(m.body().unwrap_or_default())
                    .ok()
                    .map(|c| c.order_id.to_string()),
                _ => None,
            })
            .collect();
        let collect = match collect {
            Some(queue) => Some(Collect {
                sqs: &sqs,
                url: lab.queue_url(queue)?,
                queue,
            }),
            None => None,
        };
        let (run, outputs) = warm_one(
            lab,
            events,
            direct,
            binary,
            &inputs,
            collect.as_ref(),
            counts,
            progress,
        )
        .await?;
        if keep {
            produced = outputs;
        }
        runs.push(WarmInputs { run, orders });
    }
    Ok(runs.into_iter().map(|w| w.run).collect())
}

/// The queue a function's (and its direct path's) output lands on, read after each call.
struct Collect<'a> {
    sqs: &'a aws_sdk_sqs::Client,
    url: String,
    queue: &'a str,
}

impl Collect<'_> {
    async fn one(&self, into: &mut Vec<Message>) -> Result<()> {
        let mut got = receive(self.sqs, &self.url, 1, QUEUE_WAIT).await?;
        if got.is_empty() {
            bail!("nothing arrived on {} within {QUEUE_WAIT:?}", self.queue);
        }
        into.append(&mut got);
        Ok(())
    }
}

struct WarmInputs {
    run: WarmRun,
    /// Orders the processor confirmed: the webhooks' inputs.
    orders: Vec<String>,
}

#[allow(clippy::too_many_arguments)]
async fn warm_one(
    lab: &Lab,
    events: &Events,
    direct: &Direct,
    binary: &str,
    inputs: &[Input],
    collect: Option<&Collect<'_>>,
    counts: &WarmCounts,
    progress: &Progress,
) -> Result<(WarmRun, Vec<Message>)> {
    let (function_inputs, direct_inputs) = inputs.split_at(inputs.len() / 2);
    let process = lab.spawn(binary).await?;
    let mut outputs = Vec::with_capacity(inputs.len());
    let result = async {
        let mut served = 0;
        let mut rss_at = None;
        for (input, direct_input) in function_inputs
            .iter()
            .zip(direct_inputs)
            .take(counts.warmup)
        {
            invoke(&process, binary, &input.event(lab, events).await?).await?;
            direct_input.direct(direct, events).await?;
            if let Some(collect) = collect {
                collect.one(&mut outputs).await?;
                collect.one(&mut outputs).await?;
            }
            served += 1;
        }
        let before = fetch_all(&lab.endpoint)?;
        let log_before = lab.log_bytes(binary);
        let mut invoke_times = Vec::with_capacity(counts.invocations);
        let mut durations = Vec::with_capacity(counts.invocations);
        let mut direct_times = Vec::with_capacity(counts.invocations);
        let measured = function_inputs
            .iter()
            .zip(direct_inputs)
            .skip(counts.warmup);
        for (i, (input, direct_input)) in measured.enumerate() {
            let payload = input.event(lab, events).await?;
            let started = Instant::now();
            let timing = invoke(&process, binary, &payload).await?;
            invoke_times.push(started.elapsed());
            durations.push(timing.duration().context("no billed duration")?);
            served += 1;
            if served == counts.rss_after {
                rss_at = Some((served, process.peak_rss()?));
            }

            let started = Instant::now();
            direct_input.direct(direct, events).await?;
            direct_times.push(started.elapsed());
            if let Some(collect) = collect {
                collect.one(&mut outputs).await?;
                collect.one(&mut outputs).await?;
            }
            if (i + 1) % 500 == 0 {
                progress(&format!("warm: {binary} {}/{}", i + 1, counts.invocations));
            }
        }
        let after = fetch_all(&lab.endpoint)?;
        let measured = counts.invocations as f64;
        let caller = |name: &str| -> Counts {
            after
                .get(name)
                .cloned()
                .unwrap_or_default()
                .since(&before.get(name).cloned().unwrap_or_default())
        };
        let requests = OpCount::per(&caller(FUNCTION_CALLER), measured);
        let direct_requests = OpCount::per(&caller(DIRECT_CALLER), measured);
        let same_requests = requests.len() == direct_requests.len()
            && requests.iter().zip(&direct_requests).all(|(a, b)| {
                a.service == b.service
                    && a.operation == b.operation
                    && (a.requests - b.requests).abs() < 1e-9
            });
        let duration_ms = Dist::of_durations(&durations);
        let direct_ms = Dist::of_durations(&direct_times);
        let added = duration_ms.p50 - direct_ms.p50;
        let end_rss = process.peak_rss()?;
        let (rss_invocations, rss) = rss_at.unwrap_or((served, end_rss));
        anyhow::Ok(WarmRun {
            warm: Warm {
                binary: binary.to_owned(),
                event: event_name(binary).to_owned(),
                invocations: counts.invocations,
                invoke_ms: Dist::of_durations(&invoke_times),
                billed_ms_mean: billed_mean(&durations),
                added_p50_ms: added,
                added_p50_percent: 100.0 * added / direct_ms.p50,
                duration_ms,
                direct_ms,
                requests,
                direct_requests,
                same_requests,
                log_bytes_per_invocation: (lab.log_bytes(binary) - log_before) as f64 / measured,
            },
            memory: Memory {
                binary: binary.to_owned(),
                invocations: rss_invocations,
                peak_rss_bytes: rss,
                invocations_end: served,
                peak_rss_end_bytes: end_rss,
            },
        })
    }
    .await;
    process.stop().await;
    let run = result.with_context(|| format!("warm run of {binary}"))?;
    Ok((run, outputs))
}

/// AWS requests per processed order on the order path's batch consumers, at each batch size:
/// orders placed (by the bench), their placements relayed by order-relay a batch at a time,
/// then order-processor confirms them a batch at a time and order-relay publishes the
/// confirmations; their payments are recorded (by the bench), order-payments applies them a
/// batch at a time and order-relay publishes `order.paid`. One unmeasured batch first for
/// each size.
pub async fn batches(
    lab: &Lab,
    sizes: &[usize],
    batches: usize,
    progress: &Progress,
) -> Result<Vec<BatchRequests>> {
    let sqs = aws_sdk_sqs::Client::new(&lab.bench);
    let plumbing = Direct::new(lab, &lab.bench)?;
    let events = Events::new(lab)?;
    let orders_url = lab.queue_url("OrdersQueue")?;
    let payments_url = lab.queue_url("PaymentEventsQueue")?;
    // Drained after each batch: see [`warm`].
    let notifications_url = lab.queue_url("NotificationsQueue")?;
    let processor = lab.spawn("order-processor").await?;
    let payer = lab.spawn("order-payments").await?;
    let relay = lab.spawn("order-relay").await?;
    let mut stream = StreamTail::open(lab).await?;
    let result = async {
        let mut out = Vec::new();
        for &size in sizes {
            progress(&format!("requests per order: batch size {size}"));
            let mut tallies = [Tally::default(), Tally::default(), Tally::default()];
            for round in 0..=batches {
                let mut ids = Vec::with_capacity(size);
                for i in 0..size {
                    ids.push(
                        plumbing
                            .place_order(&events.order_body(round * size + i))
                            .await?,
                    );
                }
                let placed = stream_event(&stream.events("order.placed", size).await?);
                tallies[2]
                    .run(lab, &relay, "order-relay", &placed, round > 0)
                    .await?;
                let messages = receive(&sqs, &orders_url, size, QUEUE_WAIT).await?;
                lab_check(messages.len() == size, "OrdersQueue", size)?;
                let event = workload::sqs(&messages, &lab.queue_arn("OrdersQueue")?);
                tallies[0]
                    .run(lab, &processor, "order-processor", &event, round > 0)
                    .await?;
                let confirmed = stream_event(&stream.events("order.confirmed", size).await?);
                tallies[2]
                    .run(lab, &relay, "order-relay", &confirmed, round > 0)
                    .await?;
                receive(&sqs, &notifications_url, size, QUEUE_WAIT).await?;

                for payment in payments_for(lab, &ids).await? {
                    plumbing.webhook(&payment).await?;
                }
                let messages = receive(&sqs, &payments_url, size, QUEUE_WAIT).await?;
                lab_check(messages.len() == size, "PaymentEventsQueue", size)?;
                let event = workload::sqs(&messages, &lab.queue_arn("PaymentEventsQueue")?);
                tallies[1]
                    .run(lab, &payer, "order-payments", &event, round > 0)
                    .await?;
                let paid = stream_event(&stream.events("order.paid", size).await?);
                tallies[2]
                    .run(lab, &relay, "order-relay", &paid, round > 0)
                    .await?;
                receive(&sqs, &notifications_url, size, QUEUE_WAIT).await?;
            }
            let functions = ["order-processor", "order-payments", "order-relay"];
            for (function, tally) in functions.iter().zip(tallies) {
                out.push(tally.report(function, size, batches));
            }
        }
        anyhow::Ok(out)
    }
    .await;
    processor.stop().await;
    payer.stop().await;
    relay.stop().await;
    result
}

fn lab_check(ok: bool, queue: &str, size: usize) -> Result<()> {
    if !ok {
        bail!("fewer than {size} messages arrived on {queue} within {QUEUE_WAIT:?}");
    }
    Ok(())
}

#[derive(Default)]
struct Tally {
    counts: Counts,
    durations: Vec<Duration>,
}

impl Tally {
    async fn run(
        &mut self,
        lab: &Lab,
        process: &Process,
        binary: &str,
        event: &Value,
        measured: bool,
    ) -> Result<()> {
        let before = lab.function_counts()?;
        let timing = invoke(process, binary, event).await?;
        let after = lab.function_counts()?;
        if measured {
            self.counts.add(&after.since(&before));
            self.durations
                .push(timing.duration().context("no billed duration")?);
        }
        Ok(())
    }

    fn report(self, function: &str, size: usize, batches: usize) -> BatchRequests {
        let orders = size * batches;
        let per_order = OpCount::per(&self.counts, orders as f64);
        let batch_duration_ms = Dist::of_durations(&self.durations);
        BatchRequests {
            function: function.to_owned(),
            batch_size: size,
            batches,
            orders,
            dynamodb_per_order: OpCount::service_total(&per_order, "dynamodb"),
            sns_per_order: OpCount::service_total(&per_order, "sns"),
            sqs_per_order: OpCount::service_total(&per_order, "sqs"),
            // Per order, whatever the invocations per batch (the relay has three: placed,
            // confirmed, paid).
            duration_ms_per_order: batch_duration_ms.mean * self.durations.len() as f64
                / orders as f64,
            billed_ms_per_order: billed_mean(&self.durations) * self.durations.len() as f64
                / orders as f64,
            invocations_per_order: self.durations.len() as f64 / orders as f64,
            batch_duration_ms,
            per_order,
        }
    }
}

/// Mean of the durations each rounded up to the millisecond.
fn billed_mean(durations: &[Duration]) -> f64 {
    if durations.is_empty() {
        return 0.0;
    }
    let total: f64 = durations
        .iter()
        .map(|d| (d.as_secs_f64() * 1e3).ceil())
        .sum();
    total / durations.len() as f64
}
