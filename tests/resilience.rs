//! Resilience under DynamoDB's real contention and injected AWS faults: a flash sale on the
//! emulator (which cancels conflicting transactions as DynamoDB does), and a soak with faults
//! in every function's AWS calls, checked against the invariants of `cargo dev soak`.
//!
//! Sizes: the soak places `SHOP_SOAK_ORDERS` orders (CI: 60); `cargo dev soak` is the full
//! size (500, docs/benchmarks.md).

use e2e::*;
use futures::StreamExt;
use serde_json::Value;

/// The two tests each drive a whole local cloud; one at a time on a small machine.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test]
async fn a_flash_sale_confirms_exactly_the_stock_and_sends_nothing_to_the_dead_letter_queue() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let product = seed_product("flash", 100, 100).await;
    let body = order_body(product.as_str(), 1);
    // 500 customers at once, one unit each: every order commits on the same product item.
    let placed: Vec<(u16, Value)> = futures::stream::iter(0..500)
        .map(|_| post_order(&body, &[]))
        .buffer_unordered(100)
        .collect()
        .await;
    let refused = placed.iter().filter(|(status, _)| *status != 202).count();
    assert_eq!(
        refused,
        0,
        "first refusal: {:?}",
        placed.iter().find(|(s, _)| *s != 202)
    );
    let mut settled = Vec::new();
    for (_, order) in &placed {
        settled.push(settled_order(order["order_id"].as_str().unwrap()).await);
    }
    let counts = tally(&settled, "status");
    assert_eq!(counts.get("CONFIRMED"), Some(&100), "{counts:?}");
    assert_eq!(counts.get("REJECTED"), Some(&400), "{counts:?}");
    assert_eq!(stock(&product).await, 0);
    let dead: Vec<String> = peek_bodies("OrdersDLQ")
        .await
        .into_iter()
        .filter(|b| b.contains(product.as_str()))
        .collect();
    assert!(dead.is_empty(), "{} valid orders in OrdersDLQ", dead.len());
    let report = cloud().fault_report().await.unwrap();
    assert!(
        report.modelled_conflicts > 0,
        "the emulator cancelled no conflicting transaction: the sale did not contend"
    );
}

#[tokio::test]
async fn a_soak_with_faults_keeps_every_invariant() {
    let _turn = ONE_AT_A_TIME.lock().await;
    let orders = std::env::var("SHOP_SOAK_ORDERS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(60);
    let faults = dev::soak::DEFAULT_FAULTS.parse().unwrap();
    let options = dev::soak::SoakOptions::new(dev::repo::repo_root().unwrap(), orders, faults);
    let report = dev::soak::run(options, &|line: &str| eprintln!("soak: {line}"))
        .await
        .unwrap();
    let markdown = report.markdown();
    eprintln!("{markdown}");
    assert!(report.passed(), "{markdown}");
    let injected: u64 = report.faults.totals().values().sum();
    assert!(injected > 0, "no fault was injected: {markdown}");
}
