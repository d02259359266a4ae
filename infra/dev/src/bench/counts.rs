//! The emulator's request counts (`GET /_dev/requests` on the launcher, see
//! `infra/emulator/moto_launcher.py`): AWS requests by caller, service and operation.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

/// The SDK app name of the bench's own plumbing (setup, queue reads): not counted for anyone.
pub const BENCH_CALLER: &str = "bench";
/// The SDK app name of the bench's direct calls, the baseline of the warm latency.
pub const DIRECT_CALLER: &str = "bench-direct";
/// Functions and the local cloud's pollers set no app name.
pub const FUNCTION_CALLER: &str = "";

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Counter {
    pub requests: u64,
    /// Items a DynamoDB request names or returns.
    pub items: u64,
    pub request_bytes: u64,
    pub response_bytes: u64,
    /// Time the emulator took to answer, queueing for its DynamoDB lock included.
    pub seconds: f64,
}

impl Counter {
    fn add(&mut self, other: &Counter, sign: f64) {
        let apply = |a: &mut u64, b: u64| {
            *a = if sign > 0.0 {
                *a + b
            } else {
                a.saturating_sub(b)
            }
        };
        apply(&mut self.requests, other.requests);
        apply(&mut self.items, other.items);
        apply(&mut self.request_bytes, other.request_bytes);
        apply(&mut self.response_bytes, other.response_bytes);
        self.seconds += sign * other.seconds;
    }
}

/// (service, operation), e.g. ("dynamodb", "TransactWriteItems").
pub type Operation = (String, String);

/// Counts of one caller by operation.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Counts(pub BTreeMap<Operation, Counter>);

impl Counts {
    /// What happened between `before` and `self`.
    pub fn since(&self, before: &Counts) -> Counts {
        let mut out = BTreeMap::new();
        for (op, counter) in &self.0 {
            let mut diff = counter.clone();
            if let Some(old) = before.0.get(op) {
                diff.add(old, -1.0);
            }
            if diff.requests > 0 {
                out.insert(op.clone(), diff);
            }
        }
        Counts(out)
    }

    pub fn add(&mut self, other: &Counts) {
        for (op, counter) in &other.0 {
            self.0.entry(op.clone()).or_default().add(counter, 1.0);
        }
    }

    pub fn requests(&self) -> u64 {
        self.0.values().map(|c| c.requests).sum()
    }
}

#[derive(Deserialize)]
struct Row {
    caller: String,
    service: String,
    operation: String,
    #[serde(flatten)]
    counter: Counter,
}

#[derive(Deserialize)]
struct Document {
    requests: Vec<Row>,
}

/// Every caller's counts so far.
pub fn fetch_all(endpoint: &str) -> Result<BTreeMap<String, Counts>> {
    let body = http_get(endpoint, "/_dev/requests")?;
    let document: Document =
        serde_json::from_slice(&body).context("the emulator's request counts are not JSON")?;
    let mut callers: BTreeMap<String, Counts> = BTreeMap::new();
    for row in document.requests {
        callers
            .entry(row.caller)
            .or_default()
            .0
            .insert((row.service, row.operation), row.counter);
    }
    Ok(callers)
}

/// One caller's counts so far.
pub fn fetch(endpoint: &str, caller: &str) -> Result<Counts> {
    Ok(fetch_all(endpoint)?.remove(caller).unwrap_or_default())
}

/// A plain HTTP/1.1 GET: the counts are read between measurements, so a blocking socket is
/// simplest and keeps no connection pool around.
fn http_get(endpoint: &str, path: &str) -> Result<Vec<u8>> {
    let authority = endpoint
        .strip_prefix("http://")
        .context("the emulator's endpoint is not http://")?
        .trim_end_matches('/');
    let mut stream =
        TcpStream::connect(authority).with_context(|| format!("cannot reach {endpoint}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n"
    )?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .context("the emulator's answer has no header end")?;
    let head = String::from_utf8_lossy(&response[..split]);
    if !head.starts_with("HTTP/1.1 200") && !head.starts_with("HTTP/1.0 200") {
        bail!(
            "the emulator answered {} to {path} (is infra/emulator/moto_launcher.py current?)",
            head.lines().next().unwrap_or_default()
        );
    }
    Ok(response[split + 4..].to_vec())
}
