//! The catalog API on the local cloud: pagination, the category index, caching.

use e2e::*;
use serde_json::Value;
use std::collections::HashSet;

/// Follows `next_cursor` from the first page to the last.
async fn every_page(query: &str) -> Vec<Vec<Value>> {
    let mut pages = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/products?{query}&cursor={c}"),
            None => format!("/products?{query}"),
        };
        let (status, page) = get_json(&path).await;
        assert_eq!(status, 200, "{path}: {page}");
        pages.push(page["items"].as_array().unwrap().clone());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return pages,
        }
        assert!(pages.len() < 1_000, "paging does not end");
    }
}

fn ids(pages: &[Vec<Value>]) -> Vec<String> {
    pages
        .iter()
        .flatten()
        .map(|p| p["product_id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn paging_with_limit_seven_returns_every_product_exactly_once() {
    let demo: Vec<Value> = serde_json::from_str(
        &std::fs::read_to_string(format!(
            "{}/../infra/catalog/demo.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap(),
    )
    .unwrap();
    let pages = every_page("limit=7").await;
    assert!(pages.iter().all(|p| p.len() <= 7));
    let seen = ids(&pages);
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "a product came twice: {seen:?}");
    for product in &demo {
        assert!(
            unique.contains(&product["product_id"].as_str().unwrap().to_owned()),
            "{} missing",
            product["product_id"]
        );
    }
}

#[tokio::test]
async fn a_category_pages_through_exactly_its_own_products() {
    let category = format!("paging-{}", ulid::Ulid::new().to_string().to_lowercase());
    let mut seeded = HashSet::new();
    for _ in 0..23 {
        seeded.insert(seed_product(&category, 100, 1).await.to_string());
    }
    let pages = every_page(&format!("limit=7&category={category}")).await;
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [7, 7, 7, 2]);
    let seen = ids(&pages);
    assert_eq!(seen.iter().cloned().collect::<HashSet<_>>(), seeded);
    assert_eq!(seen.len(), 23);

    let (_, tea) = get_json("/products?category=tea&limit=100").await;
    let categories: HashSet<&str> = tea["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["category"].as_str().unwrap())
        .collect();
    assert_eq!(categories, HashSet::from(["tea"]));
}

#[tokio::test]
async fn bad_ids_limits_and_cursors_are_client_errors() {
    let problem = |path: &'static str, status: u16| async move {
        let response = http().get(url(path)).send().await.unwrap();
        assert_eq!(response.status().as_u16(), status, "{path}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "{path}"
        );
    };
    problem("/products/p-9999", 404).await;
    problem("/products/not%20an%20id", 400).await;
    problem("/products?limit=0", 400).await;
    problem("/products?limit=101", 400).await;
    problem("/products?limit=seven", 400).await;
    problem("/products?cursor=bm90LWEtY3Vyc29y", 400).await;
    problem("/products?category=Not%20A%20Category", 400).await;

    // A cursor issued for one listing is refused by another.
    let (_, tea) = get_json("/products?category=tea&limit=1").await;
    let cursor = tea["next_cursor"].as_str().unwrap();
    let (status, _) = get_json(&format!("/products?category=coffee&cursor={cursor}")).await;
    assert_eq!(status, 400);
    let (status, _) = get_json(&format!("/products?cursor={cursor}")).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn a_product_carries_an_etag_and_a_matching_if_none_match_gets_304() {
    let product = seed_product("caching", 4_200, 12).await;
    let path = format!("/products/{product}");
    let response = http().get(url(&path)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    assert!(
        response.headers()["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age")
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body["availability"],
        serde_json::json!({"status": "in_stock", "quantity": 12})
    );
    assert_eq!(
        body["price"],
        serde_json::json!({"amount": 4200, "currency": "EUR"})
    );

    let cached = http()
        .get(url(&path))
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(cached.status(), 304);
    assert_eq!(cached.headers()["etag"].to_str().unwrap(), etag);
    assert!(cached.bytes().await.unwrap().is_empty());

    let stale = http()
        .get(url(&path))
        .header("if-none-match", "\"something-else\"")
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 200);
}

#[tokio::test]
async fn availability_drops_after_a_confirmed_order() {
    let product = seed_product("availability", 100, 6).await;
    let before = get_json(&format!("/products/{product}")).await.1;
    assert_eq!(before["availability"]["status"], "in_stock");
    let (_, placed) = post_order(
        &serde_json::json!({"currency": "EUR", "items": [{"product_id": product, "quantity": 2}]}),
        &[],
    )
    .await;
    assert_eq!(
        settled_order(placed["order_id"].as_str().unwrap()).await["status"],
        "CONFIRMED"
    );
    let after = get_json(&format!("/products/{product}")).await.1;
    assert_eq!(
        after["availability"],
        serde_json::json!({"status": "low_stock", "quantity": 4})
    );
}
