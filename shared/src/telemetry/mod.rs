//! Logs: one JSON object per line, through `tracing`; metrics: [`metrics`], as CloudWatch
//! Embedded Metric Format lines beside them; traces: [`xray`], a subsegment per AWS call.
//!
//! Every line carries the spans it was logged in: the runtime's invocation span (with the
//! Lambda `requestId`) and the handler's span (with the `correlation_id` that travels with an
//! order through SQS and SNS), so a search for either finds the whole story.

pub mod metrics;
#[cfg(feature = "aws")]
pub mod xray;

use tracing_subscriber::EnvFilter;

/// Installs the JSON subscriber and the metrics recorder once, at the start of `main`.
/// `RUST_LOG` sets the level (default `info`).
pub fn init() {
    metrics::init();
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(true)
        .with_target(false)
        .with_ansi(false)
        .init();
}
