//! The Order of the contract, as the API answers it: mapped from the aggregate in one place,
//! so that the aggregate and its storage can change without changing the API.

use serde::Serialize;
use shop::catalog::ProductName;
use shop::kernel::{
    CorrelationId, Currency, CustomerId, Money, OrderId, PaymentIntentId, ProductId, Quantity, Sku,
    Timestamp,
};
use shop::ordering::pricing::DiscountCode;
use shop::ordering::{Order, OrderState, OrderStatus, PricedLine, RequestedLine, Totals};

#[derive(Serialize)]
pub struct OrderView<'a> {
    order_id: &'a OrderId,
    customer_id: &'a CustomerId,
    status: OrderStatus,
    currency: Currency,
    items: Vec<LineView<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    totals: Option<Totals>,
    #[serde(skip_serializing_if = "Option::is_none")]
    discount_code: Option<DiscountCode>,
    /// Why it was rejected (the detail) or cancelled (the reason's name).
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    payment_intent_id: Option<&'a PaymentIntentId>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        with = "time::serde::rfc3339::option"
    )]
    payment_due_by: Option<Timestamp>,
    correlation_id: &'a CorrelationId,
    #[serde(with = "time::serde::rfc3339")]
    created_at: Timestamp,
    #[serde(with = "time::serde::rfc3339")]
    updated_at: Timestamp,
    version: u64,
}

/// A line; prices appear once the order is confirmed.
#[derive(Serialize)]
struct LineView<'a> {
    product_id: &'a ProductId,
    quantity: Quantity,
    #[serde(skip_serializing_if = "Option::is_none")]
    sku: Option<&'a Sku>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a ProductName>,
    #[serde(skip_serializing_if = "Option::is_none")]
    unit_price: Option<Money>,
    #[serde(skip_serializing_if = "Option::is_none")]
    line_total: Option<Money>,
}

impl<'a> LineView<'a> {
    fn priced(line: &'a PricedLine) -> Self {
        LineView {
            product_id: &line.product_id,
            quantity: line.quantity,
            sku: Some(&line.sku),
            name: Some(&line.name),
            unit_price: Some(line.unit_price),
            line_total: Some(line.line_total),
        }
    }

    fn requested(line: &'a RequestedLine) -> Self {
        LineView {
            product_id: &line.product_id,
            quantity: line.quantity,
            sku: None,
            name: None,
            unit_price: None,
            line_total: None,
        }
    }
}

impl<'a> From<&'a Order> for OrderView<'a> {
    fn from(order: &'a Order) -> Self {
        let confirmation = order.state().confirmation();
        let items = match confirmation {
            Some(confirmed) => confirmed.lines.iter().map(LineView::priced).collect(),
            None => (order.requested_lines().as_slice().iter())
                .map(LineView::requested)
                .collect(),
        };
        let (reason, payment_intent_id) = match order.state() {
            OrderState::Rejected(rejection) => (Some(rejection.detail.as_str()), None),
            OrderState::Paid {
                payment_intent_id, ..
            } => (None, Some(payment_intent_id)),
            OrderState::Cancelled(cancelled) => (
                Some(cancelled.reason.as_str()),
                cancelled.payment_intent_id.as_ref(),
            ),
            OrderState::Pending | OrderState::Confirmed(_) => (None, None),
        };
        OrderView {
            order_id: order.id(),
            customer_id: order.customer(),
            status: order.status(),
            currency: order.currency(),
            items,
            totals: confirmation.map(|c| c.totals),
            discount_code: order.discount_code(),
            reason,
            payment_intent_id,
            payment_due_by: confirmation.map(|c| c.payment_due_by),
            correlation_id: order.correlation_id(),
            created_at: order.created_at(),
            updated_at: order.updated_at(),
            version: order.version(),
        }
    }
}
