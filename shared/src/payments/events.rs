use crate::kernel::{DomainEvent, Money};
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

    /// The amount and currency as the provider reported them.
    pub fn amount(&self) -> (i64, &str) {
        match self {
            PaymentEvent::Succeeded {
                amount, currency, ..
            }
            | PaymentEvent::Failed {
                amount, currency, ..
            } => (*amount, currency),
        }
    }

    /// Whether this payment is for exactly `total` (currencies compared case-insensitively,
    /// as providers write them in lower case).
    pub fn is_for(&self, total: Money) -> bool {
        let (amount, currency) = self.amount();
        amount == total.amount && currency.eq_ignore_ascii_case(total.currency.code())
    }
}

/// Why money the provider took must go back to the customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundReason {
    /// The order was cancelled (payment deadline, the customer) before the payment arrived.
    OrderCancelled,
    /// The order was rejected: there is nothing to pay for.
    OrderRejected,
    /// Another payment already paid the order.
    AlreadyPaid,
    /// The payment names no order of this shop.
    UnknownOrder,
    /// The amount or the currency is not the order's total.
    AmountMismatch,
}

/// An amount exactly as the provider reported it: the currency may be one the shop does not
/// sell in, so it is not a [`Money`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderAmount {
    pub amount: i64,
    pub currency: String,
}

/// What the shop asks of whoever gives money back (a person, or a refunds service).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event_type", content = "data")]
pub enum RefundEvent {
    #[serde(rename = "payment.refund_required")]
    RefundRequired {
        order_id: String,
        payment_intent_id: String,
        amount: ProviderAmount,
        reason: RefundReason,
        provider_event_id: String,
    },
}

impl DomainEvent for RefundEvent {}

impl RefundEvent {
    /// The refund of `payment`; `None` for a failed payment, which took no money.
    pub fn of(payment: &PaymentEvent, reason: RefundReason) -> Option<Self> {
        let PaymentEvent::Succeeded {
            order_id,
            payment_intent_id,
            amount,
            currency,
            provider_event_id,
        } = payment
        else {
            return None;
        };
        Some(RefundEvent::RefundRequired {
            order_id: order_id.clone(),
            payment_intent_id: payment_intent_id.clone(),
            amount: ProviderAmount {
                amount: *amount,
                currency: currency.clone(),
            },
            reason,
            provider_event_id: provider_event_id.clone(),
        })
    }
}
