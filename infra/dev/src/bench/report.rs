//! The bench's findings: one value, written as `benchmarks.json` and rendered as
//! `benchmarks.md` (see [`super::markdown`]).

use serde::{Deserialize, Serialize};

use super::counts::Counts;
use super::stats::Dist;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Report {
    pub meta: Meta,
    pub targets: Vec<Target>,
    pub artifacts: Vec<Artifact>,
    pub cold_start: ColdStart,
    pub warm: Vec<Warm>,
    /// hello-world's warm duration: the Runtime API round trip alone.
    pub warm_floor_ms: Dist,
    pub memory: Vec<Memory>,
    /// product-reads written as a user would in Python; absent from reports before it.
    #[serde(default)]
    pub peer: Option<Peer>,
    pub requests_per_order: Vec<BatchRequests>,
    pub throughput: Throughput,
    pub cost: Cost,
    /// What holds back a missed target, and other findings worth reading.
    pub notes: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Meta {
    pub generated_at: String,
    /// `full` or `smoke`.
    pub mode: String,
    /// The cargo profile the measured binaries were built with.
    pub profile: String,
    pub git_commit: String,
    pub cpus: usize,
    pub memory_gib: f64,
    pub counts: BenchCounts,
    pub seconds: f64,
}

/// How much of everything the run did.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct BenchCounts {
    /// Process starts per binary for the cold start.
    pub spawns: usize,
    /// Measured warm invocations per function (and as many direct calls).
    pub invocations: usize,
    /// Unmeasured invocations first, per function and per direct path.
    pub warmup: usize,
    /// Invocations after which peak RSS is read.
    pub rss_after: usize,
    /// Measured batches per batch size for the request counts.
    pub batches: usize,
    /// Orders through the local cloud for the throughput.
    pub orders: usize,
    /// Orders in flight at once during the throughput run.
    pub in_flight: usize,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Target {
    pub name: String,
    pub limit: String,
    pub measured: String,
    pub met: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Artifact {
    pub binary: String,
    pub bootstrap_bytes: u64,
    /// The deployment package: `bootstrap` alone in a deflated zip, as `cargo lambda build
    /// --output-format zip` makes it.
    pub zip_bytes: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ColdStart {
    pub spawns: usize,
    pub floor: String,
    pub functions: Vec<ColdFunction>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ColdFunction {
    pub binary: String,
    /// What the first invocation was.
    pub event: String,
    /// Process spawn to its first `GET /runtime/invocation/next` (Lambda's init).
    pub first_request_ms: Dist,
    /// Process spawn to its first response (init plus the first invocation).
    pub first_response_ms: Dist,
    /// Median over the floor's median.
    pub first_request_ratio: f64,
    pub first_response_ratio: f64,
}

/// One AWS operation, per unit (invocation or order).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct OpCount {
    pub service: String,
    pub operation: String,
    pub requests: f64,
    pub items: f64,
    pub request_bytes: f64,
    pub response_bytes: f64,
    /// Emulator time per unit, in milliseconds.
    pub emulator_ms: f64,
}

impl OpCount {
    pub fn per(counts: &Counts, units: f64) -> Vec<OpCount> {
        let units = units.max(1.0);
        counts
            .0
            .iter()
            .map(|((service, operation), c)| OpCount {
                service: service.clone(),
                operation: operation.clone(),
                requests: c.requests as f64 / units,
                items: c.items as f64 / units,
                request_bytes: c.request_bytes as f64 / units,
                response_bytes: c.response_bytes as f64 / units,
                emulator_ms: c.seconds * 1e3 / units,
            })
            .collect()
    }

    pub fn service_total(ops: &[OpCount], service: &str) -> f64 {
        // Folded from +0.0: an empty f64 sum is -0.0, which prints as "-0".
        ops.iter()
            .filter(|o| o.service == service)
            .fold(0.0, |total, o| total + o.requests)
    }

    /// `dynamodb:GetItem 1, sns:Publish 1`
    pub fn describe(ops: &[OpCount]) -> String {
        if ops.is_empty() {
            return "none".to_owned();
        }
        ops.iter()
            .map(|o| format!("{}:{} {}", o.service, o.operation, trim(o.requests)))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A count without trailing zeros: `1`, `0.1`, `1.25`.
pub fn trim(value: f64) -> String {
    let text = format!("{value:.3}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Warm {
    pub binary: String,
    pub event: String,
    pub invocations: usize,
    /// The caller's view: invoke to answer, through the Runtime API host.
    pub invoke_ms: Dist,
    /// Event handed over to answer received: what Lambda bills.
    pub duration_ms: Dist,
    /// The same AWS requests made directly by the bench (same adapters, same SDK).
    pub direct_ms: Dist,
    /// Mean of each invocation's duration rounded up to the millisecond, as Lambda bills.
    pub billed_ms_mean: f64,
    /// duration p50 minus direct p50.
    pub added_p50_ms: f64,
    pub added_p50_percent: f64,
    /// AWS requests per invocation, counted by the emulator.
    pub requests: Vec<OpCount>,
    pub direct_requests: Vec<OpCount>,
    /// Whether the direct path made exactly the function's requests.
    pub same_requests: bool,
    pub log_bytes_per_invocation: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Memory {
    pub binary: String,
    /// Invocations served when the peak was read.
    pub invocations: usize,
    pub peak_rss_bytes: u64,
    /// At the end of the warm run.
    pub invocations_end: usize,
    pub peak_rss_end_bytes: u64,
}

/// One of our functions' work written as a user would write it, in another language, and
/// measured beside it in the same run: the Python peer of product-reads (`bench/peer/`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Peer {
    pub name: String,
    /// Our function it does the work of.
    pub of: String,
    /// What it runs on: the interpreter and the pinned packages.
    pub stack: String,
    /// Its cold start, measured with the functions' (ratios over the same floor).
    pub cold: ColdFunction,
    /// Its warm run: no direct path beside it.
    pub invocations: usize,
    pub duration_ms: Dist,
    pub invoke_ms: Dist,
    pub requests: Vec<OpCount>,
    pub memory: Memory,
}

/// Our function's figure and the peer's, and the peer's over ours.
#[derive(Clone, Debug, PartialEq)]
pub struct Side {
    pub what: &'static str,
    pub ours: f64,
    pub peer: f64,
    pub ratio: f64,
}

impl Report {
    /// The peer beside the function it does the work of: init, first response, warm
    /// p50 and p99 (ms), peak RSS (MiB). Empty without a peer or without that function's
    /// figures.
    pub fn side_by_side(&self) -> Vec<Side> {
        let Some(peer) = &self.peer else {
            return Vec::new();
        };
        let cold = self
            .cold_start
            .functions
            .iter()
            .find(|f| f.binary == peer.of);
        let warm = self.warm.iter().find(|w| w.binary == peer.of);
        let memory = self.memory.iter().find(|m| m.binary == peer.of);
        let (Some(cold), Some(warm), Some(memory)) = (cold, warm, memory) else {
            return Vec::new();
        };
        let mib = |m: &Memory| m.peak_rss_bytes as f64 / 1024.0 / 1024.0;
        let sides = [
            (
                "init",
                cold.first_request_ms.p50,
                peer.cold.first_request_ms.p50,
            ),
            (
                "first response",
                cold.first_response_ms.p50,
                peer.cold.first_response_ms.p50,
            ),
            ("warm p50", warm.duration_ms.p50, peer.duration_ms.p50),
            ("warm p99", warm.duration_ms.p99, peer.duration_ms.p99),
            ("peak RSS", mib(memory), mib(&peer.memory)),
        ];
        let side = |(what, ours, peer): (&'static str, f64, f64)| Side {
            what,
            ours,
            peer,
            ratio: peer / ours,
        };
        sides.into_iter().map(side).collect()
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BatchRequests {
    pub function: String,
    pub batch_size: usize,
    pub batches: usize,
    pub orders: usize,
    pub per_order: Vec<OpCount>,
    pub dynamodb_per_order: f64,
    pub sns_per_order: f64,
    pub sqs_per_order: f64,
    /// Billed duration of one batch.
    pub batch_duration_ms: Dist,
    pub duration_ms_per_order: f64,
    /// Billed (rounded up to the millisecond) duration of the batches over their orders.
    pub billed_ms_per_order: f64,
    /// Invocations per order: one per batch, three for the relay (placed, confirmed, paid).
    #[serde(default)]
    pub invocations_per_order: f64,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Throughput {
    pub orders: usize,
    pub in_flight: usize,
    /// Processes per function (and pollers per queue) in the local cloud.
    pub concurrency: usize,
    pub paid: usize,
    pub rejected: usize,
    pub cancelled: usize,
    /// Orders without a terminal state when the run ended.
    pub unfinished: usize,
    pub seconds: f64,
    pub orders_per_second: f64,
    /// POST /orders sent to `order.confirmed` seen.
    pub confirmed_ms: Dist,
    /// POST /orders sent to a terminal event (`order.paid`, `.rejected`, `.cancelled`) seen.
    pub terminal_ms: Dist,
    /// HTTP status of POST /orders: 202 expected.
    pub post_errors: usize,
    /// Every AWS request of the functions and the event source pollers, per order.
    pub requests_per_order: Vec<OpCount>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Cost {
    pub region: String,
    /// When the prices were last checked against the providers' pages.
    pub prices_as_of: String,
    pub prices: Vec<Price>,
    pub per_million_orders: CostTable,
    pub per_million_product_reads: CostTable,
    pub assumptions: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Price {
    pub item: String,
    pub unit: String,
    pub dollars: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CostTable {
    pub total_dollars: f64,
    pub lines: Vec<CostLine>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CostLine {
    pub item: String,
    /// Units per order (or per product read).
    pub quantity: f64,
    pub unit: String,
    pub dollars_per_million: f64,
}
