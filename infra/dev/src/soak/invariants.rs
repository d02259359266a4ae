//! What must hold after a soak, read from the tables and queues themselves, and the report.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;

use anyhow::{Context, Result};
use aws_sdk_dynamodb::types::AttributeValue;
use shop::kernel::EventEnvelope;
use shop::ordering::{Order, OrderStatus};

use super::SoakReport;
use super::workload::{Figures, World};
use crate::aws::aws_error;

/// One invariant and whether it held.
#[derive(Clone, Debug)]
pub struct Check {
    pub name: &'static str,
    pub passed: bool,
    /// The figures behind the verdict, or what broke it.
    pub detail: String,
}

#[derive(Clone, Debug, Default)]
pub struct Invariants(pub Vec<Check>);

impl Invariants {
    pub fn passed(&self) -> bool {
        self.0.iter().all(|c| c.passed)
    }
}

impl Check {
    fn new(name: &'static str, passed: bool, detail: String) -> Check {
        Check {
            name,
            passed,
            detail,
        }
    }
}

/// The order events subscribers hear of.
const ANNOUNCED: [&str; 4] = [
    "order.confirmed",
    "order.rejected",
    "order.paid",
    "order.cancelled",
];

pub(super) async fn check(world: &World<'_>, figures: &Figures) -> Result<Invariants> {
    let orders_table = world.table("OrdersTable")?;
    let orders = orders(&world.dynamodb, &orders_table).await?;
    let events = events(&world.dynamodb, &orders_table).await?;
    Ok(Invariants(vec![
        nothing_stuck(&orders, figures),
        stock_balances(world, &orders).await?,
        events_heard(world, &events).await?,
        webhooks_once(world, figures, &events).await?,
        dead_letters_intact(world).await?,
    ]))
}

/// Nothing stuck: every order in the table (the accepted ones and those whose 202 was
/// lost) has left PENDING; each accepted one is there.
fn nothing_stuck(orders: &[Order], figures: &Figures) -> Check {
    let ids: HashSet<&str> = orders.iter().map(|o| o.id().as_str()).collect();
    let missing = figures
        .accepted
        .iter()
        .filter(|id| !ids.contains(id.as_str()))
        .count();
    let pending = orders
        .iter()
        .filter(|o| o.status() == OrderStatus::Pending)
        .count();
    Check::new(
        "every accepted order, and every order in the table, left PENDING with no client retry",
        missing == 0 && pending == 0,
        format!(
            "{} orders in the table ({} accepted with 202), {pending} PENDING, {missing} accepted but missing",
            orders.len(),
            figures.accepted.len()
        ),
    )
}

/// Stock: never below zero, and what left the shelf is what CONFIRMED and PAID orders hold.
async fn stock_balances(world: &World<'_>, orders: &[Order]) -> Result<Check> {
    let stock = stock(world).await?;
    let mut held: HashMap<&str, i64> = HashMap::new();
    for order in orders
        .iter()
        .filter(|o| matches!(o.status(), OrderStatus::Confirmed | OrderStatus::Paid))
    {
        for line in order.requested_lines().as_slice() {
            *held.entry(line.product_id.as_str()).or_default() += i64::from(line.quantity.get());
        }
    }
    let mut broken = Vec::new();
    for (product, initial) in &world.products {
        let now = stock.get(product).copied().unwrap_or(i64::MIN);
        let holds = held.get(product.as_str()).copied().unwrap_or(0);
        if now < 0 || initial - now != holds {
            broken.push(format!("{product}: {initial} - {now} != {holds} held"));
        }
    }
    let units: i64 = held.values().sum();
    Ok(Check::new(
        "no stock below zero; initial − now = units held by CONFIRMED and PAID orders",
        broken.is_empty(),
        if broken.is_empty() {
            format!(
                "{} products, {units} units held by paid orders",
                world.products.len()
            )
        } else {
            broken.join("; ")
        },
    ))
}

/// Every committed order event reached the notifications subscriber.
async fn events_heard(world: &World<'_>, events: &[EventEnvelope]) -> Result<Check> {
    let committed: HashSet<&str> = events
        .iter()
        .filter(|e| ANNOUNCED.contains(&e.event_type.as_str()))
        .map(|e| e.event_id.as_str())
        .collect();
    let notified: HashSet<String> = drain(&world.sqs, &world.queue_url("NotificationsQueue")?)
        .await?
        .iter()
        .filter_map(|body| serde_json::from_str::<serde_json::Value>(body).ok())
        .filter_map(|e| e["event_id"].as_str().map(str::to_owned))
        .collect();
    let unheard = committed
        .iter()
        .filter(|id| !notified.contains(**id))
        .count();
    Ok(Check::new(
        "every committed order event reached the notifications subscriber",
        unheard == 0,
        format!(
            "{} committed, {} distinct received, {unheard} missing",
            committed.len(),
            notified.len()
        ),
    ))
}

/// Each acknowledged webhook took effect exactly once: one order event caused by it,
/// or (the order had expired or been cancelled first) one anomaly with its refund.
async fn webhooks_once(
    world: &World<'_>,
    figures: &Figures,
    events: &[EventEnvelope],
) -> Result<Check> {
    let mut caused: HashMap<&str, usize> = HashMap::new();
    for event in events {
        if let Some(cause) = &event.causation_id {
            *caused.entry(cause.as_str()).or_default() += 1;
        }
    }
    let idempotency = world.table("IdempotencyTable")?;
    let mut wrong = Vec::new();
    let mut anomalies = 0;
    for (event_id, order_id) in &figures.webhooks {
        let anomaly = has_anomaly(&world.dynamodb, &idempotency, event_id).await?;
        anomalies += usize::from(anomaly);
        let effects = caused.get(event_id.as_str()).copied().unwrap_or(0) + usize::from(anomaly);
        if effects != 1 {
            wrong.push(format!("{event_id} (order {order_id}): {effects} effects"));
        }
    }
    Ok(Check::new(
        "every acknowledged webhook took effect exactly once",
        wrong.is_empty(),
        if wrong.is_empty() {
            format!(
                "{} acknowledged ({} delivered twice), {anomalies} of them late (anomaly + refund request)",
                figures.webhooks.len(),
                figures.duplicate_webhooks
            )
        } else {
            wrong.join("; ")
        },
    ))
}

/// Dead-letter queues hold the poison messages, intact, and nothing else.
async fn dead_letters_intact(world: &World<'_>) -> Result<Check> {
    let mut expected: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (queue, body) in &world.poison {
        expected
            .entry(dead_letters_of(queue))
            .or_default()
            .push(body.clone());
    }
    let mut found: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for dlq in [
        "OrdersDLQ",
        "PaymentEventsDLQ",
        "PaymentDeadlinesDLQ",
        "NotificationsDLQ",
        "OrderRelayDLQ",
    ] {
        let mut bodies = drain(&world.sqs, &world.queue_url(dlq)?).await?;
        if !bodies.is_empty() {
            bodies.sort();
            found.insert(dlq.to_owned(), bodies);
        }
    }
    for bodies in expected.values_mut() {
        bodies.sort();
    }
    let valid_in_dlq: usize = found
        .iter()
        .map(|(dlq, bodies)| {
            let poison = expected.get(dlq).map_or(&[][..], Vec::as_slice);
            bodies.iter().filter(|b| !poison.contains(b)).count()
        })
        .sum();
    Ok(Check::new(
        "no valid message in a dead-letter queue; the poison messages are there, intact",
        found == expected,
        format!(
            "{} poison messages sent, {} found intact, {valid_in_dlq} other messages",
            world.poison.len(),
            found.values().flatten().count() - valid_in_dlq
        ),
    ))
}

fn dead_letters_of(queue: &str) -> String {
    format!("{}DLQ", queue.trim_end_matches("Queue"))
}

async fn stock(world: &World<'_>) -> Result<HashMap<String, i64>> {
    let table = world.table("ProductsTable")?;
    let mut stock = HashMap::new();
    for id in world.products.keys() {
        let item = world
            .dynamodb
            .get_item()
            .table_name(&table)
            .key("product_id", AttributeValue::S(id.clone()))
            .consistent_read(true)
            .send()
            .await
            .map_err(aws_error)?
            .item
            .with_context(|| format!("product {id} vanished"))?;
        let units = match item.get("stock") {
            Some(AttributeValue::N(n)) => n.parse().unwrap_or(i64::MIN),
            _ => i64::MIN,
        };
        stock.insert(id.clone(), units);
    }
    Ok(stock)
}

async fn has_anomaly(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
    event_id: &str,
) -> Result<bool> {
    let item = dynamodb
        .get_item()
        .table_name(table)
        .key("pk", AttributeValue::S(format!("ANOMALY#{event_id}")))
        .consistent_read(true)
        .send()
        .await
        .map_err(aws_error)?
        .item;
    Ok(item.is_some())
}

/// Items of the orders table whose sort key starts with `prefix`.
async fn scan(
    dynamodb: &aws_sdk_dynamodb::Client,
    table: &str,
    prefix: &str,
) -> Result<Vec<HashMap<String, AttributeValue>>> {
    let items: Vec<_> = dynamodb
        .scan()
        .table_name(table)
        .filter_expression("begins_with(sk, :prefix)")
        .expression_attribute_values(":prefix", AttributeValue::S(prefix.to_owned()))
        .consistent_read(true)
        .into_paginator()
        .items()
        .send()
        .collect::<Result<_, _>>()
        .await
        .map_err(aws_error)?;
    Ok(items)
}

/// Every order view of the table (a scan: for a laptop's tables only).
pub(crate) async fn orders(dynamodb: &aws_sdk_dynamodb::Client, table: &str) -> Result<Vec<Order>> {
    scan(dynamodb, table, "STATE")
        .await?
        .into_iter()
        .map(|item| {
            shop::adapters::dynamodb::order_of_item(item).context("an order view does not read")
        })
        .collect()
}

/// Every event of every order.
async fn events(dynamodb: &aws_sdk_dynamodb::Client, table: &str) -> Result<Vec<EventEnvelope>> {
    scan(dynamodb, table, "EVENT#")
        .await?
        .into_iter()
        .map(|item| serde_dynamo::from_item(item).context("an event does not read"))
        .collect()
}

/// Messages visible, in flight and delayed.
pub(super) async fn queue_depth(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<usize> {
    let depth = crate::dev_page::queue_depth(sqs, url).await?;
    Ok((depth.visible + depth.in_flight + depth.delayed) as usize)
}

/// Receives and deletes every message of a queue; the bodies.
async fn drain(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<Vec<String>> {
    let mut bodies = Vec::new();
    loop {
        let messages = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .map_err(aws_error)?
            .messages
            .unwrap_or_default();
        if messages.is_empty() {
            return Ok(bodies);
        }
        for message in messages {
            if let Some(handle) = message.receipt_handle() {
                sqs.delete_message()
                    .queue_url(url)
                    .receipt_handle(handle)
                    .send()
                    .await
                    .map_err(aws_error)?;
            }
            bodies.extend(message.body);
        }
    }
}

/// The report as Markdown.
pub(super) fn markdown(report: &SoakReport) -> String {
    let f = &report.figures;
    let mut out = String::new();
    out.push_str(&format!(
        "`cargo dev soak --orders {} --faults {}`: {} in {:.0} s (the clients {:.0} s; healed in {:.1} s after the faults went off).\n\n",
        report.options.orders,
        report.options.faults,
        if report.passed() { "**pass**" } else { "**FAIL**" },
        report.took.as_secs_f64(),
        f.took.as_secs_f64(),
        report.healed_in.as_secs_f64(),
    ));
    out.push_str("| invariant | result | figures |\n| --- | --- | --- |\n");
    for check in &report.invariants.0 {
        out.push_str(&format!(
            "| {} | {} | {} |\n",
            check.name,
            if check.passed { "pass" } else { "**FAIL**" },
            check.detail
        ));
    }
    out.push_str(&format!(
        "\nClients: {} orders placed ({} answered 202, {} given up after {} tries), {} requests \
         sent again after a 5xx or a dropped connection; {} payments and {} refusals \
         acknowledged ({} webhooks delivered twice), {} cancellations, {} orders left to expire.\n\n",
        f.orders_attempted,
        f.orders_accepted,
        f.orders_abandoned,
        super::workload::ATTEMPTS_FOR_REPORT,
        f.client_retries,
        f.payments_acknowledged,
        f.payments_refused_by_provider,
        f.duplicate_webhooks,
        f.cancellations,
        f.left_unpaid,
    ));
    out.push_str(
        "Faults injected into the functions' AWS calls:\n\n| kind | count |\n| --- | --- |\n",
    );
    for (kind, count) in report.faults.totals() {
        out.push_str(&format!("| {kind} | {count} |\n"));
    }
    out.push_str(&format!(
        "| TransactionConflict modelled by the emulator (two transactions on one item) | {} |\n",
        report.faults.modelled_conflicts
    ));
    out
}

const START: &str = "<!-- soak:start -->";
const END: &str = "<!-- soak:end -->";

/// The soak section of a benchmarks.md (its heading and what is between the markers), for the
/// bench to carry over when it writes the file anew; a placeholder if there is none.
pub fn section(benchmarks: &str) -> String {
    let recorded = match (benchmarks.find(START), benchmarks.find(END)) {
        (Some(start), Some(end)) if start < end => &benchmarks[start + START.len()..end],
        _ => "\nNot run yet: `cargo dev soak --record`.\n\n",
    };
    format!(
        "\n## Soak\n\nThe system under injected AWS faults and DynamoDB's real contention \
         (`cargo dev soak`, infra/dev/src/soak/): orders and signed payment webhooks from \
         clients that retry as real ones do, then the faults off, the system left to heal, and \
         its invariants checked against the tables and queues. `cargo test` runs a smaller one \
         (tests/resilience.rs).\n\n{START}{recorded}{END}\n"
    )
}

/// Replaces the soak section of docs/benchmarks.md (between its markers) with `markdown`.
pub(super) fn record(path: &Path, markdown: &str) -> Result<()> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let (Some(start), Some(end)) = (text.find(START), text.find(END)) else {
        anyhow::bail!("{} has no {START} ... {END} section", path.display());
    };
    let updated = format!(
        "{}{START}\n{markdown}{END}{}",
        &text[..start],
        &text[end + END.len()..]
    );
    std::fs::write(path, updated).with_context(|| format!("cannot write {}", path.display()))
}
