//! `cargo dev bench --smoke` through the library: every phase runs on debug builds with tiny
//! counts, and the report it writes has every section with plausible figures.

use dev::bench::{BenchOptions, Report, run};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smoke_run_reports_every_section() {
    let root = dev::repo::repo_root().unwrap();
    let out = std::env::temp_dir().join(format!("shop-bench-smoke-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let report = run(BenchOptions::smoke(root, out.clone())).await.unwrap();

    // What tooling reads: the JSON file, not the value in memory.
    let text = std::fs::read_to_string(out.join("benchmarks.json")).unwrap();
    let json: Value = serde_json::from_str(&text).unwrap();
    for section in [
        "meta",
        "targets",
        "artifacts",
        "cold_start",
        "warm",
        "memory",
        "peer",
        "requests_per_order",
        "throughput",
        "cost",
    ] {
        assert!(!json[section].is_null(), "no {section} in the report");
    }
    let report: Report = serde_json::from_value(json).unwrap_or(report);
    assert_eq!(report.meta.mode, "smoke");
    let functions = [
        "orders-api",
        "order-processor",
        "payment-webhook",
        "order-payments",
        "product-reads",
    ];

    for binary in functions.iter().chain(&["hello"]) {
        let artifact = report
            .artifacts
            .iter()
            .find(|a| a.binary == *binary)
            .unwrap();
        assert!(
            artifact.bootstrap_bytes > 0 && artifact.zip_bytes > 0,
            "{artifact:?}"
        );
        assert!(
            artifact.zip_bytes < artifact.bootstrap_bytes,
            "{artifact:?}"
        );
        let cold = report
            .cold_start
            .functions
            .iter()
            .find(|f| f.binary == *binary)
            .unwrap();
        assert_eq!(cold.first_request_ms.count, report.meta.counts.spawns);
        assert!(cold.first_request_ms.p50 > 0.0, "{cold:?}");
        assert!(
            cold.first_response_ms.p50 >= cold.first_request_ms.p50,
            "{cold:?}"
        );
    }

    for binary in functions {
        let warm = report.warm.iter().find(|w| w.binary == binary).unwrap();
        assert_eq!(warm.duration_ms.count, report.meta.counts.invocations);
        assert!(
            warm.duration_ms.p50 > 0.0 && warm.direct_ms.p50 > 0.0,
            "{warm:?}"
        );
        assert!(warm.invoke_ms.p50 >= warm.duration_ms.p50 * 0.5, "{warm:?}");
        // Every function calls AWS, and the direct path makes the same requests.
        assert!(!warm.requests.is_empty(), "{binary} made no AWS request");
        assert!(warm.same_requests, "{warm:?}");
        let memory = report.memory.iter().find(|m| m.binary == binary).unwrap();
        assert!(memory.peak_rss_bytes > 1024 * 1024, "{memory:?}");
    }

    assert_eq!(report.warm_floor_ms.count, report.meta.counts.invocations);
    assert!(
        report.warm.iter().any(|w| w.log_bytes_per_invocation > 0.0),
        "no function logged anything"
    );

    for size in [1, 10] {
        let of = |function: &str| {
            report
                .requests_per_order
                .iter()
                .find(|b| b.function == function && b.batch_size == size)
                .unwrap()
        };
        let counted =
            |batch: &dev::bench::report::BatchRequests, service: &str, operation: &str| {
                batch
                    .per_order
                    .iter()
                    .any(|o| o.service == service && o.operation == operation)
            };
        let batch = of("order-processor");
        assert_eq!(batch.orders, size * report.meta.counts.batches);
        // The processor only commits: publishing is the relay's.
        assert!(
            batch.dynamodb_per_order > 0.0 && batch.sns_per_order == 0.0,
            "{batch:?}"
        );
        for operation in ["BatchGetItem", "TransactWriteItems"] {
            assert!(
                counted(batch, "dynamodb", operation),
                "no {operation} counted: {batch:?}"
            );
        }
        let relay = of("order-relay");
        assert!(counted(relay, "sqs", "SendMessageBatch"), "{relay:?}");
        assert!(counted(relay, "sns", "PublishBatch"), "{relay:?}");
        assert_eq!(relay.dynamodb_per_order, 0.0, "{relay:?}");
        // Three relayed events per order (placed, confirmed, paid), a batch of each.
        assert!(
            (relay.invocations_per_order - 3.0 / size as f64).abs() < 1e-9,
            "{relay:?}"
        );
    }

    let throughput = &report.throughput;
    assert_eq!(throughput.paid, throughput.orders, "{throughput:?}");
    assert!(throughput.orders_per_second > 0.0, "{throughput:?}");
    assert_eq!(throughput.terminal_ms.count, throughput.orders);
    assert!(!throughput.requests_per_order.is_empty());

    assert!(report.cost.per_million_orders.total_dollars > 0.0);
    assert!(report.cost.per_million_product_reads.total_dollars > 0.0);
    assert_eq!(report.targets.len(), 11, "{:?}", report.targets);

    // product-reads' Python peer, measured as product-reads, beside it.
    let peer = report.peer.as_ref().expect("no python peer in the report");
    assert_eq!(
        (peer.name.as_str(), peer.of.as_str()),
        ("python-peer", "product-reads")
    );
    assert!(
        peer.stack.starts_with("Python 3") && peer.stack.contains("boto3=="),
        "{peer:?}"
    );
    assert_eq!(peer.cold.first_request_ms.count, report.meta.counts.spawns);
    assert!(
        peer.cold.first_response_ms.p50 >= peer.cold.first_request_ms.p50,
        "{peer:?}"
    );
    assert_eq!(peer.duration_ms.count, report.meta.counts.invocations);
    assert_eq!(
        dev::bench::report::OpCount::describe(&peer.requests),
        "dynamodb:GetItem 1"
    );
    assert!(peer.memory.peak_rss_bytes > 1024 * 1024, "{peer:?}");
    assert!(
        !report
            .cold_start
            .functions
            .iter()
            .any(|f| f.binary == peer.name),
        "the peer is not one of the functions the targets judge"
    );
    let sides = report.side_by_side();
    assert_eq!(sides.len(), 5, "{sides:?}");
    assert!(
        sides.iter().all(|s| s.ratio.is_finite() && s.ratio > 0.0),
        "{sides:?}"
    );
    // Python starts far slower than a Rust binary, even a debug build.
    assert!(sides[0].ratio > 2.0, "{sides:?}");

    let markdown = std::fs::read_to_string(out.join("benchmarks.md")).unwrap();
    assert!(markdown.contains("## Targets") && markdown.contains("cold-start.svg"));
    assert!(markdown.contains("## product-reads vs the Python peer"));
    assert_eq!(
        markdown
            .lines()
            .filter(|l| l.starts_with("| python-peer |"))
            .count(),
        3,
        "cold, warm, memory rows"
    );
    for plot in ["cold-start.svg", "warm-latency.svg", "throughput.svg"] {
        let svg = std::fs::read_to_string(out.join(plot)).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("<rect"), "{plot}");
    }
    let _ = std::fs::remove_dir_all(&out);
}
