//! The per-function measurements on the [`Lab`]: cold starts, warm latency next to the
//! direct path, peak RSS, and AWS requests per processed order by batch size. The floor and
//! the Python peer ([`peer`]) go through the same cold starts, and a warm run of their own.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use aws_sdk_sqs::types::Message;
use serde_json::{Value, json};
use shop::adapters::order_message;

use super::counts::{Counts, DIRECT_CALLER, FUNCTION_CALLER, fetch_all};
use super::lab::{HELLO, Lab, Process};
use super::peer;
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
        "product-reads" | peer::NAME => "GET /products/{id}",
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
        "product-reads" | "payment-webhook" | peer::NAME => Some(200),
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
            "product-reads" | peer::NAME => self.events.get_product(round).await?,
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
        next_message(&self.sqs, self.lab, queue).await
    }

    /// Starts `binary` and gives it its event: how long after the spawn the event was picked
    /// up, and answered.
    async fn first_invocation(
        &mut self,
        binary: &str,
        round: usize,
    ) -> Result<(Duration, Duration)> {
        self.drain_notifications().await?;
        let payload = self.event(binary, round).await?;
        let (spawned, timing) = (self.lab)
            .with_process(binary, async |process| {
                let timing = invoke(process, binary, &payload).await;
                let timing = timing.with_context(|| format!("{binary}'s first invocation"))?;
                Ok((process.spawned, timing))
            })
            .await?;
        let (Some(picked_up), Some(answered)) = (timing.picked_up, timing.answered) else {
            bail!("{binary}: no timing for its first invocation");
        };
        Ok((picked_up - spawned, answered - spawned))
    }
}

/// The next message on `queue`, waiting for it up to [`QUEUE_WAIT`].
async fn next_message(sqs: &aws_sdk_sqs::Client, lab: &Lab, queue: &str) -> Result<Vec<Message>> {
    let messages = receive(sqs, &lab.queue_url(queue)?, 1, QUEUE_WAIT).await?;
    if messages.is_empty() {
        bail!("nothing arrived on {queue} within {QUEUE_WAIT:?}");
    }
    Ok(messages)
}

/// Per binary, how long after its spawn each first event was picked up, and answered.
type ColdSamples<'a> = BTreeMap<&'a str, (Vec<Duration>, Vec<Duration>)>;

/// `spawns` rounds; in each, every binary (the floor, the functions, the peer) starts once
/// and serves one event.
pub async fn cold_starts(
    lab: &Lab,
    events: &Events,
    spawns: usize,
    progress: &Progress,
) -> Result<ColdStart> {
    let binaries: Vec<&str> = std::iter::once(HELLO)
        .chain(FUNCTIONS)
        .chain([peer::NAME])
        .collect();
    let mut samples = ColdSamples::new();
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
            let (request, response) = chain.first_invocation(binary, round).await?;
            let entry = samples.entry(binary).or_default();
            entry.0.push(request);
            entry.1.push(response);
        }
    }
    Ok(ColdStart {
        spawns,
        floor: HELLO.to_owned(),
        functions: cold_functions(&binaries, &samples)?,
    })
}

/// Each binary's first request and response, and their medians over the floor's.
fn cold_functions(binaries: &[&str], samples: &ColdSamples) -> Result<Vec<ColdFunction>> {
    let (request, response) = samples.get(HELLO).context("no floor measured")?;
    let floor = (
        Dist::of_durations(request).p50,
        Dist::of_durations(response).p50,
    );
    let functions = binaries.iter().map(|binary| {
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
    });
    Ok(functions.collect())
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
    let run = warm_alone(lab, HELLO, counts, async |i| Ok(json!({"i": i}))).await?;
    Ok(run.warm.duration_ms)
}

/// A warm run of `binary` with no direct path beside it (the floor, the peer): `warmup`
/// unmeasured invocations then `invocations` measured ones, `event(i)` the `i`th event; its
/// figures as a function's, the direct path's left empty.
pub async fn warm_alone(
    lab: &Lab,
    binary: &str,
    counts: &WarmCounts,
    event: impl AsyncFn(usize) -> Result<Value>,
) -> Result<WarmRun> {
    let samples = lab.with_process(binary, async |process| {
        let mut samples = WarmSamples::default();
        let mut before = lab.function_counts()?;
        for i in 0..counts.warmup + counts.invocations {
            if i == counts.warmup {
                before = lab.function_counts()?;
            }
            let payload = event(i).await?;
            let started = Instant::now();
            let timing = invoke(process, binary, &payload).await?;
            if i >= counts.warmup {
                samples.invoke_times.push(started.elapsed());
                let duration = timing.duration().context("no billed duration")?;
                samples.durations.push(duration);
            }
            samples.served = i + 1;
            if samples.served == counts.rss_after {
                samples.rss_at = Some((samples.served, process.peak_rss()?));
            }
        }
        samples.requests = lab.function_counts()?.since(&before);
        samples.end_rss = process.peak_rss()?;
        Ok(samples)
    });
    let samples = samples
        .await
        .with_context(|| format!("warm run of {binary}"))?;
    Ok(samples.report(binary, counts.invocations))
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
        let url = lab.queue_url(queue)?;
        let purge = sqs.purge_queue().queue_url(url).send().await;
        purge.map_err(crate::aws::aws_error)?;
    }
    let wanted = 2 * (counts.warmup + counts.invocations);
    let warmer = Warmer {
        lab,
        sqs,
        events,
        direct,
        counts,
        progress,
    };
    let mut feed = Feed {
        // Opened before anything is placed: the relay's inputs are the placements that follow.
        stream: StreamTail::open(lab).await?,
        produced: Vec::new(),
        confirmed: Vec::new(),
    };
    let mut runs = Vec::new();
    for binary in FUNCTIONS {
        let (inputs, output_queue) = feed.inputs(lab, binary, wanted).await?;
        if inputs.len() < wanted {
            bail!("{binary}: only {} of {wanted} inputs arrived", inputs.len());
        }
        feed.confirmed = confirmed_orders(&inputs);
        let (run, outputs) = warmer.run(binary, &inputs, output_queue).await?;
        feed.produced = outputs;
        runs.push(run);
    }
    Ok(runs)
}

/// What the functions of the warm run hand on to the next one.
struct Feed {
    stream: StreamTail,
    /// Messages the last function (and its direct path) sent: the next one's inputs.
    produced: Vec<Message>,
    /// Orders the processor confirmed: the webhooks' inputs.
    confirmed: Vec<String>,
}

impl Feed {
    /// `binary`'s inputs (`wanted`, half for the function, half for its direct path), and
    /// the queue its output lands on when that is the next one's input.
    async fn inputs(
        &mut self,
        lab: &Lab,
        binary: &str,
        wanted: usize,
    ) -> Result<(Vec<Input>, Option<&'static str>)> {
        Ok(match binary {
            "product-reads" => ((0..wanted).map(Input::Product).collect(), None),
            "orders-api" => ((0..wanted).map(Input::Order).collect(), None),
            "order-relay" => {
                let records = self.stream.events("order.placed", wanted).await?;
                let inputs = records.into_iter().map(Input::Committed).collect();
                (inputs, Some("OrdersQueue"))
            }
            // Their events are the relay's to publish: nothing lands on a queue.
            "order-processor" => (self.produced.drain(..).map(Input::Orders).collect(), None),
            "payment-webhook" => {
                let payments = payments_for(lab, &self.confirmed).await?;
                let inputs = payments.into_iter().map(Input::Payment).collect();
                (inputs, Some("PaymentEventsQueue"))
            }
            "order-payments" => {
                let inputs = self.produced.drain(..).map(Input::PaymentEvent).collect();
                (inputs, None)
            }
            other => bail!("no warm inputs for {other}"),
        })
    }
}

/// The orders of the place-order messages among `inputs`.
fn confirmed_orders(inputs: &[Input]) -> Vec<String> {
    let commands = inputs.iter().filter_map(|input| match input {
        Input::Orders(m) => order_message::from_body(m.body().unwrap_or_default()).ok(),
        _ => None,
    });
    commands.map(|c| c.order_id.to_string()).collect()
}

/// What every function's warm run uses.
struct Warmer<'a> {
    lab: &'a Lab,
    sqs: aws_sdk_sqs::Client,
    events: &'a Events,
    direct: &'a Direct,
    counts: &'a WarmCounts,
    progress: &'a Progress,
}

/// One function's measured invocations.
#[derive(Default)]
struct WarmSamples {
    invoke_times: Vec<Duration>,
    durations: Vec<Duration>,
    direct_times: Vec<Duration>,
    /// Invocations served when the peak RSS was read for the report, and its value.
    rss_at: Option<(usize, u64)>,
    /// AWS requests of the function, and of the direct path.
    requests: Counts,
    direct_requests: Counts,
    log_bytes: u64,
    /// Invocations served in all, warm-up included, and the peak RSS after them.
    served: usize,
    end_rss: u64,
}

impl Warmer<'_> {
    /// `binary`'s warm run on the first half of `inputs`, its direct path on the second;
    /// with what both sent to `output_queue`.
    async fn run(
        &self,
        binary: &str,
        inputs: &[Input],
        output_queue: Option<&str>,
    ) -> Result<(WarmRun, Vec<Message>)> {
        let (function_inputs, direct_inputs) = inputs.split_at(inputs.len() / 2);
        let pairs: Vec<_> = function_inputs.iter().zip(direct_inputs).collect();
        let (warmup, measured) = pairs.split_at(self.counts.warmup.min(pairs.len()));
        let mut outputs = Vec::with_capacity(inputs.len());
        let (lab, events) = (self.lab, self.events);
        let samples = lab.with_process(binary, async |process| {
            for &(input, direct_input) in warmup {
                invoke(process, binary, &input.event(lab, events).await?).await?;
                direct_input.direct(self.direct, events).await?;
                self.collect(output_queue, &mut outputs).await?;
            }
            let before = fetch_all(&lab.endpoint)?;
            let log_before = lab.log_bytes(binary);
            let served = warmup.len();
            let mut samples = self
                .measure(
                    process,
                    binary,
                    measured,
                    served,
                    output_queue,
                    &mut outputs,
                )
                .await?;
            let after = fetch_all(&lab.endpoint)?;
            let caller = |name: &str| -> Counts {
                let counts = |all: &BTreeMap<String, Counts>| all.get(name).cloned();
                counts(&after)
                    .unwrap_or_default()
                    .since(&counts(&before).unwrap_or_default())
            };
            samples.requests = caller(FUNCTION_CALLER);
            samples.direct_requests = caller(DIRECT_CALLER);
            samples.log_bytes = lab.log_bytes(binary) - log_before;
            samples.served = pairs.len();
            samples.end_rss = process.peak_rss()?;
            Ok(samples)
        });
        let samples = samples
            .await
            .with_context(|| format!("warm run of {binary}"))?;
        Ok((samples.report(binary, self.counts.invocations), outputs))
    }

    /// The measured invocations, each followed by its direct path's; `served` before them.
    async fn measure(
        &self,
        process: &Process,
        binary: &str,
        measured: &[(&Input, &Input)],
        served: usize,
        output_queue: Option<&str>,
        outputs: &mut Vec<Message>,
    ) -> Result<WarmSamples> {
        let mut samples = WarmSamples::default();
        for (i, &(input, direct_input)) in measured.iter().enumerate() {
            let payload = input.event(self.lab, self.events).await?;
            let started = Instant::now();
            let timing = invoke(process, binary, &payload).await?;
            samples.invoke_times.push(started.elapsed());
            samples
                .durations
                .push(timing.duration().context("no billed duration")?);
            if served + i + 1 == self.counts.rss_after {
                samples.rss_at = Some((served + i + 1, process.peak_rss()?));
            }
            let started = Instant::now();
            direct_input.direct(self.direct, self.events).await?;
            samples.direct_times.push(started.elapsed());
            self.collect(output_queue, outputs).await?;
            if (i + 1) % 500 == 0 {
                let of = self.counts.invocations;
                (self.progress)(&format!("warm: {binary} {}/{of}", i + 1));
            }
        }
        Ok(samples)
    }

    /// What the function and its direct path sent to `output_queue` for an input each, read
    /// off one at a time so the queue never grows.
    async fn collect(&self, output_queue: Option<&str>, into: &mut Vec<Message>) -> Result<()> {
        if let Some(queue) = output_queue {
            for _ in 0..2 {
                into.append(&mut next_message(&self.sqs, self.lab, queue).await?);
            }
        }
        Ok(())
    }
}

impl WarmSamples {
    /// The figures of `invocations` measured invocations of `binary`.
    fn report(self, binary: &str, invocations: usize) -> WarmRun {
        let measured = invocations as f64;
        let requests = OpCount::per(&self.requests, measured);
        let direct_requests = OpCount::per(&self.direct_requests, measured);
        let same_requests = requests.len() == direct_requests.len()
            && requests.iter().zip(&direct_requests).all(|(a, b)| {
                a.service == b.service
                    && a.operation == b.operation
                    && (a.requests - b.requests).abs() < 1e-9
            });
        let duration_ms = Dist::of_durations(&self.durations);
        let direct_ms = Dist::of_durations(&self.direct_times);
        let added = duration_ms.p50 - direct_ms.p50;
        let (rss_invocations, rss) = self.rss_at.unwrap_or((self.served, self.end_rss));
        WarmRun {
            warm: Warm {
                binary: binary.to_owned(),
                event: event_name(binary).to_owned(),
                invocations,
                invoke_ms: Dist::of_durations(&self.invoke_times),
                billed_ms_mean: billed_mean(&self.durations),
                added_p50_ms: added,
                added_p50_percent: 100.0 * added / direct_ms.p50,
                duration_ms,
                direct_ms,
                requests,
                direct_requests,
                same_requests,
                log_bytes_per_invocation: self.log_bytes as f64 / measured,
            },
            memory: Memory {
                binary: binary.to_owned(),
                invocations: rss_invocations,
                peak_rss_bytes: rss,
                invocations_end: self.served,
                peak_rss_end_bytes: self.end_rss,
            },
        }
    }
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
    let mut path = OrderPath {
        sqs: aws_sdk_sqs::Client::new(&lab.bench),
        plumbing: Direct::new(lab, &lab.bench)?,
        events: Events::new(lab)?,
        processor: lab.spawn("order-processor").await?,
        payer: lab.spawn("order-payments").await?,
        relay: lab.spawn("order-relay").await?,
        stream: StreamTail::open(lab).await?,
        tallies: Default::default(),
        lab,
    };
    let result = async {
        let mut out = Vec::new();
        for &size in sizes {
            progress(&format!("requests per order: batch size {size}"));
            for round in 0..=batches {
                path.round(size, round).await?;
            }
            let functions = ["order-processor", "order-payments", "order-relay"];
            for (function, tally) in functions.iter().zip(std::mem::take(&mut path.tallies)) {
                out.push(tally.report(function, size, batches));
            }
        }
        anyhow::Ok(out)
    }
    .await;
    path.processor.stop().await;
    path.payer.stop().await;
    path.relay.stop().await;
    result
}

/// The order path's batch consumers, each with a tally of its measured batches.
struct OrderPath<'a> {
    lab: &'a Lab,
    sqs: aws_sdk_sqs::Client,
    /// Places orders and records payments, as the HTTP functions would.
    plumbing: Direct,
    events: Events,
    processor: Process,
    payer: Process,
    relay: Process,
    stream: StreamTail,
    /// order-processor's, order-payments' and order-relay's.
    tallies: [Tally; 3],
}

impl OrderPath<'_> {
    /// `size` orders placed, relayed, confirmed, paid; measured after the first round.
    async fn round(&mut self, size: usize, round: usize) -> Result<()> {
        let measured = round > 0;
        let mut ids = Vec::with_capacity(size);
        for i in 0..size {
            let body = self.events.order_body(round * size + i);
            ids.push(self.plumbing.place_order(&body).await?);
        }
        self.relay("order.placed", size, measured).await?;
        let event = self.batch("OrdersQueue", size).await?;
        let (lab, processor) = (self.lab, &self.processor);
        self.tallies[0]
            .run(lab, processor, "order-processor", &event, measured)
            .await?;
        self.relay("order.confirmed", size, measured).await?;
        for payment in payments_for(self.lab, &ids).await? {
            self.plumbing.webhook(&payment).await?;
        }
        let event = self.batch("PaymentEventsQueue", size).await?;
        self.tallies[1]
            .run(lab, &self.payer, "order-payments", &event, measured)
            .await?;
        self.relay("order.paid", size, measured).await
    }

    /// order-relay on the `size` committed events of `event_type`; then what it published
    /// to NotificationsQueue is drained (see [`warm`]), except for placements.
    async fn relay(&mut self, event_type: &str, size: usize, measured: bool) -> Result<()> {
        let event = stream_event(&self.stream.events(event_type, size).await?);
        self.tallies[2]
            .run(self.lab, &self.relay, "order-relay", &event, measured)
            .await?;
        if event_type != "order.placed" {
            let url = self.lab.queue_url("NotificationsQueue")?;
            receive(&self.sqs, &url, size, QUEUE_WAIT).await?;
        }
        Ok(())
    }

    /// An SQS event of the `size` messages on `queue`.
    async fn batch(&self, queue: &str, size: usize) -> Result<Value> {
        let messages = receive(&self.sqs, &self.lab.queue_url(queue)?, size, QUEUE_WAIT).await?;
        if messages.len() != size {
            bail!("fewer than {size} messages arrived on {queue} within {QUEUE_WAIT:?}");
        }
        Ok(workload::sqs(&messages, &self.lab.queue_arn(queue)?))
    }
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
