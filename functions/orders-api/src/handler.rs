//! Translates order requests into commands and queries, and their results into responses.
//! Every route is a customer's: the customer is the subject of the token API Gateway's JWT
//! authorizer verified, and another customer's order is answered as if it did not exist.

use crate::problems;
use crate::request::{PlaceOrderBody, Placed, RequestRejected};
use crate::view::OrderView;
use lambda_http::http::{HeaderMap, HeaderValue, StatusCode, header};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Error, Request, RequestExt, Response};
use serde::Serialize;
use serde_json::Value;
use shop::http::{FieldError, Problem, json, route_key};
use shop::kernel::{Clock, CorrelationId, CustomerId, EventEnvelope, OrderId};
use shop::ordering::cancelling::{CustomerCancellation, cancel_order};
use shop::ordering::placing::{IdempotencyKey, Placing};
use shop::ordering::ports::OrderRepository;
use shop::ordering::{CancellationReason, Order, OrderEvent, OrderRequest};
use shop::telemetry::metrics;
use tracing::Instrument;

/// An order's history, oldest first.
#[derive(Serialize)]
struct History {
    items: Vec<EventEnvelope>,
}

/// Larger bodies are refused before parsing (50 lines fit in a few kilobytes).
pub const MAX_BODY_BYTES: usize = 64 * 1024;

pub struct App<'a> {
    pub placing: Placing<'a>,
    pub orders: &'a dyn OrderRepository,
    pub clock: &'a dyn Clock,
    /// What a customer refused for holding too many unpaid orders is told to wait: the
    /// payment window, within which one of them is paid, cancelled or expired.
    pub retry_after_seconds: u64,
}

type Answer = Result<Response<Body>, Problem>;

pub async fn handle(app: &App<'_>, request: Request) -> Result<Response<Body>, Error> {
    let route = route_key(&request).unwrap_or_default().to_owned();
    let correlation_id = correlation_id(request.headers());
    let span = tracing::info_span!("request", route = %route, correlation_id = %correlation_id);
    let answer = async {
        let customer = customer(&request)?;
        match route.as_str() {
            "POST /orders" => place(app, &request, &customer, correlation_id.clone()).await,
            "GET /orders/{order_id}" => get_order(app, &request, &customer).await,
            "GET /orders/{order_id}/events" => get_events(app, &request, &customer).await,
            "POST /orders/{order_id}/cancel" => cancel(app, &request, &customer).await,
            other => Err(Problem::not_found(format!("no route {other}"))),
        }
    }
    .instrument(span)
    .await;
    Ok(answer.unwrap_or_else(Problem::into_response))
}

/// The caller: the `sub` claim the authorizer put in the request context. Without one (a
/// direct invocation, a route left unguarded by mistake) nobody is trusted.
fn customer(request: &Request) -> Result<CustomerId, Problem> {
    let subject = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => context
            .authorizer
            .as_ref()
            .and_then(|a| a.jwt.as_ref())
            .and_then(|jwt| jwt.claims.get("sub"))
            .cloned(),
        _ => None,
    };
    let unauthorized = |detail: &str| {
        Problem::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Unauthorized",
            detail,
        )
    };
    let subject = subject.ok_or_else(|| unauthorized("no verified customer token"))?;
    CustomerId::parse(subject).map_err(|e| unauthorized(&format!("the token's subject: {e}")))
}

/// The caller's `X-Correlation-Id` when it is usable, else a new one: it follows the order
/// through the queue, the event store and every published event.
fn correlation_id(headers: &HeaderMap) -> CorrelationId {
    headers
        .get("x-correlation-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| CorrelationId::parse(v).ok())
        .unwrap_or_else(CorrelationId::generate)
}

async fn place(
    app: &App<'_>,
    request: &Request,
    customer: &CustomerId,
    correlation_id: CorrelationId,
) -> Answer {
    let order_request = order_request(request.body(), customer)?;
    let key = idempotency_key(request.headers())?;
    let placed = app
        .placing
        .place(order_request, key.as_ref(), correlation_id)
        .await
        .map_err(|e| problems::placing(e, app.retry_after_seconds))?;
    let order = &placed.order;
    tracing::info!(order_id = %order.id(), replayed = placed.replayed, "order accepted");
    if !placed.replayed {
        metrics::order_placed();
    }
    let mut response = json(StatusCode::ACCEPTED, &OrderView::from(order));
    let headers = response.headers_mut();
    if let Ok(location) = HeaderValue::from_str(&format!("/orders/{}", order.id())) {
        headers.insert(header::LOCATION, location);
    }
    if placed.replayed {
        headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

/// The body, bounded, as JSON, as the caller's order request.
fn order_request(body: &[u8], customer: &CustomerId) -> Result<OrderRequest, Problem> {
    if body.len() > MAX_BODY_BYTES {
        return Err(Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body-too-large",
            "Content Too Large",
            format!(
                "the body is {} bytes; the limit is {MAX_BODY_BYTES}",
                body.len()
            ),
        ));
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        Problem::bad_request("malformed-json", format!("the body is not JSON: {e}"))
    })?;
    // Only an object: serde would also read the struct's fields from an array, by position.
    let not_an_object = || {
        let error = FieldError::new("", "the body must be a JSON object");
        problems::rejected(RequestRejected::Invalid(vec![error]))
    };
    if !value.is_object() {
        return Err(not_an_object());
    }
    let body: PlaceOrderBody = serde_json::from_value(value).map_err(|_| not_an_object())?;
    OrderRequest::try_from(Placed { body, customer }).map_err(problems::rejected)
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<IdempotencyKey>, Problem> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .ok()
        .and_then(|v| IdempotencyKey::parse(v).ok());
    key.map(Some).ok_or_else(|| {
        Problem::bad_request(
            "invalid-idempotency-key",
            "Idempotency-Key must be 1 to 255 visible ASCII characters",
        )
    })
}

/// The order id of the path.
fn order_id(request: &Request) -> Result<OrderId, Problem> {
    let raw = request
        .path_parameters_ref()
        .and_then(|p| p.first("order_id"))
        .unwrap_or_default();
    problems::order_id(raw)
}

/// The customer's own order; anyone else's is not found.
async fn own_order(app: &App<'_>, id: &OrderId, customer: &CustomerId) -> Result<Order, Problem> {
    app.orders
        .load(id)
        .await
        .map_err(|e| problems::unreadable(&e, "reading the order"))?
        .filter(|order| order.customer() == customer)
        .ok_or_else(|| problems::no_order(id))
}

async fn get_order(app: &App<'_>, request: &Request, customer: &CustomerId) -> Answer {
    let id = order_id(request)?;
    let order = own_order(app, &id, customer).await?;
    Ok(json(StatusCode::OK, &OrderView::from(&order)))
}

async fn get_events(app: &App<'_>, request: &Request, customer: &CustomerId) -> Answer {
    let id = order_id(request)?;
    let items = app
        .orders
        .history(&id)
        .await
        .map_err(|e| problems::unreadable(&e, "reading the order's history"))?;
    // One read: the history's first event names the order's customer.
    let owner = items
        .first()
        .and_then(|placed| placed.decode::<OrderEvent>().ok());
    if owner.as_ref().map(OrderEvent::customer_id) != Some(customer) {
        return Err(problems::no_order(&id));
    }
    Ok(json(StatusCode::OK, &History { items }))
}

async fn cancel(app: &App<'_>, request: &Request, customer: &CustomerId) -> Answer {
    let id = order_id(request)?;
    let order = match cancel_order(app.orders, app.clock, &id, customer).await {
        Ok(CustomerCancellation::Cancelled(order)) => {
            tracing::info!(order_id = %id, "order cancelled by the customer");
            metrics::order_cancelled(CancellationReason::CustomerCancelled);
            order
        }
        Ok(CustomerCancellation::AlreadyCancelled(order)) => order,
        Err(e) => return Err(problems::cancelling(e)),
    };
    Ok(json(StatusCode::OK, &OrderView::from(&order)))
}
