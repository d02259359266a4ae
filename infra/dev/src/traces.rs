//! The local cloud's X-Ray daemon: every invocation is sampled, each function gets the
//! address of a UDP socket of ours as `AWS_XRAY_DAEMON_ADDRESS`, as Lambda gives its own, and
//! the segment documents the functions send there (one subsegment per AWS call,
//! `shop::telemetry::xray`) are kept beside the invocation they belong to, for `/_dev/traces`.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use shop::telemetry::xray::TraceHeader;
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The variable that tells a function where the daemon listens.
pub const DAEMON_ADDRESS: &str = "AWS_XRAY_DAEMON_ADDRESS";

/// How many recent invocations are kept with their subsegments.
const RECENT_INVOCATIONS: usize = 300;

/// One invocation's trace: what the Runtime API handed the function, and the subsegments the
/// function sent under it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct InvocationTrace {
    pub function: String,
    pub request_id: String,
    pub trace_id: String,
    /// The function's segment, the parent of its subsegments.
    pub parent_id: String,
    /// Segment documents as the function sent them.
    pub subsegments: Vec<Value>,
}

/// Shared by the Runtime API hosts (invocations) and the daemon (subsegments). Cheap to clone.
#[derive(Clone, Default)]
pub struct Traces(Arc<Mutex<VecDeque<InvocationTrace>>>);

impl Traces {
    /// An invocation handed to `function` with this trace header.
    pub fn invoked(&self, function: &str, request_id: &str, header: &TraceHeader) {
        let mut recent = self.lock();
        if recent.len() == RECENT_INVOCATIONS {
            recent.pop_front();
        }
        recent.push_back(InvocationTrace {
            function: function.to_owned(),
            request_id: request_id.to_owned(),
            trace_id: header.root.clone(),
            parent_id: header.parent.clone(),
            subsegments: Vec::new(),
        });
    }

    /// A datagram a function sent: the daemon's header line, then one segment document.
    /// Anything else is dropped, as the daemon drops it.
    fn received(&self, datagram: &[u8]) {
        let Some(document) = datagram
            .iter()
            .position(|b| *b == b'\n')
            .and_then(|newline| serde_json::from_slice::<Value>(&datagram[newline + 1..]).ok())
        else {
            return;
        };
        let mut recent = self.lock();
        if let Some(invocation) = recent.iter_mut().rev().find(|i| {
            document["parent_id"] == i.parent_id.as_str()
                && document["trace_id"] == i.trace_id.as_str()
        }) {
            invocation.subsegments.push(document);
        }
    }

    /// The `limit` most recent invocations, newest first.
    pub fn recent(&self, limit: usize) -> Vec<InvocationTrace> {
        self.lock().iter().rev().take(limit).cloned().collect()
    }

    /// Every invocation kept, newest first.
    pub fn all(&self) -> Vec<InvocationTrace> {
        self.recent(RECENT_INVOCATIONS)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<InvocationTrace>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Listens on a free UDP port of 127.0.0.1 until `shutdown`; its address is what the
/// functions get as `AWS_XRAY_DAEMON_ADDRESS`.
pub async fn listen(
    traces: Traces,
    shutdown: CancellationToken,
    tasks: &TaskTracker,
) -> Result<SocketAddr> {
    let socket = UdpSocket::bind(("127.0.0.1", 0))
        .await
        .context("cannot open the local X-Ray daemon's UDP socket")?;
    let address = socket.local_addr()?;
    tasks.spawn(async move {
        // X-Ray's limit for a segment document is 64 KB.
        let mut buffer = vec![0; 64 * 1024];
        loop {
            tokio::select! {
                received = socket.recv_from(&mut buffer) => {
                    if let Ok((length, _)) = received {
                        traces.received(&buffer[..length]);
                    }
                }
                () = shutdown.cancelled() => return,
            }
        }
    });
    Ok(address)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[tokio::test]
    async fn subsegments_sent_to_the_daemon_join_their_invocation() {
        let traces = Traces::default();
        let shutdown = CancellationToken::new();
        let tasks = TaskTracker::new();
        let address = listen(traces.clone(), shutdown.clone(), &tasks)
            .await
            .unwrap();
        let header = |root: &str, parent: &str| TraceHeader {
            root: root.to_owned(),
            parent: parent.to_owned(),
            sampled: true,
        };
        traces.invoked("orders-api", "r-1", &header("1-a-b", "p1"));
        traces.invoked("order-relay", "r-2", &header("1-c-d", "p2"));
        let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let send = |document: Value| {
            let datagram = format!("{{\"format\": \"json\", \"version\": 1}}\n{document}");
            socket.send_to(datagram.as_bytes(), address).unwrap();
        };
        send(json!({"name": "DynamoDB", "trace_id": "1-a-b", "parent_id": "p1"}));
        // Another trace's parent id, and garbage: neither joins orders-api's invocation.
        send(json!({"name": "SNS", "trace_id": "1-x-y", "parent_id": "p1"}));
        socket.send_to(b"not a segment", address).unwrap();
        send(json!({"name": "SQS", "trace_id": "1-c-d", "parent_id": "p2"}));

        let mut waited = 0;
        while traces.all()[0].subsegments.is_empty() && waited < 200 {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            waited += 1;
        }
        let recent = traces.all();
        assert_eq!(recent[0].function, "order-relay");
        assert_eq!(recent[0].subsegments[0]["name"], "SQS");
        assert_eq!(recent[1].function, "orders-api");
        let names: Vec<&Value> = recent[1].subsegments.iter().map(|s| &s["name"]).collect();
        assert_eq!(names, [&json!("DynamoDB")]);
        shutdown.cancel();
    }
}
