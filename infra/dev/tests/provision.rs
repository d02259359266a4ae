//! Provisioning from template.yaml against a real moto.

mod common;

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, TimeToLiveStatus};
use aws_sdk_sqs::types::QueueAttributeName;
use dev::cloud::provision_all;
use dev::repo;
use dev::resources::Resources;
use dev::template::Template;
use serde_json::{Value, json};

#[tokio::test]
async fn provisioning_twice_creates_everything_once() {
    let root = repo::repo_root().unwrap();
    let template = Template::load(&root).unwrap();
    let resources = Resources::new(&template, &common::emulator().endpoint());
    let config = common::sdk_config().await;

    let first = provision_all(&template, &resources, &config, &root)
        .await
        .unwrap();
    let expected = template.tables.len()
        + template.queues.len()
        + template.topics.len()
        + template.subscriptions.len();
    assert_eq!(first.changes.len(), expected, "{:?}", first.changes);
    assert_eq!(first.catalog_products, Some(24));

    // Live stock survives re-provisioning; everything else is reset from the catalog.
    let dynamodb = aws_sdk_dynamodb::Client::new(&config);
    dynamodb
        .update_item()
        .table_name("ProductsTable")
        .key("product_id", AttributeValue::S("p-0001".into()))
        .update_expression("SET stock = :s, #n = :n")
        .expression_attribute_names("#n", "name")
        .expression_attribute_values(":s", AttributeValue::N("7".into()))
        .expression_attribute_values(":n", AttributeValue::S("renamed".into()))
        .send()
        .await
        .unwrap();

    let second = provision_all(&template, &resources, &config, &root)
        .await
        .unwrap();
    assert!(
        !second.changed_anything(),
        "second run changed {:?}",
        second.changes
    );
    assert_eq!(second.unchanged.len(), expected);

    let product = dynamodb
        .get_item()
        .table_name("ProductsTable")
        .key("product_id", AttributeValue::S("p-0001".into()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(product["stock"], AttributeValue::N("7".into()));
    assert_eq!(
        product["name"],
        AttributeValue::S("Ethiopia Yirgacheffe, 250 g".into())
    );
    let AttributeValue::M(price) = &product["price"] else {
        panic!("price is a map")
    };
    assert_eq!(price["currency"], AttributeValue::S("EUR".into()));
    let count = dynamodb
        .scan()
        .table_name("ProductsTable")
        .send()
        .await
        .unwrap()
        .count;
    assert_eq!(count, 24);

    // Tables: keys, the GSI, TTL.
    let products = dynamodb
        .describe_table()
        .table_name("ProductsTable")
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    let index = &products.global_secondary_indexes()[0];
    assert_eq!(index.index_name(), Some("by_category"));
    let keys: Vec<_> = index
        .key_schema()
        .iter()
        .map(|k| k.attribute_name())
        .collect();
    assert_eq!(keys, ["category", "product_id"]);
    let ttl = dynamodb
        .describe_time_to_live()
        .table_name("IdempotencyTable")
        .send()
        .await
        .unwrap()
        .time_to_live_description
        .unwrap();
    assert_eq!(ttl.time_to_live_status(), Some(&TimeToLiveStatus::Enabled));
    assert_eq!(ttl.attribute_name(), Some("expires_at"));
    let orders = dynamodb
        .describe_table()
        .table_name("OrdersTable")
        .send()
        .await
        .unwrap()
        .table
        .unwrap();
    let keys: Vec<_> = orders
        .key_schema()
        .iter()
        .map(|k| (k.attribute_name(), k.key_type().as_str()))
        .collect();
    assert_eq!(keys, [("pk", "HASH"), ("sk", "RANGE")]);

    // Queues: visibility timeout, redrive policy, the policy letting the topic in.
    let sqs = aws_sdk_sqs::Client::new(&config);
    let orders_queue = resources.queue("OrdersQueue").unwrap();
    let attributes = queue_attributes(&sqs, &orders_queue.url).await;
    assert_eq!(attributes[&QueueAttributeName::VisibilityTimeout], "180");
    let redrive: Value =
        serde_json::from_str(&attributes[&QueueAttributeName::RedrivePolicy]).unwrap();
    assert_eq!(
        redrive["deadLetterTargetArn"],
        resources.queue("OrdersDLQ").unwrap().arn
    );
    assert_eq!(
        redrive["maxReceiveCount"].to_string().trim_matches('"'),
        "3"
    );
    let dlq = queue_attributes(&sqs, &resources.queue("OrdersDLQ").unwrap().url).await;
    assert_eq!(dlq[&QueueAttributeName::MessageRetentionPeriod], "1209600");
    let payments =
        queue_attributes(&sqs, &resources.queue("PaymentEventsQueue").unwrap().url).await;
    let policy: Value = serde_json::from_str(&payments[&QueueAttributeName::Policy]).unwrap();
    assert_eq!(
        policy["Statement"][0]["Condition"]["ArnEquals"]["aws:SourceArn"],
        resources.topic_arn("EventsTopic").unwrap()
    );

    // Subscriptions: one per queue, raw delivery, the filter policy.
    let sns = aws_sdk_sns::Client::new(&config);
    let topic = resources.topic_arn("EventsTopic").unwrap();
    let subscriptions = sns
        .list_subscriptions_by_topic()
        .topic_arn(topic)
        .send()
        .await
        .unwrap();
    let subscriptions = subscriptions.subscriptions();
    assert_eq!(
        subscriptions.len(),
        template.subscriptions.len(),
        "no duplicates: {subscriptions:?}"
    );
    let notifications = subscriptions
        .iter()
        .find(|s| s.endpoint() == Some(resources.queue("NotificationsQueue").unwrap().arn.as_str()))
        .expect("NotificationsQueue is subscribed");
    let attributes = sns
        .get_subscription_attributes()
        .subscription_arn(notifications.subscription_arn().unwrap())
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    assert_eq!(attributes["RawMessageDelivery"], "true");
    let filter: Value = serde_json::from_str(&attributes["FilterPolicy"]).unwrap();
    assert_eq!(
        filter,
        json!({"event_type": ["order.confirmed", "order.rejected", "order.paid", "order.cancelled", "payment.refund_required"]})
    );
}

async fn queue_attributes(
    sqs: &aws_sdk_sqs::Client,
    url: &str,
) -> HashMap<QueueAttributeName, String> {
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()
}
