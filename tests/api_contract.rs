//! The API documents against the system: docs/openapi.yaml describes exactly the template's
//! routes and authorizer, Schemathesis finds nothing wrong in the running API, and every event
//! the system publishes matches its schema in docs/asyncapi.yaml.

use e2e::*;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn yaml(relative: &str) -> Value {
    let text = std::fs::read_to_string(repo_root().join(relative)).unwrap();
    serde_norway::from_str(&text).unwrap()
}

#[test]
fn the_openapi_document_and_the_template_declare_the_same_routes_and_guards() {
    let template = dev::template::Template::load(&repo_root()).unwrap();
    let from_template: BTreeMap<String, bool> = template
        .functions
        .iter()
        .flat_map(|f| &f.http_routes)
        .map(|route| (route.key(), route.auth.authorizer.is_some()))
        .collect();
    let document = yaml("docs/openapi.yaml");
    let guarded_by_default = document["security"]
        .as_array()
        .is_some_and(|s| !s.is_empty());
    let mut from_document = BTreeMap::new();
    for (path, operations) in document["paths"].as_object().unwrap() {
        for (method, operation) in operations.as_object().unwrap() {
            let guarded = match operation.get("security") {
                Some(Value::Array(requirements)) => !requirements.is_empty(),
                _ => guarded_by_default,
            };
            from_document.insert(format!("{} {path}", method.to_uppercase()), guarded);
        }
    }
    assert_eq!(
        from_document, from_template,
        "docs/openapi.yaml and template.yaml disagree (route -> needs a token)"
    );
}

/// Per operation: 70 keeps CI's run over 1,000 requests in well under a minute;
/// `SHOP_FUZZ_EXAMPLES=500 cargo test --test api_contract` is the full run.
fn examples_per_operation() -> u32 {
    std::env::var("SHOP_FUZZ_EXAMPLES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(70)
}

/// The fuzzer is one customer: let it hold as many unpaid orders as it makes, so that the
/// stateful phase reaches the orders it created.
fn one_customer_may_hold_many_orders() {
    dev::testing::use_parameter("MaxUnpaidOrders", "100000");
}

#[tokio::test]
async fn schemathesis_finds_no_failure_in_a_thousand_generated_requests() {
    one_customer_may_hold_many_orders();
    // A token as `cargo dev token` gets it: from the issuer's token endpoint.
    let token = dev::issuer::fetch_token(
        cloud().issuer_url(),
        &new_customer(),
        Duration::from_secs(3600),
    )
    .await
    .unwrap();
    let root = repo_root();
    let schemathesis = root.join(".dev/venv/bin/schemathesis");
    let url = cloud().url().to_owned();
    let examples = examples_per_operation();
    let output = tokio::process::Command::new(&schemathesis)
        .current_dir(&root)
        .args(["run", "docs/openapi.yaml", "--url", &url, "--no-color", "--seed", "1"])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance",
        ])
        .args(["--max-examples", &examples.to_string()])
        .args(["--generation-database", "none"])
        .output()
        .await
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", schemathesis.display()));
    let report = String::from_utf8_lossy(&output.stdout);
    let summary = report
        .lines()
        .skip_while(|l| !l.contains("SUMMARY"))
        .collect::<Vec<_>>()
        .join("\n");
    eprintln!("{summary}");
    assert!(
        output.status.success(),
        "Schemathesis found failures:\n{report}"
    );
    // "Test cases:\n  1022 generated, 1022 passed"
    let generated: u32 = report
        .lines()
        .find_map(|l| l.trim().split_once(" generated, "))
        .and_then(|(n, _)| n.parse().ok())
        .unwrap_or_else(|| panic!("no test case count in:\n{report}"));
    assert!(
        generated >= 1_000 || examples < 70,
        "only {generated} test cases ran"
    );
    assert!(
        report.contains("Tested: 7"),
        "every operation is fuzzed:\n{summary}"
    );
}

/// The message schemas of docs/asyncapi.yaml, by event type.
fn event_schemas() -> BTreeMap<String, jsonschema::Validator> {
    let document = yaml("docs/asyncapi.yaml");
    let mut schemas = BTreeMap::new();
    for (name, message) in document["components"]["messages"].as_object().unwrap() {
        let event_type = message["name"].as_str().unwrap().to_owned();
        // The whole document as the root, so the payload's $refs resolve inside it.
        let mut root = document.clone();
        root["$ref"] = json!(format!("#/components/messages/{name}/payload"));
        let validator = jsonschema::validator_for(&root)
            .unwrap_or_else(|e| panic!("{event_type}: not a valid schema: {e}"));
        schemas.insert(event_type, validator);
    }
    schemas
}

/// Subscribes a queue of its own to the topic, with no filter: it sees every event.
async fn tap() -> String {
    let sqs = sqs().await;
    let sns = aws_sdk_sns::Client::new(&cloud().sdk_config().await);
    let name = format!("contract-tap-{}", ulid::Ulid::new());
    let url = sqs
        .create_queue()
        .queue_name(&name)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let arn = format!("arn:aws:sqs:us-east-1:123456789012:{name}");
    sns.subscribe()
        .topic_arn(topic_arn())
        .protocol("sqs")
        .endpoint(arn)
        .attributes("RawMessageDelivery", "true")
        .send()
        .await
        .unwrap();
    url
}

async fn drain(queue_url: &str, into: &mut Vec<(Value, Option<String>)>) {
    let sqs = sqs().await;
    loop {
        let out = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .message_attribute_names("All")
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        if out.messages().is_empty() {
            return;
        }
        for message in out.messages() {
            let envelope = serde_json::from_str(message.body().unwrap()).unwrap();
            let attribute = message
                .message_attributes()
                .and_then(|a| a.get("event_type"))
                .and_then(|a| a.string_value())
                .map(str::to_owned);
            into.push((envelope, attribute));
            sqs.delete_message()
                .queue_url(queue_url)
                .receipt_handle(message.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
}

#[tokio::test]
async fn every_event_published_matches_its_schema_and_every_type_has_one() {
    one_customer_may_hold_many_orders();
    let schemas = event_schemas();
    let tap = tap().await;

    // Every kind of event, through the real system.
    let (_, paid) = confirmed_order(10, 1).await;
    deliver_signed(&provider_event(
        "payment_intent.succeeded",
        &paid,
        total(&paid),
    ))
    .await;
    let (_, failed) = confirmed_order(10, 1).await;
    deliver_signed(&provider_event(
        "payment_intent.payment_failed",
        &failed,
        total(&failed),
    ))
    .await;
    let (_, cancelled) = confirmed_order(10, 1).await;
    let cancelled_id = cancelled["order_id"].as_str().unwrap();
    assert_eq!(cancel_order(cancelled_id).await.0, 200);
    deliver_signed(&provider_event(
        "payment_intent.succeeded",
        &cancelled,
        total(&cancelled),
    ))
    .await;
    let scarce = seed_product("contract", 100, 0).await;
    let (_, rejected) = post_order(
        &json!({"currency": "EUR", "items": [{"product_id": scarce, "quantity": 1}]}),
        &[],
    )
    .await;
    order_in(paid["order_id"].as_str().unwrap(), "PAID").await;
    order_in(failed["order_id"].as_str().unwrap(), "CANCELLED").await;
    order_in(rejected["order_id"].as_str().unwrap(), "REJECTED").await;

    let expected: BTreeSet<&str> = [
        "order.confirmed",
        "order.rejected",
        "order.paid",
        "order.cancelled",
        "payment.succeeded",
        "payment.failed",
        "payment.refund_required",
    ]
    .into();
    let mut seen = Vec::new();
    // Collect until every expected type arrived.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        drain(&tap, &mut seen).await;
        let types: BTreeSet<&str> = seen
            .iter()
            .filter_map(|(e, _)| e["event_type"].as_str())
            .collect();
        if expected.is_subset(&types) || std::time::Instant::now() > deadline {
            break;
        }
    }

    // The histories hold order.placed too.
    let mut events: Vec<(Value, Option<String>)> = seen.clone();
    for order in [&paid, &failed, &cancelled] {
        let (_, history) = get_json(&format!(
            "/orders/{}/events",
            order["order_id"].as_str().unwrap()
        ))
        .await;
        for event in history["items"].as_array().unwrap() {
            let event_type = event["event_type"].as_str().map(str::to_owned);
            events.push((event.clone(), event_type));
        }
    }
    let mut problems = Vec::new();
    let mut types = BTreeSet::new();
    for (event, attribute) in &events {
        let event_type = event["event_type"].as_str().unwrap_or("?").to_owned();
        types.insert(event_type.clone());
        if attribute.as_deref() != Some(event_type.as_str()) {
            problems.push(format!(
                "{event_type}: message attribute event_type is {attribute:?}"
            ));
        }
        match schemas.get(&event_type) {
            None => problems.push(format!("{event_type}: no schema in docs/asyncapi.yaml")),
            Some(schema) => problems.extend(
                schema
                    .iter_errors(event)
                    .map(|e| format!("{event_type}: {e} at {}", e.instance_path())),
            ),
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    let missing: Vec<&&str> = expected.iter().filter(|t| !types.contains(**t)).collect();
    assert!(
        missing.is_empty(),
        "never seen: {missing:?}; seen {types:?}"
    );
    assert!(types.contains("order.placed"));
}

#[tokio::test]
async fn the_rendered_documents_show_every_route_and_every_event_in_a_browser() {
    one_customer_may_hold_many_orders();
    let Some(chromium) = chromium() else { return };
    let base = cloud().url();
    let index = rendered(&chromium, &format!("{base}/docs")).await;
    assert!(index.contains("/docs/openapi.html") && index.contains("/docs/asyncapi.html"));

    let page = rendered(&chromium, &format!("{base}/docs/openapi.html")).await;
    let openapi = yaml("docs/openapi.yaml");
    for (path, operations) in openapi["paths"].as_object().unwrap() {
        assert!(page.contains(path.as_str()), "{path} is not on the page");
        for operation in operations.as_object().unwrap().values() {
            let summary = operation["summary"].as_str().unwrap();
            assert!(page.contains(summary), "{summary:?} is not on the page");
        }
    }
    let page = rendered(&chromium, &format!("{base}/docs/asyncapi.html")).await;
    let asyncapi = yaml("docs/asyncapi.yaml");
    for message in asyncapi["components"]["messages"]
        .as_object()
        .unwrap()
        .values()
    {
        let name = message["name"].as_str().unwrap();
        assert!(page.contains(name), "{name} is not on the events page");
    }
}
