//! The handler against the in-memory catalog: what each request is answered, its caching
//! headers, conditional requests, and paging through a listing.

use crate::handler::handle;
use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext;
use lambda_http::http::{HeaderName, HeaderValue};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt};
use serde_json::Value;
use shop::adapters::memory::InMemoryStore;
use shop::catalog::{Category, Product, test_product};
use std::collections::HashMap;

struct Answer {
    status: u16,
    headers: HashMap<String, String>,
    body: Value,
    raw_body: Vec<u8>,
}

fn in_category(category: &str, mut product: Product) -> Product {
    product.category = Category::parse(category).unwrap();
    product
}

/// `p-1`, five books and two toys.
fn catalog() -> InMemoryStore {
    let books = (1..=5).map(|n| in_category("books", test_product(&format!("b-{n}"), 500, 10)));
    let toys = (1..=2).map(|n| in_category("toys", test_product(&format!("t-{n}"), 900, 0)));
    InMemoryStore::with_products(
        [test_product("p-1", 1_000, 50)]
            .into_iter()
            .chain(books)
            .chain(toys),
    )
}

async fn call(
    catalog: &InMemoryStore,
    route: &str,
    path: &[(&str, &str)],
    query: &[(&str, &str)],
    headers: &[(&str, &str)],
) -> Answer {
    let mut context = ApiGatewayV2httpRequestContext::default();
    context.route_key = Some(route.to_owned());
    let owned = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    let mut request = Request::new(Body::Empty)
        .with_request_context(RequestContext::ApiGatewayV2(context))
        .with_path_parameters(owned(path))
        .with_query_string_parameters(owned(query));
    for (name, value) in headers {
        request.headers_mut().append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    let response = handle(catalog, request).await.unwrap();
    Answer {
        status: response.status().as_u16(),
        headers: response
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_owned()))
            .collect(),
        body: serde_json::from_slice(response.body().as_ref()).unwrap_or(Value::Null),
        raw_body: response.body().to_vec(),
    }
}

async fn get_product(catalog: &InMemoryStore, id: &str, headers: &[(&str, &str)]) -> Answer {
    let route = "GET /products/{product_id}";
    call(catalog, route, &[("product_id", id)], &[], headers).await
}

async fn list(catalog: &InMemoryStore, query: &[(&str, &str)]) -> Answer {
    call(catalog, "GET /products", &[], query, &[]).await
}

fn assert_problem(answer: &Answer, status: u16, slug: &str) {
    assert_eq!(answer.status, status, "{}", answer.body);
    assert_eq!(answer.headers["content-type"], "application/problem+json");
    assert_eq!(
        answer.body["type"],
        format!("https://shop.example/problems/{slug}")
    );
}

#[tokio::test]
async fn a_product_is_answered_with_a_strong_etag_and_a_short_cache_lifetime() {
    let catalog = catalog();
    let answer = get_product(&catalog, "p-1", &[]).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.headers["content-type"], "application/json");
    assert_eq!(answer.headers["cache-control"], "public, max-age=5");
    let etag = &answer.headers["etag"];
    assert!(
        etag.len() == 34 && etag.starts_with('"') && etag.ends_with('"'),
        "{etag}"
    );
    assert_eq!(answer.body["product_id"], "p-1");
    assert_eq!(answer.body["availability"]["status"], "in_stock");
    assert_eq!(answer.body["availability"]["quantity"], 50);
    // The same representation, the same validator.
    assert_eq!(
        &get_product(&catalog, "p-1", &[]).await.headers["etag"],
        etag
    );
}

#[tokio::test]
async fn a_request_naming_the_current_etag_is_answered_304_without_a_body() {
    let catalog = catalog();
    let etag = get_product(&catalog, "p-1", &[]).await.headers["etag"].clone();
    for condition in [
        etag.clone(),
        format!("W/{etag}"),
        format!("\"other\", {etag}"),
    ] {
        let answer = get_product(&catalog, "p-1", &[("if-none-match", &condition)]).await;
        assert_eq!(answer.status, 304, "{condition}");
        assert!(answer.raw_body.is_empty());
        assert_eq!(answer.headers["etag"], etag);
        assert_eq!(answer.headers["cache-control"], "public, max-age=5");
    }
    let stale = get_product(&catalog, "p-1", &[("if-none-match", "\"other\"")]).await;
    assert_eq!(stale.status, 200);
    assert_eq!(stale.body["product_id"], "p-1");
}

#[tokio::test]
async fn the_etag_changes_with_availability() {
    let with_stock = |stock| InMemoryStore::with_products([test_product("p-1", 1_000, stock)]);
    let (many, few) = (with_stock(50), with_stock(3));
    let etag_many = get_product(&many, "p-1", &[]).await.headers["etag"].clone();
    let etag_few = get_product(&few, "p-1", &[]).await.headers["etag"].clone();
    assert_ne!(etag_many, etag_few);
    let revalidated = get_product(&few, "p-1", &[("if-none-match", &etag_many)]).await;
    assert_eq!(revalidated.status, 200);
    assert_eq!(revalidated.body["availability"]["status"], "low_stock");
}

#[tokio::test]
async fn an_invalid_product_id_is_a_400_and_an_unknown_one_a_404() {
    let catalog = catalog();
    let long = "x".repeat(65);
    for invalid in ["a b", "", long.as_str()] {
        let answer = get_product(&catalog, invalid, &[]).await;
        assert_problem(&answer, 400, "invalid-product-id");
    }
    let unknown = get_product(&catalog, "p-404", &[]).await;
    assert_problem(&unknown, 404, "not-found");
    assert!(!unknown.headers.contains_key("etag"));
}

#[tokio::test]
async fn a_category_is_listed_page_by_page_each_product_once() {
    let catalog = catalog();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut query = vec![("category", "books"), ("limit", "2")];
        if let Some(cursor) = &cursor {
            query.push(("cursor", cursor));
        }
        let page = list(&catalog, &query).await;
        assert_eq!(page.status, 200, "{}", page.body);
        assert_eq!(page.headers["cache-control"], "public, max-age=5");
        let items = page.body["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seen.extend(
            items
                .iter()
                .map(|p| p["product_id"].as_str().unwrap().to_owned()),
        );
        pages += 1;
        match &page.body["next_cursor"] {
            Value::String(next) => cursor = Some(next.clone()),
            Value::Null => break,
            other => panic!("next_cursor {other}"),
        }
        assert!(pages < 10, "the listing never ends");
    }
    assert_eq!(seen, ["b-1", "b-2", "b-3", "b-4", "b-5"]);
    assert_eq!(pages, 3, "the last page hands out no cursor");
}

#[tokio::test]
async fn the_whole_catalog_is_listed_with_the_default_limit() {
    let catalog = catalog();
    let page = list(&catalog, &[]).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.body["items"].as_array().unwrap().len(), 8);
    assert_eq!(page.body["next_cursor"], Value::Null);
}

#[tokio::test]
async fn bad_listing_parameters_are_400_problems() {
    let catalog = catalog();
    for limit in ["0", "101", "ten", "-1"] {
        let answer = list(&catalog, &[("limit", limit)]).await;
        assert_problem(&answer, 400, "invalid-limit");
    }
    assert_problem(
        &list(&catalog, &[("category", "Books!")]).await,
        400,
        "invalid-category",
    );
    let books = list(&catalog, &[("category", "books"), ("limit", "1")]).await;
    let cursor = books.body["next_cursor"].as_str().unwrap();
    // A cursor belongs to its listing.
    assert_problem(
        &list(&catalog, &[("category", "toys"), ("cursor", cursor)]).await,
        400,
        "invalid-cursor",
    );
    assert_problem(
        &list(&catalog, &[("cursor", "not-a-cursor")]).await,
        400,
        "invalid-cursor",
    );
}

#[tokio::test]
async fn an_unknown_route_is_a_404() {
    let catalog = catalog();
    let answer = call(
        &catalog,
        "DELETE /products/{product_id}",
        &[("product_id", "p-1")],
        &[],
        &[],
    )
    .await;
    assert_problem(&answer, 404, "not-found");
}
