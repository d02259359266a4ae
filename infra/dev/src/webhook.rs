//! Signed payment webhooks for the local cloud, as `stripe trigger` or
//! `sam local generate-event` would make them: `Stripe-Signature: t=<unix seconds>,v1=<hex>`,
//! signed with [`LOCAL_WEBHOOK_SECRET`] by the domain's own `payments::signature::sign`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};
use shop::payments::signature::sign;

use crate::environment::LOCAL_WEBHOOK_SECRET;

/// A secret the functions do not know, for samples whose signature must not verify.
pub const WRONG_WEBHOOK_SECRET: &str = "whsec_wrong_secret_signatures_must_fail";

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

/// Re-signs an API Gateway webhook event now (signatures expire after 300 s), with the
/// local secret or, for negative samples, with [`WRONG_WEBHOOK_SECRET`].
pub fn sign_event_in_place(event: &mut Value, with_local_secret: bool) {
    let text = event["body"].as_str().unwrap_or_default();
    let body = if event["isBase64Encoded"] == Value::Bool(true) {
        BASE64.decode(text).unwrap_or_default()
    } else {
        text.as_bytes().to_vec()
    };
    let secret = if with_local_secret {
        LOCAL_WEBHOOK_SECRET
    } else {
        WRONG_WEBHOOK_SECRET
    };
    let signature = Value::String(sign(&body, secret.as_bytes(), now()));
    match event.get_mut("headers").and_then(Value::as_object_mut) {
        Some(headers) => {
            headers.insert("stripe-signature".to_owned(), signature);
        }
        None => event["headers"] = json!({ "stripe-signature": signature }),
    }
}

/// A shell command that delivers `body` to the local webhook endpoint.
pub fn curl_command(url: &str, body: &str) -> String {
    format!(
        "curl -sS -X POST '{url}/webhooks/payments' -H 'content-type: application/json' \
         -H 'stripe-signature: {}' --data-binary '{}'",
        local_signature(body),
        body.replace('\'', "'\\''")
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use shop::payments::signature::verify;

    #[test]
    fn a_resigned_sample_verifies_with_the_local_secret_only() {
        let body =
            provider_event("01JDQ0000000000000000000ZZ", Outcome::Failed, 1200, "EUR").to_string();
        let mut event = json!({"headers": {"stripe-signature": "t=1,v1=00"}, "body": body});
        sign_event_in_place(&mut event, true);
        let header = event["headers"]["stripe-signature"]
            .as_str()
            .unwrap()
            .to_owned();
        let check = |secret: &str| verify(Some(&header), body.as_bytes(), secret.as_bytes(), now());
        assert!(check(LOCAL_WEBHOOK_SECRET).is_ok());
        assert!(check(WRONG_WEBHOOK_SECRET).is_err());

        sign_event_in_place(&mut event, false);
        let forged = event["headers"]["stripe-signature"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(
            verify(
                Some(&forged),
                body.as_bytes(),
                LOCAL_WEBHOOK_SECRET.as_bytes(),
                now()
            )
            .is_err()
        );
    }

    #[test]
    fn provider_events_carry_the_order_and_a_lower_case_currency() {
        let event = provider_event("o-1", Outcome::Succeeded, 990, "EUR");
        assert_eq!(event["type"], "payment_intent.succeeded");
        assert_eq!(event["data"]["object"]["metadata"]["order_id"], "o-1");
        assert_eq!(event["data"]["object"]["currency"], "eur");
    }
}
