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
    ScalarAttributeType, StreamSpecification, StreamViewType, TableDescription, TableStatus,
    TimeToLiveSpecification, TimeToLiveStatus,
};
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::{Value, json};

use crate::aws::aws_error;
use crate::resources::Resources;
use crate::template::{Expr, KeyElement, Queue, SecondaryIndex, Subscription, Table, Template};

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

    /// `what` was `created`, `updated (changes)` or already as the template says.
    fn note(&mut self, what: String, created: bool, changes: &[impl AsRef<str>]) {
        if created {
            self.changes.push(format!("created {what}"));
        } else if changes.is_empty() {
            self.unchanged.push(what);
        } else {
            let changes: Vec<&str> = changes.iter().map(AsRef::as_ref).collect();
            self.changes
                .push(format!("updated {what} ({})", changes.join(", ")));
        }
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
    for (name, table) in &template.tables {
        let (created, changes) = provision_table(&dynamodb, name, table)
            .await
            .with_context(|| format!("cannot provision table {name}"))?;
        report.note(format!("table {name}"), created, &changes);
    }

    let sqs = aws_sdk_sqs::Client::new(config);
    let policies = queue_policies(template, resources)?;
    // A redrive policy names its DLQ, which must exist first.
    let mut queues: Vec<_> = template.queues.iter().collect();
    queues.sort_by_key(|(_, q)| q.redrive_policy.is_some());
    for (name, queue) in queues {
        let attributes = queue_attributes(name, queue, resources, policies.get(name))?;
        provision_queue(&sqs, name, attributes, &mut report)
            .await
            .with_context(|| format!("cannot provision queue {name}"))?;
    }

    let sns = aws_sdk_sns::Client::new(config);
    for topic in &template.topics {
        provision_topic(&sns, topic, resources, &mut report)
            .await
            .with_context(|| format!("cannot create topic {topic}"))?;
    }
    for (id, subscription) in &template.subscriptions {
        provision_subscription(&sns, id, subscription, resources, &mut report)
            .await
            .with_context(|| format!("cannot provision subscription {id}"))?;
    }
    Ok(report)
}

/// A queue's attributes as the template sets them; the policy lets its topics send to it.
fn queue_attributes(
    name: &str,
    queue: &Queue,
    resources: &Resources,
    policy: Option<&Value>,
) -> Result<BTreeMap<QueueAttributeName, String>> {
    let resolve = |expr: &Expr, property: &str| {
        resources
            .resolve(expr)
            .map_err(|e| anyhow!("{name}: {property}: {e}"))
    };
    let mut attributes = BTreeMap::new();
    if let Some(seconds) = &queue.visibility_timeout {
        let seconds = resolve(seconds, "VisibilityTimeout")?;
        attributes.insert(QueueAttributeName::VisibilityTimeout, seconds);
    }
    if let Some(seconds) = &queue.message_retention_period {
        let seconds = resolve(seconds, "MessageRetentionPeriod")?;
        attributes.insert(QueueAttributeName::MessageRetentionPeriod, seconds);
    }
    if let Some(redrive) = &queue.redrive_policy {
        let target = resolve(&redrive.dead_letter_target_arn, "RedrivePolicy")?;
        let policy =
            json!({"deadLetterTargetArn": target, "maxReceiveCount": redrive.max_receive_count});
        attributes.insert(QueueAttributeName::RedrivePolicy, policy.to_string());
    }
    if let Some(policy) = policy {
        attributes.insert(QueueAttributeName::Policy, policy.to_string());
    }
    Ok(attributes)
}

async fn provision_topic(
    sns: &aws_sdk_sns::Client,
    topic: &str,
    resources: &Resources,
    report: &mut ProvisionReport,
) -> Result<()> {
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
        .map_err(aws_error)?;
    report.note(format!("topic {topic}"), !existing, &[] as &[&str]);
    Ok(())
}

fn key_schema(elements: &[KeyElement]) -> Result<Vec<KeySchemaElement>> {
    elements
        .iter()
        .map(|e| {
            Ok(KeySchemaElement::builder()
                .attribute_name(&e.attribute_name)
                .key_type(KeyType::from(e.key_type.as_str()))
                .build()?)
        })
        .collect()
}

fn projection(index: &SecondaryIndex) -> Projection {
    let projection = &index.projection;
    let kind = projection.projection_type.as_deref().unwrap_or("ALL");
    Projection::builder()
        .projection_type(ProjectionType::from(kind))
        .set_non_key_attributes(
            (!projection.non_key_attributes.is_empty())
                .then(|| projection.non_key_attributes.clone()),
        )
        .build()
}

fn attribute_definitions(table: &Table) -> Result<Vec<AttributeDefinition>> {
    table
        .attribute_definitions
        .iter()
        .map(|a| {
            Ok(AttributeDefinition::builder()
                .attribute_name(&a.attribute_name)
                .attribute_type(ScalarAttributeType::from(a.attribute_type.as_str()))
                .build()?)
        })
        .collect()
}

/// Creates the table, or brings an existing one to the template: whether it was created,
/// and what was changed.
async fn provision_table(
    client: &aws_sdk_dynamodb::Client,
    name: &str,
    table: &Table,
) -> Result<(bool, Vec<String>)> {
    let described = match client.describe_table().table_name(name).send().await {
        Ok(output) => output.table,
        Err(SdkError::ServiceError(e)) if e.err().is_resource_not_found_exception() => None,
        Err(e) => return Err(aws_error(e)),
    };
    let Some(existing) = described else {
        create_table(client, name, table).await?;
        update_time_to_live(client, name, table).await?;
        return Ok((true, Vec::new()));
    };
    let mut changes = add_indexes(client, name, table, &existing).await?;
    changes.extend(update_stream(client, name, table).await?);
    changes.extend(update_time_to_live(client, name, table).await?);
    Ok((false, changes))
}

async fn create_table(client: &aws_sdk_dynamodb::Client, name: &str, table: &Table) -> Result<()> {
    let indexes = table
        .global_secondary_indexes
        .iter()
        .map(|index| {
            Ok(GlobalSecondaryIndex::builder()
                .index_name(&index.index_name)
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
    wait_until_active(client, name).await
}

/// An existing table must have the template's key; a GSI added to the template since is
/// added to the table.
async fn add_indexes(
    client: &aws_sdk_dynamodb::Client,
    name: &str,
    table: &Table,
    existing: &TableDescription,
) -> Result<Vec<String>> {
    let key = |k: &KeySchemaElement| {
        (
            k.attribute_name().to_owned(),
            k.key_type().as_str().to_owned(),
        )
    };
    let existing_keys: Vec<(String, String)> = existing.key_schema().iter().map(key).collect();
    let wanted_keys: Vec<(String, String)> =
        key_schema(&table.key_schema)?.iter().map(key).collect();
    if existing_keys != wanted_keys {
        bail!(
            "it exists with key {existing_keys:?} but template.yaml says {wanted_keys:?}; \
             restart the emulator to start from scratch"
        );
    }
    let present: Vec<&str> = existing
        .global_secondary_indexes()
        .iter()
        .filter_map(|i| i.index_name())
        .collect();
    let mut changes = Vec::new();
    for index in &table.global_secondary_indexes {
        if present.contains(&index.index_name.as_str()) {
            continue;
        }
        let create = CreateGlobalSecondaryIndexAction::builder()
            .index_name(&index.index_name)
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
        changes.push(format!("index {}", index.index_name));
        wait_until_active(client, name).await?;
    }
    Ok(changes)
}

async fn update_stream(
    client: &aws_sdk_dynamodb::Client,
    name: &str,
    table: &Table,
) -> Result<Option<String>> {
    let Some(wanted) = stream_specification(table)? else {
        return Ok(None);
    };
    let described = described_table(client, name).await?;
    let current = described.as_ref().and_then(|t| t.stream_specification());
    if current
        .is_some_and(|c| c.stream_enabled() && c.stream_view_type() == wanted.stream_view_type())
    {
        return Ok(None);
    }
    client
        .update_table()
        .table_name(name)
        .stream_specification(wanted)
        .send()
        .await
        .map_err(aws_error)?;
    Ok(Some("stream".to_owned()))
}

async fn update_time_to_live(
    client: &aws_sdk_dynamodb::Client,
    name: &str,
    table: &Table,
) -> Result<Option<String>> {
    let Some(ttl) = &table.time_to_live_specification else {
        return Ok(None);
    };
    let wanted = ttl.enabled.unwrap_or(false);
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
    if enabled == wanted && (!wanted || attribute == Some(ttl.attribute_name.as_str())) {
        return Ok(None);
    }
    let specification = TimeToLiveSpecification::builder()
        .attribute_name(&ttl.attribute_name)
        .enabled(wanted)
        .build()?;
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(specification)
        .send()
        .await
        .map_err(aws_error)?;
    Ok(Some("time to live".to_owned()))
}

fn stream_specification(table: &Table) -> Result<Option<StreamSpecification>> {
    table
        .stream_specification
        .as_ref()
        .map(|spec| {
            Ok(StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::from(spec.stream_view_type.as_str()))
                .build()?)
        })
        .transpose()
}

async fn described_table(
    client: &aws_sdk_dynamodb::Client,
    name: &str,
) -> Result<Option<TableDescription>> {
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
        report.note(format!("queue {name}"), true, &[] as &[&str]);
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
    let mut names: Vec<String> = differing.keys().map(|n| n.as_str().to_owned()).collect();
    names.sort_unstable();
    if !differing.is_empty() {
        client
            .set_queue_attributes()
            .queue_url(&url)
            .set_attributes(Some(differing))
            .send()
            .await
            .map_err(aws_error)?;
    }
    report.note(format!("queue {name}"), false, &names);
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
    let sqs = template
        .subscriptions
        .iter()
        .filter(|(_, s)| s.protocol == "sqs");
    for (id, subscription) in sqs {
        let (topic_arn, queue_arn) = ends(id, subscription, resources)?;
        let queue = resources
            .queue_by_arn(&queue_arn)
            .ok_or_else(|| anyhow!("{id}: no queue has ARN {queue_arn}"))?;
        statements
            .entry(queue.name.clone())
            .or_default()
            .push(json!({
                "Sid": format!("Allow{id}"),
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

/// A subscription's topic and endpoint ARNs.
fn ends(id: &str, subscription: &Subscription, resources: &Resources) -> Result<(String, String)> {
    let resolve = |expr: &Expr, property: &str| {
        resources
            .resolve(expr)
            .map_err(|e| anyhow!("{id}: {property}: {e}"))
    };
    Ok((
        resolve(&subscription.topic_arn, "TopicArn")?,
        resolve(&subscription.endpoint, "Endpoint")?,
    ))
}

/// The attributes the template sets on a subscription.
fn subscription_attributes(subscription: &Subscription) -> BTreeMap<&'static str, String> {
    let raw = subscription.raw_message_delivery.unwrap_or(false);
    let mut wanted = BTreeMap::from([("RawMessageDelivery", raw.to_string())]);
    if let Some(policy) = &subscription.filter_policy {
        wanted.insert("FilterPolicy", policy.to_string());
        let scope = subscription.filter_policy_scope.as_deref();
        wanted.insert(
            "FilterPolicyScope",
            scope.unwrap_or("MessageAttributes").to_owned(),
        );
    }
    wanted
}

async fn provision_subscription(
    client: &aws_sdk_sns::Client,
    id: &str,
    subscription: &Subscription,
    resources: &Resources,
    report: &mut ProvisionReport,
) -> Result<()> {
    if subscription.protocol != "sqs" {
        report.warnings.push(format!(
            "{id}: {} subscriptions are not emulated locally",
            subscription.protocol
        ));
        return Ok(());
    }
    let (topic_arn, endpoint) = ends(id, subscription, resources)?;
    let wanted = subscription_attributes(subscription);
    let Some(arn) = find_subscription(client, &topic_arn, &endpoint).await? else {
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
        report.note(format!("subscription {id}"), true, &[] as &[&str]);
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
    report.note(format!("subscription {id}"), false, &updated);
    Ok(())
}

/// The ARN of the topic's SQS subscription for `endpoint`, if it has one.
async fn find_subscription(
    client: &aws_sdk_sns::Client,
    topic_arn: &str,
    endpoint: &str,
) -> Result<Option<String>> {
    let mut next_token = None;
    loop {
        let page = client
            .list_subscriptions_by_topic()
            .topic_arn(topic_arn)
            .set_next_token(next_token)
            .send()
            .await
            .map_err(aws_error)?;
        let found = page
            .subscriptions()
            .iter()
            .find(|s| s.protocol() == Some("sqs") && s.endpoint() == Some(endpoint))
            .and_then(|s| s.subscription_arn().map(str::to_owned));
        next_token = page.next_token;
        if found.is_some() || next_token.is_none() {
            return Ok(found);
        }
    }
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
