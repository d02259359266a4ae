//! Operability, locally: the functions' metrics (CloudWatch Embedded Metric Format lines) for
//! orders placed, confirmed, paid and cancelled, as `/_dev/stats` sums them and as the `/_dev`
//! page shows them in a browser, checked against what the API says of the same orders; and
//! their traces: each AWS call a subsegment of its invocation, sent to the local X-Ray daemon,
//! found from the trace id in the function's log line. This binary has its own local cloud,
//! so every figure is this test's.

use e2e::*;
use serde_json::Value;
use shop::telemetry::xray::TraceHeader;
use std::time::Duration;

async fn dev_stats() -> Value {
    http()
        .get(url("/_dev/stats"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// The number an element of the page shows: `<td ... id="{id}">{number}</td>`.
fn figure(page: &str, id: &str) -> f64 {
    let start = page
        .find(&format!("id=\"{id}\">"))
        .unwrap_or_else(|| panic!("no #{id} on the page"))
        + id.len()
        + 6;
    let end = start + page[start..].find('<').unwrap();
    page[start..end].trim().parse().unwrap()
}

/// The `Root` and `Parent` of orders-api's invocation that accepted `order_id`, read from the
/// trace id its log line carries (lambda_runtime's invocation span).
fn trace_in_log(order_id: &str) -> (String, String) {
    let log = cloud().log_dir().unwrap().join("orders-api.log");
    let text = std::fs::read_to_string(&log).unwrap();
    let line = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l.split_once(" | ")?.1).ok())
        .find(|l| l["order_id"] == order_id && l["message"] == "order accepted")
        .unwrap_or_else(|| panic!("no 'order accepted' line for {order_id} in {log:?}"));
    let header = line["spans"][0]["xrayTraceId"].as_str().unwrap();
    let trace =
        TraceHeader::parse(header).unwrap_or_else(|| panic!("no Root or Parent in {header}"));
    (trace.root, trace.parent)
}

/// Each function's AWS calls, as subsegments of its invocations in `/_dev/traces`.
async fn traces_of_an_order(order_id: &str) {
    let (root, parent) = trace_in_log(order_id);
    let calls = |invocation: &Value| -> Vec<String> {
        invocation["subsegments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                format!(
                    "{} {}",
                    s["name"].as_str().unwrap(),
                    s["aws"]["operation"].as_str().unwrap()
                )
            })
            .collect()
    };
    let traces = eventually(
        "the traces of the order's functions",
        Duration::from_secs(20),
        || async {
            let traces: Vec<Value> = http()
                .get(url("/_dev/traces"))
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            let made = |function: &str, call: &str| {
                traces
                    .iter()
                    .any(|i| i["function"] == function && calls(i).iter().any(|c| c == call))
            };
            (made("order-processor", "DynamoDB TransactWriteItems")
                && made("payment-webhook", "SNS PublishBatch")
                && made("order-payments", "DynamoDB TransactWriteItems")
                && traces
                    .iter()
                    .any(|i| i["parent_id"] == parent.as_str() && !calls(i).is_empty()))
            .then_some(traces)
        },
    )
    .await;

    // The invocation the log line names: orders-api's, whose one call is the placing transaction.
    let placing = traces
        .iter()
        .find(|i| i["parent_id"] == parent.as_str())
        .unwrap();
    assert_eq!(placing["function"], "orders-api");
    assert_eq!(placing["trace_id"], root.as_str());
    assert_eq!(calls(placing), ["DynamoDB TransactWriteItems"]);
    let call = &placing["subsegments"][0];
    assert_eq!(call["type"], "subsegment");
    assert_eq!(call["namespace"], "aws");
    assert_eq!(call["trace_id"], root.as_str());
    assert_eq!(call["parent_id"], parent.as_str());
    assert_eq!(call["http"]["response"]["status"], 200);
    assert_eq!(
        (call["error"].as_bool(), call["fault"].as_bool()),
        (Some(false), Some(false))
    );
    assert!(
        call["aws"]["request_id"]
            .as_str()
            .is_some_and(|id| !id.is_empty()),
        "{call}"
    );
    let (start, end) = (
        call["start_time"].as_f64().unwrap(),
        call["end_time"].as_f64().unwrap(),
    );
    assert!(start > 1_700_000_000.0 && start <= end, "{call}");
    // Subsegment ids are unique across the whole trace store.
    let mut ids: Vec<&str> = traces
        .iter()
        .flat_map(|i| i["subsegments"].as_array().unwrap())
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    let all = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), all);
}

#[tokio::test]
async fn metrics_page_and_stats_agree_with_the_orders_placed() {
    let product = seed_product("observed", 1_000, 10).await;
    let mut orders = Vec::new();
    for _ in 0..3 {
        let (status, placed) = post_order(&order_body(product.as_str(), 1), &[]).await;
        assert_eq!(status, 202, "{placed}");
        orders.push(order_in(placed["order_id"].as_str().unwrap(), "CONFIRMED").await);
    }
    let mut revenue = 0;
    for order in &orders[..2] {
        pay_in_full(order).await;
        revenue += total(order);
    }
    let cancelled = orders[2]["order_id"].as_str().unwrap();
    let (status, _, _) = cancel_order(cancelled).await;
    assert_eq!(status, 200);

    // What the API says of these orders now.
    let mut statuses = Vec::new();
    for order in &orders {
        let (_, view) = get_json(&format!("/orders/{}", order["order_id"].as_str().unwrap())).await;
        statuses.push(view["status"].as_str().unwrap().to_owned());
    }
    let count = |status: &str| statuses.iter().filter(|s| *s == status).count() as f64;
    assert_eq!((count("PAID"), count("CANCELLED")), (2.0, 1.0));

    // The functions' metric lines are flushed after each invocation: wait until they are all in.
    let stats = eventually(
        "the metrics of 3 orders",
        Duration::from_secs(30),
        || async {
            let stats = dev_stats().await;
            let funnel = &stats["stats"]["funnel"];
            let done = funnel["placed"] == 3.0
                && funnel["confirmed"] == 3.0
                && funnel["paid"] == 2.0
                && funnel["cancelled"] == 1.0;
            done.then_some(stats)
        },
    )
    .await;
    assert_eq!(stats["stats"]["revenue"]["EUR"], revenue as f64);
    assert_eq!(stats["stats"]["cancelled"]["customer_cancelled"], 1.0);

    // One of the EMF documents orders-api printed, as CloudWatch would read it.
    let placed = stats["stats"]["recent_documents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["function"] == "orders-api" && d.get("OrdersPlaced").is_some())
        .expect("orders-api printed an EMF line with OrdersPlaced");
    let directive = &placed["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(directive["Namespace"], "Shop/local");
    assert_eq!(directive["Dimensions"][0][0], "service");
    assert_eq!(directive["Metrics"][0]["Name"], "OrdersPlaced");
    assert!(placed["_aws"]["Timestamp"].as_u64().unwrap() > 1_700_000_000_000);
    let paid = stats["stats"]["recent_documents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["function"] == "order-payments" && d.get("Revenue").is_some())
        .expect("order-payments printed its revenue");
    assert_eq!(paid["currency"], "EUR");

    let latency = stats["stats"]["functions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["function"] == "orders-api")
        .expect("orders-api's latency");
    assert!(latency["invocations"].as_u64().unwrap() >= 3);
    assert!(latency["p99_ms"].as_f64().unwrap() >= latency["p50_ms"].as_f64().unwrap());
    assert!(
        stats["queues"]
            .as_array()
            .unwrap()
            .iter()
            .any(|q| q["queue"] == "OrdersDLQ" && q["dead_letters"] == true)
    );

    traces_of_an_order(orders[0]["order_id"].as_str().unwrap()).await;

    // The page, in a browser: the same figures as the API's orders.
    let Some(chromium) = chromium() else { return };
    let page = loaded(&chromium, &url("/_dev")).await;
    assert_eq!(figure(&page, "funnel-placed"), orders.len() as f64);
    assert_eq!(figure(&page, "funnel-confirmed"), orders.len() as f64);
    assert_eq!(figure(&page, "funnel-paid"), count("PAID"));
    assert_eq!(figure(&page, "funnel-cancelled"), count("CANCELLED"));
    assert_eq!(figure(&page, "revenue-EUR"), revenue as f64);
    assert!(figure(&page, "invocations-orders-api") >= 3.0);
    assert_eq!(figure(&page, "queue-OrdersDLQ"), 0.0);
    // The last invocations (the orders' reads and the saga's, by now), each with its calls.
    assert!(
        page.contains("<h2>Last invocations</h2>") && page.contains(" 200 <small>"),
        "the page shows no invocation's AWS calls"
    );
    for order in &orders {
        let id = order["order_id"].as_str().unwrap();
        assert!(
            page.contains(&format!("id=\"status-{id}\"")),
            "{id} is not among the last orders"
        );
    }
}
