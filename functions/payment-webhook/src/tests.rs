//! The handler against the in-memory adapters: what each delivery is answered, and what it
//! publishes. The receiver's own rules are tested in `shop::payments::webhook`.

use crate::handler::{App, handle};
use crate::secret::EndpointSecret;
use lambda_http::aws_lambda_events::apigw::ApiGatewayV2httpRequestContext;
use lambda_http::http::HeaderValue;
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt};
use serde_json::{Value, json};
use shop::adapters::memory::{InMemoryStore, RecordingPublisher};
use shop::kernel::FixedClock;
use shop::payments::signature::sign;

const SECRET: &str = "whsec_test";
const ROUTE: &str = "POST /webhooks/payments";

struct World {
    store: InMemoryStore,
    publisher: RecordingPublisher,
    clock: FixedClock,
    secret: EndpointSecret,
}

struct Answer {
    status: u16,
    content_type: String,
    body: Value,
}

impl World {
    fn new() -> Self {
        World {
            store: InMemoryStore::default(),
            publisher: RecordingPublisher::default(),
            clock: FixedClock(time::macros::datetime!(2026-11-21 10:00 UTC)),
            secret: EndpointSecret::Local(SECRET.to_owned()),
        }
    }

    /// `body` signed with `secret` now, as the provider would send it.
    fn signed(&self, body: &str, secret: &str) -> String {
        sign(
            body.as_bytes(),
            secret.as_bytes(),
            self.clock.0.unix_timestamp(),
        )
    }

    async fn call(&self, route: &str, signature: Option<&str>, body: &str) -> Answer {
        let mut context = ApiGatewayV2httpRequestContext::default();
        context.route_key = Some(route.to_owned());
        let mut request = Request::new(Body::Text(body.to_owned()))
            .with_request_context(RequestContext::ApiGatewayV2(context));
        if let Some(signature) = signature {
            request.headers_mut().insert(
                "stripe-signature",
                HeaderValue::from_str(signature).unwrap(),
            );
        }
        let app = App {
            ledger: &self.store,
            publisher: &self.publisher,
            clock: &self.clock,
            secret: &self.secret,
        };
        let response = handle(&app, request).await.unwrap();
        Answer {
            status: response.status().as_u16(),
            content_type: response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned(),
            body: serde_json::from_slice(response.body().as_ref()).unwrap_or(Value::Null),
        }
    }

    /// `body` to the webhook route, correctly signed.
    async fn deliver(&self, body: &str) -> Answer {
        let signature = self.signed(body, SECRET);
        self.call(ROUTE, Some(&signature), body).await
    }
}

/// A `payment_intent.succeeded` for one of the shop's orders, as the provider sends it.
fn succeeded(id: &str) -> String {
    json!({"id": id, "type": "payment_intent.succeeded", "created": 1_795_255_200,
        "data": {"object": {"id": "pi_1", "amount": 1200, "currency": "eur",
            "metadata": {"order_id": "01JDQ0000000000000000000ZZ"}}}})
    .to_string()
}

fn assert_problem(answer: &Answer, status: u16, slug: &str) {
    assert_eq!(answer.status, status, "{}", answer.body);
    assert_eq!(answer.content_type, "application/problem+json");
    assert_eq!(
        answer.body["type"],
        format!("https://shop.example/problems/{slug}")
    );
    assert_eq!(answer.body["status"], status);
}

#[tokio::test]
async fn a_signed_payment_is_processed_and_published_once_and_its_redelivery_is_a_duplicate() {
    let world = World::new();
    let body = succeeded("evt_1");
    let first = world.deliver(&body).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.content_type, "application/json");
    assert_eq!(
        first.body,
        json!({"received": true, "outcome": "processed"})
    );
    assert_eq!(world.publisher.types(), ["payment.succeeded"]);
    assert_eq!(world.publisher.published()[0].event_id, "evt_1");

    let again = world.deliver(&body).await;
    assert_eq!(again.status, 200);
    assert_eq!(
        again.body,
        json!({"received": true, "outcome": "duplicate"})
    );
    assert_eq!(world.publisher.types(), ["payment.succeeded"], "not again");
}

#[tokio::test]
async fn a_forged_or_missing_signature_is_a_400_and_publishes_nothing() {
    let world = World::new();
    let body = succeeded("evt_1");
    let forged = world.signed(&body, "whsec_other");
    assert_problem(
        &world.call(ROUTE, Some(&forged), &body).await,
        400,
        "invalid-signature",
    );
    assert_problem(
        &world.call(ROUTE, None, &body).await,
        400,
        "invalid-signature",
    );
    // Signed for another body: the bytes received are the ones checked.
    let other = world.signed(&succeeded("evt_2"), SECRET);
    assert_problem(
        &world.call(ROUTE, Some(&other), &body).await,
        400,
        "invalid-signature",
    );
    assert!(world.publisher.published().is_empty());
    // Nothing was recorded either: the genuine delivery is processed.
    assert_eq!(world.deliver(&body).await.body["outcome"], "processed");
}

#[tokio::test]
async fn a_signed_body_that_is_no_provider_event_is_a_400_not_a_retry() {
    let world = World::new();
    let answer = world.deliver(r#"{"hello": "world"}"#).await;
    assert_problem(&answer, 400, "malformed-event");
    assert!(world.publisher.published().is_empty());
}

#[tokio::test]
async fn an_event_type_the_shop_does_not_act_on_is_answered_200_ignored() {
    let world = World::new();
    let body = succeeded("evt_3").replace("payment_intent.succeeded", "customer.created");
    let answer = world.deliver(&body).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body, json!({"received": true, "outcome": "ignored"}));
    assert!(world.publisher.published().is_empty());
}

#[tokio::test]
async fn a_publish_that_failed_is_a_503_and_the_providers_retry_finishes_it() {
    let world = World::new();
    let body = succeeded("evt_4");
    world.publisher.fail_next(1);
    assert_problem(&world.deliver(&body).await, 503, "unavailable");
    assert!(world.publisher.published().is_empty());
    let retry = world.deliver(&body).await;
    assert_eq!(
        (retry.status, &retry.body["outcome"]),
        (200, &json!("duplicate"))
    );
    assert_eq!(world.publisher.types(), ["payment.succeeded"]);
}

#[tokio::test]
async fn another_route_is_a_404_and_nothing_is_read() {
    let world = World::new();
    let body = succeeded("evt_5");
    let signature = world.signed(&body, SECRET);
    for route in ["POST /webhooks/other", "GET /webhooks/payments"] {
        assert_problem(
            &world.call(route, Some(&signature), &body).await,
            404,
            "not-found",
        );
    }
    assert!(world.publisher.published().is_empty());
    assert_eq!(world.deliver(&body).await.body["outcome"], "processed");
}
