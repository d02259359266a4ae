//! `cargo dev redrive`: a dead-letter queue's messages back to the queue they came from, as
//! SQS's "Start DLQ redrive" (`StartMessageMoveTask`) does in the cloud. The template says
//! which queue each DLQ serves (its `RedrivePolicy.deadLetterTargetArn`).

use anyhow::{Context, Result, anyhow, bail};
use aws_sdk_sqs::Client;

use crate::resources::{QueueRef, Resources};
use crate::template::Template;

/// A dead-letter queue and the queue whose failures it keeps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redrive {
    pub dead_letters: QueueRef,
    pub source: QueueRef,
}

/// Every DLQ of the template with its source, or only `dlq` (a logical id) if given.
pub fn redrives(
    template: &Template,
    resources: &Resources,
    dlq: Option<&str>,
) -> Result<Vec<Redrive>> {
    let mut found = Vec::new();
    for (id, queue) in &template.queues {
        let Some(policy) = &queue.redrive_policy else {
            continue;
        };
        let target = resources
            .resolve(&policy.dead_letter_target_arn)
            .map_err(|e| anyhow!("{}: deadLetterTargetArn: {e}", id))?;
        let dead_letters = resources
            .queue_by_arn(&target)
            .with_context(|| format!("{id}: no queue has ARN {target}"))?;
        let source = resources
            .queue(id)
            .with_context(|| format!("{id} is not provisioned"))?;
        if dlq.is_none_or(|wanted| wanted == dead_letters.name) {
            found.push(Redrive {
                dead_letters: dead_letters.clone(),
                source: source.clone(),
            });
        }
    }
    if let (Some(wanted), true) = (dlq, found.is_empty()) {
        bail!("{wanted} is no queue's dead-letter queue in template.yaml");
    }
    Ok(found)
}

/// Moves every message of `redrive.dead_letters` back to `redrive.source`, body and message
/// attributes unchanged, each deleted from the DLQ only once the source has it. Returns how
/// many moved.
pub async fn move_back(sqs: &Client, redrive: &Redrive) -> Result<usize> {
    let mut moved = 0;
    loop {
        let received = sqs
            .receive_message()
            .queue_url(&redrive.dead_letters.url)
            .max_number_of_messages(10)
            .message_attribute_names("All")
            .visibility_timeout(30)
            .send()
            .await
            .with_context(|| format!("receiving from {}", redrive.dead_letters.name))?;
        if received.messages().is_empty() {
            return Ok(moved);
        }
        for message in received.messages() {
            sqs.send_message()
                .queue_url(&redrive.source.url)
                .set_message_body(message.body().map(str::to_owned))
                .set_message_attributes(message.message_attributes().cloned())
                .send()
                .await
                .with_context(|| format!("sending to {}", redrive.source.name))?;
            sqs.delete_message()
                .queue_url(&redrive.dead_letters.url)
                .set_receipt_handle(message.receipt_handle().map(str::to_owned))
                .send()
                .await
                .with_context(|| format!("deleting from {}", redrive.dead_letters.name))?;
            moved += 1;
        }
    }
}
