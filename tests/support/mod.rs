//! Test support: the local cloud of this test process and ways to look into it.
//!
//! Every test process starts one local cloud (moto, the real function binaries, the HTTP
//! gateway, the SQS pollers) and its tests share it. Tests keep out of each other's way by
//! making their own products ([`seed_product`]) and orders.

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;
use shop::catalog::{Category, Price, Product, ProductName, Stock};
use shop::kernel::{Currency, Money, ProductId, Sku};
use std::collections::HashMap;

use std::sync::{Mutex, OnceLock};
use std::time::Duration;

pub use dev::testing::{eventually, shared_cloud as cloud};

mod browser;
mod payments;
pub use browser::{chromium, loaded, rendered};
pub use payments::*;

pub fn http() -> reqwest::Client {
    reqwest::Client::new()
}

pub fn url(path: &str) -> String {
    format!("{}{path}", cloud().url())
}

pub async fn dynamodb() -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&cloud().sdk_config().await)
}

pub async fn sqs() -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(&cloud().sdk_config().await)
}

pub fn table(logical_id: &str) -> String {
    cloud()
        .resources()
        .table(logical_id)
        .expect("table in template")
        .to_owned()
}

pub fn queue_url(logical_id: &str) -> String {
    cloud()
        .resources()
        .queue(logical_id)
        .expect("queue in template")
        .url
        .clone()
}

pub fn topic_arn() -> String {
    cloud()
        .resources()
        .topic_arn("EventsTopic")
        .expect("topic")
        .to_owned()
}

/// A product only this test uses, so its stock is the test's to reason about.
pub async fn seed_product(category: &str, price: i64, stock: i64) -> ProductId {
    let id = ProductId::parse(format!(
        "t-{}",
        ulid::Ulid::new().to_string().to_lowercase()
    ))
    .unwrap();
    let product = Product {
        product_id: id.clone(),
        sku: Sku::parse(format!("SKU-{}", &id.as_str()[2..14])).unwrap(),
        name: ProductName::parse(format!("Test product {id}")).unwrap(),
        description: "made by a test".into(),
        category: Category::parse(category).unwrap(),
        price: Price::new(Money::new(price, Currency::Eur)).unwrap(),
        stock: Stock::new(stock).unwrap(),
        updated_at: time::OffsetDateTime::now_utc(),
    };
    dynamodb()
        .await
        .put_item()
        .table_name(table("ProductsTable"))
        .set_item(Some(serde_dynamo::to_item(&product).unwrap()))
        .send()
        .await
        .unwrap();
    id
}

pub async fn stock(id: &ProductId) -> i64 {
    let item = dynamodb()
        .await
        .get_item()
        .table_name(table("ProductsTable"))
        .key("product_id", AttributeValue::S(id.to_string()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
        .expect("product exists");
    match &item["stock"] {
        AttributeValue::N(n) => n.parse().unwrap(),
        other => panic!("stock is {other:?}"),
    }
}

/// The customer of orders the tests did not place over HTTP (queue messages they send).
pub const QUEUED_ORDERS_CUSTOMER: &str = "c-e2e";

/// Who placed each order, so that reading it uses its owner's token.
fn owners() -> &'static Mutex<HashMap<String, String>> {
    static OWNERS: OnceLock<Mutex<HashMap<String, String>>> = OnceLock::new();
    OWNERS.get_or_init(Default::default)
}

/// Notes that `customer` owns `order_id` (for orders a test writes by other means).
pub fn remember_owner(order_id: &str, customer: &str) {
    owners()
        .lock()
        .unwrap()
        .insert(order_id.to_owned(), customer.to_owned());
}

/// The customer whose token reads or cancels `order_id`.
pub fn owner_of(order_id: &str) -> String {
    owners()
        .lock()
        .unwrap()
        .get(order_id)
        .cloned()
        .unwrap_or_else(|| QUEUED_ORDERS_CUSTOMER.to_owned())
}

/// A bearer token from the local issuer for `customer`, valid for an hour.
pub fn token_for(customer: &str) -> String {
    cloud()
        .token(customer, Duration::from_secs(3600))
        .expect("the local issuer signs")
}

/// A customer of their own for one order: tests never share anyone's unpaid-order limit.
pub fn new_customer() -> String {
    format!("c-{}", ulid::Ulid::new().to_string().to_lowercase())
}

/// POSTs an order as its customer (the body's `customer_id`, else a new customer) and returns
/// the response status and body. An `authorization` header among `headers` replaces the
/// customer's token.
pub async fn post_order(body: &Value, headers: &[(&str, &str)]) -> (u16, Value) {
    let customer = body["customer_id"]
        .as_str()
        .map_or_else(new_customer, str::to_owned);
    let mut request = http().post(url("/orders")).json(body);
    if !headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("authorization"))
    {
        request = request.bearer_auth(token_for(&customer));
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    if let Some(order_id) = body["order_id"].as_str() {
        remember_owner(order_id, &customer);
    }
    (status, body)
}

/// GETs `path`; an order's paths with its owner's token.
pub async fn get_json(path: &str) -> (u16, Value) {
    let mut request = http().get(url(path));
    if let Some(order_id) = path
        .strip_prefix("/orders/")
        .map(|rest| rest.split('/').next().unwrap_or_default())
    {
        request = request.bearer_auth(token_for(&owner_of(order_id)));
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// Waits until the order has left PENDING and returns its view.
pub async fn settled_order(order_id: &str) -> Value {
    eventually(
        &format!("order {order_id} to be processed"),
        Duration::from_secs(60),
        || async {
            let (status, order) = get_json(&format!("/orders/{order_id}")).await;
            (status == 200 && order["status"] != "PENDING").then_some(order)
        },
    )
    .await
}

/// Waits until the order is in `status`.
pub async fn order_in(order_id: &str, status: &str) -> Value {
    eventually(
        &format!("order {order_id} to be {status}"),
        Duration::from_secs(60),
        || async {
            let (code, order) = get_json(&format!("/orders/{order_id}")).await;
            (code == 200 && order["status"] == status).then_some(order)
        },
    )
    .await
}

/// Everything published to the notifications queue (the template's stand-in subscriber),
/// collected by one background consumer so that tests running side by side do not take each
/// other's messages.
pub struct Notifications {
    seen: Mutex<Vec<Value>>,
}

impl Notifications {
    /// Every event received so far.
    pub fn all(&self) -> Vec<Value> {
        self.seen.lock().unwrap().clone()
    }

    pub fn events_for(&self, aggregate_id: &str) -> Vec<Value> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e["aggregate_id"] == aggregate_id)
            .cloned()
            .collect()
    }

    /// Waits until an event of `event_type` for the order has arrived, and returns it.
    pub async fn wait_for(&self, aggregate_id: &str, event_type: &str) -> Value {
        eventually(
            &format!("{event_type} for {aggregate_id} on the notifications queue"),
            Duration::from_secs(60),
            || async {
                self.events_for(aggregate_id)
                    .into_iter()
                    .find(|e| e["event_type"] == event_type)
            },
        )
        .await
    }
}

pub fn notifications() -> &'static Notifications {
    static NOTIFICATIONS: OnceLock<&'static Notifications> = OnceLock::new();
    NOTIFICATIONS.get_or_init(|| {
        let collector: &'static Notifications = Box::leak(Box::new(Notifications {
            seen: Mutex::new(Vec::new()),
        }));
        let queue = queue_url("NotificationsQueue");
        std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let client = sqs().await;
                loop {
                    let Ok(out) = client
                        .receive_message()
                        .queue_url(&queue)
                        .max_number_of_messages(10)
                        .wait_time_seconds(1)
                        .send()
                        .await
                    else {
                        continue;
                    };
                    for message in out.messages() {
                        if let Some(body) = message.body() {
                            let event: Value = serde_json::from_str(body).unwrap_or(Value::Null);
                            collector.seen.lock().unwrap().push(event);
                        }
                        let _ = client
                            .delete_message()
                            .queue_url(&queue)
                            .set_receipt_handle(message.receipt_handle().map(str::to_owned))
                            .send()
                            .await;
                    }
                }
            });
        });
        collector
    })
}

/// A place-order body for `quantity` of one product (the customer: the caller).
pub fn order_body(product: &str, quantity: u32) -> Value {
    serde_json::json!({"currency": "EUR", "items": [{"product_id": product, "quantity": quantity}]})
}

/// Sends `body` to a queue `copies` times, as a redelivering producer would.
pub async fn send_copies(logical_id: &str, body: &str, copies: usize) {
    let client = sqs().await;
    for _ in 0..copies {
        client
            .send_message()
            .queue_url(queue_url(logical_id))
            .message_body(body)
            .send()
            .await
            .unwrap();
    }
}

/// Waits until the queue holds nothing, visible or in flight: every copy of what was sent
/// has been consumed.
pub async fn queue_drained(logical_id: &str) {
    use aws_sdk_sqs::types::QueueAttributeName::{
        ApproximateNumberOfMessages, ApproximateNumberOfMessagesNotVisible,
    };
    let client = sqs().await;
    let url = queue_url(logical_id);
    eventually(
        &format!("{logical_id} to drain"),
        Duration::from_secs(30),
        || async {
            let out = client
                .get_queue_attributes()
                .queue_url(&url)
                .attribute_names(aws_sdk_sqs::types::QueueAttributeName::All)
                .send()
                .await
                .ok()?;
            let attributes = out.attributes()?;
            let count = |name| attributes.get(&name).and_then(|v| v.parse::<u64>().ok());
            (count(ApproximateNumberOfMessages)? == 0
                && count(ApproximateNumberOfMessagesNotVisible)? == 0)
                .then_some(())
        },
    )
    .await;
}

/// The bodies currently waiting in a queue (typically a dead-letter queue), left in place.
pub async fn peek_bodies(logical_id: &str) -> Vec<String> {
    let client = sqs().await;
    let out = client
        .receive_message()
        .queue_url(queue_url(logical_id))
        .max_number_of_messages(10)
        .visibility_timeout(0)
        .send()
        .await
        .unwrap();
    out.messages()
        .iter()
        .filter_map(|m| m.body().map(str::to_owned))
        .collect()
}

/// Counts by value of a JSON field.
pub fn tally<'a>(
    items: impl IntoIterator<Item = &'a Value>,
    field: &str,
) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for item in items {
        *counts
            .entry(item[field].as_str().unwrap_or("?").to_owned())
            .or_default() += 1;
    }
    counts
}

/// The command that places one line of `product` for `customer`, as the API would build it.
pub fn place_order_command(
    customer: &str,
    product: &str,
    quantity: i64,
) -> shop::ordering::PlaceOrder {
    use shop::kernel::{CorrelationId, CustomerId, Quantity};
    use shop::ordering::{OrderLines, OrderRequest, PlaceOrder, RequestedLine};
    let line = RequestedLine {
        product_id: ProductId::parse(product).unwrap(),
        quantity: Quantity::new(quantity).unwrap(),
    };
    let request = OrderRequest {
        customer_id: CustomerId::parse(customer).unwrap(),
        currency: Currency::Eur,
        lines: OrderLines::new(vec![line]).unwrap(),
        discount_code: None,
    };
    let correlation_id = CorrelationId::parse(format!("corr-{customer}")).unwrap();
    PlaceOrder::new(request, correlation_id, time::OffsetDateTime::now_utc())
}
