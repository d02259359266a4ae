//! Dollars per million orders and per million product reads: list prices applied to the
//! measured durations (at the template's memory sizes) and the measured request counts.

use super::report::{BatchRequests, Cost, CostLine, CostTable, OpCount, Price, Warm};

/// US East (N. Virginia) list prices, on-demand, without free tiers or savings plans.
pub const PRICES_AS_OF: &str = "2025-07 (AWS pricing pages, US East (N. Virginia); \
     DynamoDB on-demand after its 2024-11-01 reduction)";
const LAMBDA_REQUEST: f64 = 0.20 / 1e6;
const LAMBDA_GB_SECOND_X86: f64 = 0.000_016_666_7;
const DYNAMODB_WRU: f64 = 0.625 / 1e6;
const DYNAMODB_RRU: f64 = 0.125 / 1e6;
const SQS_REQUEST: f64 = 0.40 / 1e6;
const SNS_PUBLISH: f64 = 0.50 / 1e6;
const HTTP_API_REQUEST: f64 = 1.00 / 1e6;
const LOGS_GB: f64 = 0.50;

fn prices() -> Vec<Price> {
    let price = |item: &str, unit: &str, dollars: f64| Price {
        item: item.to_owned(),
        unit: unit.to_owned(),
        dollars,
    };
    vec![
        price("Lambda requests", "per 1M requests", LAMBDA_REQUEST * 1e6),
        price(
            "Lambda duration, x86_64",
            "per GB-second",
            LAMBDA_GB_SECOND_X86,
        ),
        price(
            "DynamoDB on-demand writes",
            "per 1M write request units",
            DYNAMODB_WRU * 1e6,
        ),
        price(
            "DynamoDB on-demand reads",
            "per 1M read request units",
            DYNAMODB_RRU * 1e6,
        ),
        price(
            "SQS standard requests",
            "per 1M requests (64 KB chunks)",
            SQS_REQUEST * 1e6,
        ),
        price(
            "SNS standard publishes",
            "per 1M requests (64 KB chunks)",
            SNS_PUBLISH * 1e6,
        ),
        price(
            "API Gateway HTTP API",
            "per 1M requests (first 300M a month)",
            HTTP_API_REQUEST * 1e6,
        ),
        price("CloudWatch Logs ingestion", "per GB", LOGS_GB),
    ]
}

/// One function's part in a unit of work (an order, a product read).
pub struct Part<'a> {
    pub binary: &'a str,
    pub memory_mb: u32,
    /// Invocations per unit (0.1 at batch size 10).
    pub invocations: f64,
    /// Billed milliseconds per unit.
    pub billed_ms: f64,
    /// AWS requests per unit.
    pub requests: &'a [OpCount],
    pub log_bytes: f64,
    /// Whether its reads are strongly consistent (they cost twice an eventual read).
    pub consistent_reads: bool,
}

/// Capacity units of DynamoDB requests, estimated from what the emulator counted: items per
/// request and bytes per item (request bytes for writes, response bytes for reads, both
/// JSON, so a little over the item size DynamoDB bills).
pub fn capacity_units(ops: &[OpCount], consistent: bool) -> (f64, f64) {
    let (mut wru, mut rru) = (0.0, 0.0);
    let per_item = |bytes: f64, items: f64, unit: f64| -> f64 {
        if items <= 0.0 {
            return 0.0;
        }
        items * (bytes / items / unit).ceil().max(1.0)
    };
    let read_factor = if consistent { 1.0 } else { 0.5 };
    for op in ops.iter().filter(|o| o.service == "dynamodb") {
        match op.operation.as_str() {
            "PutItem" | "UpdateItem" | "DeleteItem" | "BatchWriteItem" => {
                wru += per_item(op.request_bytes, op.items, 1024.0);
            }
            "TransactWriteItems" => wru += 2.0 * per_item(op.request_bytes, op.items, 1024.0),
            "GetItem" | "BatchGetItem" => {
                rru += read_factor * per_item(op.response_bytes, op.items, 4096.0);
            }
            "TransactGetItems" => rru += 2.0 * per_item(op.response_bytes, op.items, 4096.0),
            "Query" | "Scan" => {
                rru += read_factor * (op.response_bytes / 4096.0).ceil().max(op.requests);
            }
            _ => {}
        }
    }
    (wru, rru)
}

fn table(parts: &[Part], sqs_extra: f64, http_requests: f64) -> CostTable {
    let mut lines = Vec::new();
    let mut line = |item: &str, quantity: f64, unit: &str, price: f64| {
        lines.push(CostLine {
            item: item.to_owned(),
            quantity,
            unit: unit.to_owned(),
            dollars_per_million: quantity * price * 1e6,
        });
    };
    let invocations: f64 = parts.iter().map(|p| p.invocations).sum();
    let gb_seconds: f64 = parts
        .iter()
        .map(|p| f64::from(p.memory_mb) / 1024.0 * p.billed_ms / 1e3)
        .sum();
    let (mut wru, mut rru, mut sns, mut sqs, mut logs) = (0.0, 0.0, 0.0, sqs_extra, 0.0);
    for part in parts {
        let (w, r) = capacity_units(part.requests, part.consistent_reads);
        wru += w;
        rru += r;
        sns += OpCount::service_total(part.requests, "sns");
        sqs += OpCount::service_total(part.requests, "sqs");
        logs += part.log_bytes;
    }
    line("Lambda requests", invocations, "requests", LAMBDA_REQUEST);
    line(
        "Lambda duration",
        gb_seconds,
        "GB-seconds",
        LAMBDA_GB_SECOND_X86,
    );
    line("DynamoDB writes", wru, "write request units", DYNAMODB_WRU);
    line("DynamoDB reads", rru, "read request units", DYNAMODB_RRU);
    line("SNS", sns, "requests", SNS_PUBLISH);
    line("SQS", sqs, "requests", SQS_REQUEST);
    line("HTTP API", http_requests, "requests", HTTP_API_REQUEST);
    line("CloudWatch Logs", logs / 1e9, "GB ingested", LOGS_GB);
    CostTable {
        total_dollars: lines.iter().map(|l| l.dollars_per_million).sum(),
        lines,
    }
}

/// The cost model over the warm runs (HTTP functions, per invocation) and the batch runs
/// at the largest batch size (SQS consumers, per order).
pub fn model(warm: &[Warm], batches: &[BatchRequests], memory_mb: &dyn Fn(&str) -> u32) -> Cost {
    let largest = batches.iter().map(|b| b.batch_size).max().unwrap_or(1);
    let warm_part = |binary: &'static str, consistent: bool| {
        warm.iter().find(|w| w.binary == binary).map(|w| Part {
            binary,
            memory_mb: memory_mb(binary),
            invocations: 1.0,
            billed_ms: w.billed_ms_mean,
            requests: &w.requests,
            log_bytes: w.log_bytes_per_invocation,
            consistent_reads: consistent,
        })
    };
    let batch_part = |binary: &'static str| {
        let run = batches
            .iter()
            .find(|b| b.function == binary && b.batch_size == largest)?;
        let log_bytes = warm
            .iter()
            .find(|w| w.binary == binary)
            .map_or(0.0, |w| w.log_bytes_per_invocation);
        Some(Part {
            binary,
            memory_mb: memory_mb(binary),
            invocations: if run.invocations_per_order > 0.0 {
                run.invocations_per_order
            } else {
                1.0 / largest as f64
            },
            billed_ms: run.billed_ms_per_order,
            requests: &run.per_order,
            log_bytes,
            consistent_reads: true,
        })
    };
    let order_parts: Vec<Part> = [
        warm_part("orders-api", true),
        batch_part("order-relay"),
        batch_part("order-processor"),
        warm_part("payment-webhook", true),
        batch_part("order-payments"),
    ]
    .into_iter()
    .flatten()
    .collect();
    // Each SQS event source mapping receives and deletes once per batch (the relay's stream
    // reads are free: DynamoDB Streams GetRecords made by a Lambda trigger are not billed).
    let event_source_sqs = 2.0 * 2.0 / largest as f64;
    let read_parts: Vec<Part> = warm_part("product-reads", false).into_iter().collect();
    Cost {
        region: "us-east-1".to_owned(),
        prices_as_of: PRICES_AS_OF.to_owned(),
        prices: prices(),
        per_million_orders: table(&order_parts, event_source_sqs, 2.0),
        per_million_product_reads: table(&read_parts, 0.0, 1.0),
        assumptions: assumptions(&order_parts, largest),
    }
}

/// What the model leaves out and takes for granted; `order_parts` are the order's functions.
fn assumptions(order_parts: &[Part], largest: usize) -> Vec<String> {
    let functions: Vec<String> = order_parts
        .iter()
        .map(|p| format!("{} ({} MB)", p.binary, p.memory_mb))
        .collect();
    let functions = functions.join(", ");
    vec![
        format!(
            "An order is one POST /orders, three order-relay records (placed, confirmed, paid), one order-processor record, one payment webhook and one order-payments record: {functions}."
        ),
        format!(
            "The SQS consumers run full batches of {largest} (their template BatchSize); their event sources each make one ReceiveMessage and one DeleteMessageBatch per batch. Empty long polls while idle (a fixed monthly cost, not per order) are left out."
        ),
        "Durations are the measured warm billed durations on this machine (rounded up to the millisecond per invocation), at the template's MemorySize; a 128 MB Lambda gets a fraction of a vCPU, so CPU-bound parts may run slower there. Cold starts (billed init) are left out: at steady load they are a small share.".to_owned(),
        "DynamoDB capacity units are estimated from the requests' JSON (1 KB per write unit, 4 KB per read unit, transactions twice); reads are taken as strongly consistent except product-reads' (eventually consistent). Storage, backups, streams and data transfer are left out.".to_owned(),
        "SNS deliveries to SQS are free; the NotificationsQueue's consumer (the stand-in for e-mail) is not part of the order's cost. Free tiers are not subtracted.".to_owned(),
        "Logs: the functions' measured log bytes per invocation (INFO), ingested at CloudWatch's standard price; storage left out.".to_owned(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(
        operation: &str,
        requests: f64,
        items: f64,
        request_bytes: f64,
        response_bytes: f64,
    ) -> OpCount {
        OpCount {
            service: "dynamodb".to_owned(),
            operation: operation.to_owned(),
            requests,
            items,
            request_bytes,
            response_bytes,
            emulator_ms: 0.0,
        }
    }

    #[test]
    fn capacity_units_follow_item_sizes() {
        // A transaction of 4 items of ~600 bytes: 2 units each.
        let (wru, rru) = capacity_units(&[op("TransactWriteItems", 1.0, 4.0, 2400.0, 10.0)], true);
        assert_eq!((wru, rru), (8.0, 0.0));
        // A 1.5 KB get: one read unit, half of it eventually consistent.
        assert_eq!(
            capacity_units(&[op("GetItem", 1.0, 1.0, 80.0, 1500.0)], true).1,
            1.0
        );
        assert_eq!(
            capacity_units(&[op("GetItem", 1.0, 1.0, 80.0, 1500.0)], false).1,
            0.5
        );
    }
}
