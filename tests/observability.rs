//! Operability, locally: the functions' metrics (CloudWatch Embedded Metric Format lines) for
//! orders placed, confirmed, paid and cancelled, as `/_dev/stats` sums them and as the `/_dev`
//! page shows them in a browser, checked against what the API says of the same orders. This
//! binary has its own local cloud, so every figure is this test's.

use e2e::*;
use serde_json::Value;
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
    for order in &orders {
        let id = order["order_id"].as_str().unwrap();
        assert!(
            page.contains(&format!("id=\"status-{id}\"")),
            "{id} is not among the last orders"
        );
    }
}
