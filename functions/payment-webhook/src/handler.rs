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
    if route_key(&request) != Some("POST /webhooks/payments") {
        return Ok(Problem::not_found("no such route").into_response());
    }
    let secret = match app.secret.get().await {
        Ok(secret) => secret,
        Err(e) => {
            tracing::error!(error = %e, "the webhook secret could not be read");
            return Ok(Problem::unavailable("retry later").into_response());
        }
    };
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
    let outcome = receiver
        .receive(signature, request.body().as_ref(), secret.as_bytes())
        .await;
    Ok(match outcome {
        Ok(received) => {
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
        }
        Err(WebhookError::Signature(e)) => {
            tracing::warn!(error = %e, "webhook refused: signature");
            metrics::webhook_refused();
            Problem::bad_request("invalid-signature", e.to_string()).into_response()
        }
        Err(WebhookError::Malformed(e)) => {
            tracing::warn!(error = %e, "webhook refused: body");
            Problem::bad_request("malformed-event", e).into_response()
        }
        Err(WebhookError::Store(e)) => {
            tracing::error!(error = %e, "webhook not recorded; the provider will retry");
            Problem::unavailable("retry later").into_response()
        }
    })
}
