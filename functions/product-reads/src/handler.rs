//! Translates catalog requests into reads and their results into cacheable responses.

use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Error, Request, RequestExt, Response};
use serde::Serialize;
use sha2::{Digest, Sha256};
use shop::catalog::ports::{ProductListing, ProductLookup};
use shop::catalog::{Category, Cursor, ProductView};
use shop::http::{Problem, json, route_key};
use shop::kernel::ProductId;

/// Availability changes with every order, so clients and CDNs may reuse an answer only
/// briefly; after that a conditional request costs one read and answers 304 when unchanged.
const CACHE_CONTROL: &str = "public, max-age=5";

pub const DEFAULT_LIMIT: u16 = 20;

/// A page of the listing, as the contract shapes it.
#[derive(Serialize)]
struct Page {
    items: Vec<ProductView>,
    next_cursor: Option<String>,
}
pub const MAX_LIMIT: u16 = 100;

pub async fn handle<C>(catalog: &C, request: Request) -> Result<Response<Body>, Error>
where
    C: ProductLookup + ProductListing,
{
    let response = match route_key(&request) {
        Some("GET /products") => list(catalog, &request).await,
        Some("GET /products/{product_id}") => get(catalog, &request).await,
        other => Problem::not_found(format!("no route {}", other.unwrap_or("?"))).into_response(),
    };
    Ok(response)
}

async fn list<C: ProductListing>(catalog: &C, request: &Request) -> Response<Body> {
    let params = request.query_string_parameters();
    let limit = match params.first("limit").map(str::parse::<u16>) {
        None => DEFAULT_LIMIT,
        Some(Ok(n)) if (1..=MAX_LIMIT).contains(&n) => n,
        Some(_) => {
            return Problem::bad_request(
                "invalid-limit",
                format!("limit must be an integer from 1 to {MAX_LIMIT}"),
            )
            .into_response();
        }
    };
    let category = match params.first("category").map(Category::parse) {
        None => None,
        Some(Ok(c)) => Some(c),
        Some(Err(e)) => return Problem::bad_request("invalid-category", e.0).into_response(),
    };
    let after = match params
        .first("cursor")
        .map(|c| Cursor::decode(c, category.as_ref()))
    {
        None => None,
        Some(Ok(cursor)) => Some(cursor.after),
        Some(Err(e)) => {
            return Problem::bad_request("invalid-cursor", e.to_string()).into_response();
        }
    };
    match catalog.page(category.as_ref(), after.as_ref(), limit).await {
        Ok(page) => {
            let next_cursor = page
                .more_after
                .map(|last| Cursor::new(category.clone(), last).encode());
            let page = Page {
                items: page.items.into_iter().map(ProductView::from).collect(),
                next_cursor,
            };
            let mut response = json(StatusCode::OK, &page);
            response.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static(CACHE_CONTROL),
            );
            response
        }
        Err(e) => {
            Problem::unavailable(&e, "listing products failed; retry shortly").into_response()
        }
    }
}

async fn get<C: ProductLookup>(catalog: &C, request: &Request) -> Response<Body> {
    let raw_id = request
        .path_parameters_ref()
        .and_then(|p| p.first("product_id"))
        .unwrap_or_default()
        .to_owned();
    let id = match ProductId::parse(raw_id) {
        Ok(id) => id,
        Err(e) => return Problem::bad_request("invalid-product-id", e.0).into_response(),
    };
    let product = match catalog.product(&id).await {
        Ok(Some(product)) => ProductView::from(product),
        Ok(None) => return Problem::not_found(format!("no product {id}")).into_response(),
        Err(e) => {
            let detail = format!("reading product {id} failed; retry shortly");
            return Problem::unavailable(&e, detail).into_response();
        }
    };
    let mut response = json(StatusCode::OK, &product);
    let tag = etag(response.body());
    if if_none_match(request, &tag) {
        response = Response::new(Body::Empty);
        *response.status_mut() = StatusCode::NOT_MODIFIED;
    }
    let headers = response.headers_mut();
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static(CACHE_CONTROL),
    );
    headers.insert(
        header::ETAG,
        HeaderValue::from_str(&tag).expect("hex is a valid header"),
    );
    response
}

/// A strong validator over the exact representation, availability included.
fn etag(body: &Body) -> String {
    let digest = Sha256::digest(body.as_ref());
    format!("\"{}\"", hex::encode(&digest[..16]))
}

/// RFC 9110 weak comparison, as `If-None-Match` requires: `W/` prefixes are ignored, and `*`
/// matches any current representation.
fn if_none_match(request: &Request, tag: &str) -> bool {
    request
        .headers()
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| t.trim().trim_start_matches("W/"))
        .any(|t| t == "*" || t == tag)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::http;

    #[test]
    fn if_none_match_uses_weak_comparison_over_lists() {
        let request = |value: &str| {
            let mut r = Request::new(Body::Empty);
            r.headers_mut().insert(
                header::IF_NONE_MATCH,
                http::HeaderValue::from_str(value).unwrap(),
            );
            r
        };
        assert!(if_none_match(&request("\"a\", W/\"b\""), "\"b\""));
        assert!(if_none_match(&request("*"), "\"b\""));
        assert!(!if_none_match(&request("\"a\""), "\"b\""));
    }
}
