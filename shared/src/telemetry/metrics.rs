//! What the shop and the system are doing, as CloudWatch Embedded Metric Format (EMF) lines on
//! stdout: CloudWatch Logs turns each line into metrics, with no API call, no agent and
//! nothing slow at init. Recorded through the `metrics` facade; written by
//! `metrics_cloudwatch_embedded`'s recorder. Not through that crate's `lambda` feature, which
//! would link every lambda_http event type into every function: [`flushed`] writes the
//! invocation's metrics when it ends instead.
//!
//! Dimensions are few, because each distinct combination is billed as a metric of its own:
//! `service` (the stack) on every metric, and one more where it says something (a rejection's
//! or cancellation's `reason`, revenue's `currency`, a cold start's `function`). No id is
//! ever a dimension.
//!
//! The names live here, once: handlers call these functions, never `metrics::counter!`
//! with a string of their own.

use crate::kernel::Money;
use crate::ordering::{CancellationReason, RejectionReason};
use metrics_cloudwatch_embedded::Collector;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

static COLLECTOR: OnceLock<&'static Collector> = OnceLock::new();
static WARM: AtomicBool = AtomicBool::new(false);

/// Where locally the namespace and service come from when the template's variables are absent
/// (unit tests, `cargo lambda invoke` without an env file).
const DEFAULT_NAMESPACE: &str = "Shop/local";
const DEFAULT_SERVICE: &str = "shop";

/// Installs the recorder: namespace `METRICS_NAMESPACE`, dimension `service` =
/// `SERVICE_NAME` (the template sets both from the stack's name).
pub fn init() {
    let namespace = std::env::var("METRICS_NAMESPACE").unwrap_or(DEFAULT_NAMESPACE.into());
    let service = std::env::var("SERVICE_NAME").unwrap_or(DEFAULT_SERVICE.into());
    match metrics_cloudwatch_embedded::Builder::new()
        .cloudwatch_namespace(namespace)
        .with_dimension("service", service)
        .init()
    {
        Ok(collector) => {
            let _ = COLLECTOR.set(collector);
        }
        // A second recorder (tests in one process): metrics go to the first.
        Err(e) => tracing::debug!(error = %e, "metrics recorder already installed"),
    }
}

/// Runs one invocation, then writes the metrics it recorded as EMF lines; the first
/// invocation of an execution environment also counts a cold start.
pub async fn flushed<F: Future>(invocation: F) -> F::Output {
    if !WARM.swap(true, Ordering::Relaxed) {
        let function = std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_default();
        metrics::counter!("ColdStarts", "function" => function).increment(1);
    }
    let output = invocation.await;
    flush(std::io::stdout().lock());
    output
}

/// Writes what was recorded since the last flush.
pub fn flush(out: impl std::io::Write) {
    if let Some(collector) = COLLECTOR.get()
        && let Err(e) = collector.flush(out)
    {
        tracing::warn!(error = %e, "metrics not written");
    }
}

pub fn order_placed() {
    metrics::counter!("OrdersPlaced").increment(1);
}

pub fn order_confirmed() {
    metrics::counter!("OrdersConfirmed").increment(1);
}

/// A rejection, by reason; one for want of stock is also a stock-out.
pub fn order_rejected(reason: RejectionReason) {
    metrics::counter!("OrdersRejected", "reason" => reason.as_str()).increment(1);
    if reason == RejectionReason::InsufficientStock {
        metrics::counter!("StockOuts").increment(1);
    }
}

/// An order paid, and what it brought in (minor units, by currency).
pub fn order_paid(amount: Money) {
    metrics::counter!("OrdersPaid").increment(1);
    metrics::counter!("Revenue", "currency" => amount.currency.code())
        .increment(amount.amount.unsigned_abs());
}

pub fn order_cancelled(reason: CancellationReason) {
    metrics::counter!("OrdersCancelled", "reason" => reason.as_str()).increment(1);
}

/// A webhook whose signature, timestamp or body did not pass.
pub fn webhook_refused() {
    metrics::counter!("WebhookSignatureFailures").increment(1);
}

/// A payment that could not be applied to its order (see the saga's anomalies).
pub fn payment_anomaly() {
    metrics::counter!("PaymentAnomaliesReported").increment(1);
}

/// A transaction DynamoDB cancelled for contention and that is being sent again.
pub fn transaction_conflict_retried() {
    metrics::counter!("TransactionConflictsRetried").increment(1);
}

/// An SQS or stream batch: its size, and how many of its records were given back.
pub fn batch(size: usize, failures: usize) {
    metrics::histogram!("BatchSize").record(size as f64);
    metrics::counter!("BatchItemFailures").increment(failures as u64);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::Currency;
    use serde_json::Value;

    #[test]
    fn what_is_recorded_is_written_as_emf_once() {
        init();
        order_placed();
        order_paid(Money::new(3_600, Currency::Eur));
        order_rejected(RejectionReason::InsufficientStock);
        let mut out = Vec::new();
        flush(&mut out);
        let lines: Vec<Value> = String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let value = |name: &str| {
            lines
                .iter()
                .find_map(|l| l.get(name).cloned())
                .unwrap_or(Value::Null)
        };
        assert_eq!(value("OrdersPlaced"), 1);
        assert_eq!(value("OrdersPaid"), 1);
        assert_eq!(value("Revenue"), 3_600);
        assert_eq!(value("StockOuts"), 1);
        let revenue = lines.iter().find(|l| l.get("Revenue").is_some()).unwrap();
        assert_eq!(revenue["currency"], "EUR");
        assert_eq!(revenue["service"], DEFAULT_SERVICE);
        let emf = &revenue["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(emf["Namespace"], DEFAULT_NAMESPACE);
        assert_eq!(
            emf["Dimensions"][0],
            serde_json::json!(["service", "currency"])
        );
        // Counters are deltas: a second flush writes nothing new.
        let mut again = Vec::new();
        flush(&mut again);
        assert!(again.is_empty(), "{}", String::from_utf8_lossy(&again));
    }
}
