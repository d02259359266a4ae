//! The idempotency table's payment records: provider webhook events (each recorded once) and
//! payment anomalies. Every record expires through the table's TTL on `expires_at`.

use super::{item_error, store_error};
use crate::kernel::{EventEnvelope, InfraError, Timestamp};
use crate::ordering::ports::{AnomalyEntry, PaymentAnomalies, PaymentAnomaly};
use crate::payments::ports::{LedgerEntry, WebhookLedger};
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use serde::{Deserialize, Serialize};

/// Anomalies are kept a year for support and accounting.
const ANOMALY_TTL: time::Duration = time::Duration::days(365);

#[derive(Clone)]
pub struct DynamoLedger {
    client: Client,
    table: String,
}

#[derive(Serialize, Deserialize)]
struct WebhookItem {
    pk: String,
    envelope: EventEnvelope,
    published: bool,
    expires_at: i64,
}

#[derive(Serialize)]
struct AnomalyItem<'a> {
    pk: String,
    #[serde(flatten)]
    anomaly: &'a PaymentAnomaly,
    refund_published: bool,
    expires_at: i64,
}

fn webhook_pk(id: &str) -> String {
    format!("WEBHOOK#{id}")
}

fn anomaly_pk(event_id: &str) -> String {
    format!("ANOMALY#{event_id}")
}

impl DynamoLedger {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    async fn read(&self, pk: String) -> Result<Option<WebhookItem>, InfraError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk))
            .consistent_read(true)
            .send()
            .await
            .map_err(store_error)?;
        out.item
            .map(|i| serde_dynamo::from_item(i).map_err(item_error))
            .transpose()
    }
}

#[async_trait]
impl WebhookLedger for DynamoLedger {
    async fn record(
        &self,
        provider_event_id: &str,
        envelope: &EventEnvelope,
        expires_at: Timestamp,
    ) -> Result<LedgerEntry, InfraError> {
        let pk = webhook_pk(provider_event_id);
        let item = serde_dynamo::to_item(WebhookItem {
            pk: pk.clone(),
            envelope: envelope.clone(),
            published: false,
            expires_at: expires_at.unix_timestamp(),
        })
        .map_err(item_error)?;
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let error = match result {
            Ok(_) => return Ok(LedgerEntry::New),
            Err(error) => error,
        };
        let Some(PutItemError::ConditionalCheckFailedException(seen)) = error.as_service_error()
        else {
            return Err(store_error(error));
        };
        // The failed condition returns the record; older emulators may not, so read it then.
        let existing = match seen.item() {
            Some(item) => Some(serde_dynamo::from_item(item.clone()).map_err(item_error)?),
            None => self.read(pk).await?,
        };
        let existing: WebhookItem =
            existing.ok_or_else(|| InfraError::new("webhook record vanished; retry"))?;
        Ok(LedgerEntry::Seen {
            envelope: Box::new(existing.envelope),
            published: existing.published,
        })
    }

    async fn mark_published(&self, provider_event_id: &str) -> Result<(), InfraError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(webhook_pk(provider_event_id)))
            .update_expression("SET published = :yes")
            .expression_attribute_values(":yes", AttributeValue::Bool(true))
            .send()
            .await
            .map_err(store_error)?;
        Ok(())
    }
}

#[async_trait]
impl PaymentAnomalies for DynamoLedger {
    async fn record(&self, anomaly: &PaymentAnomaly) -> Result<AnomalyEntry, InfraError> {
        let item = serde_dynamo::to_item(AnomalyItem {
            pk: anomaly_pk(&anomaly.event_id),
            anomaly,
            refund_published: false,
            expires_at: (anomaly.recorded_at + ANOMALY_TTL).unix_timestamp(),
        })
        .map_err(item_error)?;
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let error = match result {
            Ok(_) => return Ok(AnomalyEntry::New),
            Err(error) => error,
        };
        // Transition by an earlier delivery: keep the first, and say whether its refund went out.
        let Some(PutItemError::ConditionalCheckFailedException(seen)) = error.as_service_error()
        else {
            return Err(store_error(error));
        };
        let first = seen.item();
        let refund_published = first
            .and_then(|item| item.get("refund_published"))
            .is_some_and(|v| matches!(v, AttributeValue::Bool(true)));
        // Unreadable (an emulator that returns no old item): as old as this delivery.
        let recorded_at = first
            .and_then(|item| item.get("recorded_at"))
            .and_then(|v| v.as_s().ok())
            .and_then(|t| Timestamp::parse(t, &time::format_description::well_known::Rfc3339).ok())
            .unwrap_or(anomaly.recorded_at);
        Ok(AnomalyEntry::Seen {
            refund_published,
            recorded_at,
        })
    }

    async fn mark_refund_published(&self, event_id: &str) -> Result<(), InfraError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(anomaly_pk(event_id)))
            .update_expression("SET refund_published = :yes")
            .expression_attribute_values(":yes", AttributeValue::Bool(true))
            .send()
            .await
            .map_err(store_error)?;
        Ok(())
    }
}
