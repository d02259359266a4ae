//! The one place where orders-api's failures become problem+json answers. A 503 is logged
//! with its cause where it is made ([`Problem::unavailable`]); a 4xx is the client's to fix.

use crate::request::RequestRejected;
use lambda_http::http::StatusCode;
use shop::http::Problem;
use shop::kernel::OrderId;
use shop::ordering::cancelling::CancelError;
use shop::ordering::placing::PlaceError;
use shop::ordering::ports::CommitError;

pub fn no_order(id: impl std::fmt::Display) -> Problem {
    Problem::not_found(format!("no order {id}"))
}

pub fn rejected(rejected: RequestRejected) -> Problem {
    match rejected {
        RequestRejected::Invalid(errors) => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-order",
            "Invalid Order",
            format!("{} field(s) are invalid", errors.len()),
        )
        .with_errors(errors),
        RequestRejected::NotTheCustomer => Problem::new(
            StatusCode::FORBIDDEN,
            "not-your-customer-id",
            "Forbidden",
            "customer_id must be yours (your token's subject), or left out",
        ),
    }
}

/// `retry_after_seconds`: what a customer holding too many unpaid orders is told to wait.
pub fn placing(error: PlaceError, retry_after_seconds: u64) -> Problem {
    match error {
        PlaceError::KeyReused => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency-key-reused",
            "Idempotency-Key Reused",
            "this Idempotency-Key was used for a different order; use a new key",
        ),
        PlaceError::TooManyUnpaidOrders(limit) => Problem::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too-many-unpaid-orders",
            "Too Many Unpaid Orders",
            format!(
                "you already hold {limit} unpaid orders: pay or cancel one, or wait until one expires"
            ),
        )
        .retry_after(retry_after_seconds),
        PlaceError::Infra(e) => Problem::unavailable(
            &e,
            "the order could not be accepted; retry with the same Idempotency-Key",
        ),
    }
}

pub fn cancelling(error: CancelError) -> Problem {
    match error {
        CancelError::NotFound(id) => no_order(id),
        CancelError::NotCancellable(status) => Problem::new(
            StatusCode::CONFLICT,
            "order-not-cancellable",
            "Order Not Cancellable",
            format!("the order is {status:?}: only PENDING and CONFIRMED orders can be cancelled"),
        ),
        CancelError::Commit(e @ CommitError::Conflict) => {
            Problem::unavailable(&e, "the order is busy; retry the cancellation")
        }
        // A cancellation only gives stock back: refused, a product left the catalog, and the
        // stock cannot go back until it is there again.
        CancelError::Commit(CommitError::Stock(refused)) => {
            tracing::error!(alarm = "stock_not_returned", error = %refused, "cancellation refused");
            Problem::new(
                StatusCode::CONFLICT,
                "stock-not-returnable",
                "Order Not Cancellable Now",
                "a product of this order left the catalog; contact support",
            )
        }
        CancelError::Commit(CommitError::Infra(e)) => {
            Problem::unavailable(&e, "cancelling the order failed for now; retry shortly")
        }
    }
}

/// A read of the stores behind the API failed.
pub fn unreadable(error: &shop::kernel::InfraError, what: &str) -> Problem {
    Problem::unavailable(error, format!("{what} failed for now; retry shortly"))
}

/// A path's order id that is no order id names no order: a 404 too.
pub fn order_id(raw: &str) -> Result<OrderId, Problem> {
    OrderId::parse(raw).map_err(|_| no_order(raw))
}
