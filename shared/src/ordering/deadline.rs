//! The payment deadline: a CONFIRMED order still unpaid at its `payment_due_by` is cancelled
//! (`payment_timeout`) and its stock given back.
//!
//! Driven by the order's own `order.confirmed`: the event reaches the deadline queue as soon as
//! it is published, and [`PaymentDeadline::check`] has it delivered again when it is due
//! ([`DeadlineTimer`]: an SQS message delay). Every check reads the order (with the rest of its
//! batch, [`super::saga_batch`]), so a payment or a cancellation that commits first wins, and a
//! check that runs twice changes nothing.

use super::batch_orders::BatchOrders;
use super::cancelling::{ATTEMPTS, cancellation};
use super::order::Cancel;
use super::ports::{CommitError, DeadlineTimer};
use super::state::OrderState;
use super::{CancellationReason, OrderStatus};
use crate::kernel::{Clock, EventEnvelope, OrderId};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeadlineOutcome {
    /// Unpaid at its deadline: cancelled now.
    Expired,
    /// Not due yet: the check comes back after this long.
    NotYetDue(Duration),
    /// Paid, cancelled or rejected already: nothing to do.
    Settled(OrderStatus),
    /// No such order (a stray message): nothing to do.
    UnknownOrder,
}

/// The orders come with each check (the batch's [`BatchOrders`]).
pub(super) struct PaymentDeadline<'a> {
    pub timer: &'a dyn DeadlineTimer,
    pub clock: &'a dyn Clock,
}

impl PaymentDeadline<'_> {
    /// Checks the deadline of the order `confirmed` (its `order.confirmed`) announces,
    /// against the order as the batch holds it.
    pub(super) async fn check(
        &self,
        orders: &mut BatchOrders<'_>,
        confirmed: &EventEnvelope,
    ) -> Result<DeadlineOutcome, CommitError> {
        let Ok(id) = OrderId::parse(confirmed.aggregate_id.as_str()) else {
            return Ok(DeadlineOutcome::UnknownOrder);
        };
        for attempt in 0..ATTEMPTS {
            // Lost a race (a payment, the customer): read the order again.
            if attempt > 0 {
                orders.reload(&id).await?;
            }
            let Some(order) = orders.get(&id).cloned() else {
                return Ok(DeadlineOutcome::UnknownOrder);
            };
            let due = match order.state() {
                OrderState::Confirmed(confirmation) => confirmation.payment_due_by,
                settled => return Ok(DeadlineOutcome::Settled(settled.status())),
            };
            let now = self.clock.now();
            if now < due {
                let wait = Duration::try_from(due - now).unwrap_or_default();
                // Whole seconds, rounded up: a check that comes back early only looks again.
                let wait = Duration::from_secs(wait.as_secs() + 1);
                self.timer.recheck_after(confirmed, wait).await?;
                return Ok(DeadlineOutcome::NotYetDue(wait));
            }
            let cancel = Cancel {
                causation_id: Some(confirmed.event_id.clone()),
                ..Cancel::because(CancellationReason::PaymentTimeout)
            };
            let Ok(commit) = cancellation(&order, cancel, now) else {
                continue;
            };
            match orders.commit(commit).await {
                Ok(()) => return Ok(DeadlineOutcome::Expired),
                Err(CommitError::Conflict) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(CommitError::Conflict)
    }
}

/// Reads a payment window as the template writes it: `15m` (minutes, the template parameter
/// `PaymentWindowMinutes`) or `5s` (seconds, `cargo dev up --payment-window 5`).
pub fn parse_payment_window(text: &str) -> Result<time::Duration, String> {
    let text = text.trim();
    let (number, unit) = text.split_at(text.len().saturating_sub(1));
    let count: u32 = number.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
        format!("payment window {text:?}: expected a positive number then s or m")
    })?;
    match unit {
        "s" => Ok(time::Duration::seconds(count.into())),
        "m" => Ok(time::Duration::minutes(count.into())),
        _ => Err(format!("payment window {text:?}: the unit must be s or m")),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_payment_window;

    #[test]
    fn payment_windows_read_as_the_template_writes_them() {
        assert_eq!(parse_payment_window("15m"), Ok(time::Duration::minutes(15)));
        assert_eq!(parse_payment_window("5s"), Ok(time::Duration::seconds(5)));
        for bad in ["", "m", "0m", "-5s", "15", "15h", "1.5m"] {
            assert!(parse_payment_window(bad).is_err(), "{bad:?}");
        }
    }
}
