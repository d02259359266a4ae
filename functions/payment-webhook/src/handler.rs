//! Translates a webhook delivery into a verified payment event, and the outcome into the
//! status the provider understands: 2xx when done (or nothing to do), 400 when the request
//! is not authentic or not readable, 5xx only when a retry can succeed.

use crate::secret::EndpointSecret;
use lambda_http::http::StatusCode;
use lambda_http::{Body, Error, Request, Response};
use serde_json::json;
use shop::http::{Problem, json, route_key};
use shop::kernel::{Clock, EventPublisher};
use shop::payments::ports::WebhookLedger;
use shop::payments::webhook::{Received, WebhookError, WebhookReceiver};
use shop::telemetry::metrics;

pub struct App<'a> {
    pub ledger: &'a dyn WebhookLedger,
    pub publisher: &'a dyn EventPublisher,
    pub clock: &'a dyn Clock,
    pub secret: &'a EndpointSecret,
}

pub async fn handle(app: &App<'_>, request: Request) -> Result<Response<Body>, Error> {
    let answer = receive(app, &request).await.map(|received| {
        let outcome = match &received {
            Received::Processed { .. } => "processed",
            Received::Duplicate => "duplicate",
            Received::Ignored { .. } => "ignored",
        };
        tracing::info!(outcome, detail = ?received, "webhook received");
        json(
            StatusCode::OK,
            &json!({"received": true, "outcome": outcome}),
        )
    });
    Ok(answer.unwrap_or_else(Problem::into_response))
}

async fn receive(app: &App<'_>, request: &Request) -> Result<Received, Problem> {
    if route_key(request) != Some("POST /webhooks/payments") {
        return Err(Problem::not_found("no such route"));
    }
    let secret = app.secret.get().await.map_err(|e| {
        Problem::unavailable(&e, "the webhook secret could not be read; retry later")
    })?;
    let signature = request
        .headers()
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok());
    let receiver = WebhookReceiver {
        ledger: app.ledger,
        publisher: app.publisher,
        clock: app.clock,
    };
    // lambda_http has already decoded a body API Gateway marked base64: these are the bytes
    // the provider signed.
    receiver
        .receive(signature, request.body().as_ref(), secret.as_bytes())
        .await
        .map_err(problem)
}

/// The one mapping of a refused delivery to what the provider understands: 400 for what a
/// retry cannot fix, 503 for what it can.
fn problem(error: WebhookError) -> Problem {
    match error {
        WebhookError::Signature(e) => {
            tracing::warn!(error = %e, "webhook refused: signature");
            metrics::webhook_refused();
            Problem::bad_request("invalid-signature", e.to_string())
        }
        WebhookError::Malformed(e) => {
            tracing::warn!(error = %e, "webhook refused: body");
            Problem::bad_request("malformed-event", e)
        }
        WebhookError::Infra(e) => {
            Problem::unavailable(&e, "the event was not recorded; retry later")
        }
    }
}
