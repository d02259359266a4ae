//! The one place where orders-api's failures become problem+json answers (and log lines).

use lambda_http::http::{HeaderValue, StatusCode};
use lambda_http::{Body, Response};
use shop::http::Problem;
use shop::kernel::StoreError;
use shop::ordering::cancelling::CancelError;
use shop::ordering::outbox::ChangeError;
use shop::ordering::placing::{PlaceError, RequestRejected};

/// What went wrong with a request, in the API's terms.
pub enum Failure {
    Problem(Problem),
    /// 429 with `Retry-After`: the customer holds too many unpaid orders.
    TooManyUnpaid {
        limit: u32,
        retry_after_seconds: u64,
    },
}

impl Failure {
    pub fn into_response(self) -> Response<Body> {
        match self {
            Failure::Problem(problem) => problem.into_response(),
            Failure::TooManyUnpaid {
                limit,
                retry_after_seconds,
            } => {
                let mut response = Problem::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too-many-unpaid-orders",
                    "Too Many Unpaid Orders",
                    format!(
                        "you already hold {limit} unpaid orders: pay or cancel one, or wait until one expires"
                    ),
                )
                .into_response();
                response
                    .headers_mut()
                    .insert("retry-after", HeaderValue::from(retry_after_seconds));
                response
            }
        }
    }
}

impl From<Problem> for Failure {
    fn from(problem: Problem) -> Self {
        Failure::Problem(problem)
    }
}

/// A failure of the stores behind the API: logged, answered 503 so that the client retries.
pub fn unavailable(error: &StoreError, what: &str) -> Failure {
    tracing::error!(error = %error, "{what} failed");
    Problem::unavailable(format!("{what} failed for now; retry shortly")).into()
}

pub fn rejected(rejected: RequestRejected) -> Failure {
    match rejected {
        RequestRejected::Invalid(errors) => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid-order",
            "Invalid Order",
            format!("{} field(s) are invalid", errors.len()),
        )
        .with_errors(errors)
        .into(),
        RequestRejected::NotTheCustomer => Problem::new(
            StatusCode::FORBIDDEN,
            "not-your-customer-id",
            "Forbidden",
            "customer_id must be yours (your token's subject), or left out",
        )
        .into(),
    }
}

pub fn placing(error: PlaceError, retry_after_seconds: u64) -> Failure {
    match error {
        PlaceError::KeyReused => Problem::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency-key-reused",
            "Idempotency-Key Reused",
            "this Idempotency-Key was used for a different order; use a new key",
        )
        .into(),
        PlaceError::TooManyUnpaidOrders(limit) => Failure::TooManyUnpaid {
            limit,
            retry_after_seconds,
        },
        PlaceError::Store(e) => {
            tracing::error!(error = %e, "placing an order failed");
            Problem::unavailable(
                "the order could not be accepted; retry with the same Idempotency-Key",
            )
            .into()
        }
    }
}

pub fn cancelling(error: CancelError) -> Failure {
    match error {
        CancelError::NotFound(id) => Problem::not_found(format!("no order {id}")).into(),
        CancelError::NotCancellable(status) => Problem::new(
            StatusCode::CONFLICT,
            "order-not-cancellable",
            "Order Not Cancellable",
            format!("the order is {status:?}: only PENDING and CONFIRMED orders can be cancelled"),
        )
        .into(),
        CancelError::Change(e @ ChangeError::Conflict) => {
            tracing::warn!(error = %e, "cancellation to be retried");
            Problem::unavailable("the order is busy; retry the cancellation").into()
        }
        CancelError::Change(ChangeError::Store(e)) => unavailable(&e, "cancelling the order"),
    }
}
