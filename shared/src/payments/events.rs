use crate::kernel::{DomainEvent, Money, OrderId, PaymentIntentId};
use serde::{Deserialize, Serialize};

/// What the payments context tells the rest of the shop: a payment for one of the shop's
/// orders, in a currency the shop sells in. Ordering checks the amount against the order's
/// total. (A payment the webhook cannot attribute that way is refunded there, see
/// [`RefundEvent::unattributable`].)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event_type", content = "data")]
pub enum PaymentEvent {
    #[serde(rename = "payment.succeeded")]
    Succeeded {
        order_id: OrderId,
        payment_intent_id: PaymentIntentId,
        /// `amount` and `currency`, flat as the contract writes them.
        #[serde(flatten)]
        amount: Money,
        provider_event_id: String,
    },
    #[serde(rename = "payment.failed")]
    Failed {
        order_id: OrderId,
        payment_intent_id: PaymentIntentId,
        #[serde(flatten)]
        amount: Money,
        provider_event_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        failure_message: Option<String>,
    },
}

impl DomainEvent for PaymentEvent {}

impl PaymentEvent {
    pub fn order_id(&self) -> &OrderId {
        match self {
            PaymentEvent::Succeeded { order_id, .. } | PaymentEvent::Failed { order_id, .. } => {
                order_id
            }
        }
    }

    pub fn payment_intent_id(&self) -> &PaymentIntentId {
        match self {
            PaymentEvent::Succeeded {
                payment_intent_id, ..
            }
            | PaymentEvent::Failed {
                payment_intent_id, ..
            } => payment_intent_id,
        }
    }

    /// The amount as the provider reported it.
    pub fn amount(&self) -> Money {
        match self {
            PaymentEvent::Succeeded { amount, .. } | PaymentEvent::Failed { amount, .. } => *amount,
        }
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
    /// The payment names no order id the shop could have issued, or a currency it does not
    /// sell in: refunded by the webhook, never seen by ordering.
    Unattributable,
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
            provider_event_id,
        } = payment
        else {
            return None;
        };
        Some(RefundEvent::RefundRequired {
            order_id: order_id.to_string(),
            payment_intent_id: payment_intent_id.to_string(),
            amount: ProviderAmount {
                amount: amount.amount,
                currency: amount.currency.code().to_owned(),
            },
            reason,
            provider_event_id: provider_event_id.clone(),
        })
    }

    /// The refund of a succeeded payment that names no order of the shop (`order_id` is not
    /// one of its ids), or was taken in a currency the shop does not sell in.
    pub fn unattributable(
        order_id: String,
        payment_intent_id: &PaymentIntentId,
        amount: ProviderAmount,
        provider_event_id: String,
    ) -> Self {
        RefundEvent::RefundRequired {
            order_id,
            payment_intent_id: payment_intent_id.to_string(),
            amount,
            reason: RefundReason::Unattributable,
            provider_event_id,
        }
    }
}
