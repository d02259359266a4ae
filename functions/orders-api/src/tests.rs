//! The handler against the in-memory adapters: what each request becomes, for whom, and how
//! each failure is answered. The end-to-end tests run the same routes through the gateway.

use crate::handler::{App, handle};
use lambda_http::aws_lambda_events::apigw::{
    ApiGatewayRequestAuthorizer, ApiGatewayRequestAuthorizerJwtDescription,
    ApiGatewayV2httpRequestContext,
};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt};
use serde_json::{Value, json};
use shop::adapters::memory::InMemoryStore;
use shop::catalog::test_product;
use shop::kernel::FixedClock;
use shop::ordering::placing::Placing;
use std::collections::HashMap;

struct World {
    store: InMemoryStore,
    clock: FixedClock,
}

impl World {
    fn new() -> Self {
        World {
            store: InMemoryStore::with_products([test_product("p-1", 1_000, 50)]),
            clock: FixedClock(time::macros::datetime!(2026-11-21 10:00 UTC)),
        }
    }

    fn app(&self) -> App<'_> {
        App {
            placing: Placing {
                orders: &self.store,
                keys: &self.store,
                clock: &self.clock,
                max_unpaid: 2,
            },
            orders: &self.store,
            clock: &self.clock,
            retry_after_seconds: 900,
        }
    }

    /// `route` called by `customer` (the authorizer's `sub`; `None`: no verified token).
    async fn call(
        &self,
        route: &str,
        customer: Option<&str>,
        order_id: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value, HashMap<String, String>) {
        let mut context = ApiGatewayV2httpRequestContext::default();
        context.route_key = Some(route.to_owned());
        context.authorizer = customer.map(|sub| {
            let mut jwt = ApiGatewayRequestAuthorizerJwtDescription::default();
            jwt.claims = HashMap::from([("sub".to_owned(), sub.to_owned())]);
            let mut authorizer = ApiGatewayRequestAuthorizer::default();
            authorizer.jwt = Some(jwt);
            authorizer
        });
        let body = body.map_or(Body::Empty, |b| Body::Text(b.to_string()));
        let mut request =
            Request::new(body).with_request_context(RequestContext::ApiGatewayV2(context));
        if let Some(id) = order_id {
            request = request
                .with_path_parameters(HashMap::from([("order_id".to_owned(), id.to_owned())]));
        }
        let response = handle(&self.app(), request).await.unwrap();
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_owned()))
            .collect();
        let body = serde_json::from_slice(response.body().as_ref()).unwrap_or(Value::Null);
        (status, body, headers)
    }

    async fn place(&self, customer: &str) -> (u16, Value, HashMap<String, String>) {
        let body = json!({"currency": "EUR", "items": [{"product_id": "p-1", "quantity": 1}]});
        self.call("POST /orders", Some(customer), None, Some(body))
            .await
    }
}

#[tokio::test]
async fn an_order_is_its_callers_and_nobody_elses() {
    let world = World::new();
    let (status, placed, headers) = world.place("c-1").await;
    assert_eq!(status, 202, "{placed}");
    assert_eq!(placed["customer_id"], "c-1");
    let id = placed["order_id"].as_str().unwrap();
    assert_eq!(headers["location"], format!("/orders/{id}"));
    assert_eq!(world.store.committed().len(), 1, "one order.placed");

    let (status, mine, _) = world
        .call("GET /orders/{order_id}", Some("c-1"), Some(id), None)
        .await;
    assert_eq!((status, &mine["order_id"]), (200, &placed["order_id"]));
    for route in [
        "GET /orders/{order_id}",
        "GET /orders/{order_id}/events",
        "POST /orders/{order_id}/cancel",
    ] {
        let (status, problem, headers) = world.call(route, Some("c-2"), Some(id), None).await;
        assert_eq!(status, 404, "{route}");
        assert_eq!(headers["content-type"], "application/problem+json");
        assert_eq!(problem["type"], "https://shop.example/problems/not-found");
    }
    let (status, cancelled, _) = world
        .call(
            "POST /orders/{order_id}/cancel",
            Some("c-1"),
            Some(id),
            None,
        )
        .await;
    assert_eq!(
        (status, cancelled["status"].as_str()),
        (200, Some("CANCELLED"))
    );
}

#[tokio::test]
async fn a_request_without_a_verified_customer_is_refused() {
    let world = World::new();
    let body = json!({"currency": "EUR", "items": [{"product_id": "p-1", "quantity": 1}]});
    let (status, problem, _) = world.call("POST /orders", None, None, Some(body)).await;
    assert_eq!((status, problem["status"].as_i64()), (401, Some(401)));
    assert!(world.store.committed().is_empty());
}

#[tokio::test]
async fn a_body_naming_another_customer_is_forbidden_and_records_nothing() {
    let world = World::new();
    let body = json!({"customer_id": "c-2", "currency": "EUR", "items": [{"product_id": "p-1", "quantity": 1}]});
    let (status, problem, _) = world
        .call("POST /orders", Some("c-1"), None, Some(body))
        .await;
    assert_eq!(status, 403);
    assert_eq!(
        problem["type"],
        "https://shop.example/problems/not-your-customer-id"
    );
    assert!(world.store.committed().is_empty());
}

#[tokio::test]
async fn past_the_unpaid_limit_the_answer_is_429_with_retry_after() {
    let world = World::new();
    for _ in 0..2 {
        assert_eq!(world.place("c-1").await.0, 202);
    }
    let (status, problem, headers) = world.place("c-1").await;
    assert_eq!(status, 429);
    assert_eq!(
        problem["type"],
        "https://shop.example/problems/too-many-unpaid-orders"
    );
    assert_eq!(headers["retry-after"], "900");
    assert_eq!(world.place("c-2").await.0, 202, "the limit is per customer");
}

#[tokio::test]
async fn bad_bodies_are_named_and_never_a_5xx() {
    let world = World::new();
    let invalid = json!({"currency": "XXX", "items": [{"product_id": "p 1", "quantity": 0}]});
    let (status, problem, _) = world
        .call("POST /orders", Some("c-1"), None, Some(invalid))
        .await;
    assert_eq!(status, 422);
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        ["currency", "items[0].product_id", "items[0].quantity"]
    );
    // serde reads a struct from an array too: a body that is not an object is named as such.
    for not_an_object in [json!(["c-1", "EUR"]), json!([1]), json!("EUR"), json!(3)] {
        let (status, problem, _) = world
            .call("POST /orders", Some("c-1"), None, Some(not_an_object))
            .await;
        assert_eq!(status, 422, "{problem}");
        assert_eq!(
            problem["errors"][0]["detail"],
            "the body must be a JSON object"
        );
    }
    let (status, _, _) = world
        .call(
            "GET /orders/{order_id}",
            Some("c-1"),
            Some("not-an-id"),
            None,
        )
        .await;
    assert_eq!(status, 404);
}
