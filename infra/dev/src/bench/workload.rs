//! What the bench sends each function, and the same work done directly: the domain's own
//! code with the functions' adapters, called from the bench, so it makes the functions'
//! AWS requests without the Lambda runtime, the event and the process in between.

use anyhow::{Context, Result, anyhow, bail};
use aws_config::SdkConfig;
use aws_sdk_sqs::types::Message;
use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use shop::adapters::dynamodb::{DynamoCatalog, DynamoLedger, DynamoOrders, event_of_stream_image};
use shop::adapters::order_message;
use shop::adapters::sns::SnsPublisher;
use shop::adapters::sqs::{SqsDeadlineTimer, SqsOrderQueue};
use shop::catalog::ports::ProductLookup;
use shop::kernel::{
    CorrelationId, Currency, CustomerId, EventEnvelope, OrderId, ProductId, SystemClock,
};
use shop::ordering::placing::Placing;
use shop::ordering::processing::{OrderProcessor, Processed};
use shop::ordering::relay::Relay;
use shop::ordering::saga::SagaOutcome;
use shop::ordering::saga_batch::{Saga, StepOutcome};
use shop::ordering::{OrderLines, OrderRequest, RequestedLine};
use shop::payments::webhook::{Received, WebhookReceiver};
use tower::ServiceExt;

use super::lab::Lab;
use crate::LOCAL_WEBHOOK_SECRET;
use crate::authorizer::Authorized;
use crate::event_source::sqs_event;
use crate::gateway::{Answer, IncomingRequest, Route, Routes, request_event};
use crate::webhook::{Outcome, local_signature, provider_event};

/// Builds the functions' events.
pub struct Events {
    /// The template's routes, answering with the event the gateway would send.
    router: axum::Router,
    products: Vec<String>,
}

/// Keeps the event instead of invoking the function. A guarded route gets the claims the
/// authorizer would add: the customer of the body.
#[derive(Clone)]
struct KeepEvent;

impl Answer for KeepEvent {
    async fn answer(&self, route: Route, request: IncomingRequest) -> Response {
        let authorized = route.auth.authorizer.as_ref().map(|_| {
            let body = serde_json::from_slice::<Value>(&request.body).ok();
            let customer = body.and_then(|b| b["customer_id"].as_str().map(str::to_owned));
            Authorized {
                claims: [("sub".to_owned(), customer.unwrap_or("c-bench".to_owned()))].into(),
                scopes: Vec::new(),
            }
        });
        axum::Json(request_event(&request, &route, authorized.as_ref())).into_response()
    }
}

impl Events {
    pub fn new(lab: &Lab) -> Result<Events> {
        let products: Vec<String> = crate::catalog::demo_catalog(&lab.root)?
            .into_iter()
            .map(|p| p.product_id.to_string())
            .collect();
        if products.len() < 2 {
            bail!("the demo catalog needs at least two products");
        }
        Ok(Events {
            router: Routes::from_template(&lab.template).router(KeepEvent),
            products,
        })
    }

    /// The `i`th product id, round robin over the catalog.
    pub fn product_id(&self, i: usize) -> &str {
        &self.products[i % self.products.len()]
    }

    /// An API Gateway (payload 2.0) event for `method path`, as the gateway makes it.
    pub async fn http(
        &self,
        method: Method,
        path: &str,
        body: Option<String>,
        headers: &[(&'static str, String)],
    ) -> Result<Value> {
        let mut request = Request::builder().method(method.clone()).uri(path);
        request = request.header("host", "127.0.0.1");
        request = request.header("user-agent", "cargo-dev-bench");
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        for (name, value) in headers {
            request = request.header(*name, value);
        }
        let peer = ConnectInfo(SocketAddr::from(([127, 0, 0, 1], 0)));
        let request = request
            .extension(peer)
            .body(Body::from(body.unwrap_or_default()))?;
        let response = self.router.clone().oneshot(request).await?;
        if response.status() == StatusCode::NOT_FOUND {
            bail!("template.yaml has no route for {method} {path}");
        }
        let event = axum::body::to_bytes(response.into_body(), usize::MAX).await?;
        Ok(serde_json::from_slice(&event)?)
    }

    pub async fn get_product(&self, i: usize) -> Result<Value> {
        self.http(
            Method::GET,
            &format!("/products/{}", self.product_id(i)),
            None,
            &[],
        )
        .await
    }

    /// A place-order body: two lines of the catalog, one unit each.
    pub fn order_body(&self, i: usize) -> Value {
        json!({
            // One customer per order: each holds one unpaid order at most.
            "customer_id": format!("c-bench-{i}"),
            "currency": "EUR",
            "items": [
                {"product_id": self.product_id(i), "quantity": 1},
                {"product_id": self.product_id(i + 1), "quantity": 1},
            ],
        })
    }

    pub async fn place_order(&self, i: usize) -> Result<Value> {
        self.http(
            Method::POST,
            "/orders",
            Some(self.order_body(i).to_string()),
            &[],
        )
        .await
    }

    /// A provider's `payment_intent.succeeded` for the order, signed now.
    pub async fn webhook(&self, payment: &Payment) -> Result<Value> {
        let body = payment.body();
        let signature = local_signature(&body);
        self.http(
            Method::POST,
            "/webhooks/payments",
            Some(body),
            &[("stripe-signature", signature)],
        )
        .await
    }
}

/// What a payment webhook needs to know of a confirmed order.
#[derive(Clone, Debug)]
pub struct Payment {
    pub order_id: String,
    pub amount: i64,
    pub currency: String,
}

impl Payment {
    pub fn body(&self) -> String {
        provider_event(
            &self.order_id,
            Outcome::Succeeded,
            self.amount,
            &self.currency,
        )
        .to_string()
    }
}

/// The Lambda SQS event for these messages.
pub fn sqs(messages: &[Message], queue_arn: &str) -> Value {
    serde_json::to_value(sqs_event(messages, queue_arn)).expect("an event serializes")
}

/// An HTTP function's answer must be this status; an SQS function's must fail no record.
pub fn check_answer(binary: &str, answer: &Value, status: Option<u16>) -> Result<()> {
    if let Some(status) = status {
        let got = answer["statusCode"].as_u64().unwrap_or_default();
        if got != u64::from(status) {
            bail!(
                "{binary} answered {got}, not {status}: {}",
                answer["body"].as_str().unwrap_or_default()
            );
        }
    } else if answer["batchItemFailures"]
        .as_array()
        .is_some_and(|f| !f.is_empty())
    {
        bail!("{binary} failed records: {answer}");
    }
    Ok(())
}

/// Receives up to `wanted` messages from the queue (deleting them), waiting at most `wait`
/// in all; a zero `wait` takes only what is there now.
pub async fn receive(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    wanted: usize,
    wait: std::time::Duration,
) -> Result<Vec<Message>> {
    let deadline = tokio::time::Instant::now() + wait;
    let long_poll = !wait.is_zero();
    let mut messages = Vec::with_capacity(wanted);
    while messages.len() < wanted {
        let out = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages((wanted - messages.len()).min(10) as i32)
            .wait_time_seconds(i32::from(long_poll))
            .send()
            .await
            .map_err(crate::aws::aws_error)?;
        let got = out.messages.unwrap_or_default();
        if got.is_empty() {
            if !long_poll || tokio::time::Instant::now() >= deadline {
                break;
            }
            continue;
        }
        let mut delete = sqs.delete_message_batch().queue_url(queue_url);
        for (i, message) in got.iter().enumerate() {
            delete = delete.entries(
                aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(message.receipt_handle().unwrap_or_default())
                    .build()?,
            );
        }
        delete.send().await.map_err(crate::aws::aws_error)?;
        messages.extend(got);
    }
    Ok(messages)
}

/// The orders table's stream from the moment it is opened: the records the relay would be
/// handed, read by the bench to make the relay's events (the bench runs no pollers).
pub struct StreamTail {
    streams: aws_sdk_dynamodbstreams::Client,
    stream_arn: String,
    iterator: Option<String>,
}

impl StreamTail {
    /// Opens the stream of `OrdersTable` at its end (LATEST).
    pub async fn open(lab: &Lab) -> Result<StreamTail> {
        let table = lab.table("OrdersTable")?;
        let dynamodb = aws_sdk_dynamodb::Client::new(&lab.bench);
        let streams = aws_sdk_dynamodbstreams::Client::new(&lab.bench);
        let (stream_arn, mut shards) =
            crate::stream_source::shards_of(&dynamodb, &streams, &table).await?;
        let shard = shards.pop().context("the stream has no shard")?;
        let iterator = streams
            .get_shard_iterator()
            .stream_arn(&stream_arn)
            .shard_id(shard)
            .shard_iterator_type(aws_sdk_dynamodbstreams::types::ShardIteratorType::Latest)
            .send()
            .await
            .map_err(crate::aws::aws_error)?
            .shard_iterator;
        Ok(StreamTail {
            streams,
            stream_arn,
            iterator,
        })
    }

    /// The next `wanted` records of new `event_type` events, as Lambda puts them in the
    /// relay's event; records of anything else are passed over.
    pub async fn events(&mut self, event_type: &str, wanted: usize) -> Result<Vec<Value>> {
        let deadline = tokio::time::Instant::now() + QUEUE_WAIT_FOR_STREAM;
        let mut found = Vec::with_capacity(wanted);
        while found.len() < wanted {
            let iterator = self
                .iterator
                .take()
                .context("the stream's shard is closed")?;
            let out = self
                .streams
                .get_records()
                .shard_iterator(iterator)
                .send()
                .await
                .map_err(crate::aws::aws_error)?;
            self.iterator = out.next_shard_iterator;
            let records = out.records.unwrap_or_default();
            let got_none = records.is_empty();
            found.extend(
                records
                    .iter()
                    .map(|r| crate::stream_source::lambda_record(r, &self.stream_arn))
                    .filter(|r| {
                        r["eventName"] == "INSERT"
                            && r["dynamodb"]["NewImage"]["event_type"]["S"] == event_type
                    }),
            );
            if got_none {
                if tokio::time::Instant::now() >= deadline {
                    bail!(
                        "only {} of {wanted} {event_type} arrived on the stream",
                        found.len()
                    );
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        }
        Ok(found)
    }
}

const QUEUE_WAIT_FOR_STREAM: std::time::Duration = std::time::Duration::from_secs(20);

/// The relay's event for these stream records.
pub fn stream_event(records: &[Value]) -> Value {
    json!({ "Records": records })
}

/// The confirmed orders' totals, read with the bench's own client.
pub async fn payments_for(lab: &Lab, order_ids: &[String]) -> Result<Vec<Payment>> {
    use shop::ordering::ports::OrderRepository;
    let orders = DynamoOrders::new(
        aws_sdk_dynamodb::Client::new(&lab.bench),
        lab.table("OrdersTable")?,
    );
    let mut payments = Vec::with_capacity(order_ids.len());
    for chunk in order_ids.chunks(100) {
        let ids: Vec<OrderId> = chunk
            .iter()
            .map(|id| OrderId::parse(id.as_str()))
            .collect::<Result<_, _>>()
            .map_err(|e| anyhow!("bad order id: {e}"))?;
        let found = orders.load_many(&ids).await.map_err(|e| anyhow!("{e}"))?;
        for id in &ids {
            let order = found
                .get(id)
                .ok_or_else(|| anyhow!("order {id} is not in OrdersTable"))?;
            let total = order
                .state()
                .confirmation()
                .ok_or_else(|| anyhow!("order {id} has no totals: it is {:?}", order.status()))?
                .totals
                .total;
            payments.push(Payment {
                order_id: id.to_string(),
                amount: total.amount,
                currency: total.currency.code().to_owned(),
            });
        }
    }
    Ok(payments)
}

/// The functions' adapters, wired as each function's `main.rs` wires them, on the direct
/// caller's SDK config.
pub struct Direct {
    catalog: DynamoCatalog,
    api_orders: DynamoOrders,
    queue: SqsOrderQueue,
    orders: DynamoOrders,
    consistent_catalog: DynamoCatalog,
    publisher: SnsPublisher,
    ledger: DynamoLedger,
    /// order-payments' deadline re-checks (a payment event never asks for one).
    timer: SqsDeadlineTimer,
}

impl Direct {
    pub fn new(lab: &Lab, config: &SdkConfig) -> Result<Direct> {
        let dynamodb = aws_sdk_dynamodb::Client::new(config);
        let sqs = aws_sdk_sqs::Client::new(config);
        let products = lab.table("ProductsTable")?;
        let orders_table = lab.table("OrdersTable")?;
        let idempotency = lab.table("IdempotencyTable")?;
        Ok(Direct {
            catalog: DynamoCatalog::new(dynamodb.clone(), &products),
            api_orders: DynamoOrders::new(dynamodb.clone(), &orders_table)
                .with_idempotency_table(&idempotency),
            queue: SqsOrderQueue::new(sqs.clone(), lab.queue_url("OrdersQueue")?),
            orders: DynamoOrders::new(dynamodb.clone(), &orders_table)
                .with_products_table(&products),
            consistent_catalog: DynamoCatalog::new(dynamodb.clone(), &products).consistent(),
            publisher: SnsPublisher::new(
                aws_sdk_sns::Client::new(config),
                lab.topic("EventsTopic")?,
            ),
            ledger: DynamoLedger::new(dynamodb, idempotency),
            timer: SqsDeadlineTimer::new(sqs, lab.queue_url("PaymentDeadlinesQueue")?),
        })
    }

    /// product-reads' `GET /products/{id}`.
    pub async fn get_product(&self, id: &str) -> Result<()> {
        let id = ProductId::parse(id).map_err(|e| anyhow!("{e}"))?;
        let found = self
            .catalog
            .product(&id)
            .await
            .map_err(|e| anyhow!("{e}"))?;
        found
            .map(|_| ())
            .context("the product is not in the catalog")
    }

    /// orders-api's `POST /orders`.
    pub async fn place_order(&self, body: &Value) -> Result<String> {
        let customer = CustomerId::parse(body["customer_id"].as_str().unwrap_or("c-bench"))
            .map_err(|e| anyhow!("{e}"))?;
        let lines: Vec<RequestedLine> = serde_json::from_value(body["items"].clone())?;
        let request = OrderRequest {
            customer_id: customer,
            currency: Currency::parse(body["currency"].as_str().unwrap_or_default())?,
            lines: OrderLines::new(lines)?,
            discount_code: None,
        };
        let placing = Placing {
            orders: &self.api_orders,
            keys: &self.api_orders,
            clock: &SystemClock,
            max_unpaid: 5,
        };
        let placed = placing
            .place(request, None, CorrelationId::generate())
            .await
            .map_err(|e| anyhow!("{e}"))?;
        Ok(placed.order.id().to_string())
    }

    /// order-processor's handling of these queue messages (one batch).
    pub async fn process(&self, messages: &[Message]) -> Result<()> {
        let commands = messages
            .iter()
            .map(|m| order_message::from_body(m.body().unwrap_or_default()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| anyhow!("{e}"))?;
        let processor = OrderProcessor {
            orders: &self.orders,
            products: &self.consistent_catalog,
            clock: &SystemClock,
            payment_window: time::Duration::minutes(15),
        };
        for result in processor.process(&commands).await {
            match result.map_err(|e| anyhow!("{e}"))? {
                Processed::Confirmed => {}
                other => bail!("an order was not confirmed: {other:?}"),
            }
        }
        Ok(())
    }

    /// order-relay's handling of these stream records (one batch).
    pub async fn relay(&self, records: &[Value]) -> Result<()> {
        let mut events = Vec::with_capacity(records.len());
        for record in records {
            let image: serde_dynamo::Item =
                serde_json::from_value(record["dynamodb"]["NewImage"].clone())?;
            let event = event_of_stream_image(image)
                .map_err(|e| anyhow!("{e}"))?
                .context("not an event record")?;
            events.push(event);
        }
        let relay = Relay {
            queue: &self.queue,
            publisher: &self.publisher,
        };
        let relayed = relay.relay(&events).await;
        if !relayed.failed.is_empty() || !relayed.unreadable.is_empty() {
            bail!("events not relayed: {relayed:?}");
        }
        Ok(())
    }

    /// payment-webhook's `POST /webhooks/payments`.
    pub async fn webhook(&self, payment: &Payment) -> Result<()> {
        let body = payment.body();
        let signature = local_signature(&body);
        let receiver = WebhookReceiver {
            ledger: &self.ledger,
            publisher: &self.publisher,
            clock: &SystemClock,
        };
        match receiver
            .receive(
                Some(&signature),
                body.as_bytes(),
                LOCAL_WEBHOOK_SECRET.as_bytes(),
            )
            .await
            .map_err(|e| anyhow!("{e}"))?
        {
            Received::Processed { .. } => Ok(()),
            other => bail!("the webhook was not processed: {other:?}"),
        }
    }

    /// order-payments' handling of one payment event message.
    pub async fn payment(&self, message: &Message) -> Result<()> {
        let envelope: EventEnvelope = serde_json::from_str(message.body().unwrap_or_default())?;
        let saga = Saga {
            orders: &self.orders,
            publisher: &self.publisher,
            anomalies: &self.ledger,
            timer: &self.timer,
            clock: &SystemClock,
        };
        let step = saga
            .handle_batch(std::slice::from_ref(&envelope))
            .await
            .pop();
        match step
            .context("no outcome for the message")?
            .map_err(|e| anyhow!("{e}"))?
        {
            StepOutcome::Payment(SagaOutcome::Paid(_)) => Ok(()),
            other => bail!("the payment was not applied: {other:?}"),
        }
    }
}
