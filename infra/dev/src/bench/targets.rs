//! The targets, each reported as met or not, and notes on what a miss comes from.

use super::report::{BatchRequests, Report, Target};

const COLD_START_RATIO: f64 = 1.5;
const PEAK_RSS_MIB: f64 = 32.0;
const ZIP_MIB: f64 = 6.0;
const DYNAMODB_PER_ORDER: f64 = 1.3;
const SNS_PER_ORDER: f64 = 0.2;
const ADDED_PERCENT: f64 = 10.0;
/// The batch size the request targets are stated for.
const TARGET_BATCH: usize = 10;

const MIB: f64 = 1024.0 * 1024.0;

/// The item with the largest `key`: the one a target is judged on.
fn worst<'a, T: 'a>(
    items: impl IntoIterator<Item = &'a T>,
    key: impl Fn(&T) -> f64,
) -> Option<&'a T> {
    items.into_iter().max_by(|a, b| key(a).total_cmp(&key(b)))
}

fn target(name: &str, limit: String, measured: String, met: bool) -> Target {
    Target {
        name: name.to_owned(),
        limit,
        measured,
        met,
    }
}

/// Each target the report has figures for, met or not.
pub fn evaluate(report: &Report) -> Vec<Target> {
    let mut targets: Vec<Target> = [cold_start(report), peak_rss(report), zip(report)]
        .into_iter()
        .flatten()
        .collect();
    targets.extend(requests_per_order(report));
    targets.extend(added_latency(report));
    targets
}

fn cold_start(report: &Report) -> Option<Target> {
    let functions = report.cold_start.functions.iter();
    let functions = functions.filter(|f| f.binary != report.cold_start.floor);
    let f = worst(functions, |f| f.first_request_ratio)?;
    Some(target(
        "Cold start (init) of every function over the hello-world floor",
        format!("≤ {COLD_START_RATIO}×"),
        format!(
            "worst {:.2}× ({}: {:.2} ms vs {:.2} ms)",
            f.first_request_ratio,
            f.binary,
            f.first_request_ms.p50,
            f.first_request_ms.p50 / f.first_request_ratio
        ),
        f.first_request_ratio <= COLD_START_RATIO,
    ))
}

fn peak_rss(report: &Report) -> Option<Target> {
    let m = worst(&report.memory, |m| m.peak_rss_bytes as f64)?;
    Some(target(
        "Peak RSS of every function",
        format!("≤ {PEAK_RSS_MIB} MiB"),
        format!(
            "worst {:.1} MiB ({} after {} invocations)",
            m.peak_rss_bytes as f64 / MIB,
            m.binary,
            m.invocations
        ),
        m.peak_rss_bytes as f64 <= PEAK_RSS_MIB * MIB,
    ))
}

fn zip(report: &Report) -> Option<Target> {
    let zips = report.artifacts.iter();
    let zips = zips.filter(|a| a.binary != report.cold_start.floor);
    let a = worst(zips, |a| a.zip_bytes as f64)?;
    Some(target(
        "Zip of every function",
        format!("≤ {ZIP_MIB} MiB"),
        format!("worst {:.2} MiB ({})", a.zip_bytes as f64 / MIB, a.binary),
        a.zip_bytes as f64 <= ZIP_MIB * MIB,
    ))
}

/// DynamoDB and SNS requests per order of order-processor at the target batch size.
fn requests_per_order(report: &Report) -> Vec<Target> {
    let batches = &report.requests_per_order;
    let target_batch =
        |b: &&BatchRequests| b.function == "order-processor" && b.batch_size == TARGET_BATCH;
    let Some(b) = batches.iter().find(target_batch) else {
        return Vec::new();
    };
    vec![
        target(
            "DynamoDB requests per order, order-processor, batch of 10",
            format!("≤ {DYNAMODB_PER_ORDER}"),
            super::report::trim(b.dynamodb_per_order),
            b.dynamodb_per_order <= DYNAMODB_PER_ORDER + 1e-9,
        ),
        target(
            "SNS requests per order, order-processor, batch of 10",
            format!("≤ {SNS_PER_ORDER}"),
            super::report::trim(b.sns_per_order),
            b.sns_per_order <= SNS_PER_ORDER + 1e-9,
        ),
    ]
}

fn added_latency(report: &Report) -> Option<Target> {
    let w = worst(&report.warm, |w| w.added_p50_percent)?;
    Some(target(
        "Latency every function adds above the emulator's own, at p50",
        format!("≤ {ADDED_PERCENT}%"),
        format!(
            "worst {:+.1}% ({}: {:.2} ms over {:.2} ms)",
            w.added_p50_percent, w.binary, w.added_p50_ms, w.direct_ms.p50
        ),
        w.added_p50_percent <= ADDED_PERCENT,
    ))
}

/// What the figures say about each missed target, in numbers from this run.
pub fn notes(report: &Report) -> Vec<String> {
    let mut notes = Vec::new();
    for f in
        report.cold_start.functions.iter().filter(|f| {
            f.binary != report.cold_start.floor && f.first_request_ratio > COLD_START_RATIO
        })
    {
        let size = report
            .artifacts
            .iter()
            .find(|a| a.binary == f.binary)
            .map_or(0.0, |a| a.bootstrap_bytes as f64 / MIB);
        notes.push(format!(
            "{}: init {:.2} ms is {:.2}× the floor; its bootstrap is {size:.1} MiB.",
            f.binary, f.first_request_ms.p50, f.first_request_ratio
        ));
    }
    for w in report
        .warm
        .iter()
        .filter(|w| w.added_p50_percent > ADDED_PERCENT)
    {
        notes.push(format!(
            "{}: {:.2} ms above the direct path at p50 ({:+.1}%), over {:.2} ms of direct work; \
             hello-world's whole warm duration (the Runtime API round trip) is {:.2} ms.",
            w.binary,
            w.added_p50_ms,
            w.added_p50_percent,
            w.direct_ms.p50,
            report.warm_floor_ms.p50
        ));
    }
    for w in report.warm.iter().filter(|w| !w.same_requests) {
        notes.push(format!(
            "{}: the direct path's AWS requests ({}) differ from the function's ({}); its latency is not a like-for-like baseline.",
            w.binary,
            super::report::OpCount::describe(&w.direct_requests),
            super::report::OpCount::describe(&w.requests)
        ));
    }
    let t = &report.throughput;
    if t.unfinished > 0 || t.post_errors > 0 {
        notes.push(format!(
            "Throughput: {} orders unfinished and {} POST errors at the end of the run.",
            t.unfinished, t.post_errors
        ));
    }
    notes
}
