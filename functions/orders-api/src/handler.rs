//! Translates order requests into commands and queries, and their results into responses.
//! Every route is a customer's: the customer is the subject of the token API Gateway's JWT
//! authorizer verified, and another customer's order is answered as if it did not exist.

use crate::problems::{self, Failure};
use lambda_http::http::{HeaderMap, HeaderValue, StatusCode, header};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Error, Request, RequestExt, Response};
use serde::Serialize;
use serde_json::Value;
use shop::http::{Problem, json, route_key};
use shop::kernel::{Clock, CustomerId, EventEnvelope, OrderId};
use shop::ordering::CancellationReason;
use shop::ordering::cancelling::{CustomerCancellation, cancel_order};
use shop::ordering::placing::{OrderRequest, Placing};
use shop::ordering::ports::OrderRepository;
use shop::ordering::{Order, OrderEvent};
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

type Answer = Result<Response<Body>, Failure>;

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
            other => Err(Problem::not_found(format!("no route {other}")).into()),
        }
    }
    .instrument(span)
    .await;
    Ok(answer.unwrap_or_else(Failure::into_response))
}

/// The caller: the `sub` claim the authorizer put in the request context. Without one (a
/// direct invocation, a route left unguarded by mistake) nobody is trusted.
fn customer(request: &Request) -> Result<CustomerId, Failure> {
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
    CustomerId::parse(subject)
        .map_err(|e| unauthorized(&format!("the token's subject: {e}")).into())
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

async fn place(
    app: &App<'_>,
    request: &Request,
    customer: &CustomerId,
    correlation_id: String,
) -> Answer {
    let body = request.body().as_ref();
    if body.len() > MAX_BODY_BYTES {
        return Err(Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "body-too-large",
            "Content Too Large",
            format!(
                "the body is {} bytes; the limit is {MAX_BODY_BYTES}",
                body.len()
            ),
        )
        .into());
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        Problem::bad_request("malformed-json", format!("the body is not JSON: {e}"))
    })?;
    let order_request = OrderRequest::validate(&value, customer).map_err(problems::rejected)?;
    let key = idempotency_key(request.headers())?;
    let placed = app
        .placing
        .place(order_request, key.as_deref(), correlation_id)
        .await
        .map_err(|e| problems::placing(e, app.retry_after_seconds))?;
    tracing::info!(order_id = %placed.order.order_id, replayed = placed.replayed, "order accepted");
    if !placed.replayed {
        metrics::order_placed();
    }
    let mut response = json(StatusCode::ACCEPTED, &placed.order);
    let headers = response.headers_mut();
    if let Ok(location) = HeaderValue::from_str(&format!("/orders/{}", placed.order.order_id)) {
        headers.insert(header::LOCATION, location);
    }
    if placed.replayed {
        headers.insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    Ok(response)
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, Failure> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(key) if !key.is_empty() && key.len() <= 255 => Ok(Some(key.to_owned())),
        _ => Err(Problem::bad_request(
            "invalid-idempotency-key",
            "Idempotency-Key must be 1 to 255 visible ASCII characters",
        )
        .into()),
    }
}

/// The order id of the path; a malformed one names no order, so it is a 404 too.
fn order_id(request: &Request) -> Result<OrderId, Failure> {
    let raw = request
        .path_parameters_ref()
        .and_then(|p| p.first("order_id"))
        .unwrap_or_default();
    OrderId::parse(raw).map_err(|_| Problem::not_found(format!("no order {raw}")).into())
}

/// The customer's own order; anyone else's is not found.
async fn own_order(app: &App<'_>, id: &OrderId, customer: &CustomerId) -> Result<Order, Failure> {
    app.orders
        .load(id)
        .await
        .map_err(|e| problems::unavailable(&e, "reading the order"))?
        .filter(|order| &order.customer_id == customer)
        .ok_or_else(|| Problem::not_found(format!("no order {id}")).into())
}

async fn get_order(app: &App<'_>, request: &Request, customer: &CustomerId) -> Answer {
    let id = order_id(request)?;
    let order = own_order(app, &id, customer).await?;
    Ok(json(StatusCode::OK, &order))
}

async fn get_events(app: &App<'_>, request: &Request, customer: &CustomerId) -> Answer {
    let id = order_id(request)?;
    let items = app
        .orders
        .history(&id)
        .await
        .map_err(|e| problems::unavailable(&e, "reading the order's history"))?;
    // One read: the history's first event names the order's customer.
    let owner = items
        .first()
        .and_then(|placed| placed.decode::<OrderEvent>().ok());
    if owner.as_ref().map(OrderEvent::customer_id) != Some(customer) {
        return Err(Problem::not_found(format!("no order {id}")).into());
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
    Ok(json(StatusCode::OK, &order))
}
