use crate::kernel::DomainEvent;
use serde::{Deserialize, Serialize};

/// What the payments context tells the rest of the shop. Amounts are as the provider sent them
/// (minor units, currency upper-cased); ordering checks them against the order's total.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event_type", content = "data")]
pub enum PaymentEvent {
    #[serde(rename = "payment.succeeded")]
    Succeeded {
        order_id: String,
        payment_intent_id: String,
        amount: i64,
        currency: String,
        provider_event_id: String,
    },
    #[serde(rename = "payment.failed")]
    Failed {
        order_id: String,
        payment_intent_id: String,
        amount: i64,
        currency: String,
        provider_event_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        failure_message: Option<String>,
    },
}

impl DomainEvent for PaymentEvent {}

impl PaymentEvent {
    pub fn order_id(&self) -> &str {
        match self {
            PaymentEvent::Succeeded { order_id, .. } | PaymentEvent::Failed { order_id, .. } => {
                order_id
            }
        }
    }

    pub fn payment_intent_id(&self) -> &str {
        match self {
            PaymentEvent::Succeeded {
                payment_intent_id, ..
            }
            | PaymentEvent::Failed {
                payment_intent_id, ..
            } => payment_intent_id,
        }
    }
}
