//! `template.yaml`, the one list of resources, read into what the local cloud runs.
//!
//! The file is parsed by the typed model both the local cloud and the template linter read,
//! [`sam_template`]; this module turns it into the local cloud's view: `Globals` merged into
//! each function, SAM's defaults applied, resources whose `Condition` is false left out,
//! references checked. Only the resource kinds and properties the local cloud emulates are
//! read; every other resource type and property (roles, alarms, log groups, billing,
//! encryption...) is ignored, so the template can grow for the cloud without breaking
//! `cargo dev`.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::Duration;

use crate::stream_source::unsupported;
use sam_template::{Event, FunctionProperties, HttpApiEvent, Metadata, Properties, Resource};

pub use sam_template::{
    Expr, JwtConfiguration as JwtAuthorizerConfig, KeyElement, Queue, SecondaryIndex, SqsEvent,
    StreamEvent, Subscription, Table,
};

#[derive(Clone, Debug, Default)]
pub struct Template {
    /// Parameter defaults.
    pub parameters: BTreeMap<String, String>,
    pub functions: Vec<Function>,
    /// By logical id.
    pub tables: BTreeMap<String, Table>,
    pub queues: BTreeMap<String, Queue>,
    /// Logical ids of the SNS topics.
    pub topics: Vec<String>,
    /// By logical id, `FilterPolicy` as JSON even where the template wrote it as text.
    pub subscriptions: BTreeMap<String, Subscription>,
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
    /// The `SQS` events by name.
    pub sqs_events: Vec<(String, SqsEvent)>,
    /// The `DynamoDB` events by name, checked: each reads a table's stream
    /// ([`StreamEvent::table`]) with a known starting position and JSON filter patterns.
    pub stream_events: Vec<(String, StreamEvent)>,
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

impl HttpRoute {
    /// The route key API Gateway puts in the event: `GET /orders/{order_id}` or `$default`.
    pub fn key(&self) -> String {
        match &self.path {
            Some(path) => format!("{} {path}", self.method),
            None => "$default".to_owned(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("template.yaml is not valid: {0}")]
    Yaml(#[from] serde_norway::Error),
    #[error("template.yaml: {0}")]
    Invalid(String),
}

fn invalid(message: impl Into<String>) -> TemplateError {
    TemplateError::Invalid(message.into())
}

const DEFAULT_MEMORY_SIZE: u32 = 128;
const DEFAULT_TIMEOUT_SECONDS: u64 = 3;

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
        let model = sam_template::Template::from_yaml(text)?;
        let mut template = Template {
            parameters: model
                .parameters
                .iter()
                .filter_map(|(name, p)| Some((name.clone(), p.default.as_ref()?.as_text()?)))
                .collect(),
            ..Template::default()
        };
        let mut default_authorizer = None;
        for (id, resource) in &model.resources {
            if !template.deployed(id, resource, &model.conditions) {
                continue;
            }
            template.kinds.insert(id.clone(), resource.kind.clone());
            if let Properties::HttpApi(api) = &resource.properties {
                default_authorizer = api
                    .auth
                    .as_ref()
                    .and_then(|auth| auth.default_authorizer.clone())
                    .or(default_authorizer);
            }
            template.add(id, resource, &model.globals.function)?;
        }
        template.resolve_route_auth(default_authorizer)?;
        template.check_references()?;
        Ok(template)
    }

    /// Whether the resource's `Condition` holds, as CloudFormation decides what to deploy.
    fn deployed(
        &mut self,
        id: &str,
        resource: &Resource,
        definitions: &BTreeMap<String, Expr>,
    ) -> bool {
        let Some(condition) = &resource.condition else {
            return true;
        };
        let conditions = Conditions {
            definitions,
            parameters: &self.parameters,
        };
        conditions.evaluate_named(condition).unwrap_or_else(|| {
            self.warnings.push(format!(
                "{id}: condition {condition} cannot be evaluated locally; the resource is created"
            ));
            true
        })
    }

    fn add(
        &mut self,
        id: &str,
        resource: &Resource,
        globals: &FunctionProperties,
    ) -> Result<(), TemplateError> {
        let id = id.to_owned();
        match &resource.properties {
            Properties::Function(properties) => {
                let properties = properties.with_globals(globals);
                let function =
                    read_function(&id, &resource.metadata, &properties, &mut self.warnings)?;
                self.functions.push(function);
            }
            Properties::Table(table) => drop(self.tables.insert(id, table.clone())),
            Properties::Queue(queue) => drop(self.queues.insert(id, queue.clone())),
            Properties::Topic => self.topics.push(id),
            Properties::Subscription(s) => drop(self.subscriptions.insert(id, s.clone())),
            Properties::HttpApi(api) => {
                let authorizers = api.auth.iter().flat_map(|auth| &auth.authorizers);
                for (name, authorizer) in authorizers {
                    if let Some(jwt) = &authorizer.jwt_configuration {
                        self.jwt_authorizers.insert(name.clone(), jwt.clone());
                    }
                }
            }
            Properties::Other(_) => {}
        }
        Ok(())
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
        let check = |owner: &str, expr: &Expr| match expr.referenced() {
            Some(target)
                if !target.starts_with("AWS::")
                    && !known.contains(target)
                    && !self.parameters.contains_key(target) =>
            {
                Err(invalid(format!(
                    "{owner} refers to {target}, which is not defined"
                )))
            }
            _ => Ok(()),
        };
        for (id, queue) in &self.queues {
            if let Some(redrive) = &queue.redrive_policy {
                check(id, &redrive.dead_letter_target_arn)?;
            }
        }
        for (id, subscription) in &self.subscriptions {
            check(id, &subscription.topic_arn)?;
            check(id, &subscription.endpoint)?;
        }
        for function in &self.functions {
            let id = &function.logical_id;
            for (_, event) in &function.sqs_events {
                check(id, &event.queue)?;
            }
            for (name, event) in &function.stream_events {
                let table = event.table().unwrap_or_default();
                let streams = self.tables.get(table).map(|t| &t.stream_specification);
                if !matches!(streams, Some(Some(_))) {
                    return Err(invalid(format!(
                        "{id}.{name}: {table} is not a table with a StreamSpecification"
                    )));
                }
                if let Some(destination) = event.on_failure() {
                    check(id, destination)?;
                }
            }
            for value in function.environment.values() {
                check(id, value)?;
            }
        }
        Ok(())
    }
}

/// Evaluates `Conditions` with parameter defaults: enough for `!Equals`, `!Not`, `!And`,
/// `!Or` and `!Condition` over parameters, which is what templates use them for.
struct Conditions<'a> {
    definitions: &'a BTreeMap<String, Expr>,
    parameters: &'a BTreeMap<String, String>,
}

impl Conditions<'_> {
    fn evaluate_named(&self, name: &str) -> Option<bool> {
        self.evaluate(self.definitions.get(name)?, 0)
    }

    fn evaluate(&self, condition: &Expr, depth: usize) -> Option<bool> {
        let Expr::Call { function, argument } = condition else {
            return condition.as_bool();
        };
        if depth > 16 {
            return None;
        }
        let all = |arguments: &[Expr]| -> Option<Vec<bool>> {
            arguments
                .iter()
                .map(|c| self.evaluate(c, depth + 1))
                .collect()
        };
        match (function.as_str(), argument.as_list()) {
            ("Equals", Some([a, b])) => Some(self.operand(a)? == self.operand(b)?),
            ("Not", Some([inner])) => self.evaluate(inner, depth + 1).map(|b| !b),
            ("And", Some(conditions)) => Some(all(conditions)?.into_iter().all(|b| b)),
            ("Or", Some(conditions)) => Some(all(conditions)?.into_iter().any(|b| b)),
            ("Condition", _) => self.evaluate(self.definitions.get(argument.as_str()?)?, depth + 1),
            _ => None,
        }
    }

    fn operand(&self, value: &Expr) -> Option<String> {
        match value {
            Expr::Ref(name) => self.parameters.get(name).cloned(),
            other => other.as_text(),
        }
    }
}

fn read_function(
    id: &str,
    metadata: &Metadata,
    properties: &FunctionProperties,
    warnings: &mut Vec<String>,
) -> Result<Function, TemplateError> {
    let binary = metadata
        .build_properties
        .as_ref()
        .and_then(|b| b.binary.clone())
        .ok_or_else(|| invalid(format!("{id}: Metadata.BuildProperties.Binary is missing")))?;
    let timeout = match &properties.timeout {
        Some(timeout) => timeout
            .as_u64()
            .ok_or_else(|| invalid(format!("{id}: Timeout is not a whole number")))?,
        None => DEFAULT_TIMEOUT_SECONDS,
    };
    let mut function = Function {
        logical_id: id.to_owned(),
        binary,
        memory_size: properties.memory_size.unwrap_or(DEFAULT_MEMORY_SIZE),
        timeout: Duration::from_secs(timeout),
        environment: properties.environment.variables.clone(),
        http_routes: Vec::new(),
        sqs_events: Vec::new(),
        stream_events: Vec::new(),
    };
    for (name, event) in &properties.events {
        let owner = format!("{id}.Events.{name}");
        match event {
            Event::HttpApi(event) => function.http_routes.push(http_route(&owner, event)?),
            Event::Sqs(event) => function.sqs_events.push((name.clone(), event.clone())),
            Event::DynamoDb(event) => {
                check_stream_event(&owner, event)?;
                function.stream_events.push((name.clone(), event.clone()));
            }
            Event::Other { kind, .. } => warnings.push(format!(
                "{owner}: events of type {kind} are not run by the local cloud"
            )),
        }
    }
    Ok(function)
}

fn http_route(owner: &str, event: &HttpApiEvent) -> Result<HttpRoute, TemplateError> {
    if let Some(path) = &event.path
        && !path.starts_with('/')
    {
        return Err(invalid(format!("{owner}: Path must start with /")));
    }
    let auth = event.auth.clone().unwrap_or_default();
    Ok(HttpRoute {
        method: event
            .method
            .as_deref()
            .map_or_else(|| "ANY".to_owned(), str::to_ascii_uppercase),
        path: event.path.clone(),
        auth: RouteAuth {
            authorizer: auth.authorizer,
            scopes: auth.authorization_scopes,
        },
    })
}

/// What the local cloud needs of a `DynamoDB` event, checked before anything starts.
fn check_stream_event(owner: &str, event: &StreamEvent) -> Result<(), TemplateError> {
    if event.table().is_none() {
        return Err(invalid(format!(
            "{owner}: Stream must be !GetAtt <Table>.StreamArn"
        )));
    }
    let starting_position = &event.starting_position;
    if !["TRIM_HORIZON", "LATEST"].contains(&starting_position.as_str()) {
        return Err(invalid(format!(
            "{owner}: StartingPosition {starting_position} is not TRIM_HORIZON or LATEST"
        )));
    }
    if event.maximum_retry_attempts.is_some_and(|n| n < -1) {
        return Err(invalid(format!(
            "{owner}: MaximumRetryAttempts is not -1 or more"
        )));
    }
    // Refused here, before anything starts, rather than once the stream is polled.
    let patterns = event.filter_patterns();
    if let Some(bad) = patterns.iter().find_map(|p| unsupported(p).err()) {
        return Err(invalid(format!("{owner}: filter pattern: {bad}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo_template() -> Template {
        Template::load(&crate::repo::repo_root().unwrap()).unwrap()
    }

    /// The event's settings as the local cloud runs them.
    fn sqs_source(event: &SqsEvent) -> crate::event_source::SqsSourceConfig {
        let (url, arn) = (String::new(), String::new());
        crate::event_source::SqsSourceConfig::new(event, url, arn, Duration::ZERO)
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
        let tables: Vec<_> = template.tables.keys().collect();
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
        let event = &processor.sqs_events[0].1;
        assert_eq!(
            event.queue,
            Expr::GetAtt {
                resource: "OrdersQueue".into(),
                attribute: "Arn".into()
            }
        );
        let source = sqs_source(event);
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
        assert_eq!(env["SHARED"], Expr::String("mine".into()));
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
        assert!(matches!(&env["PICK"], Expr::If { condition, .. } if condition == "HasEmail"));
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
        let source = sqs_source(&api.sqs_events[0].1);
        assert_eq!(source.batch_size, 10);
        assert!(!source.report_batch_item_failures);
        assert!(template.warnings.iter().any(|w| w.contains("Schedule")));

        let work = &template.queues["Work"];
        assert_eq!(
            work.visibility_timeout.as_ref().and_then(Expr::as_u64),
            Some(30)
        );
        assert_eq!(work.redrive_policy.as_ref().unwrap().max_receive_count, 2);
        // HasEmail is false with the default parameter: the topic is not deployed.
        assert_eq!(template.topics, vec!["Topic".to_owned()]);
        assert_eq!(template.kinds["Mystery"], "AWS::Made::Up");
        let subscription = &template.subscriptions["Sub"];
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
        let index = &template.tables["ProductsTable"].global_secondary_indexes[0];
        assert_eq!(index.index_name, "by_category");
        assert_eq!(
            index.key_schema[0],
            KeyElement {
                attribute_name: "category".into(),
                key_type: "HASH".into()
            }
        );
        assert_eq!(index.projection.projection_type.as_deref(), Some("ALL"));
        let ttl = &template.tables["IdempotencyTable"].time_to_live_specification;
        let ttl = ttl.as_ref().unwrap();
        assert_eq!(ttl.attribute_name, "expires_at");
        assert_eq!(ttl.enabled, Some(true));
    }
}
