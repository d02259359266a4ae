//! Issue 16's targets, each reported as met or not, and notes on what a miss comes from.

use super::report::{BatchRequests, CostTable, Report, Target};

const COLD_START_RATIO: f64 = 1.5;
const PEAK_RSS_MIB: f64 = 16.0;
const ZIP_MIB: f64 = 5.0;
/// Per order of order-processor and per payment of order-payments.
const DYNAMODB_PER_ORDER: f64 = 1.2;
const SNS_PER_ORDER: f64 = 0.1;
const ADDED_PERCENT: f64 = 10.0;
/// Dollars per million orders (placed, confirmed and paid), from the cost model.
const COST_PER_MILLION_ORDERS: f64 = 10.0;
const COST_PER_MILLION_READS: f64 = 1.30;
/// How many times faster than the Python peer's product-reads' init must be.
const PEER_INIT_RATIO: f64 = 50.0;
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
    targets.extend(cost(report));
    targets.extend(peer_init(report));
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

/// One service's requests per order of a batch run.
type PerOrder = fn(&BatchRequests) -> f64;

/// DynamoDB and SNS requests per order of order-processor, and per payment of
/// order-payments, at the target batch size.
fn requests_per_order(report: &Report) -> Vec<Target> {
    let mut targets = Vec::new();
    let consumers = [("order-processor", "order"), ("order-payments", "payment")];
    let services: [(&str, f64, PerOrder); 2] = [
        ("DynamoDB", DYNAMODB_PER_ORDER, |b| b.dynamodb_per_order),
        ("SNS", SNS_PER_ORDER, |b| b.sns_per_order),
    ];
    for (service, limit, per_order) in services {
        for (function, unit) in consumers {
            let at_target =
                |b: &&BatchRequests| b.function == function && b.batch_size == TARGET_BATCH;
            let Some(b) = report.requests_per_order.iter().find(at_target) else {
                continue;
            };
            let measured = per_order(b);
            targets.push(target(
                &format!("{service} requests per {unit}, {function}, batch of {TARGET_BATCH}"),
                format!("≤ {limit}"),
                super::report::trim(measured),
                measured <= limit + 1e-9,
            ));
        }
    }
    targets
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

/// Dollars per million orders and per million product reads, from the cost model.
fn cost(report: &Report) -> Vec<Target> {
    let cost = &report.cost;
    let table = |name: &str, table: &CostTable, limit: f64| {
        target(
            name,
            format!("≤ ${limit:.2}"),
            format!("${:.2}", table.total_dollars),
            table.total_dollars <= limit,
        )
    };
    vec![
        table(
            "Cost per million orders (placed, confirmed and paid), cost model",
            &cost.per_million_orders,
            COST_PER_MILLION_ORDERS,
        ),
        table(
            "Cost per million product reads, cost model",
            &cost.per_million_product_reads,
            COST_PER_MILLION_READS,
        ),
    ]
}

/// product-reads' init against the Python peer's, from the side-by-side figures.
fn peer_init(report: &Report) -> Option<Target> {
    let peer = report.peer.as_ref()?;
    let sides = report.side_by_side();
    let init = sides.iter().find(|s| s.what == "init")?;
    Some(target(
        &format!(
            "Cold start (init) of {} against the Python peer's, peer ÷ ours",
            peer.of
        ),
        format!("≥ {PEER_INIT_RATIO}×"),
        format!(
            "{:.1}× ({}: {:.1} ms vs {}: {:.2} ms)",
            init.ratio, peer.name, init.peer, peer.of, init.ours
        ),
        init.ratio >= PEER_INIT_RATIO,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::report::Peer;

    /// The last full run's report, as reports were before the peer.
    fn report_without_peer() -> Report {
        let file = crate::repo::repo_root()
            .unwrap()
            .join("docs/benchmarks.json");
        let mut json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        json.as_object_mut().unwrap().remove("peer");
        serde_json::from_value(json).expect("a report without a peer loads")
    }

    /// A peer whose init is `times` product-reads'.
    fn peer_of(report: &Report, times: f64) -> Peer {
        let ours = |binary: &str| binary == "product-reads";
        let cold = report.cold_start.functions.iter().find(|f| ours(&f.binary));
        let mut cold = cold.unwrap().clone();
        cold.binary = "python-peer".to_owned();
        cold.first_request_ms.p50 *= times;
        let warm = report.warm.iter().find(|w| ours(&w.binary)).unwrap();
        let memory = report.memory.iter().find(|m| ours(&m.binary)).unwrap();
        Peer {
            name: "python-peer".to_owned(),
            of: "product-reads".to_owned(),
            stack: "Python".to_owned(),
            cold,
            invocations: warm.invocations,
            duration_ms: warm.duration_ms.clone(),
            invoke_ms: warm.invoke_ms.clone(),
            requests: warm.requests.clone(),
            memory: memory.clone(),
        }
    }

    fn limits(report: &Report) -> Vec<(String, String)> {
        let targets = evaluate(report).into_iter();
        targets.map(|t| (t.name, t.limit)).collect()
    }

    #[test]
    fn the_targets_are_issue_16s() {
        let expected = [
            (
                "Cold start (init) of every function over the hello-world floor",
                "≤ 1.5×",
            ),
            ("Peak RSS of every function", "≤ 16 MiB"),
            ("Zip of every function", "≤ 5 MiB"),
            (
                "DynamoDB requests per order, order-processor, batch of 10",
                "≤ 1.2",
            ),
            (
                "DynamoDB requests per payment, order-payments, batch of 10",
                "≤ 1.2",
            ),
            (
                "SNS requests per order, order-processor, batch of 10",
                "≤ 0.1",
            ),
            (
                "SNS requests per payment, order-payments, batch of 10",
                "≤ 0.1",
            ),
            (
                "Latency every function adds above the emulator's own, at p50",
                "≤ 10%",
            ),
            (
                "Cost per million orders (placed, confirmed and paid), cost model",
                "≤ $10.00",
            ),
            ("Cost per million product reads, cost model", "≤ $1.30"),
            (
                "Cold start (init) of product-reads against the Python peer's, peer ÷ ours",
                "≥ 50×",
            ),
        ];
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(name, limit)| ((*name).to_owned(), (*limit).to_owned()))
            .collect();
        let mut report = report_without_peer();
        // Without a peer (an older report), no peer target.
        assert_eq!(limits(&report), expected[..expected.len() - 1]);
        report.peer = Some(peer_of(&report, 60.0));
        assert_eq!(limits(&report), expected);
    }

    #[test]
    fn the_peer_target_is_its_init_over_ours() {
        let mut report = report_without_peer();
        for (times, met) in [(60.0, true), (51.0, true), (49.0, false)] {
            report.peer = Some(peer_of(&report, times));
            let target = evaluate(&report).pop().unwrap();
            assert_eq!(target.met, met, "{target:?}");
            let measured = format!("{times:.1}× (python-peer: ");
            assert!(target.measured.starts_with(&measured), "{target:?}");
        }
    }

    #[test]
    fn the_cost_targets_read_the_cost_model() {
        let mut report = report_without_peer();
        report.cost.per_million_orders.total_dollars = 9.99;
        report.cost.per_million_product_reads.total_dollars = 1.31;
        let targets = evaluate(&report);
        let cost = |name: &str| targets.iter().find(|t| t.name.starts_with(name)).unwrap();
        let orders = cost("Cost per million orders");
        assert!(orders.met && orders.measured == "$9.99", "{orders:?}");
        let reads = cost("Cost per million product reads");
        assert!(!reads.met && reads.measured == "$1.31", "{reads:?}");
    }
}
