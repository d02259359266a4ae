//! Physical names, URLs and ARNs of the template's resources in the local cloud, and the
//! resolution of `!Ref`, `!GetAtt` and `!Sub` against them.
//!
//! Locally a resource's physical name is its logical id (table `OrdersTable`, queue
//! `OrdersQueue`, topic `EventsTopic`), in moto's default account and `us-east-1`, so every
//! name is known before anything is provisioned.

use std::collections::BTreeMap;

use sam_template::substitute;

use crate::template::{Expr, Template};

/// moto's default account.
pub const ACCOUNT_ID: &str = "123456789012";
pub const REGION: &str = "us-east-1";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueRef {
    pub name: String,
    pub url: String,
    pub arn: String,
}

/// What each logical id is called in the local cloud.
#[derive(Clone, Debug)]
pub struct Resources {
    endpoint: String,
    tables: BTreeMap<String, String>,
    queues: BTreeMap<String, QueueRef>,
    topics: BTreeMap<String, String>,
    functions: BTreeMap<String, String>,
    parameters: BTreeMap<String, String>,
    kinds: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// Secrets are not emulated: functions get the local secret itself instead.
    #[error("{0} is a Secrets Manager secret, which the local cloud does not emulate")]
    Secret(String),
    #[error("{0}")]
    Unsupported(String),
}

impl Resources {
    /// Names the template's resources for the emulator at `endpoint`.
    pub fn new(template: &Template, endpoint: &str) -> Resources {
        let endpoint = endpoint.trim_end_matches('/').to_owned();
        let queues = template
            .queues
            .keys()
            .map(|name| {
                let queue = QueueRef {
                    url: format!("{endpoint}/{ACCOUNT_ID}/{name}"),
                    arn: format!("arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{name}"),
                    name: name.clone(),
                };
                (name.clone(), queue)
            })
            .collect();
        Resources {
            tables: template
                .tables
                .keys()
                .map(|t| (t.clone(), t.clone()))
                .collect(),
            topics: template
                .topics
                .iter()
                .map(|t| (t.clone(), format!("arn:aws:sns:{REGION}:{ACCOUNT_ID}:{t}")))
                .collect(),
            functions: template
                .functions
                .iter()
                .map(|f| (f.logical_id.clone(), f.logical_id.clone()))
                .collect(),
            queues,
            endpoint,
            parameters: template.parameters.clone(),
            kinds: template.kinds.clone(),
        }
    }

    /// The emulator's URL, `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// A table's name by logical id (`OrdersTable`).
    pub fn table(&self, logical_id: &str) -> Option<&str> {
        self.tables.get(logical_id).map(String::as_str)
    }

    pub fn table_arn(&self, logical_id: &str) -> Option<String> {
        let name = self.table(logical_id)?;
        Some(format!(
            "arn:aws:dynamodb:{REGION}:{ACCOUNT_ID}:table/{name}"
        ))
    }

    /// A queue's name, URL and ARN by logical id (`OrdersQueue`).
    pub fn queue(&self, logical_id: &str) -> Option<&QueueRef> {
        self.queues.get(logical_id)
    }

    /// The queue with this ARN.
    pub fn queue_by_arn(&self, arn: &str) -> Option<&QueueRef> {
        self.queues.values().find(|q| q.arn == arn)
    }

    /// A topic's ARN by logical id (`EventsTopic`).
    pub fn topic_arn(&self, logical_id: &str) -> Option<&str> {
        self.topics.get(logical_id).map(String::as_str)
    }

    /// A function's name by logical id; locally the logical id itself.
    pub fn function_name(&self, logical_id: &str) -> Option<&str> {
        self.functions.get(logical_id).map(String::as_str)
    }

    pub fn function_arn(&self, function_name: &str) -> String {
        format!("arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{function_name}")
    }

    /// Tables by logical id, name.
    pub fn tables(&self) -> impl Iterator<Item = (&str, &str)> {
        self.tables.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn queues(&self) -> impl Iterator<Item = (&str, &QueueRef)> {
        self.queues.iter().map(|(k, v)| (k.as_str(), v))
    }

    pub fn topics(&self) -> impl Iterator<Item = (&str, &str)> {
        self.topics.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The value of a template expression in the local cloud.
    pub fn resolve(&self, expr: &Expr) -> Result<String, ResolveError> {
        let unsupported = |what: &str| {
            Err(ResolveError::Unsupported(format!(
                "{what} is not evaluated by the local cloud"
            )))
        };
        match expr {
            Expr::Ref(target) => self.reference(target),
            Expr::GetAtt {
                resource,
                attribute,
            } => self.attribute(resource, attribute),
            Expr::Sub {
                template,
                variables,
            } => substitute(template, variables, |e| self.resolve(e)),
            Expr::If { .. } => unsupported("!If"),
            Expr::Join { .. } => unsupported("!Join"),
            Expr::Call { function, .. } => unsupported(&format!("!{function}")),
            Expr::List(_) | Expr::Map(_) | Expr::Null => unsupported("a list or mapping"),
            literal => Ok(literal.as_text().unwrap_or_default()),
        }
    }

    fn reference(&self, target: &str) -> Result<String, ResolveError> {
        let pseudo = match target {
            "AWS::Region" => Some(REGION),
            "AWS::AccountId" => Some(ACCOUNT_ID),
            "AWS::Partition" => Some("aws"),
            "AWS::URLSuffix" => Some("amazonaws.com"),
            "AWS::StackName" => Some("local"),
            _ => None,
        };
        if let Some(value) = pseudo {
            return Ok(value.to_owned());
        }
        if let Some(value) = self.parameters.get(target) {
            return Ok(value.clone());
        }
        if let Some(name) = self
            .tables
            .get(target)
            .or_else(|| self.functions.get(target))
        {
            return Ok(name.clone());
        }
        if let Some(queue) = self.queues.get(target) {
            return Ok(queue.url.clone());
        }
        if let Some(arn) = self.topics.get(target) {
            return Ok(arn.clone());
        }
        Err(self.not_emulated(target, "!Ref"))
    }

    fn attribute(&self, resource: &str, attribute: &str) -> Result<String, ResolveError> {
        let value = match attribute {
            "Arn" => self
                .table_arn(resource)
                .or_else(|| self.queue(resource).map(|q| q.arn.clone()))
                .or_else(|| self.function_name(resource).map(|f| self.function_arn(f))),
            "QueueName" => self.queue(resource).map(|q| q.name.clone()),
            "QueueUrl" => self.queue(resource).map(|q| q.url.clone()),
            "TopicArn" => self.topic_arn(resource).map(str::to_owned),
            "TopicName" => self
                .topics
                .contains_key(resource)
                .then(|| resource.to_owned()),
            _ => None,
        };
        value.ok_or_else(|| self.not_emulated(resource, &format!("!GetAtt {resource}.{attribute}")))
    }

    fn not_emulated(&self, target: &str, what: &str) -> ResolveError {
        match self.kinds.get(target).map(String::as_str) {
            Some("AWS::SecretsManager::Secret") => ResolveError::Secret(target.to_owned()),
            Some(kind) => ResolveError::Unsupported(format!(
                "{what}: {target} is a {kind}, which the local cloud does not emulate"
            )),
            None => ResolveError::Unsupported(format!("{what}: {target} is not defined")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resources() -> Resources {
        let template = Template::load(&crate::repo::repo_root().unwrap()).unwrap();
        Resources::new(&template, "http://127.0.0.1:5000/")
    }

    #[test]
    fn names_are_logical_ids() {
        let r = resources();
        assert_eq!(r.table("OrdersTable"), Some("OrdersTable"));
        let queue = r.queue("OrdersQueue").unwrap();
        assert_eq!(queue.url, "http://127.0.0.1:5000/123456789012/OrdersQueue");
        assert_eq!(queue.arn, "arn:aws:sqs:us-east-1:123456789012:OrdersQueue");
        assert_eq!(
            r.topic_arn("EventsTopic"),
            Some("arn:aws:sns:us-east-1:123456789012:EventsTopic")
        );
    }

    #[test]
    fn resolves_intrinsics() {
        let r = resources();
        assert_eq!(
            r.resolve(&Expr::Ref("OrdersQueue".into())).unwrap(),
            r.queue("OrdersQueue").unwrap().url
        );
        assert_eq!(r.resolve(&Expr::Ref("LogLevel".into())).unwrap(), "info");
        assert_eq!(
            r.resolve(&Expr::GetAtt {
                resource: "OrdersDLQ".into(),
                attribute: "Arn".into()
            })
            .unwrap(),
            "arn:aws:sqs:us-east-1:123456789012:OrdersDLQ"
        );
        let sub = Expr::Sub {
            template: "${ProductsTable.Arn}/index/by_category in ${AWS::Region} ${!Kept}".into(),
            variables: BTreeMap::new(),
        };
        assert_eq!(
            r.resolve(&sub).unwrap(),
            "arn:aws:dynamodb:us-east-1:123456789012:table/ProductsTable/index/by_category in us-east-1 ${Kept}"
        );
        assert_eq!(
            r.resolve(&Expr::Ref("WebhookSecret".into())),
            Err(ResolveError::Secret("WebhookSecret".into()))
        );
        assert!(matches!(
            r.resolve(&Expr::Ref("HttpApi".into())),
            Err(ResolveError::Unsupported(_))
        ));
    }
}
