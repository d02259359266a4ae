//! The orders queue's wire format: the place-order command as the relay writes it
//! ([`super::sqs::SqsOrderQueue`]) and the processor reads it. Versioned, so that an old
//! processor refuses a message it cannot read instead of misreading it. Not behind the `sqs`
//! feature: the processor reads messages without an SQS client.

use crate::kernel::{CorrelationId, Currency, CustomerId, OrderId, Timestamp};
use crate::ordering::pricing::DiscountCode;
use crate::ordering::{OrderLines, PlaceOrder};
use serde::{Deserialize, Serialize};

const SCHEMA_VERSION: u32 = 1;
const PLACE_ORDER: &str = "place_order";

#[derive(Serialize, Deserialize)]
struct Header {
    schema_version: u32,
    #[serde(rename = "type")]
    kind: String,
}

#[derive(Serialize, Deserialize)]
struct Message {
    #[serde(flatten)]
    header: Header,
    order_id: OrderId,
    customer_id: CustomerId,
    currency: Currency,
    lines: OrderLines,
    #[serde(default)]
    discount_code: Option<DiscountCode>,
    correlation_id: CorrelationId,
    #[serde(with = "time::serde::rfc3339")]
    placed_at: Timestamp,
}

#[derive(Debug, thiserror::Error)]
pub enum UnreadableMessage {
    #[error("not a place-order message: {0}")]
    Malformed(String),
    #[error("unsupported message: type {kind:?}, schema version {schema_version}")]
    Unsupported { kind: String, schema_version: u32 },
}

/// The body of the message that queues `command`.
pub fn to_body(command: &PlaceOrder) -> Result<String, serde_json::Error> {
    let command = command.clone();
    serde_json::to_string(&Message {
        header: Header {
            schema_version: SCHEMA_VERSION,
            kind: PLACE_ORDER.to_owned(),
        },
        order_id: command.order_id,
        customer_id: command.customer_id,
        currency: command.currency,
        lines: command.lines,
        discount_code: command.discount_code,
        correlation_id: command.correlation_id,
        placed_at: command.placed_at,
    })
}

/// The command a message body carries; the header is read first, so that a message of
/// another type or version is named as such.
pub fn from_body(body: &str) -> Result<PlaceOrder, UnreadableMessage> {
    let malformed = |e: serde_json::Error| UnreadableMessage::Malformed(e.to_string());
    let header: Header = serde_json::from_str(body).map_err(malformed)?;
    if header.schema_version != SCHEMA_VERSION || header.kind != PLACE_ORDER {
        return Err(UnreadableMessage::Unsupported {
            kind: header.kind,
            schema_version: header.schema_version,
        });
    }
    let message: Message = serde_json::from_str(body).map_err(malformed)?;
    Ok(PlaceOrder {
        order_id: message.order_id,
        customer_id: message.customer_id,
        currency: message.currency,
        lines: message.lines,
        discount_code: message.discount_code,
        correlation_id: message.correlation_id,
        placed_at: message.placed_at,
    })
}
