//! `template.yaml` as typed data: the one model of the SAM template that `cargo dev` (which
//! runs it locally) and `template-lint` (which checks the project's rules on it) both read.
//!
//! The sections and resource types both read are serde structs: `Parameters`, `Conditions`,
//! `Globals.Function`, and under `Resources`, by `Type`, SAM functions (their `Metadata`,
//! properties and `Events`), DynamoDB tables, SQS queues, SNS topics and subscriptions and the
//! SAM HttpApi. Every other resource type keeps its properties as an [`Expr`] mapping, so the
//! template can grow without breaking either reader, and the linter still sees policies,
//! alarms and dashboards. Properties and keys nobody reads are ignored.
//!
//! [`Expr`] is the one type for property values: YAML data in which any node may be an
//! intrinsic function, in the tag form (`!Ref X`) or the long form (`{"Ref": X}`), with one
//! `!Sub` substitution ([`substitute`]).
//!
//! Where CloudFormation allows an intrinsic and the linter must read the template anyway
//! (timeouts, queue attributes, ARNs), a property is an [`Expr`]; a property only the local
//! cloud reads and needs literally (batch sizes, key schemas, paths) has its Rust type, and
//! a template that says otherwise does not parse. Numbers and booleans are read as
//! CloudFormation reads them: `10` and `"10"`, `true` and `"true"` alike.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::str::FromStr;

use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};
use serde_norway::{Mapping, Value};

mod expr;

pub use expr::{Expr, substitute};

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Template {
    #[serde(default)]
    pub parameters: BTreeMap<String, Parameter>,
    #[serde(default)]
    pub conditions: BTreeMap<String, Expr>,
    #[serde(default)]
    pub globals: Globals,
    /// By logical id, in the template's order.
    #[serde(deserialize_with = "ordered")]
    pub resources: Vec<(String, Resource)>,
}

impl Template {
    pub fn from_yaml(text: &str) -> Result<Template, serde_norway::Error> {
        serde_norway::from_str(text)
    }

    /// A template already read as YAML.
    pub fn from_value(value: &Value) -> Result<Template, serde_norway::Error> {
        Template::deserialize(value)
    }

    pub fn resource(&self, logical_id: &str) -> Option<&Resource> {
        self.resources
            .iter()
            .find(|(id, _)| id == logical_id)
            .map(|(_, resource)| resource)
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Parameter {
    pub default: Option<Expr>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Globals {
    #[serde(default)]
    pub function: FunctionProperties,
}

#[derive(Clone, Debug)]
pub struct Resource {
    /// `Type`: `AWS::SQS::Queue`.
    pub kind: String,
    pub condition: Option<String>,
    pub metadata: Metadata,
    pub properties: Properties,
}

/// A resource's `Properties`, by its `Type`.
#[derive(Clone, Debug)]
pub enum Properties {
    /// `AWS::Serverless::Function`
    Function(Box<FunctionProperties>),
    /// `AWS::DynamoDB::Table`
    Table(Table),
    /// `AWS::SQS::Queue`
    Queue(Queue),
    /// `AWS::SNS::Topic`
    Topic,
    /// `AWS::SNS::Subscription`
    Subscription(Subscription),
    /// `AWS::Serverless::HttpApi`
    HttpApi(HttpApi),
    /// Any other type: the properties as written (a mapping, or `Null` without any).
    Other(Expr),
}

impl<'de> Deserialize<'de> for Resource {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Resource, D::Error> {
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Written {
            #[serde(rename = "Type")]
            kind: String,
            condition: Option<String>,
            #[serde(default)]
            metadata: Metadata,
            #[serde(default)]
            properties: Value,
        }
        let written = Written::deserialize(deserializer)?;
        let value = &written.properties;
        let properties = match written.kind.as_str() {
            "AWS::Serverless::Function" => Properties::Function(Box::new(typed(value)?)),
            "AWS::DynamoDB::Table" => Properties::Table(typed(value)?),
            "AWS::SQS::Queue" => Properties::Queue(typed(value)?),
            "AWS::SNS::Topic" => Properties::Topic,
            "AWS::SNS::Subscription" => Properties::Subscription(typed(value)?),
            "AWS::Serverless::HttpApi" => Properties::HttpApi(typed(value)?),
            _ => Properties::Other(Expr::from(written.properties.clone())),
        };
        Ok(Resource {
            kind: written.kind,
            condition: written.condition,
            metadata: written.metadata,
            properties,
        })
    }
}

/// Typed properties from the `Properties` value (none at all reads as an empty mapping).
fn typed<T: DeserializeOwned, E: serde::de::Error>(properties: &Value) -> Result<T, E> {
    let empty = Value::Mapping(Mapping::new());
    let value = if properties.is_null() {
        &empty
    } else {
        properties
    };
    T::deserialize(value).map_err(|e| E::custom(format_args!("Properties: {e}")))
}

/// A mapping in the template's order, each entry's error prefixed with its key.
fn ordered<'de, D, T>(deserializer: D) -> Result<Vec<(String, T)>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    Mapping::deserialize(deserializer)?
        .iter()
        .map(|(key, value)| {
            let key = key
                .as_str()
                .ok_or_else(|| D::Error::custom("a key is not a string"))?;
            let value =
                T::deserialize(value).map_err(|e| D::Error::custom(format!("{key}: {e}")))?;
            Ok((key.to_owned(), value))
        })
        .collect()
}

/// A number or boolean as CloudFormation reads one: `10` or `"10"`, `true` or `"True"`.
fn scalar<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
    T::Err: Display,
{
    let expr = Expr::deserialize(deserializer)?;
    let text = expr
        .as_bool()
        .map(|b| b.to_string())
        .or_else(|| expr.as_text())
        .ok_or_else(|| D::Error::custom(format!("{expr:?} is not a literal")))?;
    text.trim()
        .parse()
        .map_err(|e| D::Error::custom(format!("{text:?}: {e}")))
}

/// [`scalar`], for a property that may be left out (with `#[serde(default)]`).
/// A JSON document the template may write as a mapping or as JSON text (`FilterPolicy`,
/// `Pattern`): read into the same value either way, and refused here if the text is not JSON.
fn json_text<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<serde_json::Value>, D::Error> {
    match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::String(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| serde::de::Error::custom(format!("not JSON: {e}"))),
        value => Ok(Some(value)),
    }
}

fn optional<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: FromStr,
    T::Err: Display,
{
    scalar(deserializer).map(Some)
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Metadata {
    pub build_properties: Option<BuildProperties>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BuildProperties {
    /// The cargo binary that is a function's bootstrap (`rust-cargolambda`).
    pub binary: Option<String>,
}

/// A SAM function's properties, and `Globals.Function`.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FunctionProperties {
    #[serde(default, deserialize_with = "optional")]
    pub memory_size: Option<u32>,
    pub timeout: Option<Expr>,
    #[serde(default)]
    pub environment: Environment,
    /// By name, in the template's order.
    #[serde(default, deserialize_with = "ordered")]
    pub events: Vec<(String, Event)>,
    pub tracing: Option<Expr>,
    pub auto_publish_alias: Option<Expr>,
    pub auto_publish_alias_all_properties: Option<Expr>,
    pub deployment_preference: Option<Expr>,
    pub policies: Option<Expr>,
}

impl FunctionProperties {
    /// The properties as SAM deploys them: these merged into `globals` ([`Expr::merge`]).
    pub fn with_globals(&self, globals: &FunctionProperties) -> FunctionProperties {
        let merge = |global: &Option<Expr>, own: &Option<Expr>| match (global, own) {
            (Some(global), Some(own)) => Some(global.merge(own)),
            _ => own.clone().or_else(|| global.clone()),
        };
        let mut variables = globals.environment.variables.clone();
        variables.extend(self.environment.variables.clone());
        FunctionProperties {
            memory_size: self.memory_size.or(globals.memory_size),
            timeout: merge(&globals.timeout, &self.timeout),
            environment: Environment { variables },
            events: self.events.clone(),
            tracing: merge(&globals.tracing, &self.tracing),
            auto_publish_alias: merge(&globals.auto_publish_alias, &self.auto_publish_alias),
            auto_publish_alias_all_properties: merge(
                &globals.auto_publish_alias_all_properties,
                &self.auto_publish_alias_all_properties,
            ),
            deployment_preference: merge(
                &globals.deployment_preference,
                &self.deployment_preference,
            ),
            policies: merge(&globals.policies, &self.policies),
        }
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Environment {
    #[serde(default)]
    pub variables: BTreeMap<String, Expr>,
}

/// A SAM function's event, by its `Type`.
#[derive(Clone, Debug)]
pub enum Event {
    HttpApi(HttpApiEvent),
    Sqs(SqsEvent),
    /// A DynamoDB stream.
    DynamoDb(StreamEvent),
    /// Any other type (`Schedule`, `Kinesis`...): the type and its properties as written.
    Other {
        kind: String,
        properties: Expr,
    },
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Event, D::Error> {
        #[derive(Deserialize)]
        #[serde(rename_all = "PascalCase")]
        struct Written {
            #[serde(rename = "Type")]
            kind: String,
            #[serde(default)]
            properties: Value,
        }
        let written = Written::deserialize(deserializer)?;
        Ok(match written.kind.as_str() {
            "HttpApi" => Event::HttpApi(typed(&written.properties)?),
            "SQS" => Event::Sqs(typed(&written.properties)?),
            "DynamoDB" => Event::DynamoDb(typed(&written.properties)?),
            _ => Event::Other {
                properties: Expr::from(written.properties),
                kind: written.kind,
            },
        })
    }
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HttpApiEvent {
    /// `None`: the `$default` route.
    pub path: Option<String>,
    pub method: Option<String>,
    pub auth: Option<EventAuth>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EventAuth {
    /// An authorizer of the HttpApi, or `NONE`.
    pub authorizer: Option<String>,
    #[serde(default)]
    pub authorization_scopes: Vec<String>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SqsEvent {
    pub queue: Expr,
    #[serde(default, deserialize_with = "optional")]
    pub batch_size: Option<u32>,
    #[serde(default, deserialize_with = "optional")]
    pub maximum_batching_window_in_seconds: Option<u64>,
    pub function_response_types: Option<Expr>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StreamEvent {
    pub stream: Expr,
    pub starting_position: String,
    #[serde(default, deserialize_with = "optional")]
    pub batch_size: Option<u32>,
    #[serde(default, deserialize_with = "optional")]
    pub maximum_batching_window_in_seconds: Option<u64>,
    #[serde(default, deserialize_with = "optional")]
    pub maximum_retry_attempts: Option<i64>,
    #[serde(default, deserialize_with = "optional")]
    pub bisect_batch_on_function_error: Option<bool>,
    pub function_response_types: Option<Expr>,
    pub filter_criteria: Option<FilterCriteria>,
    pub destination_config: Option<DestinationConfig>,
}

impl StreamEvent {
    /// The table whose stream this is, when `Stream` is `!GetAtt <Table>.StreamArn`.
    pub fn table(&self) -> Option<&str> {
        match &self.stream {
            Expr::GetAtt {
                resource,
                attribute,
            } if attribute == "StreamArn" => Some(resource),
            _ => None,
        }
    }

    /// `DestinationConfig.OnFailure.Destination`: where a batch given up on is described.
    pub fn on_failure(&self) -> Option<&Expr> {
        let on_failure = self.destination_config.as_ref()?.on_failure.as_ref();
        on_failure.map(|o| &o.destination)
    }

    /// `FilterCriteria.Filters[].Pattern` (a filter without one matches everything).
    pub fn filter_patterns(&self) -> Vec<serde_json::Value> {
        let filters = self.filter_criteria.iter().flat_map(|c| &c.filters);
        filters
            .map(|filter| {
                filter
                    .pattern
                    .clone()
                    .unwrap_or_else(|| serde_json::json!({}))
            })
            .collect()
    }
}

/// Whether `FunctionResponseTypes` asks for partial batch responses.
pub fn reports_batch_item_failures(function_response_types: Option<&Expr>) -> bool {
    function_response_types.is_some_and(|t| t.literals().contains(&"ReportBatchItemFailures"))
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct FilterCriteria {
    #[serde(default)]
    pub filters: Vec<Filter>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Filter {
    /// An event pattern: JSON text in the template, read as JSON.
    #[serde(default, deserialize_with = "json_text")]
    pub pattern: Option<serde_json::Value>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DestinationConfig {
    pub on_failure: Option<OnFailure>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct OnFailure {
    pub destination: Expr,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Table {
    pub attribute_definitions: Vec<AttributeDefinition>,
    pub key_schema: Vec<KeyElement>,
    #[serde(default)]
    pub global_secondary_indexes: Vec<SecondaryIndex>,
    pub time_to_live_specification: Option<TimeToLive>,
    pub stream_specification: Option<StreamSpecification>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AttributeDefinition {
    pub attribute_name: String,
    /// `S`, `N` or `B`.
    pub attribute_type: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyElement {
    pub attribute_name: String,
    /// `HASH` or `RANGE`.
    pub key_type: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SecondaryIndex {
    pub index_name: String,
    pub key_schema: Vec<KeyElement>,
    #[serde(default)]
    pub projection: Projection,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Projection {
    /// `ALL` (the default), `KEYS_ONLY` or `INCLUDE`.
    pub projection_type: Option<String>,
    #[serde(default)]
    pub non_key_attributes: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TimeToLive {
    pub attribute_name: String,
    #[serde(default, deserialize_with = "optional")]
    pub enabled: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StreamSpecification {
    pub stream_view_type: String,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Queue {
    pub queue_name: Option<Expr>,
    pub visibility_timeout: Option<Expr>,
    pub message_retention_period: Option<Expr>,
    pub redrive_policy: Option<RedrivePolicy>,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RedrivePolicy {
    pub dead_letter_target_arn: Expr,
    #[serde(deserialize_with = "scalar")]
    pub max_receive_count: u64,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Subscription {
    pub topic_arn: Expr,
    pub protocol: String,
    pub endpoint: Expr,
    #[serde(default, deserialize_with = "optional")]
    pub raw_message_delivery: Option<bool>,
    /// A mapping, or the same as JSON text.
    #[serde(default, deserialize_with = "json_text")]
    pub filter_policy: Option<serde_json::Value>,
    pub filter_policy_scope: Option<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HttpApi {
    pub auth: Option<HttpApiAuth>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HttpApiAuth {
    /// The authorizer of routes that name none.
    pub default_authorizer: Option<String>,
    #[serde(default)]
    pub authorizers: BTreeMap<String, Authorizer>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Authorizer {
    pub jwt_configuration: Option<JwtConfiguration>,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct JwtConfiguration {
    pub issuer: Expr,
    #[serde(default)]
    pub audience: Vec<Expr>,
}

#[cfg(test)]
mod tests;
