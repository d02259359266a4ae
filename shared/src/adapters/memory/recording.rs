//! The recording adapters: what the code under test published, queued or asked to be
//! re-delivered.

use crate::kernel::{EventEnvelope, EventPublisher, InfraError, OrderId, PublishReport};
use crate::ordering::PlaceOrder;
use crate::ordering::ports::{DeadlineTimer, OrderQueue};
use async_trait::async_trait;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Keeps what it publishes; can be told to fail the next calls, to inject faults.
#[derive(Default)]
pub struct RecordingPublisher {
    published: Mutex<Vec<EventEnvelope>>,
    failures_left: AtomicUsize,
    calls: AtomicUsize,
}

impl RecordingPublisher {
    pub fn fail_next(&self, calls: usize) {
        self.failures_left.store(calls, Ordering::SeqCst);
    }

    pub fn published(&self) -> Vec<EventEnvelope> {
        self.published.lock().unwrap().clone()
    }

    pub fn types(&self) -> Vec<String> {
        self.published().into_iter().map(|e| e.event_type).collect()
    }

    /// How often `publish` was called, failed calls included: the bus's round trips.
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

#[async_trait]
impl EventPublisher for RecordingPublisher {
    async fn publish(&self, events: &[EventEnvelope]) -> Result<PublishReport, InfraError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        let failing = self
            .failures_left
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        if failing {
            return Err(InfraError::new("injected publish failure"));
        }
        self.published.lock().unwrap().extend_from_slice(events);
        Ok(PublishReport::default())
    }
}

/// Keeps what is queued.
#[derive(Default)]
pub struct RecordingQueue {
    sent: Mutex<Vec<PlaceOrder>>,
}

impl RecordingQueue {
    pub fn sent(&self) -> Vec<PlaceOrder> {
        self.sent.lock().unwrap().clone()
    }
}

#[async_trait]
impl OrderQueue for RecordingQueue {
    async fn send(&self, commands: &[PlaceOrder]) -> Vec<OrderId> {
        self.sent.lock().unwrap().extend_from_slice(commands);
        Vec::new()
    }
}

/// Keeps every deadline re-check asked for, with its delay.
#[derive(Default)]
pub struct RecordingTimer {
    rechecks: Mutex<Vec<(EventEnvelope, std::time::Duration)>>,
}

impl RecordingTimer {
    pub fn rechecks(&self) -> Vec<(EventEnvelope, std::time::Duration)> {
        self.rechecks.lock().unwrap().clone()
    }
}

#[async_trait]
impl DeadlineTimer for RecordingTimer {
    async fn recheck_after(
        &self,
        confirmed: &EventEnvelope,
        delay: std::time::Duration,
    ) -> Result<(), InfraError> {
        self.rechecks
            .lock()
            .unwrap()
            .push((confirmed.clone(), delay));
        Ok(())
    }
}
