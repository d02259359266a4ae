//! Signing payment webhooks the way the provider does (Stripe-compatible), for sample
//! events and local testing: `Stripe-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>` over
//! `<t>.<raw body>`, keyed with the endpoint secret.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use crate::environment::LOCAL_WEBHOOK_SECRET;

/// A secret the functions do not know, for samples whose signature must not verify.
pub const WRONG_WEBHOOK_SECRET: &str = "whsec_wrong_secret_signatures_must_fail";

/// The `Stripe-Signature` header value for `body` signed with `secret` at `timestamp`.
pub fn stripe_signature(body: &[u8], secret: &str, timestamp: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
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
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let signature = Value::String(stripe_signature(&body, secret, now));
    match event.get_mut("headers").and_then(Value::as_object_mut) {
        Some(headers) => {
            headers.insert("stripe-signature".to_owned(), signature);
        }
        None => event["headers"] = serde_json::json!({ "stripe-signature": signature }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn signs_like_the_provider() {
        // Python: hmac.new(b"whsec_test", b"1700000000.{}", hashlib.sha256).hexdigest()
        assert_eq!(
            stripe_signature(b"{}", "whsec_test", 1_700_000_000),
            "t=1700000000,v1=35495024f4ef3f94e5a93e22221544c4b75e9a42300cd965ab81cb85cd994e91"
        );
    }

    #[test]
    fn re_signs_an_event_with_a_fresh_timestamp() {
        let mut event =
            json!({"headers": {"stripe-signature": "t=1,v1=00"}, "body": "{\"id\":\"evt_1\"}"});
        sign_event_in_place(&mut event, true);
        let header = event["headers"]["stripe-signature"]
            .as_str()
            .unwrap()
            .to_owned();
        let t: i64 = header[2..header.find(',').unwrap()].parse().unwrap();
        assert!((time::OffsetDateTime::now_utc().unix_timestamp() - t).abs() < 5);
        assert_eq!(
            header,
            stripe_signature(b"{\"id\":\"evt_1\"}", LOCAL_WEBHOOK_SECRET, t)
        );
        sign_event_in_place(&mut event, false);
        assert_ne!(
            event["headers"]["stripe-signature"].as_str().unwrap(),
            header
        );
    }
}
