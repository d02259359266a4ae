//! `template.yaml`, the one list of resources, read into what the local cloud runs.
//!
//! Only the resource kinds and properties the local cloud emulates are read; every other
//! resource type and property (roles, alarms, log groups, billing, encryption...) is ignored,
//! so the template can grow for the cloud without breaking `cargo dev`.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::Duration;

use serde_norway::{Mapping, Value};

/// A string-valued property: a literal or a CloudFormation intrinsic function.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expr {
    Literal(String),
    /// `!Ref X`
    Ref(String),
    /// `!GetAtt X.Attribute`
    GetAtt {
        resource: String,
        attribute: String,
    },
    /// `!Sub "...${X}..."`, with the optional variable map of the list form.
    Sub {
        template: String,
        variables: BTreeMap<String, Expr>,
    },
    /// An intrinsic the local cloud does not evaluate (`!If`, `!Join`, ...).
    Unsupported(String),
}

#[derive(Clone, Debug)]
pub struct Template {
    /// Parameter defaults.
    pub parameters: BTreeMap<String, String>,
    pub functions: Vec<Function>,
    pub tables: Vec<Table>,
    pub queues: Vec<Queue>,
    /// Logical ids of the SNS topics.
    pub topics: Vec<String>,
    pub subscriptions: Vec<Subscription>,
    /// The HttpApi's JWT authorizers (`Auth.Authorizers`) by name.
    pub jwt_authorizers: BTreeMap<String, JwtAuthorizerConfig>,
    /// Every resource's `Type` by logical id, the ignored ones included.
    pub kinds: BTreeMap<String, String>,
    /// What was skipped and why, for the user to see.
    pub warnings: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct Function {
    pub logical_id: String,
    /// `Metadata.BuildProperties.Binary`: the cargo binary that is the function's bootstrap.
    pub binary: String,
    pub memory_size: u32,
    pub timeout: Duration,
    /// `Environment.Variables`, the function's over `Globals.Function`'s.
    pub environment: BTreeMap<String, Expr>,
    pub http_routes: Vec<HttpRoute>,
    pub sqs_sources: Vec<SqsSource>,
    pub stream_sources: Vec<StreamSource>,
}

/// An `HttpApi` event.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HttpRoute {
    /// Upper case, or `ANY`.
    pub method: String,
    /// `/orders/{order_id}`; `None` for the `$default` route (an event without a path).
    pub path: Option<String>,
    pub auth: RouteAuth,
}

/// Who may call a route: the authorizer that guards it (its own `Auth.Authorizer`, else the
/// HttpApi's `DefaultAuthorizer`) and the scopes it asks for (`AuthorizationScopes`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RouteAuth {
    /// `None`: public (`Authorizer: NONE`, or no authorizer anywhere).
    pub authorizer: Option<String>,
    pub scopes: Vec<String>,
}

/// A JWT authorizer of the HttpApi (`Auth.Authorizers.<name>.JwtConfiguration`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JwtAuthorizerConfig {
    pub issuer: Expr,
    pub audience: Vec<Expr>,
}

impl HttpRoute {
    /// The route key API Gateway puts in the event: `GET /orders/{order_id}` or `$default`.
    pub fn key(&self) -> String {
        match &self.path {
            Some(path) => format!("{} {path}", self.method),
            None => "$default".to_owned(),
        }
    }
}

/// An `SQS` event: the queue the function consumes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SqsSource {
    /// The event's name in the template (`PlaceOrderCommands`).
    pub name: String,
    /// The queue's ARN, usually `!GetAtt Queue.Arn`.
    pub queue: Expr,
    pub batch_size: u32,
    pub batching_window: Duration,
    /// `FunctionResponseTypes: [ReportBatchItemFailures]`.
    pub report_batch_item_failures: bool,
}

/// A `DynamoDB` event: the table stream the function reads.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamSource {
    /// The event's name in the template (`CommittedOrderEvents`).
    pub name: String,
    /// The table whose stream it is: `Stream` must be `!GetAtt <Table>.StreamArn`.
    pub table: String,
    /// `TRIM_HORIZON` (everything the stream still holds) or `LATEST`.
    pub starting_position: String,
    pub batch_size: u32,
    pub batching_window: Duration,
    /// `MaximumRetryAttempts`; `None` for -1 (until the record is too old).
    pub maximum_retry_attempts: Option<u32>,
    pub bisect_batch_on_function_error: bool,
    pub report_batch_item_failures: bool,
    /// `FilterCriteria.Filters[].Pattern`, parsed: a record is handed over when any matches.
    pub filters: Vec<serde_json::Value>,
    /// `DestinationConfig.OnFailure.Destination`: where a batch given up on is described.
    pub on_failure: Option<Expr>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Table {
    pub logical_id: String,
    /// (name, type) pairs: `S`, `N` or `B`.
    pub attributes: Vec<(String, String)>,
    pub key_schema: Vec<KeyElement>,
    pub global_secondary_indexes: Vec<SecondaryIndex>,
    pub time_to_live: Option<TimeToLive>,
    /// `StreamSpecification.StreamViewType`: the table has a stream.
    pub stream_view_type: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyElement {
    pub attribute: String,
    /// `HASH` or `RANGE`.
    pub key_type: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecondaryIndex {
    pub name: String,
    pub key_schema: Vec<KeyElement>,
    /// `ALL`, `KEYS_ONLY` or `INCLUDE`.
    pub projection_type: String,
    pub non_key_attributes: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimeToLive {
    pub attribute: String,
    pub enabled: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Queue {
    pub logical_id: String,
    pub visibility_timeout: Option<u64>,
    pub message_retention_period: Option<u64>,
    pub redrive_policy: Option<RedrivePolicy>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedrivePolicy {
    pub dead_letter_target: Expr,
    pub max_receive_count: u64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Subscription {
    pub logical_id: String,
    pub topic: Expr,
    pub protocol: String,
    pub endpoint: Expr,
    pub raw_message_delivery: bool,
    pub filter_policy: Option<serde_json::Value>,
    pub filter_policy_scope: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("template.yaml is not valid YAML: {0}")]
    Yaml(#[from] serde_norway::Error),
    #[error("template.yaml: {0}")]
    Invalid(String),
}

fn invalid(message: impl Into<String>) -> TemplateError {
    TemplateError::Invalid(message.into())
}

const DEFAULT_MEMORY_SIZE: u32 = 128;
const DEFAULT_TIMEOUT_SECONDS: u64 = 3;
const DEFAULT_SQS_BATCH_SIZE: u32 = 10;
const DEFAULT_STREAM_BATCH_SIZE: u32 = 100;

impl Template {
    /// Reads `template.yaml` at the repository root.
    pub fn load(repo_root: &Path) -> Result<Template, TemplateError> {
        let path = repo_root.join("template.yaml");
        let text = std::fs::read_to_string(&path).map_err(|source| TemplateError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Template::parse(&text)
    }

    pub fn parse(text: &str) -> Result<Template, TemplateError> {
        let root: Value = serde_norway::from_str(text)?;
        let parameters = parse_parameters(&root);
        let conditions = Conditions {
            definitions: get(&root, "Conditions").and_then(Value::as_mapping),
            parameters: &parameters,
        };
        let globals = get(&root, "Globals").and_then(|g| get(g, "Function"));
        let resources = get(&root, "Resources")
            .and_then(Value::as_mapping)
            .ok_or_else(|| invalid("no Resources section"))?;

        let mut template = Template {
            parameters: parameters.clone(),
            functions: Vec::new(),
            tables: Vec::new(),
            queues: Vec::new(),
            topics: Vec::new(),
            subscriptions: Vec::new(),
            jwt_authorizers: BTreeMap::new(),
            kinds: BTreeMap::new(),
            warnings: Vec::new(),
        };
        let mut default_authorizer = None;
        for (id, resource) in resources {
            let id = id
                .as_str()
                .ok_or_else(|| invalid("a resource's logical id is not a string"))?;
            let Some(kind) = get(resource, "Type").and_then(Value::as_str) else {
                return Err(invalid(format!("resource {id} has no Type")));
            };
            if let Some(condition) = get(resource, "Condition").and_then(Value::as_str) {
                match conditions.evaluate_named(condition) {
                    Some(true) => {}
                    // Deployed only when the condition holds, as in CloudFormation.
                    Some(false) => continue,
                    None => template.warnings.push(format!(
                        "{id}: condition {condition} cannot be evaluated locally; the resource is created"
                    )),
                }
            }
            template.kinds.insert(id.to_owned(), kind.to_owned());
            let empty = Value::Mapping(Mapping::new());
            let properties = get(resource, "Properties").unwrap_or(&empty);
            match kind {
                "AWS::Serverless::Function" => template.functions.push(parse_function(
                    id,
                    resource,
                    properties,
                    globals,
                    &mut template.warnings,
                )?),
                "AWS::DynamoDB::Table" => template.tables.push(parse_table(id, properties)?),
                "AWS::SQS::Queue" => template.queues.push(parse_queue(id, properties)?),
                "AWS::SNS::Topic" => template.topics.push(id.to_owned()),
                "AWS::SNS::Subscription" => template
                    .subscriptions
                    .push(parse_subscription(id, properties)?),
                "AWS::Serverless::HttpApi" => {
                    let (authorizers, default) = parse_http_api_auth(id, properties)?;
                    template.jwt_authorizers.extend(authorizers);
                    default_authorizer = default.or(default_authorizer);
                }
                _ => {}
            }
        }
        template.resolve_route_auth(default_authorizer)?;
        template.check_references()?;
        Ok(template)
    }

    /// Routes without an `Authorizer` of their own take the HttpApi's default; `NONE` makes
    /// a route public. Naming an authorizer that does not exist is an error, as in SAM.
    fn resolve_route_auth(&mut self, default: Option<String>) -> Result<(), TemplateError> {
        for function in &mut self.functions {
            for route in &mut function.http_routes {
                let chosen = route.auth.authorizer.take().or_else(|| default.clone());
                route.auth.authorizer = match chosen {
                    Some(name) if name == "NONE" => None,
                    Some(name) if self.jwt_authorizers.contains_key(&name) => Some(name),
                    Some(name) => {
                        return Err(invalid(format!(
                            "{}: route {} names authorizer {name}, which the HttpApi does not define",
                            function.logical_id,
                            route.key()
                        )));
                    }
                    None => None,
                };
            }
        }
        Ok(())
    }

    pub fn function_by_binary(&self, binary: &str) -> Option<&Function> {
        self.functions.iter().find(|f| f.binary == binary)
    }

    /// Every logical id the emulated resources point at must exist: a typo is an error here,
    /// not a confusing failure halfway through provisioning.
    fn check_references(&self) -> Result<(), TemplateError> {
        let known: HashSet<&str> = self.kinds.keys().map(String::as_str).collect();
        let check = |owner: &str, expr: &Expr| -> Result<(), TemplateError> {
            let target = match expr {
                Expr::Ref(target) if !target.starts_with("AWS::") => target,
                Expr::Ref(_) => return Ok(()),
                Expr::GetAtt { resource, .. } => resource,
                _ => return Ok(()),
            };
            if known.contains(target.as_str()) || self.parameters.contains_key(target) {
                Ok(())
            } else {
                Err(invalid(format!(
                    "{owner} refers to {target}, which is not defined"
                )))
            }
        };
        for queue in &self.queues {
            if let Some(redrive) = &queue.redrive_policy {
                check(&queue.logical_id, &redrive.dead_letter_target)?;
            }
        }
        for subscription in &self.subscriptions {
            check(&subscription.logical_id, &subscription.topic)?;
            check(&subscription.logical_id, &subscription.endpoint)?;
        }
        for function in &self.functions {
            for source in &function.sqs_sources {
                check(&function.logical_id, &source.queue)?;
            }
            for source in &function.stream_sources {
                let streams = self
                    .tables
                    .iter()
                    .any(|t| t.logical_id == source.table && t.stream_view_type.is_some());
                if !streams {
                    return Err(invalid(format!(
                        "{}.{}: {} is not a table with a StreamSpecification",
                        function.logical_id, source.name, source.table
                    )));
                }
                if let Some(destination) = &source.on_failure {
                    check(&function.logical_id, destination)?;
                }
            }
            for value in function.environment.values() {
                check(&function.logical_id, value)?;
            }
        }
        Ok(())
    }
}

fn get<'a>(value: &'a Value, key: &str) -> Option<&'a Value> {
    value.as_mapping()?.get(key)
}

/// A scalar as text: CloudFormation accepts `180` and `"180"` alike.
fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn number(owner: &str, key: &str, value: Option<&Value>) -> Result<Option<u64>, TemplateError> {
    let Some(value) = value else { return Ok(None) };
    scalar(value)
        .and_then(|s| s.trim().parse().ok())
        .map(Some)
        .ok_or_else(|| invalid(format!("{owner}: {key} is not a whole number")))
}

fn boolean(value: Option<&Value>) -> bool {
    value
        .and_then(scalar)
        .is_some_and(|s| s.eq_ignore_ascii_case("true"))
}

fn string(owner: &str, key: &str, value: Option<&Value>) -> Result<String, TemplateError> {
    value
        .and_then(scalar)
        .ok_or_else(|| invalid(format!("{owner}: {key} is missing or not a string")))
}

fn parse_parameters(root: &Value) -> BTreeMap<String, String> {
    let mut parameters = BTreeMap::new();
    if let Some(map) = get(root, "Parameters").and_then(Value::as_mapping) {
        for (name, definition) in map {
            if let (Some(name), Some(default)) =
                (name.as_str(), get(definition, "Default").and_then(scalar))
            {
                parameters.insert(name.to_owned(), default);
            }
        }
    }
    parameters
}

/// The short (`!Ref X`) and long (`{"Ref": "X"}`) forms of the intrinsics we resolve.
pub(crate) fn parse_expr(value: &Value) -> Expr {
    match value {
        Value::Tagged(tagged) => {
            let name = tagged.tag.to_string();
            intrinsic(name.trim_start_matches('!'), &tagged.value)
        }
        Value::Mapping(map) if map.len() == 1 => {
            let (key, inner) = map.iter().next().expect("one entry");
            match key.as_str() {
                Some("Ref") => intrinsic("Ref", inner),
                Some(key) if key.starts_with("Fn::") => intrinsic(&key[4..], inner),
                _ => Expr::Unsupported("a mapping".to_owned()),
            }
        }
        other => match scalar(other) {
            Some(s) => Expr::Literal(s),
            None => Expr::Unsupported("a list or mapping".to_owned()),
        },
    }
}

fn intrinsic(name: &str, argument: &Value) -> Expr {
    match (name, argument) {
        ("Ref", Value::String(target)) => Expr::Ref(target.clone()),
        ("GetAtt", Value::String(path)) => match path.split_once('.') {
            Some((resource, attribute)) => Expr::GetAtt {
                resource: resource.to_owned(),
                attribute: attribute.to_owned(),
            },
            None => Expr::Unsupported(format!("!GetAtt {path}")),
        },
        ("GetAtt", Value::Sequence(parts)) => match parts.as_slice() {
            [Value::String(resource), Value::String(attribute)] => Expr::GetAtt {
                resource: resource.clone(),
                attribute: attribute.clone(),
            },
            _ => Expr::Unsupported("!GetAtt".to_owned()),
        },
        ("Sub", Value::String(template)) => Expr::Sub {
            template: template.clone(),
            variables: BTreeMap::new(),
        },
        ("Sub", Value::Sequence(parts)) => match parts.as_slice() {
            [Value::String(template), Value::Mapping(variables)] => Expr::Sub {
                template: template.clone(),
                variables: variables
                    .iter()
                    .filter_map(|(k, v)| Some((k.as_str()?.to_owned(), parse_expr(v))))
                    .collect(),
            },
            _ => Expr::Unsupported("!Sub".to_owned()),
        },
        (name, _) => Expr::Unsupported(format!("!{name}")),
    }
}

/// Evaluates `Conditions` with parameter defaults: enough for `!Equals`, `!Not`, `!And`,
/// `!Or` and `!Condition` over parameters, which is what templates use them for.
struct Conditions<'a> {
    definitions: Option<&'a Mapping>,
    parameters: &'a BTreeMap<String, String>,
}

impl Conditions<'_> {
    fn evaluate_named(&self, name: &str) -> Option<bool> {
        self.evaluate(self.definitions?.get(name)?, 0)
    }

    fn evaluate(&self, value: &Value, depth: usize) -> Option<bool> {
        if depth > 16 {
            return None;
        }
        let (name, argument) = match value {
            Value::Tagged(tagged) => (tagged.tag.to_string(), &tagged.value),
            Value::Mapping(map) if map.len() == 1 => {
                let (key, argument) = map.iter().next()?;
                (key.as_str()?.to_owned(), argument)
            }
            Value::Bool(b) => return Some(*b),
            _ => return None,
        };
        let name = name.trim_start_matches('!').trim_start_matches("Fn::");
        let arguments = || argument.as_sequence().map(Vec::as_slice);
        match name {
            "Equals" => match arguments()? {
                [a, b] => Some(self.operand(a)? == self.operand(b)?),
                _ => None,
            },
            "Not" => match arguments()? {
                [inner] => self.evaluate(inner, depth + 1).map(|b| !b),
                _ => None,
            },
            "And" => arguments()?
                .iter()
                .map(|c| self.evaluate(c, depth + 1))
                .try_fold(true, |all, c| Some(all && c?)),
            "Or" => arguments()?
                .iter()
                .map(|c| self.evaluate(c, depth + 1))
                .try_fold(false, |any, c| Some(any || c?)),
            "Condition" => self.evaluate(self.definitions?.get(argument.as_str()?)?, depth + 1),
            _ => None,
        }
    }

    fn operand(&self, value: &Value) -> Option<String> {
        match parse_expr(value) {
            Expr::Literal(s) => Some(s),
            Expr::Ref(name) => self.parameters.get(&name).cloned(),
            _ => None,
        }
    }
}

fn parse_function(
    id: &str,
    resource: &Value,
    properties: &Value,
    globals: Option<&Value>,
    warnings: &mut Vec<String>,
) -> Result<Function, TemplateError> {
    let binary = get(resource, "Metadata")
        .and_then(|m| get(m, "BuildProperties"))
        .and_then(|b| get(b, "Binary"))
        .and_then(Value::as_str)
        .ok_or_else(|| invalid(format!("{id}: Metadata.BuildProperties.Binary is missing")))?
        .to_owned();
    // A function's own property wins over Globals.Function.
    let property = |key: &str| get(properties, key).or_else(|| globals.and_then(|g| get(g, key)));
    let memory_size =
        number(id, "MemorySize", property("MemorySize"))?.map_or(DEFAULT_MEMORY_SIZE, |m| m as u32);
    let timeout = Duration::from_secs(
        number(id, "Timeout", property("Timeout"))?.unwrap_or(DEFAULT_TIMEOUT_SECONDS),
    );

    let mut environment = BTreeMap::new();
    for scope in [globals, Some(properties)].into_iter().flatten() {
        let variables = get(scope, "Environment")
            .and_then(|e| get(e, "Variables"))
            .and_then(Value::as_mapping);
        for (name, value) in variables.into_iter().flatten() {
            if let Some(name) = name.as_str() {
                environment.insert(name.to_owned(), parse_expr(value));
            }
        }
    }

    let mut http_routes = Vec::new();
    let mut sqs_sources = Vec::new();
    let mut stream_sources = Vec::new();
    for (name, event) in get(properties, "Events")
        .and_then(Value::as_mapping)
        .into_iter()
        .flatten()
    {
        let name = name.as_str().unwrap_or_default();
        let owner = format!("{id}.Events.{name}");
        let empty = Value::Mapping(Mapping::new());
        let event_properties = get(event, "Properties").unwrap_or(&empty);
        match get(event, "Type").and_then(Value::as_str) {
            Some("HttpApi") => {
                let path = get(event_properties, "Path").and_then(scalar);
                let method = get(event_properties, "Method")
                    .and_then(scalar)
                    .map_or_else(|| "ANY".to_owned(), |m| m.to_ascii_uppercase());
                if let Some(path) = &path
                    && !path.starts_with('/')
                {
                    return Err(invalid(format!("{owner}: Path must start with /")));
                }
                let auth = get(event_properties, "Auth");
                let auth = RouteAuth {
                    authorizer: auth.and_then(|a| get(a, "Authorizer")).and_then(scalar),
                    scopes: auth
                        .and_then(|a| get(a, "AuthorizationScopes"))
                        .and_then(Value::as_sequence)
                        .into_iter()
                        .flatten()
                        .filter_map(scalar)
                        .collect(),
                };
                http_routes.push(HttpRoute { method, path, auth });
            }
            Some("SQS") => {
                let queue = get(event_properties, "Queue")
                    .map(parse_expr)
                    .ok_or_else(|| invalid(format!("{owner}: Queue is missing")))?;
                let batch_size = number(&owner, "BatchSize", get(event_properties, "BatchSize"))?
                    .map_or(DEFAULT_SQS_BATCH_SIZE, |b| b as u32);
                let window = number(
                    &owner,
                    "MaximumBatchingWindowInSeconds",
                    get(event_properties, "MaximumBatchingWindowInSeconds"),
                )?
                .unwrap_or(0);
                let report_batch_item_failures = reports_batch_item_failures(event_properties);
                sqs_sources.push(SqsSource {
                    name: name.to_owned(),
                    queue,
                    batch_size: batch_size.max(1),
                    batching_window: Duration::from_secs(window),
                    report_batch_item_failures,
                });
            }
            Some("DynamoDB") => {
                stream_sources.push(parse_stream_source(name, &owner, event_properties)?);
            }
            Some(other) => warnings.push(format!(
                "{owner}: events of type {other} are not run by the local cloud"
            )),
            None => return Err(invalid(format!("{owner} has no Type"))),
        }
    }

    Ok(Function {
        logical_id: id.to_owned(),
        binary,
        memory_size,
        timeout,
        environment,
        http_routes,
        sqs_sources,
        stream_sources,
    })
}

fn parse_stream_source(
    name: &str,
    owner: &str,
    properties: &Value,
) -> Result<StreamSource, TemplateError> {
    let table = match get(properties, "Stream").map(parse_expr) {
        Some(Expr::GetAtt {
            resource,
            attribute,
        }) if attribute == "StreamArn" => resource,
        _ => {
            return Err(invalid(format!(
                "{owner}: Stream must be !GetAtt <Table>.StreamArn"
            )));
        }
    };
    let starting_position = get(properties, "StartingPosition")
        .and_then(scalar)
        .ok_or_else(|| invalid(format!("{owner}: StartingPosition is missing")))?;
    if !["TRIM_HORIZON", "LATEST"].contains(&starting_position.as_str()) {
        return Err(invalid(format!(
            "{owner}: StartingPosition {starting_position} is not TRIM_HORIZON or LATEST"
        )));
    }
    let retries = get(properties, "MaximumRetryAttempts")
        .map(|v| {
            v.as_i64()
                .filter(|n| *n >= -1)
                .ok_or_else(|| invalid(format!("{owner}: MaximumRetryAttempts is not -1 or more")))
        })
        .transpose()?;
    let filters = get(properties, "FilterCriteria")
        .and_then(|c| get(c, "Filters"))
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .map(|filter| {
            let pattern = get(filter, "Pattern")
                .and_then(Value::as_str)
                .unwrap_or("{}");
            serde_json::from_str(pattern)
                .map_err(|e| invalid(format!("{owner}: a filter Pattern is not JSON: {e}")))
        })
        .collect::<Result<_, _>>()?;
    Ok(StreamSource {
        name: name.to_owned(),
        table,
        starting_position,
        batch_size: number(owner, "BatchSize", get(properties, "BatchSize"))?
            .map_or(DEFAULT_STREAM_BATCH_SIZE, |b| b as u32)
            .max(1),
        batching_window: Duration::from_secs(
            number(
                owner,
                "MaximumBatchingWindowInSeconds",
                get(properties, "MaximumBatchingWindowInSeconds"),
            )?
            .unwrap_or(0),
        ),
        // SAM's default is -1: retry until the record expires.
        maximum_retry_attempts: retries.and_then(|n| u32::try_from(n).ok()),
        bisect_batch_on_function_error: boolean(get(properties, "BisectBatchOnFunctionError")),
        report_batch_item_failures: reports_batch_item_failures(properties),
        filters,
        on_failure: get(properties, "DestinationConfig")
            .and_then(|d| get(d, "OnFailure"))
            .and_then(|o| get(o, "Destination"))
            .map(parse_expr),
    })
}

fn reports_batch_item_failures(properties: &Value) -> bool {
    get(properties, "FunctionResponseTypes")
        .and_then(Value::as_sequence)
        .is_some_and(|types| {
            types
                .iter()
                .any(|t| t.as_str() == Some("ReportBatchItemFailures"))
        })
}

fn parse_key_schema(owner: &str, value: Option<&Value>) -> Result<Vec<KeyElement>, TemplateError> {
    let elements = value
        .and_then(Value::as_sequence)
        .ok_or_else(|| invalid(format!("{owner}: KeySchema is missing")))?;
    elements
        .iter()
        .map(|e| {
            Ok(KeyElement {
                attribute: string(owner, "AttributeName", get(e, "AttributeName"))?,
                key_type: string(owner, "KeyType", get(e, "KeyType"))?,
            })
        })
        .collect()
}

fn parse_table(id: &str, properties: &Value) -> Result<Table, TemplateError> {
    let attributes = get(properties, "AttributeDefinitions")
        .and_then(Value::as_sequence)
        .ok_or_else(|| invalid(format!("{id}: AttributeDefinitions is missing")))?
        .iter()
        .map(|a| {
            Ok((
                string(id, "AttributeName", get(a, "AttributeName"))?,
                string(id, "AttributeType", get(a, "AttributeType"))?,
            ))
        })
        .collect::<Result<_, TemplateError>>()?;
    let key_schema = parse_key_schema(id, get(properties, "KeySchema"))?;
    let global_secondary_indexes = get(properties, "GlobalSecondaryIndexes")
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .map(|index| {
            let name = string(id, "IndexName", get(index, "IndexName"))?;
            let owner = format!("{id}.{name}");
            let projection = get(index, "Projection");
            Ok(SecondaryIndex {
                key_schema: parse_key_schema(&owner, get(index, "KeySchema"))?,
                projection_type: projection
                    .and_then(|p| get(p, "ProjectionType"))
                    .and_then(scalar)
                    .unwrap_or_else(|| "ALL".to_owned()),
                non_key_attributes: projection
                    .and_then(|p| get(p, "NonKeyAttributes"))
                    .and_then(Value::as_sequence)
                    .into_iter()
                    .flatten()
                    .filter_map(scalar)
                    .collect(),
                name,
            })
        })
        .collect::<Result<_, TemplateError>>()?;
    let time_to_live = match get(properties, "TimeToLiveSpecification") {
        Some(spec) => Some(TimeToLive {
            attribute: string(
                id,
                "TimeToLiveSpecification.AttributeName",
                get(spec, "AttributeName"),
            )?,
            enabled: boolean(get(spec, "Enabled")),
        }),
        None => None,
    };
    Ok(Table {
        logical_id: id.to_owned(),
        attributes,
        key_schema,
        global_secondary_indexes,
        time_to_live,
        stream_view_type: get(properties, "StreamSpecification")
            .and_then(|s| get(s, "StreamViewType"))
            .and_then(scalar),
    })
}

fn parse_queue(id: &str, properties: &Value) -> Result<Queue, TemplateError> {
    let redrive_policy = match get(properties, "RedrivePolicy") {
        Some(policy) => Some(RedrivePolicy {
            dead_letter_target: get(policy, "deadLetterTargetArn")
                .map(parse_expr)
                .ok_or_else(|| {
                    invalid(format!(
                        "{id}: RedrivePolicy.deadLetterTargetArn is missing"
                    ))
                })?,
            max_receive_count: number(id, "maxReceiveCount", get(policy, "maxReceiveCount"))?
                .ok_or_else(|| {
                    invalid(format!("{id}: RedrivePolicy.maxReceiveCount is missing"))
                })?,
        }),
        None => None,
    };
    Ok(Queue {
        logical_id: id.to_owned(),
        visibility_timeout: number(
            id,
            "VisibilityTimeout",
            get(properties, "VisibilityTimeout"),
        )?,
        message_retention_period: number(
            id,
            "MessageRetentionPeriod",
            get(properties, "MessageRetentionPeriod"),
        )?,
        redrive_policy,
    })
}

/// The HttpApi's JWT authorizers and its default authorizer.
fn parse_http_api_auth(
    id: &str,
    properties: &Value,
) -> Result<(BTreeMap<String, JwtAuthorizerConfig>, Option<String>), TemplateError> {
    let Some(auth) = get(properties, "Auth") else {
        return Ok((BTreeMap::new(), None));
    };
    let mut authorizers = BTreeMap::new();
    for (name, definition) in get(auth, "Authorizers")
        .and_then(Value::as_mapping)
        .into_iter()
        .flatten()
    {
        let name = name.as_str().unwrap_or_default().to_owned();
        let Some(jwt) = get(definition, "JwtConfiguration") else {
            continue;
        };
        let issuer = get(jwt, "issuer")
            .map(parse_expr)
            .ok_or_else(|| invalid(format!("{id}: authorizer {name} has no issuer")))?;
        let audience = get(jwt, "audience")
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten()
            .map(parse_expr)
            .collect();
        authorizers.insert(name, JwtAuthorizerConfig { issuer, audience });
    }
    let default = get(auth, "DefaultAuthorizer").and_then(scalar);
    Ok((authorizers, default))
}

fn parse_subscription(id: &str, properties: &Value) -> Result<Subscription, TemplateError> {
    let required = |key: &str| {
        get(properties, key)
            .map(parse_expr)
            .ok_or_else(|| invalid(format!("{id}: {key} is missing")))
    };
    let filter_policy = get(properties, "FilterPolicy")
        .map(|policy| match policy {
            // The policy may be given as a JSON string as well as a YAML mapping.
            Value::String(json) => serde_json::from_str(json)
                .map_err(|e| invalid(format!("{id}: FilterPolicy is not JSON: {e}"))),
            other => {
                serde_json::to_value(other).map_err(|e| invalid(format!("{id}: FilterPolicy: {e}")))
            }
        })
        .transpose()?;
    Ok(Subscription {
        logical_id: id.to_owned(),
        topic: required("TopicArn")?,
        protocol: string(id, "Protocol", get(properties, "Protocol"))?,
        endpoint: required("Endpoint")?,
        raw_message_delivery: boolean(get(properties, "RawMessageDelivery")),
        filter_policy,
        filter_policy_scope: get(properties, "FilterPolicyScope").and_then(scalar),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo_template() -> Template {
        Template::load(&crate::repo::repo_root().unwrap()).unwrap()
    }

    #[test]
    fn reads_the_projects_template() {
        let template = repo_template();
        let binaries: Vec<_> = template
            .functions
            .iter()
            .map(|f| f.binary.as_str())
            .collect();
        for binary in [
            "orders-api",
            "order-processor",
            "payment-webhook",
            "order-payments",
            "product-reads",
        ] {
            assert!(
                binaries.contains(&binary),
                "{binary} missing from {binaries:?}"
            );
        }
        let tables: Vec<_> = template
            .tables
            .iter()
            .map(|t| t.logical_id.as_str())
            .collect();
        assert_eq!(tables.len(), 3, "{tables:?}");
        assert!(template.topics.contains(&"EventsTopic".to_owned()));
        assert_eq!(template.subscriptions.len(), 3);
        assert_eq!(
            template.parameters.get("LogLevel").map(String::as_str),
            Some("info")
        );
    }

    #[test]
    fn merges_globals_into_functions() {
        let template = repo_template();
        let processor = template.function_by_binary("order-processor").unwrap();
        assert_eq!(processor.timeout, Duration::from_secs(30));
        assert_eq!(processor.memory_size, 128);
        assert_eq!(
            processor.environment["RUST_LOG"],
            Expr::Ref("LogLevel".into())
        );
        assert_eq!(
            processor.environment["ORDERS_TABLE"],
            Expr::Ref("OrdersTable".into())
        );
        let source = &processor.sqs_sources[0];
        assert_eq!(
            source.queue,
            Expr::GetAtt {
                resource: "OrdersQueue".into(),
                attribute: "Arn".into()
            }
        );
        assert_eq!(source.batch_size, 10);
        assert_eq!(source.batching_window, Duration::from_secs(1));
        assert!(source.report_batch_item_failures);

        let api = template.function_by_binary("orders-api").unwrap();
        assert_eq!(api.timeout, Duration::from_secs(10));
        assert!(api.http_routes.contains(&HttpRoute {
            method: "GET".into(),
            path: Some("/orders/{order_id}".into()),
            auth: RouteAuth {
                authorizer: Some("CustomerJwt".into()),
                scopes: vec![],
            },
        }));
        let reads = template.function_by_binary("product-reads").unwrap();
        assert!(
            reads
                .http_routes
                .iter()
                .all(|r| r.auth.authorizer.is_none())
        );
        let customers = &template.jwt_authorizers["CustomerJwt"];
        assert_eq!(customers.issuer, Expr::Ref("JwtIssuer".into()));
    }

    const SMALL: &str = r#"
Parameters:
  Level: {Type: String, Default: debug}
  Email: {Type: String, Default: ""}
Conditions:
  HasEmail: !Not [!Equals [!Ref Email, ""]]
  Always: {"Fn::Equals": [{"Ref": "Level"}, "debug"]}
Globals:
  Function:
    Timeout: 5
    MemorySize: 256
    Environment:
      Variables:
        RUST_LOG: !Ref Level
        SHARED: global
Resources:
  Api:
    Type: AWS::Serverless::Function
    Metadata: {BuildProperties: {Binary: api}}
    Properties:
      MemorySize: "512"
      Policies: [{DynamoDBCrudPolicy: {TableName: !Ref Things}}]
      Environment:
        Variables:
          SHARED: mine
          TABLE: {"Ref": "Things"}
          QUEUE_ARN: {"Fn::GetAtt": ["Work", "Arn"]}
          NAME: !Sub "${Things}-${AWS::Region}"
          PICK: !If [HasEmail, a, b]
      Events:
        Any:
          Type: HttpApi
          Properties: {Path: "/things/{id}", Method: get}
        Catch:
          Type: HttpApi
        Work:
          Type: SQS
          Properties: {Queue: !GetAtt Work.Arn}
        Tick:
          Type: Schedule
          Properties: {Schedule: rate(1 minute)}
  Things:
    Type: AWS::DynamoDB::Table
    DeletionPolicy: Retain
    Properties:
      BillingMode: PAY_PER_REQUEST
      SSESpecification: {SSEEnabled: true}
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
  Work:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: "30"
      RedrivePolicy: {deadLetterTargetArn: !GetAtt Dead.Arn, maxReceiveCount: 2}
  Dead:
    Type: AWS::SQS::Queue
  Alarms:
    Type: AWS::SNS::Topic
    Condition: HasEmail
  Mystery:
    Type: AWS::Made::Up
    Properties: {Anything: !Join ["", [a, b]], Deep: [{Ref: Nothing}]}
  Sub:
    Type: AWS::SNS::Subscription
    Properties:
      TopicArn: !Ref Topic
      Protocol: sqs
      Endpoint: !GetAtt Work.Arn
      FilterPolicy: '{"kind": ["a"]}'
      FilterPolicyScope: MessageBody
  Topic:
    Type: AWS::SNS::Topic
"#;

    #[test]
    fn reads_both_intrinsic_forms_and_ignores_the_rest() {
        let template = Template::parse(SMALL).unwrap();
        let api = &template.functions[0];
        assert_eq!(api.timeout, Duration::from_secs(5));
        assert_eq!(api.memory_size, 512);
        let env = &api.environment;
        assert_eq!(env["SHARED"], Expr::Literal("mine".into()));
        assert_eq!(env["RUST_LOG"], Expr::Ref("Level".into()));
        assert_eq!(env["TABLE"], Expr::Ref("Things".into()));
        assert_eq!(
            env["QUEUE_ARN"],
            Expr::GetAtt {
                resource: "Work".into(),
                attribute: "Arn".into()
            }
        );
        assert!(
            matches!(&env["NAME"], Expr::Sub { template, .. } if template == "${Things}-${AWS::Region}")
        );
        assert_eq!(env["PICK"], Expr::Unsupported("!If".into()));
        assert_eq!(
            api.http_routes,
            vec![
                HttpRoute {
                    method: "GET".into(),
                    path: Some("/things/{id}".into()),
                    ..HttpRoute::default()
                },
                HttpRoute {
                    method: "ANY".into(),
                    path: None,
                    ..HttpRoute::default()
                },
            ]
        );
        assert_eq!(api.http_routes[1].key(), "$default");
        assert_eq!(api.sqs_sources[0].batch_size, 10);
        assert!(!api.sqs_sources[0].report_batch_item_failures);
        assert!(template.warnings.iter().any(|w| w.contains("Schedule")));

        assert_eq!(template.queues[0].visibility_timeout, Some(30));
        assert_eq!(
            template.queues[0]
                .redrive_policy
                .as_ref()
                .unwrap()
                .max_receive_count,
            2
        );
        // HasEmail is false with the default parameter: the topic is not deployed.
        assert_eq!(template.topics, vec!["Topic".to_owned()]);
        assert_eq!(template.kinds["Mystery"], "AWS::Made::Up");
        let subscription = &template.subscriptions[0];
        assert_eq!(
            subscription.filter_policy,
            Some(serde_json::json!({"kind": ["a"]}))
        );
        assert_eq!(
            subscription.filter_policy_scope.as_deref(),
            Some("MessageBody")
        );
    }

    #[test]
    fn rejects_references_to_undefined_resources() {
        let text = SMALL.replace("!GetAtt Dead.Arn", "!GetAtt Deadd.Arn");
        let error = Template::parse(&text).unwrap_err().to_string();
        assert!(error.contains("Work refers to Deadd"), "{error}");
    }

    /// What the cloud needs and the local cloud does not run: tracing, versions published to
    /// an alias, canary deploys with their rollback alarms, a dashboard. Parsing must carry on.
    const OPERATED: &str = r#"
Globals:
  Function:
    Timeout: 5
    Tracing: Active
    AutoPublishAlias: live
    DeploymentPreference:
      Type: Canary10Percent5Minutes
      Role: !GetAtt DeployRole.Arn
    Environment:
      Variables:
        METRICS_NAMESPACE: !Sub "Shop/${AWS::StackName}"
        SERVICE_NAME: !Ref AWS::StackName
Resources:
  Api:
    Type: AWS::Serverless::Function
    Metadata: {BuildMethod: rust-cargolambda, BuildProperties: {Binary: api}}
    Properties:
      Tracing: PassThrough
      DeploymentPreference:
        Alarms: [!Ref ApiErrors]
        Hooks: {PreTraffic: !Ref Api}
      Events:
        Get:
          Type: HttpApi
          Properties: {Path: /things, Method: GET}
  ApiErrors:
    Type: AWS::CloudWatch::Alarm
    Properties:
      Namespace: AWS/Lambda
      MetricName: Errors
      Dimensions:
        - {Name: FunctionName, Value: !Ref Api}
        - {Name: Resource, Value: !Sub "${Api}:live"}
  DeployRole:
    Type: AWS::IAM::Role
  Board:
    Type: AWS::CloudWatch::Dashboard
    Properties:
      DashboardBody: !Sub '{"widgets": [{"type": "text", "properties": {"markdown": "${AWS::StackName} ${!Literal}"}}]}'
"#;

    #[test]
    fn tracing_aliases_deploy_preferences_and_dashboards_do_not_get_in_the_way() {
        let template = Template::parse(OPERATED).unwrap();
        let api = &template.functions[0];
        assert_eq!(api.binary, "api");
        assert_eq!(api.timeout, Duration::from_secs(5));
        assert_eq!(api.http_routes[0].key(), "GET /things");
        assert_eq!(
            api.environment["METRICS_NAMESPACE"],
            Expr::Sub {
                template: "Shop/${AWS::StackName}".into(),
                variables: BTreeMap::new()
            }
        );
        assert_eq!(
            api.environment["SERVICE_NAME"],
            Expr::Ref("AWS::StackName".into())
        );
        assert_eq!(template.kinds["Board"], "AWS::CloudWatch::Dashboard");
        assert!(template.warnings.is_empty(), "{:?}", template.warnings);
    }

    #[test]
    fn every_function_gets_its_metrics_namespace_and_service_locally() {
        let template = repo_template();
        let resources = crate::resources::Resources::new(&template, "http://127.0.0.1:5000");
        for function in &template.functions {
            let env = crate::environment::function_environment(function, &resources);
            let id = &function.logical_id;
            assert_eq!(
                env.variables.get("METRICS_NAMESPACE").map(String::as_str),
                Some("Shop/local"),
                "{id}"
            );
            assert_eq!(
                env.variables.get("SERVICE_NAME").map(String::as_str),
                Some("local"),
                "{id}"
            );
            assert!(
                !env.dropped
                    .iter()
                    .any(|d| d.contains("METRICS_NAMESPACE") || d.contains("SERVICE_NAME")),
                "{id}: {:?}",
                env.dropped
            );
        }
    }

    #[test]
    fn tables_keep_keys_indexes_and_ttl() {
        let template = repo_template();
        let products = template
            .tables
            .iter()
            .find(|t| t.logical_id == "ProductsTable")
            .unwrap();
        let index = &products.global_secondary_indexes[0];
        assert_eq!(index.name, "by_category");
        assert_eq!(
            index.key_schema[0],
            KeyElement {
                attribute: "category".into(),
                key_type: "HASH".into()
            }
        );
        assert_eq!(index.projection_type, "ALL");
        let idempotency = template
            .tables
            .iter()
            .find(|t| t.logical_id == "IdempotencyTable")
            .unwrap();
        assert_eq!(
            idempotency.time_to_live,
            Some(TimeToLive {
                attribute: "expires_at".into(),
                enabled: true
            })
        );
    }
}
