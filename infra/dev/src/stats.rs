//! What the local cloud's functions have done so far, for `cargo dev stats` and `/_dev`:
//! the metrics they print as CloudWatch Embedded Metric Format lines, summed as CloudWatch
//! would sum them, and each function's invocation durations as the Runtime API saw them.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::bench::stats::Dist;

/// How many recent EMF documents are kept as they were printed.
const RECENT_DOCUMENTS: usize = 500;
/// How many recent durations per function are kept for the percentiles.
const RECENT_DURATIONS: usize = 10_000;

/// Shared by the log router (EMF lines) and the Runtime API host (durations). Cheap to clone.
#[derive(Clone, Default)]
pub struct Stats(Arc<Mutex<Book>>);

#[derive(Default)]
struct Book {
    /// Sum per metric and its dimensions (all but `service`, the same everywhere locally).
    totals: BTreeMap<(String, BTreeMap<String, String>), f64>,
    durations: BTreeMap<String, VecDeque<f64>>,
    invocations: BTreeMap<String, u64>,
    recent: VecDeque<Value>,
}

/// The figures so far.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Snapshot {
    pub funnel: Funnel,
    /// Rejected and cancelled orders by reason.
    pub rejected: BTreeMap<String, f64>,
    pub cancelled: BTreeMap<String, f64>,
    /// Minor units paid, by currency.
    pub revenue: BTreeMap<String, f64>,
    pub functions: Vec<FunctionLatency>,
    /// Every metric with its dimensions and total.
    pub metrics: Vec<MetricTotal>,
    /// The most recent EMF documents, as printed, each with `function` added.
    pub recent_documents: Vec<Value>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Funnel {
    pub placed: f64,
    pub confirmed: f64,
    pub rejected: f64,
    pub paid: f64,
    pub cancelled: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FunctionLatency {
    pub function: String,
    pub invocations: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct MetricTotal {
    pub name: String,
    pub dimensions: BTreeMap<String, String>,
    pub value: f64,
}

impl Stats {
    fn book(&self) -> std::sync::MutexGuard<'_, Book> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes a line `function` printed; true if it was an EMF document (now counted).
    pub fn record_line(&self, function: &str, line: &str) -> bool {
        if !line.starts_with('{') || !line.contains("\"_aws\"") {
            return false;
        }
        let Ok(mut document) = serde_json::from_str::<Value>(line) else {
            return false;
        };
        let Some(directive) = document["_aws"]["CloudWatchMetrics"].get(0).cloned() else {
            return false;
        };
        let dimensions: BTreeMap<String, String> = directive["Dimensions"][0]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .filter(|name| *name != "service")
            .map(|name| {
                let value = document[name].as_str().unwrap_or_default().to_owned();
                (name.to_owned(), value)
            })
            .collect();
        let mut book = self.book();
        for metric in directive["Metrics"].as_array().into_iter().flatten() {
            let Some(name) = metric["Name"].as_str() else {
                continue;
            };
            let value = match &document[name] {
                Value::Number(n) => n.as_f64().unwrap_or_default(),
                // A histogram's values: their sum (a batch size's total records).
                Value::Array(values) => values.iter().filter_map(Value::as_f64).sum(),
                _ => 0.0,
            };
            *book
                .totals
                .entry((name.to_owned(), dimensions.clone()))
                .or_default() += value;
        }
        document["function"] = Value::String(function.to_owned());
        book.recent.push_back(document);
        if book.recent.len() > RECENT_DOCUMENTS {
            book.recent.pop_front();
        }
        true
    }

    /// An invocation of `function` that took `duration` (event handed over to answer).
    pub fn record_duration(&self, function: &str, duration: Duration) {
        let mut book = self.book();
        *book.invocations.entry(function.to_owned()).or_default() += 1;
        let durations = book.durations.entry(function.to_owned()).or_default();
        durations.push_back(duration.as_secs_f64() * 1e3);
        if durations.len() > RECENT_DURATIONS {
            durations.pop_front();
        }
    }

    pub fn snapshot(&self) -> Snapshot {
        let book = self.book();
        let total = |name: &str| -> f64 {
            book.totals
                .iter()
                .filter(|((metric, _), _)| metric == name)
                .map(|(_, value)| value)
                // Not `sum()`: an empty f64 sum is -0, which shows as "-0".
                .fold(0.0, |total, value| total + value)
        };
        let by = |name: &str, dimension: &str| -> BTreeMap<String, f64> {
            let mut split = BTreeMap::new();
            for ((metric, dimensions), value) in &book.totals {
                if let (true, Some(key)) = (metric == name, dimensions.get(dimension)) {
                    *split.entry(key.clone()).or_default() += value;
                }
            }
            split
        };
        Snapshot {
            funnel: Funnel {
                placed: total("OrdersPlaced"),
                confirmed: total("OrdersConfirmed"),
                rejected: total("OrdersRejected"),
                paid: total("OrdersPaid"),
                cancelled: total("OrdersCancelled"),
            },
            rejected: by("OrdersRejected", "reason"),
            cancelled: by("OrdersCancelled", "reason"),
            revenue: by("Revenue", "currency"),
            functions: book
                .durations
                .iter()
                .map(|(function, durations)| {
                    let samples: Vec<f64> = durations.iter().copied().collect();
                    let latency = Dist::of(&samples);
                    FunctionLatency {
                        function: function.clone(),
                        invocations: book.invocations.get(function).copied().unwrap_or(0),
                        p50_ms: latency.p50,
                        p99_ms: latency.p99,
                    }
                })
                .collect(),
            metrics: book
                .totals
                .iter()
                .map(|((name, dimensions), value)| MetricTotal {
                    name: name.clone(),
                    dimensions: dimensions.clone(),
                    value: *value,
                })
                .collect(),
            recent_documents: book.recent.iter().cloned().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn emf(name: &str, value: Value, dimension: Option<(&str, &str)>) -> String {
        let mut names = vec!["service"];
        let mut document = serde_json::json!({"service": "local", name: value});
        if let Some((key, v)) = dimension {
            names.push(key);
            document[key] = Value::String(v.to_owned());
        }
        document["_aws"] = serde_json::json!({"Timestamp": 1, "CloudWatchMetrics": [
            {"Namespace": "Shop/local", "Dimensions": [names], "Metrics": [{"Name": name}]}]});
        document.to_string()
    }

    #[test]
    fn sums_emf_lines_as_cloudwatch_would() {
        let stats = Stats::default();
        assert!(stats.record_line("orders-api", &emf("OrdersPlaced", 1.into(), None)));
        assert!(stats.record_line("orders-api", &emf("OrdersPlaced", 2.into(), None)));
        let paid = emf("Revenue", 3_600.into(), Some(("currency", "EUR")));
        assert!(stats.record_line("order-payments", &paid));
        let rejected = emf(
            "OrdersRejected",
            1.into(),
            Some(("reason", "unknown_product")),
        );
        assert!(stats.record_line("order-processor", &rejected));
        let batch = emf("BatchSize", serde_json::json!([10, 3]), None);
        assert!(stats.record_line("order-processor", &batch));
        assert!(!stats.record_line("orders-api", r#"{"level":"INFO","message":"hi"}"#));
        assert!(!stats.record_line("orders-api", "not json"));
        stats.record_duration("orders-api", Duration::from_millis(10));
        stats.record_duration("orders-api", Duration::from_millis(30));

        let snapshot = stats.snapshot();
        assert_eq!(snapshot.funnel.placed, 3.0);
        assert_eq!(snapshot.funnel.rejected, 1.0);
        assert_eq!(snapshot.rejected["unknown_product"], 1.0);
        assert_eq!(snapshot.revenue["EUR"], 3_600.0);
        let batch = snapshot
            .metrics
            .iter()
            .find(|m| m.name == "BatchSize")
            .unwrap();
        assert_eq!(batch.value, 13.0);
        let api = &snapshot.functions[0];
        assert_eq!((api.invocations, api.p50_ms, api.p99_ms), (2, 10.0, 30.0));
        assert_eq!(snapshot.recent_documents.len(), 5);
        assert_eq!(snapshot.recent_documents[0]["function"], "orders-api");
    }
}
