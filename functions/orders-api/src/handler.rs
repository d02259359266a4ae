//! Translates order requests into commands and queries, and their results into responses.

use lambda_http::http::{HeaderMap, HeaderValue, StatusCode, header};
use lambda_http::{Body, Error, Request, RequestExt, Response};
use serde::Serialize;
use serde_json::Value;
use shop::http::{Problem, json, route_key};
use shop::kernel::{Clock, OrderId};
use shop::ordering::cancelling::{CancelError, CustomerCancellation, cancel_order};
use shop::ordering::outbox::{ChangeError, Outbox};
use shop::ordering::placing::{OrderRequest, PlaceError, place_order};
use shop::ordering::ports::{EventPublisher, IdempotencyKeys, OrderQueue, OrderRepository};
use tracing::Instrument;

/// An order's history, oldest first.
#[derive(Serialize)]
struct History {
    items: Vec<shop::kernel::EventEnvelope>,
}

/// Larger bodies are refused before parsing (50 lines fit in a few kilobytes).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

pub struct App<'a> {
    pub orders: &'a dyn OrderRepository,
    pub keys: &'a dyn IdempotencyKeys,
    pub queue: &'a dyn OrderQueue,
    /// Announces cancellations (`order.cancelled`).
    pub publisher: &'a dyn EventPublisher,
    pub clock: &'a dyn Clock,
}

pub async fn handle(app: &App<'_>, request: Request) -> Result<Response<Body>, Error> {
    let route = route_key(&request).unwrap_or_default().to_owned();
    let correlation_id = correlation_id(request.headers());
    let span = tracing::info_span!("request", route = %route, correlation_id = %correlation_id);
    let response = async {
        match route.as_str() {
            "POST /orders" => place(app, &request, correlation_id.clone()).await,
            "GET /orders/{order_id}" => get_order(app, &request).await,
            "GET /orders/{order_id}/events" => get_events(app, &request).await,
            "POST /orders/{order_id}/cancel" => cancel(app, &request).await,
            other => Problem::not_found(format!("no route {other}")).into_response(),
        }
    }
    .instrument(span)
    .await;
    Ok(response)
}

/// The caller's `X-Correlation-Id` when it is usable, else a new one: it follows the order
/// through the queue, the event store and every published event.
fn correlation_id(headers: &HeaderMap) -> String {
    headers
        .get("x-correlation-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 128)
        .map(str::to_owned)
        .unwrap_or_else(|| ulid::Ulid::new().to_string())
}

async fn place(app: &App<'_>, request: &Request, correlation_id: String) -> Response<Body> {
    let body = request.body().as_ref();
    if body.len() > MAX_BODY_BYTES {
        return Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body-too-large",
            "Content Too Large",
            format!(
                "the body is {} bytes; the limit is {MAX_BODY_BYTES}",
                body.len()
            ),
        )
        .into_response();
    }
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            return Problem::bad_request("malformed-json", format!("the body is not JSON: {e}"))
                .into_response();
        }
    };
    let order_request = match OrderRequest::validate(&value) {
        Ok(r) => r,
        Err(errors) => {
            return Problem::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid-order",
                "Invalid Order",
                format!("{} field(s) are invalid", errors.len()),
            )
            .with_errors(errors)
            .into_response();
        }
    };
    let key = match idempotency_key(request.headers()) {
        Ok(key) => key,
        Err(problem) => return problem.into_response(),
    };
    let placed = place_order(
        app.orders,
        app.keys,
        app.queue,
        app.clock,
        order_request,
        key.as_deref(),
        correlation_id,
    )
    .await;
    match placed {
        Ok(placed) => {
            tracing::info!(order_id = %placed.order.order_id, replayed = placed.replayed, "order accepted");
            let mut response = json(StatusCode::ACCEPTED, &placed.order);
            let location = format!("/orders/{}", placed.order.order_id);
            let headers = response.headers_mut();
            headers.insert(
                header::LOCATION,
                HeaderValue::from_str(&location).expect("ids are ASCII"),
            );
            if placed.replayed {
                headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
            }
            response
        }
        Err(PlaceError::KeyReused) => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency-key-reused",
            "Idempotency-Key Reused",
            "this Idempotency-Key was used for a different order; use a new key",
        )
        .into_response(),
        Err(PlaceError::Store(e)) => {
            tracing::error!(error = %e, "placing an order failed");
            Problem::unavailable(
                "the order could not be accepted; retry with the same Idempotency-Key",
            )
            .into_response()
        }
    }
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, Problem> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(key) if !key.is_empty() && key.len() <= 255 => Ok(Some(key.to_owned())),
        _ => Err(Problem::bad_request(
            "invalid-idempotency-key",
            "Idempotency-Key must be 1 to 255 visible ASCII characters",
        )),
    }
}

/// The order id of the path; a malformed one names no order, so it is a 404 too.
fn order_id(request: &Request) -> Result<OrderId, Problem> {
    let raw = request
        .path_parameters_ref()
        .and_then(|p| p.first("order_id"))
        .unwrap_or_default();
    OrderId::parse(raw).map_err(|_| Problem::not_found(format!("no order {raw}")))
}

async fn get_order(app: &App<'_>, request: &Request) -> Response<Body> {
    let id = match order_id(request) {
        Ok(id) => id,
        Err(problem) => return problem.into_response(),
    };
    match app.orders.load(&id).await {
        Ok(Some(order)) => json(StatusCode::OK, &order),
        Ok(None) => Problem::not_found(format!("no order {id}")).into_response(),
        Err(e) => {
            tracing::error!(error = %e, order_id = %id, "reading an order failed");
            Problem::unavailable("orders are unavailable; retry shortly").into_response()
        }
    }
}

async fn get_events(app: &App<'_>, request: &Request) -> Response<Body> {
    let id = match order_id(request) {
        Ok(id) => id,
        Err(problem) => return problem.into_response(),
    };
    match app.orders.history(&id).await {
        Ok(events) if events.is_empty() => {
            Problem::not_found(format!("no order {id}")).into_response()
        }
        Ok(items) => json(StatusCode::OK, &History { items }),
        Err(e) => {
            tracing::error!(error = %e, order_id = %id, "reading an order's history failed");
            Problem::unavailable("orders are unavailable; retry shortly").into_response()
        }
    }
}

async fn cancel(app: &App<'_>, request: &Request) -> Response<Body> {
    let id = match order_id(request) {
        Ok(id) => id,
        Err(problem) => return problem.into_response(),
    };
    let outbox = Outbox {
        orders: app.orders,
        publisher: app.publisher,
    };
    match cancel_order(&outbox, app.clock, &id).await {
        Ok(CustomerCancellation::Cancelled(order)) => {
            tracing::info!(order_id = %id, "order cancelled by the customer");
            json(StatusCode::OK, &order)
        }
        Ok(CustomerCancellation::AlreadyCancelled(order)) => json(StatusCode::OK, &order),
        Err(CancelError::NotFound(_)) => {
            Problem::not_found(format!("no order {id}")).into_response()
        }
        Err(CancelError::NotCancellable(status)) => Problem::new(
            StatusCode::CONFLICT,
            "order-not-cancellable",
            "Order Not Cancellable",
            format!("the order is {status:?}: only PENDING and CONFIRMED orders can be cancelled"),
        )
        .into_response(),
        Err(CancelError::Change(e @ (ChangeError::Conflict | ChangeError::NotPublished))) => {
            tracing::warn!(error = %e, order_id = %id, "cancellation to be retried");
            Problem::unavailable("the order is busy; retry the cancellation").into_response()
        }
        Err(CancelError::Change(e)) => {
            tracing::error!(error = %e, order_id = %id, "cancelling an order failed");
            Problem::unavailable("orders are unavailable; retry shortly").into_response()
        }
    }
}
