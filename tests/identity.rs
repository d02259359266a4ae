//! Identity on the local cloud, which enforces the template's JWT authorizer as API Gateway
//! does: customers act on their own orders only, forged or stale tokens get nowhere, and nobody
//! holds more than the allowed number of unpaid orders.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use dev::issuer::{Claims, DEFAULT_TTL, Issuer, LOCAL_AUDIENCE};
use e2e::*;
use serde_json::{Value, json};

const MAX_UNPAID: usize = 5;

fn one_unit(product: &shop::kernel::ProductId) -> Value {
    order_body(product.as_str(), 1)
}

/// POST /orders with exactly this Authorization header (or none).
async fn place_with(authorization: Option<&str>, body: &Value) -> reqwest::Response {
    let mut request = http().post(url("/orders")).json(body);
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    request.send().await.unwrap()
}

/// The customer's count of unpaid orders as stored, if any order ever took a slot.
async fn stored_unpaid(customer: &str) -> Option<i64> {
    use aws_sdk_dynamodb::types::AttributeValue;
    let item = dynamodb()
        .await
        .get_item()
        .table_name(table("OrdersTable"))
        .key("pk", AttributeValue::S(format!("CUSTOMER#{customer}")))
        .key("sk", AttributeValue::S("UNPAID".into()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item?;
    item["unpaid"].as_n().ok()?.parse().ok()
}

fn claims(customer: &str) -> Claims {
    cloud().issuer().claims(customer, DEFAULT_TTL)
}

/// Every kind of bad token, each named.
fn forged_tokens(customer: &str) -> Vec<(&'static str, String)> {
    let issuer = cloud().issuer();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let other_key = Issuer::generate(cloud().issuer_url(), LOCAL_AUDIENCE).unwrap();
    let valid = issuer.token(customer, DEFAULT_TTL).unwrap();
    let parts: Vec<&str> = valid.split('.').collect();

    let none_header = B64.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let payload = B64.encode(serde_json::to_vec(&claims(customer)).unwrap());
    let alg_none = format!("{none_header}.{payload}.");

    // The public key, as an attacker would fetch it, used as an HMAC secret.
    let public_key = serde_json::to_vec(issuer.jwks()).unwrap();
    let mut hs_header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    hs_header.kid = jsonwebtoken::decode_header(&valid).unwrap().kid;
    let hs256 = jsonwebtoken::encode(
        &hs_header,
        &claims(customer),
        &jsonwebtoken::EncodingKey::from_secret(&public_key),
    )
    .unwrap();

    let altered = {
        let mut victim = claims("c-victim");
        victim.iat = now;
        let payload = B64.encode(serde_json::to_vec(&victim).unwrap());
        format!("{}.{payload}.{}", parts[0], parts[2])
    };
    let signed = |change: &dyn Fn(&mut Claims)| {
        let mut claims = claims(customer);
        change(&mut claims);
        issuer.sign(&claims).unwrap()
    };
    let forged = other_key.token(customer, DEFAULT_TTL).unwrap();
    let forged_parts: Vec<&str> = forged.split('.').collect();
    let forged_with_our_kid = format!("{}.{}.{}", parts[0], forged_parts[1], forged_parts[2]);
    vec![
        ("signed by another key", forged.clone()),
        ("signed by another key, naming ours", forged_with_our_kid),
        ("alg none", alg_none),
        ("HS256 with the public key", hs256),
        ("expired", signed(&|c| c.exp = now - 60)),
        ("not yet valid", signed(&|c| c.nbf = now + 3600)),
        (
            "another audience",
            signed(&|c| c.aud = "someone-elses-api".into()),
        ),
        (
            "another issuer",
            signed(&|c| c.iss = "https://issuer.invalid".into()),
        ),
        ("payload altered", altered),
    ]
}

#[tokio::test]
async fn every_bad_token_is_a_401_and_changes_nothing() {
    let product = seed_product("identity", 500, 10).await;
    let customer = new_customer();
    let mut cases: Vec<(String, Option<String>)> = forged_tokens(&customer)
        .into_iter()
        .map(|(case, token)| (case.to_owned(), Some(format!("Bearer {token}"))))
        .collect();
    cases.push(("empty bearer".into(), Some("Bearer ".into())));
    cases.push(("no scheme".into(), Some(token_for(&customer))));
    cases.push(("no header".into(), None));
    for (case, authorization) in &cases {
        let response = place_with(authorization.as_deref(), &one_unit(&product)).await;
        assert_eq!(response.status(), 401, "{case}");
        assert_eq!(response.headers()["www-authenticate"], "Bearer", "{case}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json",
            "{case}"
        );
        let problem: Value = response.json().await.unwrap();
        assert_eq!(problem["status"], 401, "{case}");
    }
    assert_eq!(stored_unpaid(&customer).await, None, "no order was taken");
    assert_eq!(stock(&product).await, 10);

    // The same tokens cannot cancel or read a real order either.
    let (product, order) = confirmed_order(10, 2).await;
    let order_id = order["order_id"].as_str().unwrap();
    for (case, token) in forged_tokens(&owner_of(order_id)) {
        let cancel = http()
            .post(url(&format!("/orders/{order_id}/cancel")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(cancel.status(), 401, "cancel, {case}");
        let read = http()
            .get(url(&format!("/orders/{order_id}")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(read.status(), 401, "read, {case}");
    }
    assert_eq!(
        get_json(&format!("/orders/{order_id}")).await.1["status"],
        "CONFIRMED"
    );
    assert_eq!(stock(&product).await, 8);
}

#[tokio::test]
async fn a_customer_places_reads_and_cancels_their_own_orders_only() {
    let (product, order) = confirmed_order(10, 3).await;
    let order_id = order["order_id"].as_str().unwrap();
    let owner = owner_of(order_id);
    assert_eq!(
        order["customer_id"],
        owner.as_str(),
        "the customer is the token's subject"
    );

    let stranger = token_for(&new_customer());
    for path in [
        format!("/orders/{order_id}"),
        format!("/orders/{order_id}/events"),
    ] {
        let response = http()
            .get(url(&path))
            .bearer_auth(&stranger)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{path}");
        assert_eq!(
            response.headers()["content-type"],
            "application/problem+json"
        );
    }
    let (status, problem, _) = cancel_order_as(order_id, &new_customer()).await;
    assert_eq!((status, problem["status"].as_i64()), (404, Some(404)));
    assert_eq!(
        get_json(&format!("/orders/{order_id}")).await.1["status"],
        "CONFIRMED"
    );
    assert_eq!(stock(&product).await, 7, "the stranger released nothing");

    let (status, cancelled, _) = cancel_order(order_id).await;
    assert_eq!(
        (status, cancelled["status"].as_str()),
        (200, Some("CANCELLED"))
    );
    assert_eq!(stock(&product).await, 10);
}

#[tokio::test]
async fn a_token_from_cargo_dev_tokens_endpoint_places_reads_and_cancels() {
    let product = seed_product("identity", 500, 10).await;
    let customer = new_customer();
    // What `cargo dev token --customer <id>` prints.
    let token = dev::issuer::fetch_token(cloud().issuer_url(), &customer, DEFAULT_TTL)
        .await
        .unwrap();
    let bearer = format!("Bearer {token}");
    let placed: Value = place_with(Some(&bearer), &one_unit(&product))
        .await
        .json()
        .await
        .unwrap();
    let order_id = placed["order_id"].as_str().unwrap();
    assert_eq!(placed["customer_id"], customer.as_str());
    let read = http()
        .get(url(&format!("/orders/{order_id}")))
        .header("authorization", &bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
    let cancelled = http()
        .post(url(&format!("/orders/{order_id}/cancel")))
        .header("authorization", &bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(cancelled.status(), 200);
    let view: Value = cancelled.json().await.unwrap();
    assert_eq!(view["status"], "CANCELLED");
}

#[tokio::test]
async fn a_body_naming_another_customer_is_forbidden() {
    let product = seed_product("identity", 500, 10).await;
    let me = new_customer();
    let mut body = one_unit(&product);
    body["customer_id"] = json!("c-someone-else");
    let response = place_with(Some(&format!("Bearer {}", token_for(&me))), &body).await;
    assert_eq!(response.status(), 403);
    let problem: Value = response.json().await.unwrap();
    assert_eq!(
        problem["type"],
        "https://shop.example/problems/not-your-customer-id"
    );
    body["customer_id"] = json!(me);
    let (status, placed) = post_order(&body, &[]).await;
    assert_eq!(
        (status, placed["customer_id"].as_str()),
        (202, Some(me.as_str()))
    );
}

#[tokio::test]
async fn idempotency_keys_are_each_customers_own() {
    let product = seed_product("identity", 500, 10).await;
    let body = one_unit(&product);
    let key = [("idempotency-key", "same-key-for-both")];
    let (first_status, first) = post_order(&body, &key).await;
    let (second_status, second) = post_order(&body, &key).await;
    assert_eq!((first_status, second_status), (202, 202));
    assert_ne!(
        first["order_id"], second["order_id"],
        "two customers, two orders"
    );
}

#[tokio::test]
async fn twenty_concurrent_orders_from_one_customer_leave_at_most_five_unpaid() {
    let product = seed_product("identity", 100, 100).await;
    let customer = new_customer();
    let mut body = one_unit(&product);
    body["customer_id"] = json!(customer);
    let answers = futures::future::join_all((0..20).map(|_| async {
        let response = place_with(Some(&format!("Bearer {}", token_for(&customer))), &body).await;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_owned());
        let body: Value = response.json().await.unwrap();
        (status, retry_after, body)
    }))
    .await;
    let accepted: Vec<&Value> = answers
        .iter()
        .filter(|(status, ..)| *status == 202)
        .map(|(.., body)| body)
        .collect();
    assert_eq!(accepted.len(), MAX_UNPAID, "{answers:?}");
    for (status, retry_after, problem) in answers.iter().filter(|(s, ..)| *s != 202) {
        assert_eq!(*status, 429, "{problem}");
        assert_eq!(
            problem["type"],
            "https://shop.example/problems/too-many-unpaid-orders"
        );
        let seconds: u64 = retry_after.as_deref().unwrap().parse().unwrap();
        assert!(seconds > 0);
    }
    assert_eq!(stored_unpaid(&customer).await, Some(MAX_UNPAID as i64));

    // Ending one frees its slot.
    let first = accepted[0]["order_id"].as_str().unwrap();
    remember_owner(first, &customer);
    settled_order(first).await;
    let (status, ..) = cancel_order(first).await;
    assert_eq!(status, 200);
    let (status, _) = post_order(&body, &[]).await;
    assert_eq!(status, 202, "a slot was freed");
    assert_eq!(stored_unpaid(&customer).await, Some(MAX_UNPAID as i64));
}
