//! The `payment.refund_required` requests of a batch's payment anomalies, published together
//! once the batch's messages are handled: one publication per batch, each request once however
//! many copies of its payment event the batch holds.

use super::ports::{EventPublisher, PaymentAnomalies};
use super::saga::SagaError;
use crate::kernel::{EventEnvelope, InfraError};
use std::collections::HashMap;

#[derive(Default)]
pub(super) struct Refunds {
    pending: Vec<PendingRefund>,
    /// Each message whose success hangs on a request (by the request's event id).
    waiting: Vec<(usize, String)>,
}

struct PendingRefund {
    /// The payment event's id: the anomaly's key in the ledger.
    anomaly: String,
    request: EventEnvelope,
}

impl Refunds {
    /// Whether the batch already publishes `request`: an earlier copy of its payment event
    /// recorded the anomaly.
    pub(super) fn publishes(&self, request: &EventEnvelope) -> bool {
        self.pending
            .iter()
            .any(|p| p.request.event_id == request.event_id)
    }

    /// Message `message` is done only once `request`, the refund of the anomaly `anomaly`, is
    /// published.
    pub(super) fn wait_for(&mut self, message: usize, anomaly: &str, request: &EventEnvelope) {
        if !self.publishes(request) {
            self.pending.push(PendingRefund {
                anomaly: anomaly.to_owned(),
                request: request.clone(),
            });
        }
        self.waiting.push((message, request.event_id.clone()));
    }

    /// Publishes every request in one call, then notes in the ledger each one the bus took.
    /// Answers the messages to retry, each with why: a request not taken, or not noted, is
    /// published again by a later delivery.
    pub(super) async fn publish(
        self,
        publisher: &dyn EventPublisher,
        anomalies: &dyn PaymentAnomalies,
    ) -> Vec<(usize, SagaError)> {
        if self.pending.is_empty() {
            return Vec::new();
        }
        let requests: Vec<EventEnvelope> = self.pending.iter().map(|p| p.request.clone()).collect();
        // Per request: published and noted, or why not (`None`: the bus refused it).
        let mut done: HashMap<&str, Result<(), Option<InfraError>>> = HashMap::new();
        match publisher.publish(&requests).await {
            Err(e) => done.extend(
                requests
                    .iter()
                    .map(|r| (r.event_id.as_str(), Err(Some(e.clone())))),
            ),
            Ok(report) => {
                for p in &self.pending {
                    let result = if report.failed.contains(&p.request.event_id) {
                        Err(None)
                    } else {
                        anomalies
                            .mark_refund_published(&p.anomaly)
                            .await
                            .map_err(Some)
                    };
                    done.insert(p.request.event_id.as_str(), result);
                }
            }
        }
        let failed = |(message, request): &(usize, String)| match &done[request.as_str()] {
            Ok(()) => None,
            Err(None) => Some((*message, SagaError::RefundNotPublished)),
            Err(Some(e)) => Some((*message, e.clone().into())),
        };
        self.waiting.iter().filter_map(failed).collect()
    }
}
