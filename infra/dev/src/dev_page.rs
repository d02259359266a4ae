//! `/_dev`: a live view of the local cloud, a page of its own (not a template route), and
//! `/_dev/stats`, the same as JSON (what `cargo dev stats` prints). The orders funnel, revenue
//! and per-function latency come from the functions' metrics ([`Stats`]); queue depths and
//! the last orders with their event timelines are read from the emulator on each request; the
//! last invocations with their AWS calls come from the local X-Ray daemon ([`Traces`]), all of
//! them as JSON at `/_dev/traces`.
//! The page is rendered on the server and reloads itself every two seconds, so it needs no
//! script.

use std::fmt::Write as _;

use anyhow::Result;
use aws_sdk_sqs::types::QueueAttributeName;
use axum::extract::State;
use axum::response::{Html, IntoResponse, Json, Response};
use axum::routing::get;
use axum::{Router, http::StatusCode};
use serde::{Deserialize, Serialize};
use shop::adapters::dynamodb::DynamoOrders;
use shop::ordering::ports::OrderRepository;

use crate::aws::aws_error;
use crate::resources::Resources;
use crate::stats::{Snapshot, Stats};
use crate::traces::{InvocationTrace, Traces};

/// How many of the latest orders, and of the latest invocations, the page shows.
const LAST_ORDERS: usize = 10;
const LAST_INVOCATIONS: usize = 10;

/// Everything `/_dev` shows.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct DevReport {
    pub stats: Snapshot,
    pub queues: Vec<QueueDepth>,
    pub last_orders: Vec<RecentOrder>,
    /// The latest invocations, newest first, with the AWS calls each made.
    #[serde(default)]
    pub last_invocations: Vec<InvocationTrace>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct QueueDepth {
    pub queue: String,
    pub dead_letters: bool,
    pub visible: u64,
    pub in_flight: u64,
    pub delayed: u64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RecentOrder {
    pub order_id: String,
    pub status: String,
    pub created_at: String,
    /// `(event_type, occurred_at)`, oldest first.
    pub events: Vec<(String, String)>,
}

#[derive(Clone)]
struct View {
    stats: Stats,
    traces: Traces,
    resources: Resources,
    sqs: aws_sdk_sqs::Client,
    dynamodb: aws_sdk_dynamodb::Client,
}

pub fn router(
    stats: Stats,
    traces: Traces,
    resources: Resources,
    config: &aws_config::SdkConfig,
) -> Router {
    let view = View {
        stats,
        traces,
        resources,
        sqs: aws_sdk_sqs::Client::new(config),
        dynamodb: aws_sdk_dynamodb::Client::new(config),
    };
    Router::new()
        .route("/_dev", get(page))
        .route("/_dev/stats", get(stats_json))
        .route("/_dev/traces", get(traces_json))
        .with_state(view)
}

async fn stats_json(State(view): State<View>) -> Response {
    match view.report().await {
        Ok(report) => Json(report).into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("{e:#}")).into_response(),
    }
}

async fn traces_json(State(view): State<View>) -> Json<Vec<InvocationTrace>> {
    Json(view.traces.all())
}

async fn page(State(view): State<View>) -> Response {
    match view.report().await {
        Ok(report) => Html(render(&report)).into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, format!("{e:#}")).into_response(),
    }
}

impl View {
    async fn report(&self) -> Result<DevReport> {
        Ok(DevReport {
            stats: self.stats.snapshot(),
            queues: self.queues().await?,
            last_orders: self.last_orders().await?,
            last_invocations: self.traces.recent(LAST_INVOCATIONS),
        })
    }

    async fn queues(&self) -> Result<Vec<QueueDepth>> {
        let mut depths = Vec::new();
        for (name, queue) in self.resources.queues() {
            let mut depth = queue_depth(&self.sqs, &queue.url).await?;
            name.clone_into(&mut depth.queue);
            depth.dead_letters = name.ends_with("DLQ");
            depths.push(depth);
        }
        Ok(depths)
    }

    /// The latest orders (by creation) with their histories. A scan: fine for a laptop's
    /// tables, never how the shop reads orders.
    async fn last_orders(&self) -> Result<Vec<RecentOrder>> {
        let Some(table) = self.resources.table("OrdersTable") else {
            return Ok(Vec::new());
        };
        let mut orders = crate::soak::orders(&self.dynamodb, table).await?;
        orders.sort_by_key(|o| std::cmp::Reverse(o.created_at()));
        orders.truncate(LAST_ORDERS);
        let repository = DynamoOrders::new(self.dynamodb.clone(), table);
        let mut recent = Vec::with_capacity(orders.len());
        for order in orders {
            let history = repository
                .history(order.id())
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            recent.push(RecentOrder {
                order_id: order.id().to_string(),
                status: format!("{:?}", order.status()).to_uppercase(),
                created_at: rfc3339(order.created_at()),
                events: history
                    .into_iter()
                    .map(|e| (e.event_type, rfc3339(e.occurred_at)))
                    .collect(),
            });
        }
        Ok(recent)
    }
}

/// A queue's messages visible, in flight and delayed (its name left for the caller).
pub async fn queue_depth(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<QueueDepth> {
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
        .send()
        .await
        .map_err(aws_error)?
        .attributes
        .unwrap_or_default();
    let count = |attribute: QueueAttributeName| {
        attributes
            .get(&attribute)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    Ok(QueueDepth {
        queue: String::new(),
        dead_letters: false,
        visible: count(QueueAttributeName::ApproximateNumberOfMessages),
        in_flight: count(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
        delayed: count(QueueAttributeName::ApproximateNumberOfMessagesDelayed),
    })
}

fn rfc3339(at: time::OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The report as plain text (`cargo dev stats`).
pub fn text(report: &DevReport) -> String {
    let f = &report.stats.funnel;
    let mut out = format!(
        "orders: {} placed, {} confirmed, {} rejected, {} paid, {} cancelled\n",
        f.placed, f.confirmed, f.rejected, f.paid, f.cancelled
    );
    for (label, split) in [
        ("rejected", &report.stats.rejected),
        ("cancelled", &report.stats.cancelled),
    ] {
        for (reason, count) in split {
            let _ = writeln!(out, "  {label} {reason}: {count}");
        }
    }
    for (currency, amount) in &report.stats.revenue {
        let _ = writeln!(out, "revenue: {amount} {currency} (minor units)");
    }
    let _ = writeln!(
        out,
        "\n{:<18} {:>11} {:>9} {:>9}",
        "function", "invocations", "p50 ms", "p99 ms"
    );
    for l in &report.stats.functions {
        let _ = writeln!(
            out,
            "{:<18} {:>11} {:>9.1} {:>9.1}",
            l.function, l.invocations, l.p50_ms, l.p99_ms
        );
    }
    let _ = writeln!(
        out,
        "\n{:<24} {:>8} {:>9} {:>8}",
        "queue", "visible", "in flight", "delayed"
    );
    for q in &report.queues {
        let _ = writeln!(
            out,
            "{:<24} {:>8} {:>9} {:>8}",
            q.queue, q.visible, q.in_flight, q.delayed
        );
    }
    out
}

/// Text for HTML: the page shows ids and names from the tables.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The page. Every figure has an `id` (`funnel-placed`, `revenue-EUR`, `queue-OrdersQueue`,
/// `latency-orders-api-p50`...), so a test can read it back.
pub fn render(report: &DevReport) -> String {
    let mut html = String::from(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"2\"><title>Local cloud</title>\
         <style>body{font:14px system-ui,sans-serif;margin:2em}table{border-collapse:collapse;\
         margin-bottom:1.5em}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}\
         td.n{text-align:right}.dlq{color:#a00}</style></head><body><h1>Local cloud</h1>",
    );
    orders(&mut html, &report.stats);
    functions(&mut html, &report.stats);
    queues(&mut html, &report.queues);
    last_orders(&mut html, &report.last_orders);
    last_invocations(&mut html, &report.last_invocations);
    html.push_str("</table></body></html>");
    html
}

/// The order funnel and the revenue by currency.
fn orders(html: &mut String, stats: &Snapshot) {
    let funnel = &stats.funnel;
    html.push_str("<h2>Orders</h2><table><tr><th>placed</th><th>confirmed</th><th>rejected</th><th>paid</th><th>cancelled</th></tr><tr>");
    for (id, value) in [
        ("placed", funnel.placed),
        ("confirmed", funnel.confirmed),
        ("rejected", funnel.rejected),
        ("paid", funnel.paid),
        ("cancelled", funnel.cancelled),
    ] {
        let _ = write!(html, "<td class=\"n\" id=\"funnel-{id}\">{value}</td>");
    }
    html.push_str("</tr></table>");
    html.push_str("<h2>Revenue</h2><table><tr><th>currency</th><th>minor units</th></tr>");
    for (currency, amount) in &stats.revenue {
        let currency = escape(currency);
        let _ = write!(
            html,
            "<tr><td>{currency}</td><td class=\"n\" id=\"revenue-{currency}\">{amount}</td></tr>"
        );
    }
}

fn functions(html: &mut String, stats: &Snapshot) {
    html.push_str("</table><h2>Functions</h2><table><tr><th>function</th><th>invocations</th><th>p50 ms</th><th>p99 ms</th></tr>");
    for f in &stats.functions {
        let name = escape(&f.function);
        let _ = write!(
            html,
            "<tr><td>{name}</td><td class=\"n\" id=\"invocations-{name}\">{}</td>\
             <td class=\"n\" id=\"latency-{name}-p50\">{:.1}</td>\
             <td class=\"n\" id=\"latency-{name}-p99\">{:.1}</td></tr>",
            f.invocations, f.p50_ms, f.p99_ms
        );
    }
}

fn queues(html: &mut String, queues: &[QueueDepth]) {
    html.push_str("</table><h2>Queues</h2><table><tr><th>queue</th><th>visible</th><th>in flight</th><th>delayed</th></tr>");
    for q in queues {
        let name = escape(&q.queue);
        let class = if q.dead_letters { " class=\"dlq\"" } else { "" };
        let _ = write!(
            html,
            "<tr{class}><td>{name}</td><td class=\"n\" id=\"queue-{name}\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td></tr>",
            q.visible, q.in_flight, q.delayed
        );
    }
}

fn last_orders(html: &mut String, orders: &[RecentOrder]) {
    html.push_str(
        "</table><h2>Last orders</h2><table><tr><th>order</th><th>status</th><th>events</th></tr>",
    );
    for order in orders {
        let id = escape(&order.order_id);
        let timeline: Vec<String> = order
            .events
            .iter()
            .map(|(kind, at)| format!("{} <small>{}</small>", escape(kind), escape(at)))
            .collect();
        let _ = write!(
            html,
            "<tr><td>{id}</td><td id=\"status-{id}\">{}</td><td>{}</td></tr>",
            escape(&order.status),
            timeline.join(" → ")
        );
    }
}

/// Each invocation with its AWS calls as X-Ray records them: `DynamoDB TransactWriteItems
/// 200 3.1 ms`.
fn last_invocations(html: &mut String, invocations: &[InvocationTrace]) {
    html.push_str(
        "</table><h2>Last invocations</h2><table><tr><th>function</th><th>request id</th><th>AWS calls (X-Ray subsegments)</th></tr>",
    );
    for invocation in invocations {
        let calls: Vec<String> = invocation
            .subsegments
            .iter()
            .map(|s| {
                let millis = (s["end_time"].as_f64().unwrap_or(0.0)
                    - s["start_time"].as_f64().unwrap_or(0.0))
                    * 1e3;
                format!(
                    "{} {} {} <small>{millis:.1} ms</small>",
                    escape(s["name"].as_str().unwrap_or("?")),
                    escape(s["aws"]["operation"].as_str().unwrap_or("?")),
                    s["http"]["response"]["status"],
                )
            })
            .collect();
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&invocation.function),
            escape(&invocation.request_id),
            calls.join(", ")
        );
    }
}
