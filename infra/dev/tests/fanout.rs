//! Domain events published to the topic reach exactly the queues whose filter matches.

mod common;

use std::time::Duration;

use aws_sdk_sns::types::MessageAttributeValue;
use aws_sdk_sqs::types::QueueAttributeName;
use dev::cloud::provision_all;
use dev::repo;
use dev::resources::Resources;
use dev::template::Template;
use serde_json::json;

async fn publish(sns: &aws_sdk_sns::Client, topic: &str, event_type: &str) -> String {
    let body = json!({
        "event_id": format!("evt-{event_type}"),
        "event_type": event_type,
        "schema_version": 1,
        "occurred_at": "2026-11-21T10:00:00Z",
        "aggregate_id": "order-1",
        "sequence": 1,
        "correlation_id": "c-1",
        "data": {},
    })
    .to_string();
    sns.publish()
        .topic_arn(topic)
        .message(&body)
        .message_attributes(
            "event_type",
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value(event_type)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    body
}

async fn depth(sqs: &aws_sdk_sqs::Client, url: &str) -> usize {
    let attributes = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    attributes[&QueueAttributeName::ApproximateNumberOfMessages]
        .parse()
        .unwrap()
}

/// Receives one message from `url` (raw delivery: the body is the envelope itself).
async fn receive_one(sqs: &aws_sdk_sqs::Client, url: &str) -> aws_sdk_sqs::types::Message {
    common::eventually("a message", Duration::from_secs(10), || async {
        let output = sqs
            .receive_message()
            .queue_url(url)
            .message_attribute_names("All")
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        output.messages.unwrap_or_default().into_iter().next()
    })
    .await
}

#[tokio::test]
async fn events_reach_only_the_subscribers_whose_filter_matches() {
    let root = repo::repo_root().unwrap();
    let template = Template::load(&root).unwrap();
    let resources = Resources::new(&template, &common::emulator().endpoint());
    let config = common::sdk_config().await;
    provision_all(&template, &resources, &config, &root)
        .await
        .unwrap();
    let sns = aws_sdk_sns::Client::new(&config);
    let sqs = aws_sdk_sqs::Client::new(&config);
    let topic = resources.topic_arn("EventsTopic").unwrap();
    let notifications = &resources.queue("NotificationsQueue").unwrap().url;
    let payments = &resources.queue("PaymentEventsQueue").unwrap().url;

    let confirmed = publish(&sns, topic, "order.confirmed").await;
    let message = receive_one(&sqs, notifications).await;
    assert_eq!(message.body(), Some(confirmed.as_str()));
    let attribute = &message.message_attributes().unwrap()["event_type"];
    assert_eq!(attribute.string_value(), Some("order.confirmed"));
    // SNS delivers to every subscriber as part of the publish: the other queue is settled.
    assert_eq!(depth(&sqs, payments).await, 0);

    let succeeded = publish(&sns, topic, "payment.succeeded").await;
    let message = receive_one(&sqs, payments).await;
    assert_eq!(message.body(), Some(succeeded.as_str()));
    assert_eq!(depth(&sqs, notifications).await, 0);

    publish(&sns, topic, "something.else").await;
    assert_eq!(depth(&sqs, notifications).await, 0);
    assert_eq!(depth(&sqs, payments).await, 0);
}
