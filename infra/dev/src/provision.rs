//! Creating the template's tables, queues, topics and subscriptions in the emulator.
//!
//! Idempotent: what exists and matches the template is left alone, so running it twice
//! changes nothing, and the report says what was created or updated.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use aws_config::SdkConfig;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, CreateGlobalSecondaryIndexAction, GlobalSecondaryIndex,
    GlobalSecondaryIndexUpdate, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, StreamSpecification, StreamViewType, TableStatus, TimeToLiveSpecification,
    TimeToLiveStatus,
};
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::{Value, json};

use crate::aws::aws_error;
use crate::resources::{ResolveError, Resources};
use crate::template::{KeyElement, SecondaryIndex, Subscription, Table, Template};

/// What provisioning did.
#[derive(Clone, Debug, Default)]
pub struct ProvisionReport {
    /// `created table OrdersTable`, `updated queue OrdersQueue (VisibilityTimeout)`, ...
    pub changes: Vec<String>,
    /// Resources that were already as the template says.
    pub unchanged: Vec<String>,
    pub warnings: Vec<String>,
    /// How many catalog products were loaded, when the caller loaded the catalog.
    pub catalog_products: Option<usize>,
}

impl ProvisionReport {
    pub fn changed_anything(&self) -> bool {
        !self.changes.is_empty()
    }
}

/// Creates or updates every emulated resource of `template` in the emulator.
pub async fn provision(
    template: &Template,
    resources: &Resources,
    config: &SdkConfig,
) -> Result<ProvisionReport> {
    let mut report = ProvisionReport::default();
    let dynamodb = aws_sdk_dynamodb::Client::new(config);
    for table in &template.tables {
        provision_table(&dynamodb, table, &mut report)
            .await
            .with_context(|| format!("cannot provision table {}", table.logical_id))?;
    }

    let sqs = aws_sdk_sqs::Client::new(config);
    let policies = queue_policies(template, resources)?;
    // A redrive policy names its DLQ, which must exist first.
    let mut queues: Vec<_> = template.queues.iter().collect();
    queues.sort_by_key(|q| q.redrive_policy.is_some());
    for queue in queues {
        let mut attributes = BTreeMap::new();
        if let Some(seconds) = queue.visibility_timeout {
            attributes.insert(QueueAttributeName::VisibilityTimeout, seconds.to_string());
        }
        if let Some(seconds) = queue.message_retention_period {
            attributes.insert(
                QueueAttributeName::MessageRetentionPeriod,
                seconds.to_string(),
            );
        }
        if let Some(redrive) = &queue.redrive_policy {
            let target = resources
                .resolve(&redrive.dead_letter_target)
                .map_err(|e| anyhow!("{}: RedrivePolicy: {e}", queue.logical_id))?;
            let policy = json!({"deadLetterTargetArn": target, "maxReceiveCount": redrive.max_receive_count});
            attributes.insert(QueueAttributeName::RedrivePolicy, policy.to_string());
        }
        if let Some(policy) = policies.get(&queue.logical_id) {
            attributes.insert(QueueAttributeName::Policy, policy.to_string());
        }
        provision_queue(&sqs, &queue.logical_id, attributes, &mut report)
            .await
            .with_context(|| format!("cannot provision queue {}", queue.logical_id))?;
    }

    let sns = aws_sdk_sns::Client::new(config);
    for topic in &template.topics {
        let existing = sns
            .get_topic_attributes()
            .topic_arn(resources.topic_arn(topic).unwrap_or_default())
            .send()
            .await
            .is_ok();
        sns.create_topic()
            .name(topic)
            .send()
            .await
            .map_err(aws_error)
            .with_context(|| format!("cannot create topic {topic}"))?;
        note(&mut report, existing, format!("topic {topic}"));
    }
    for subscription in &template.subscriptions {
        provision_subscription(&sns, subscription, resources, &mut report)
            .await
            .with_context(|| {
                format!("cannot provision subscription {}", subscription.logical_id)
            })?;
    }
    Ok(report)
}

fn note(report: &mut ProvisionReport, existed: bool, what: String) {
    if existed {
        report.unchanged.push(what);
    } else {
        report.changes.push(format!("created {what}"));
    }
}

fn key_schema(elements: &[KeyElement]) -> Result<Vec<KeySchemaElement>> {
    elements
        .iter()
        .map(|e| {
            Ok(KeySchemaElement::builder()
                .attribute_name(&e.attribute)
                .key_type(KeyType::from(e.key_type.as_str()))
                .build()?)
        })
        .collect()
}

fn projection(index: &SecondaryIndex) -> Projection {
    Projection::builder()
        .projection_type(ProjectionType::from(index.projection_type.as_str()))
        .set_non_key_attributes(
            (!index.non_key_attributes.is_empty()).then(|| index.non_key_attributes.clone()),
        )
        .build()
}

fn attribute_definitions(table: &Table) -> Result<Vec<AttributeDefinition>> {
    table
        .attributes
        .iter()
        .map(|(name, kind)| {
            Ok(AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::from(kind.as_str()))
                .build()?)
        })
        .collect()
}

async fn provision_table(
    client: &aws_sdk_dynamodb::Client,
    table: &Table,
    report: &mut ProvisionReport,
) -> Result<()> {
    let name = &table.logical_id;
    let described = match client.describe_table().table_name(name).send().await {
        Ok(output) => output.table,
        Err(SdkError::ServiceError(e)) if e.err().is_resource_not_found_exception() => None,
        Err(e) => return Err(aws_error(e)),
    };
    let mut changes = Vec::new();
    match described {
        None => {
            let indexes = table
                .global_secondary_indexes
                .iter()
                .map(|index| {
                    Ok(GlobalSecondaryIndex::builder()
                        .index_name(&index.name)
                        .set_key_schema(Some(key_schema(&index.key_schema)?))
                        .projection(projection(index))
                        .build()?)
                })
                .collect::<Result<Vec<_>>>()?;
            client
                .create_table()
                .table_name(name)
                .billing_mode(BillingMode::PayPerRequest)
                .set_attribute_definitions(Some(attribute_definitions(table)?))
                .set_key_schema(Some(key_schema(&table.key_schema)?))
                .set_global_secondary_indexes((!indexes.is_empty()).then_some(indexes))
                .set_stream_specification(stream_specification(table)?)
                .send()
                .await
                .map_err(aws_error)?;
            report.changes.push(format!("created table {name}"));
            wait_until_active(client, name).await?;
        }
        Some(existing) => {
            let existing_keys: Vec<(String, String)> = existing
                .key_schema()
                .iter()
                .map(|k| {
                    (
                        k.attribute_name().to_owned(),
                        k.key_type().as_str().to_owned(),
                    )
                })
                .collect();
            let wanted_keys: Vec<(String, String)> = table
                .key_schema
                .iter()
                .map(|k| (k.attribute.clone(), k.key_type.clone()))
                .collect();
            if existing_keys != wanted_keys {
                bail!(
                    "it exists with key {existing_keys:?} but template.yaml says {wanted_keys:?}; \
                     restart the emulator to start from scratch"
                );
            }
            // A GSI added to the template since: add it to the table.
            let present: Vec<&str> = existing
                .global_secondary_indexes()
                .iter()
                .filter_map(|i| i.index_name())
                .collect();
            for index in &table.global_secondary_indexes {
                if present.contains(&index.name.as_str()) {
                    continue;
                }
                let create = CreateGlobalSecondaryIndexAction::builder()
                    .index_name(&index.name)
                    .set_key_schema(Some(key_schema(&index.key_schema)?))
                    .projection(projection(index))
                    .build()?;
                client
                    .update_table()
                    .table_name(name)
                    .set_attribute_definitions(Some(attribute_definitions(table)?))
                    .global_secondary_index_updates(
                        GlobalSecondaryIndexUpdate::builder().create(create).build(),
                    )
                    .send()
                    .await
                    .map_err(aws_error)?;
                changes.push(format!("index {}", index.name));
                wait_until_active(client, name).await?;
            }
        }
    }

    if let Some(wanted) = stream_specification(table)? {
        let described = described_table(client, name).await?;
        let current = described.as_ref().and_then(|t| t.stream_specification());
        let same = current.is_some_and(|c| {
            c.stream_enabled() && c.stream_view_type() == wanted.stream_view_type()
        });
        if !same {
            client
                .update_table()
                .table_name(name)
                .stream_specification(wanted)
                .send()
                .await
                .map_err(aws_error)?;
            changes.push("stream".to_owned());
        }
    }

    if let Some(ttl) = &table.time_to_live {
        let current = client
            .describe_time_to_live()
            .table_name(name)
            .send()
            .await
            .map_err(aws_error)?
            .time_to_live_description;
        let enabled = current.as_ref().is_some_and(|d| {
            matches!(
                d.time_to_live_status(),
                Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
            )
        });
        let attribute = current.as_ref().and_then(|d| d.attribute_name());
        // DynamoDB refuses to "enable" TTL that is already on.
        if enabled != ttl.enabled || (ttl.enabled && attribute != Some(ttl.attribute.as_str())) {
            client
                .update_time_to_live()
                .table_name(name)
                .time_to_live_specification(
                    TimeToLiveSpecification::builder()
                        .attribute_name(&ttl.attribute)
                        .enabled(ttl.enabled)
                        .build()?,
                )
                .send()
                .await
                .map_err(aws_error)?;
            changes.push("time to live".to_owned());
        }
    }
    if report
        .changes
        .last()
        .is_some_and(|c| c == &format!("created table {name}"))
    {
        return Ok(());
    }
    if changes.is_empty() {
        report.unchanged.push(format!("table {name}"));
    } else {
        report
            .changes
            .push(format!("updated table {name} ({})", changes.join(", ")));
    }
    Ok(())
}

fn stream_specification(table: &Table) -> Result<Option<StreamSpecification>> {
    table
        .stream_view_type
        .as_deref()
        .map(|view| {
            Ok(StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::from(view))
                .build()?)
        })
        .transpose()
}

async fn described_table(
    client: &aws_sdk_dynamodb::Client,
    name: &str,
) -> Result<Option<aws_sdk_dynamodb::types::TableDescription>> {
    Ok(client
        .describe_table()
        .table_name(name)
        .send()
        .await
        .map_err(aws_error)?
        .table)
}

async fn wait_until_active(client: &aws_sdk_dynamodb::Client, name: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let table = described_table(client, name).await?;
        let table_active = table
            .as_ref()
            .is_some_and(|t| t.table_status() == Some(&TableStatus::Active));
        let indexes_active = table.as_ref().is_none_or(|t| {
            t.global_secondary_indexes().iter().all(|i| {
                i.index_status()
                    .is_none_or(|s| s == &aws_sdk_dynamodb::types::IndexStatus::Active)
            })
        });
        if table_active && indexes_active {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("table {name} did not become ACTIVE within a minute");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn provision_queue(
    client: &aws_sdk_sqs::Client,
    name: &str,
    wanted: BTreeMap<QueueAttributeName, String>,
    report: &mut ProvisionReport,
) -> Result<()> {
    let url = match client.get_queue_url().queue_name(name).send().await {
        Ok(output) => output.queue_url,
        Err(SdkError::ServiceError(e)) if e.err().is_queue_does_not_exist() => None,
        Err(e) => return Err(aws_error(e)),
    };
    let Some(url) = url else {
        client
            .create_queue()
            .queue_name(name)
            .set_attributes(Some(wanted.into_iter().collect()))
            .send()
            .await
            .map_err(aws_error)?;
        report.changes.push(format!("created queue {name}"));
        return Ok(());
    };
    let current = client
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .map_err(aws_error)?
        .attributes
        .unwrap_or_default();
    let differing: HashMap<QueueAttributeName, String> = wanted
        .into_iter()
        .filter(|(name, value)| !same_value(current.get(name).map(String::as_str), value))
        .collect();
    if differing.is_empty() {
        report.unchanged.push(format!("queue {name}"));
        return Ok(());
    }
    let mut names: Vec<&str> = differing.keys().map(QueueAttributeName::as_str).collect();
    names.sort_unstable();
    let names = names.join(", ");
    client
        .set_queue_attributes()
        .queue_url(&url)
        .set_attributes(Some(differing))
        .send()
        .await
        .map_err(aws_error)?;
    report
        .changes
        .push(format!("updated queue {name} ({names})"));
    Ok(())
}

/// Attribute values compare as JSON when they are JSON (policies come back reformatted,
/// numbers as strings), else as text.
fn same_value(current: Option<&str>, wanted: &str) -> bool {
    let Some(current) = current else {
        return false;
    };
    if current == wanted {
        return true;
    }
    match (
        serde_json::from_str::<Value>(current),
        serde_json::from_str::<Value>(wanted),
    ) {
        (Ok(a), Ok(b)) if a.is_object() || a.is_array() => normalize(&a) == normalize(&b),
        _ => current.eq_ignore_ascii_case(wanted),
    }
}

fn normalize(value: &Value) -> Value {
    match value {
        Value::Number(n) => Value::String(n.to_string()),
        Value::Array(items) => Value::Array(items.iter().map(normalize).collect()),
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, v)| (k.clone(), normalize(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Each subscribed queue accepts `sqs:SendMessage` from its topics, as in the cloud.
fn queue_policies(template: &Template, resources: &Resources) -> Result<HashMap<String, Value>> {
    let mut statements: HashMap<String, Vec<Value>> = HashMap::new();
    for subscription in template
        .subscriptions
        .iter()
        .filter(|s| s.protocol == "sqs")
    {
        let queue_arn = resolve(resources, subscription, &subscription.endpoint, "Endpoint")?;
        let topic_arn = resolve(resources, subscription, &subscription.topic, "TopicArn")?;
        let queue = resources
            .queue_by_arn(&queue_arn)
            .ok_or_else(|| anyhow!("{}: no queue has ARN {queue_arn}", subscription.logical_id))?;
        statements
            .entry(queue.name.clone())
            .or_default()
            .push(json!({
                "Sid": format!("Allow{}", subscription.logical_id),
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": topic_arn}},
            }));
    }
    Ok(statements
        .into_iter()
        .map(|(queue, statements)| {
            (
                queue,
                json!({"Version": "2012-10-17", "Statement": statements}),
            )
        })
        .collect())
}

fn resolve(
    resources: &Resources,
    subscription: &Subscription,
    expr: &crate::template::Expr,
    property: &str,
) -> Result<String> {
    resources
        .resolve(expr)
        .map_err(|e: ResolveError| anyhow!("{}: {property}: {e}", subscription.logical_id))
}

async fn provision_subscription(
    client: &aws_sdk_sns::Client,
    subscription: &Subscription,
    resources: &Resources,
    report: &mut ProvisionReport,
) -> Result<()> {
    let id = &subscription.logical_id;
    if subscription.protocol != "sqs" {
        report.warnings.push(format!(
            "{id}: {} subscriptions are not emulated locally",
            subscription.protocol
        ));
        return Ok(());
    }
    let topic_arn = resolve(resources, subscription, &subscription.topic, "TopicArn")?;
    let endpoint = resolve(resources, subscription, &subscription.endpoint, "Endpoint")?;
    let mut wanted = BTreeMap::new();
    wanted.insert(
        "RawMessageDelivery",
        subscription.raw_message_delivery.to_string(),
    );
    if let Some(policy) = &subscription.filter_policy {
        wanted.insert("FilterPolicy", policy.to_string());
        wanted.insert(
            "FilterPolicyScope",
            subscription
                .filter_policy_scope
                .clone()
                .unwrap_or_else(|| "MessageAttributes".to_owned()),
        );
    }

    let mut existing = None;
    let mut next_token = None;
    loop {
        let page = client
            .list_subscriptions_by_topic()
            .topic_arn(&topic_arn)
            .set_next_token(next_token)
            .send()
            .await
            .map_err(aws_error)?;
        existing = existing.or_else(|| {
            page.subscriptions()
                .iter()
                .find(|s| s.protocol() == Some("sqs") && s.endpoint() == Some(endpoint.as_str()))
                .and_then(|s| s.subscription_arn().map(str::to_owned))
        });
        next_token = page.next_token;
        if existing.is_some() || next_token.is_none() {
            break;
        }
    }

    let Some(arn) = existing else {
        client
            .subscribe()
            .topic_arn(&topic_arn)
            .protocol("sqs")
            .endpoint(&endpoint)
            .return_subscription_arn(true)
            .set_attributes(Some(
                wanted.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            ))
            .send()
            .await
            .map_err(aws_error)?;
        report.changes.push(format!("created subscription {id}"));
        return Ok(());
    };
    let current = client
        .get_subscription_attributes()
        .subscription_arn(&arn)
        .send()
        .await
        .map_err(aws_error)?
        .attributes
        .unwrap_or_default();
    let mut updated = Vec::new();
    for (name, value) in wanted {
        if same_value(current.get(name).map(String::as_str), &value) {
            continue;
        }
        client
            .set_subscription_attributes()
            .subscription_arn(&arn)
            .attribute_name(name)
            .attribute_value(&value)
            .send()
            .await
            .map_err(aws_error)?;
        updated.push(name);
    }
    if updated.is_empty() {
        report.unchanged.push(format!("subscription {id}"));
    } else {
        report.changes.push(format!(
            "updated subscription {id} ({})",
            updated.join(", ")
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_values_compare_as_json() {
        assert!(same_value(Some("180"), "180"));
        assert!(!same_value(Some("60"), "180"));
        assert!(!same_value(None, "180"));
        assert!(same_value(Some("True"), "true"));
        assert!(same_value(
            Some(r#"{"maxReceiveCount": "3", "deadLetterTargetArn": "arn:x"}"#),
            r#"{"deadLetterTargetArn":"arn:x","maxReceiveCount":3}"#
        ));
        assert!(!same_value(
            Some(r#"{"maxReceiveCount": "5", "deadLetterTargetArn": "arn:x"}"#),
            r#"{"deadLetterTargetArn":"arn:x","maxReceiveCount":3}"#
        ));
    }

    #[test]
    fn subscribed_queues_accept_their_topic() {
        let template = Template::load(&crate::repo::repo_root().unwrap()).unwrap();
        let resources = Resources::new(&template, "http://127.0.0.1:5000");
        let policies = queue_policies(&template, &resources).unwrap();
        let policy = &policies["PaymentEventsQueue"];
        let statement = &policy["Statement"][0];
        assert_eq!(statement["Principal"]["Service"], "sns.amazonaws.com");
        assert_eq!(
            statement["Resource"],
            "arn:aws:sqs:us-east-1:123456789012:PaymentEventsQueue"
        );
        assert_eq!(
            statement["Condition"]["ArnEquals"]["aws:SourceArn"],
            "arn:aws:sns:us-east-1:123456789012:EventsTopic"
        );
        assert!(!policies.contains_key("OrdersQueue"));
    }
}
