//! Signed payment webhooks for the local cloud, like `stripe trigger` or
//! `sam local generate-event`: `cargo dev webhook --order ID --outcome succeeded`.

use crate::environment::LOCAL_WEBHOOK_SECRET;
use serde_json::{Value, json};
use shop::payments::signature::sign;

/// A secret that is not the endpoint's, for samples of forged deliveries.
pub const WRONG_SECRET: &str = "whsec_not_the_endpoint_secret";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Outcome {
    Succeeded,
    Failed,
}

fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// A provider event for a payment intent of `amount` minor units for the order.
pub fn provider_event(order_id: &str, outcome: Outcome, amount: i64, currency: &str) -> Value {
    let (kind, error) = match outcome {
        Outcome::Succeeded => ("payment_intent.succeeded", Value::Null),
        Outcome::Failed => (
            "payment_intent.payment_failed",
            json!({"message": "Your card was declined."}),
        ),
    };
    let suffix = ulid::Ulid::new().to_string().to_lowercase();
    json!({
        "id": format!("evt_local_{suffix}"),
        "object": "event",
        "type": kind,
        "created": now(),
        "data": {"object": {
            "id": format!("pi_local_{suffix}"),
            "object": "payment_intent",
            "amount": amount,
            "currency": currency.to_ascii_lowercase(),
            "metadata": {"order_id": order_id},
            "last_payment_error": error,
        }}
    })
}

/// The `Stripe-Signature` header for `body`, signed now with the local secret.
pub fn local_signature(body: &str) -> String {
    sign(body.as_bytes(), LOCAL_WEBHOOK_SECRET.as_bytes(), now())
}

/// Re-signs an API Gateway event holding a webhook (a file under events/payment-webhook/)
/// with the current time, so it passes the 300 s tolerance; with `WRONG_SECRET` when
/// `endpoint_secret` is false, to show a forged delivery.
pub fn sign_event_in_place(event: &mut Value, endpoint_secret: bool) {
    let body = event["body"].as_str().unwrap_or_default().to_owned();
    let secret = if endpoint_secret {
        LOCAL_WEBHOOK_SECRET
    } else {
        WRONG_SECRET
    };
    let header = sign(body.as_bytes(), secret.as_bytes(), now());
    event["headers"]["stripe-signature"] = Value::String(header);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_resigned_sample_verifies_with_the_local_secret_only() {
        let body = provider_event("01JDQ0000000000000000000ZZ", Outcome::Failed, 1200, "EUR").to_string();
        let mut event = json!({"headers": {}, "body": body});
        sign_event_in_place(&mut event, true);
        let header = event["headers"]["stripe-signature"].as_str().unwrap().to_owned();
        let verify = |secret: &str| {
            shop::payments::signature::verify(Some(&header), body.as_bytes(), secret.as_bytes(), now())
        };
        assert!(verify(LOCAL_WEBHOOK_SECRET).is_ok());
        assert!(verify(WRONG_SECRET).is_err());
        assert_eq!(
            provider_event("o", Outcome::Succeeded, 1, "EUR")["data"]["object"]["currency"],
            "eur"
        );
    }
}
