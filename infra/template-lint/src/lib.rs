//! Project checks on `template.yaml` that cfn-lint does not make.
//!
//! cfn-lint validates the template against CloudFormation's and SAM's schemas; these rules hold
//! the properties this project promises on top of that:
//!
//! - every SQS queue that is not itself a dead-letter queue redrives to a queue of the template,
//!   so a message that keeps failing is parked instead of retried until it expires;
//! - every dead-letter queue has a CloudWatch alarm on its `QueueName`, so a parked message is
//!   seen;
//! - every SQS event source reports partial batch failures (`ReportBatchItemFailures`), so one
//!   bad record does not send its whole batch back;
//! - a consumed queue's visibility timeout is at least six times its consumer's timeout;
//! - no policy statement allows an action with a wildcard (`*`, `dynamodb:*`, `sqs:Get*`) or
//!   `NotAction`, and no identity policy allows `Resource: "*"` or `NotResource`, except for the
//!   few actions AWS grants on `"*"` alone ([`STAR_ONLY_ACTIONS`]);
//! - every SAM function is traced (`Tracing: Active`), has an alarm on its `Errors` and one on
//!   its `Throttles`, and deploys safely: `AutoPublishAlias` (with
//!   `AutoPublishAliasAllProperties`, so any change makes a version), and a
//!   `DeploymentPreference` whose `Alarms` include an alarm on that function, so a bad version
//!   rolls back by itself;
//! - every dashboard's body is JSON with a `widgets` list (CloudFormation only checks it when
//!   the stack is deployed).
//!
//! The template is read by [`sam_template`], the typed model `cargo dev` reads too, in which
//! an intrinsic is one [`Expr`] whether written as a tag (`!GetAtt X.Arn`) or in its long form
//! (`Fn::GetAtt: [X, Arn]`). The check reads what the template says: it does not expand SAM
//! policy templates or managed policies. A SAM function's properties are read merged with
//! `Globals.Function`, as SAM merges them.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use sam_template::{
    Event, Expr, FunctionProperties, Properties, Resource, Template, reports_batch_item_failures,
    substitute,
};
use serde_norway::{Mapping, Value};

/// One rule of the check; [`Rule::id`] is the name printed in findings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    QueueWithoutDlq,
    DlqWithoutAlarm,
    NoPartialBatchResponse,
    VisibilityTimeout,
    WildcardAction,
    WildcardResource,
    NoTracing,
    FunctionWithoutAlarm,
    UnsafeDeploy,
    DashboardBody,
}

impl Rule {
    pub fn id(self) -> &'static str {
        match self {
            Rule::QueueWithoutDlq => "queue-without-dlq",
            Rule::DlqWithoutAlarm => "dlq-without-alarm",
            Rule::NoPartialBatchResponse => "sqs-event-without-report-batch-item-failures",
            Rule::VisibilityTimeout => "visibility-timeout-below-6x-function-timeout",
            Rule::WildcardAction => "wildcard-action",
            Rule::WildcardResource => "wildcard-resource",
            Rule::NoTracing => "function-without-active-tracing",
            Rule::FunctionWithoutAlarm => "function-without-errors-or-throttles-alarm",
            Rule::UnsafeDeploy => "function-without-safe-deploy",
            Rule::DashboardBody => "dashboard-body-not-json",
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

/// A rule broken by one resource (its logical id).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Finding {
    pub resource: String,
    pub rule: Rule,
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.resource, self.rule, self.message)
    }
}

/// Parses a template and checks it.
pub fn check_yaml(text: &str) -> Result<Vec<Finding>, serde_norway::Error> {
    Ok(check(&Template::from_yaml(text)?))
}

/// Checks a parsed template; findings come sorted by resource, then rule.
pub fn check(template: &Template) -> Vec<Finding> {
    let resources = Resources::of(template);
    let mut findings = Vec::new();
    check_queues(&resources, &mut findings);
    check_sqs_event_sources(template, &resources, &mut findings);
    check_policies(&resources, &mut findings);
    check_functions(template, &resources, &mut findings);
    check_dashboards(&resources, &mut findings);
    findings.sort();
    findings.dedup();
    findings
}

/// The `Resources` section by logical id.
struct Resources<'a>(BTreeMap<&'a str, &'a Resource>);

impl<'a> Resources<'a> {
    fn of(template: &'a Template) -> Self {
        Resources(
            template
                .resources
                .iter()
                .map(|(id, r)| (id.as_str(), r))
                .collect(),
        )
    }

    fn of_type(&self, ty: &'a str) -> impl Iterator<Item = (&'a str, &'a Resource)> + '_ {
        self.0
            .iter()
            .filter(move |(_, r)| r.kind == ty)
            .map(|(n, r)| (*n, *r))
    }

    fn is_type(&self, name: &str, ty: &str) -> bool {
        self.0.get(name).is_some_and(|r| r.kind == ty)
    }

    /// The SAM functions with their own properties (without `Globals`).
    fn functions(&self) -> impl Iterator<Item = (&'a str, &'a FunctionProperties)> + '_ {
        self.0.iter().filter_map(|(name, r)| match &r.properties {
            Properties::Function(f) => Some((*name, &**f)),
            _ => None,
        })
    }

    /// The queue `arn` is `!GetAtt <Queue>.Arn` of.
    fn queue_of(&self, arn: &'a Expr) -> Option<&'a str> {
        match arn {
            Expr::GetAtt {
                resource,
                attribute,
            } if attribute == "Arn" && self.is_type(resource, QUEUE) => Some(resource),
            _ => None,
        }
    }
}

const QUEUE: &str = "AWS::SQS::Queue";
const ALARM: &str = "AWS::CloudWatch::Alarm";
const DASHBOARD: &str = "AWS::CloudWatch::Dashboard";
const SAM_FUNCTION: &str = "AWS::Serverless::Function";
const LAMBDA_FUNCTION: &str = "AWS::Lambda::Function";
const EVENT_SOURCE_MAPPING: &str = "AWS::Lambda::EventSourceMapping";
/// Lambda's own default when neither the function nor SAM's Globals set a timeout.
const LAMBDA_DEFAULT_TIMEOUT: u64 = 3;
/// SQS's default visibility timeout.
const SQS_DEFAULT_VISIBILITY: u64 = 30;

/// A property of a resource of a type the model does not type (alarms, roles, mappings...).
fn prop<'a>(resource: &'a Resource, key: &str) -> Option<&'a Expr> {
    match &resource.properties {
        Properties::Other(properties) => properties.get(key),
        _ => None,
    }
}

/// `DestinationConfig.OnFailure.Destination` of an event source written as a mapping.
fn on_failure(config: Option<&Expr>) -> Option<&Expr> {
    config?.get("OnFailure")?.get("Destination")
}

// ------------------------------------------------------------------------------ queues

/// Queues that an event source (a SAM function's event, or an event source mapping) names as
/// its on-failure destination: a stream source's dead-letter queue.
fn on_failure_destinations<'a>(resources: &Resources<'a>) -> Vec<&'a str> {
    let events = resources.functions().flat_map(|(_, f)| &f.events);
    let mut destinations: Vec<&Expr> = events
        .filter_map(|(_, event)| match event {
            Event::DynamoDb(stream) => stream.on_failure(),
            Event::Other { properties, .. } => on_failure(properties.get("DestinationConfig")),
            _ => None,
        })
        .collect();
    let mappings = resources.of_type(EVENT_SOURCE_MAPPING);
    destinations.extend(mappings.filter_map(|(_, m)| on_failure(prop(m, "DestinationConfig"))));
    destinations
        .into_iter()
        .filter_map(|d| resources.queue_of(d))
        .collect()
}

/// The queues other queues redrive to, or that are on-failure destinations; a finding for
/// each queue that redrives nowhere of this template.
fn dead_letter_queues<'a>(
    resources: &Resources<'a>,
    findings: &mut Vec<Finding>,
) -> BTreeSet<&'a str> {
    let mut dlqs: BTreeSet<&str> = on_failure_destinations(resources).into_iter().collect();
    let mut without_redrive = Vec::new();
    for (name, queue) in resources.0.iter().filter_map(|(n, r)| match &r.properties {
        Properties::Queue(q) => Some((*n, q)),
        _ => None,
    }) {
        let Some(redrive) = &queue.redrive_policy else {
            without_redrive.push(name);
            continue;
        };
        match resources.queue_of(&redrive.dead_letter_target_arn) {
            Some(dlq) => drop(dlqs.insert(dlq)),
            None => findings.push(Finding {
                resource: name.to_owned(),
                rule: Rule::QueueWithoutDlq,
                message: "RedrivePolicy.deadLetterTargetArn does not name a queue of this \
                          template (write !GetAtt <Queue>.Arn)"
                    .to_owned(),
            }),
        }
    }
    for name in without_redrive.into_iter().filter(|n| !dlqs.contains(n)) {
        findings.push(Finding {
            resource: name.to_owned(),
            rule: Rule::QueueWithoutDlq,
            message: "has no RedrivePolicy: a message that keeps failing is retried until \
                      it expires, then lost"
                .to_owned(),
        });
    }
    dlqs
}

fn check_queues(resources: &Resources, findings: &mut Vec<Finding>) {
    let dlqs = dead_letter_queues(resources, findings);
    let alarmed: Vec<&Expr> = resources
        .of_type(ALARM)
        .flat_map(|(_, alarm)| queue_name_dimensions(alarm))
        .collect();
    for dlq in dlqs {
        let literal_name = match resources.0.get(dlq).map(|q| &q.properties) {
            Some(Properties::Queue(queue)) => queue.queue_name.as_ref().and_then(Expr::as_str),
            _ => None,
        };
        let has_alarm = alarmed.iter().any(|v| {
            v.denotes(dlq, "QueueName") || (literal_name.is_some() && v.as_str() == literal_name)
        });
        if !has_alarm {
            findings.push(Finding {
                resource: dlq.to_owned(),
                rule: Rule::DlqWithoutAlarm,
                message: "is a dead-letter queue, but no AWS::CloudWatch::Alarm has a QueueName \
                          dimension on it (!GetAtt <Queue>.QueueName): failed messages would \
                          pile up unseen"
                    .to_owned(),
            });
        }
    }
}

/// Values of `QueueName` dimensions of an alarm, in `Dimensions` or in metric-math `Metrics`.
fn queue_name_dimensions(alarm: &Resource) -> Vec<&Expr> {
    let mut lists = vec![prop(alarm, "Dimensions")];
    let metrics = prop(alarm, "Metrics")
        .and_then(Expr::as_list)
        .unwrap_or_default();
    lists.extend(
        metrics
            .iter()
            .map(|m| m.get("MetricStat")?.get("Metric")?.get("Dimensions")),
    );
    lists
        .into_iter()
        .flatten()
        .filter_map(Expr::as_list)
        .flatten()
        .filter(|d| d.get("Name").and_then(Expr::as_str) == Some("QueueName"))
        .filter_map(|d| d.get("Value"))
        .collect()
}

// ------------------------------------------------------------------------------ event sources

/// One SQS event source: SAM's `Events: {Type: SQS}` or an `AWS::Lambda::EventSourceMapping`
/// reading a queue of this template.
struct SqsSource<'a> {
    /// The resource a finding names: the function for SAM events, else the mapping.
    owner: &'a str,
    /// How the message names the source.
    label: String,
    function_response_types: Option<&'a Expr>,
    queue: Option<&'a str>,
    /// The consuming function's timeout in seconds, when the template says it literally.
    timeout: Option<u64>,
    function: Option<&'a str>,
}

fn sqs_sources<'a>(template: &'a Template, resources: &Resources<'a>) -> Vec<SqsSource<'a>> {
    let global_timeout = template.globals.function.timeout.as_ref();
    let timeout_of = |function: &str| -> Option<u64> {
        let timeout = match &resources.0.get(function)?.properties {
            Properties::Function(f) => f.timeout.as_ref().or(global_timeout),
            _ => prop(resources.0.get(function)?, "Timeout"),
        };
        timeout.map_or(Some(LAMBDA_DEFAULT_TIMEOUT), Expr::as_u64)
    };
    let mut sources = Vec::new();
    for (name, function) in resources.functions() {
        for (event_name, event) in &function.events {
            let Event::Sqs(event) = event else { continue };
            sources.push(SqsSource {
                owner: name,
                label: format!("SQS event {event_name}"),
                function_response_types: event.function_response_types.as_ref(),
                queue: resources.queue_of(&event.queue),
                timeout: timeout_of(name),
                function: Some(name),
            });
        }
    }
    for (name, mapping) in resources.of_type(EVENT_SOURCE_MAPPING) {
        let arn = prop(mapping, "EventSourceArn");
        let queue = arn.and_then(|a| resources.queue_of(a));
        let literal_sqs_arn = arn.is_some_and(|a| a.literals().iter().any(|l| l.contains(":sqs:")));
        if queue.is_none() && !literal_sqs_arn {
            continue;
        }
        let function = prop(mapping, "FunctionName")
            .and_then(Expr::referenced)
            .filter(|f| {
                resources.is_type(f, SAM_FUNCTION) || resources.is_type(f, LAMBDA_FUNCTION)
            });
        sources.push(SqsSource {
            owner: name,
            label: "SQS event source mapping".to_owned(),
            function_response_types: prop(mapping, "FunctionResponseTypes"),
            queue,
            timeout: function.and_then(timeout_of),
            function,
        });
    }
    sources
}

fn check_sqs_event_sources(
    template: &Template,
    resources: &Resources,
    findings: &mut Vec<Finding>,
) {
    for source in sqs_sources(template, resources) {
        if !reports_batch_item_failures(source.function_response_types) {
            findings.push(Finding {
                resource: source.owner.to_owned(),
                rule: Rule::NoPartialBatchResponse,
                message: format!(
                    "{} lacks FunctionResponseTypes: [ReportBatchItemFailures]: one failed \
                     record would send its whole batch back to the queue",
                    source.label
                ),
            });
        }

        let (Some(queue), Some(timeout)) = (source.queue, source.timeout) else {
            continue;
        };
        let visibility = match resources.0.get(queue).map(|q| &q.properties) {
            Some(Properties::Queue(q)) => q.visibility_timeout.as_ref(),
            _ => None,
        };
        if let Some(visibility) = visibility.map_or(Some(SQS_DEFAULT_VISIBILITY), Expr::as_u64)
            && visibility < 6 * timeout
        {
            findings.push(Finding {
                resource: queue.to_owned(),
                rule: Rule::VisibilityTimeout,
                message: format!(
                    "VisibilityTimeout {visibility} s is less than 6 x the {} s timeout of its \
                     consumer {}: a batch still in progress could be handed out again",
                    timeout,
                    source.function.unwrap_or(source.owner)
                ),
            });
        }
    }
}

// ------------------------------------------------------------------------------ policies

/// Who a policy document is attached to: identities (roles, users, functions) are checked for
/// wildcard resources too; resource and trust policies only for wildcard actions.
#[derive(Clone, Copy, PartialEq, Eq)]
enum PolicyKind {
    Identity,
    Other,
}

type PolicyDocument<'a> = (String, &'a Expr, PolicyKind);

fn is_document(v: &Expr) -> bool {
    v.get("Statement").is_some()
}

/// SAM's `Policies`: a managed policy name, a policy template, a document, or a list of
/// those. Names and templates are expanded by SAM, out of this check's sight.
fn sam_policies(policies: &Expr) -> Vec<PolicyDocument<'_>> {
    match policies {
        Expr::List(items) => items
            .iter()
            .enumerate()
            .flat_map(|(i, item)| item.alternatives().into_iter().map(move |b| (i, b)))
            .filter(|(_, b)| is_document(b))
            .map(|(i, b)| (format!("Policies[{i}]"), b, PolicyKind::Identity))
            .collect(),
        v if is_document(v) => vec![("Policies".to_owned(), v, PolicyKind::Identity)],
        _ => Vec::new(),
    }
}

/// Every policy document a resource declares, with where it sits (for messages).
fn policy_documents(resource: &Resource) -> Vec<PolicyDocument<'_>> {
    let properties = match &resource.properties {
        Properties::Function(f) => {
            return f.policies.as_ref().map(sam_policies).unwrap_or_default();
        }
        Properties::Other(properties) => properties,
        _ => return Vec::new(),
    };
    let ty = resource.kind.as_str();
    let mut docs = Vec::new();
    if ty.starts_with("AWS::Serverless::")
        && let Some(policies) = properties.get("Policies")
    {
        docs.extend(sam_policies(policies));
    }
    if matches!(ty, "AWS::IAM::Role" | "AWS::IAM::User" | "AWS::IAM::Group")
        && let Some(Expr::List(policies)) = properties.get("Policies")
    {
        for (i, policy) in policies.iter().enumerate() {
            for doc in policy
                .alternatives()
                .into_iter()
                .filter_map(|b| b.get("PolicyDocument"))
            {
                let path = format!("Policies[{i}].PolicyDocument");
                docs.push((path, doc, PolicyKind::Identity));
            }
        }
    }
    let identity_document = matches!(
        ty,
        "AWS::IAM::Policy"
            | "AWS::IAM::ManagedPolicy"
            | "AWS::IAM::RolePolicy"
            | "AWS::IAM::UserPolicy"
            | "AWS::IAM::GroupPolicy"
    );
    // Resource and trust policies under their usual property names (queue, topic, bucket and
    // key policies, a role's trust policy, a secret's resource policy).
    for key in [
        "PolicyDocument",
        "AssumeRolePolicyDocument",
        "KeyPolicy",
        "ResourcePolicy",
    ] {
        if let Some(doc) = properties.get(key).filter(|d| is_document(d)) {
            let kind = if identity_document && key == "PolicyDocument" {
                PolicyKind::Identity
            } else {
                PolicyKind::Other
            };
            docs.push((key.to_owned(), doc, kind));
        }
    }
    docs
}

fn check_policies(resources: &Resources, findings: &mut Vec<Finding>) {
    for (&name, resource) in &resources.0 {
        for (path, doc, kind) in policy_documents(resource) {
            let Some(statement) = doc.get("Statement") else {
                continue;
            };
            let statements: Vec<&Expr> = statement
                .alternatives()
                .into_iter()
                .flat_map(|s| match s {
                    Expr::List(items) => items.iter().flat_map(Expr::alternatives).collect(),
                    other => vec![other],
                })
                .collect();
            for (i, stmt) in statements.into_iter().enumerate() {
                let statement = Statement::new(name, &format!("{path}.Statement[{i}]"), stmt);
                statement.check(kind, findings);
            }
        }
    }
}

/// Actions that act on no resource type, so IAM grants them only with `Resource: "*"`: a
/// statement allowing nothing but these may say `"*"`. Each one's entry in the Service
/// Authorization Reference lists no resource type. Today: the two X-Ray calls Lambda makes with
/// a function's role when the function has active tracing.
pub const STAR_ONLY_ACTIONS: &[&str] = &["xray:PutTraceSegments", "xray:PutTelemetryRecords"];

/// IAM action names are case-insensitive.
fn is_star_only(action: &str) -> bool {
    STAR_ONLY_ACTIONS
        .iter()
        .any(|a| a.eq_ignore_ascii_case(action))
}

/// How many values a statement's `Action` has, written out or not (`!Ref`, `!If` branches).
fn action_count(stmt: &Expr) -> usize {
    match stmt.get("Action") {
        Some(Expr::List(items)) => items.iter().map(|i| i.alternatives().len()).sum(),
        Some(other) => other.alternatives().len(),
        None => 0,
    }
}

/// One allowing statement of a policy document, and where it is (for messages).
struct Statement<'a> {
    resource: &'a str,
    at: String,
    statement: &'a Expr,
}

impl<'a> Statement<'a> {
    fn new(resource: &'a str, path: &str, statement: &'a Expr) -> Self {
        let at = match statement.get("Sid").and_then(Expr::as_str) {
            Some(sid) => format!("{path} (Sid {sid})"),
            None => path.to_owned(),
        };
        Statement {
            resource,
            at,
            statement,
        }
    }

    fn finding(&self, rule: Rule, message: &str) -> Finding {
        Finding {
            resource: self.resource.to_owned(),
            rule,
            message: format!("{} {message}", self.at),
        }
    }

    fn check(&self, kind: PolicyKind, findings: &mut Vec<Finding>) {
        // A Deny with a wildcard takes permissions away; only what is allowed matters here.
        if self.statement.get("Effect").and_then(Expr::as_str) == Some("Deny") {
            return;
        }
        let actions = self
            .statement
            .get("Action")
            .map(Expr::literals)
            .unwrap_or_default();
        for action in actions.iter().filter(|a| a.contains(['*', '?'])) {
            let message = format!("allows wildcard action `{action}`: name each action");
            findings.push(self.finding(Rule::WildcardAction, &message));
        }
        if self.statement.get("NotAction").is_some() {
            findings.push(self.finding(
                Rule::WildcardAction,
                "allows NotAction, i.e. every action but those listed: name each action",
            ));
        }
        if kind == PolicyKind::Identity {
            findings.extend(self.wildcard_resource(&actions));
        }
    }

    /// `Resource: "*"` is for actions AWS grants on `"*"` alone; `NotResource` for none.
    fn wildcard_resource(&self, actions: &[&str]) -> Vec<Finding> {
        let mut findings = Vec::new();
        let resources = self.statement.get("Resource").map(Expr::literals);
        // Written-out actions only: one behind a !Ref could be anything.
        let scoped: Vec<&str> = actions
            .iter()
            .copied()
            .filter(|a| !is_star_only(a))
            .collect();
        let star_only = !actions.is_empty()
            && scoped.is_empty()
            && action_count(self.statement) == actions.len();
        if resources.is_some_and(|r| r.contains(&"*")) && !star_only {
            let message = if scoped.is_empty() {
                "allows Resource \"*\": scope it to the resource (!GetAtt / !Ref)".to_owned()
            } else {
                let scoped: Vec<String> = scoped.iter().map(|a| format!("`{a}`")).collect();
                format!(
                    "allows Resource \"*\" for {}: scope it to the resource (!GetAtt / \
                     !Ref); only actions AWS grants on \"*\" alone may have it",
                    scoped.join(", ")
                )
            };
            findings.push(self.finding(Rule::WildcardResource, &message));
        }
        if self.statement.get("NotResource").is_some() {
            findings.push(self.finding(
                Rule::WildcardResource,
                "allows NotResource, i.e. every resource but those listed",
            ));
        }
        findings
    }
}

// ------------------------------------------------------------------------------ functions

/// The Lambda metric an alarm watches and the function its `FunctionName` dimension names:
/// `("Errors", "OrdersApiFunction")`.
fn lambda_alarm(alarm: &Resource) -> Option<(&str, &str)> {
    if prop(alarm, "Namespace").and_then(Expr::as_str) != Some("AWS/Lambda") {
        return None;
    }
    let metric = prop(alarm, "MetricName").and_then(Expr::as_str)?;
    let function = prop(alarm, "Dimensions")?
        .as_list()?
        .iter()
        .find(|d| d.get("Name").and_then(Expr::as_str) == Some("FunctionName"))?
        .get("Value")
        .and_then(Expr::referenced)?;
    Some((metric, function))
}

/// (alarm, metric, function) of every alarm on a Lambda metric.
type LambdaAlarm<'a> = (&'a str, &'a str, &'a str);

fn check_functions(template: &Template, resources: &Resources, findings: &mut Vec<Finding>) {
    let alarms: Vec<LambdaAlarm> = resources
        .of_type(ALARM)
        .filter_map(|(name, alarm)| {
            let (metric, function) = lambda_alarm(alarm)?;
            Some((name, metric, function))
        })
        .collect();
    for (name, function) in resources.functions() {
        let function = function.with_globals(&template.globals.function);
        let mut finding = |rule, message: String| {
            findings.push(Finding {
                resource: name.to_owned(),
                rule,
                message,
            })
        };
        if function.tracing.as_ref().and_then(Expr::as_str) != Some("Active") {
            finding(
                Rule::NoTracing,
                "has no Tracing: Active (its own or Globals.Function's): its invocations leave \
                 no X-Ray trace"
                    .to_owned(),
            );
        }
        for metric in ["Errors", "Throttles"] {
            if !alarms.iter().any(|&(_, m, f)| m == metric && f == name) {
                finding(
                    Rule::FunctionWithoutAlarm,
                    format!(
                        "no AWS::CloudWatch::Alarm watches its {metric} (Namespace AWS/Lambda, \
                         dimension FunctionName: !Ref {name})"
                    ),
                );
            }
        }
        check_deploys(name, &function, &alarms, &mut finding);
    }
}

/// Safe deploys: a version per change, published to an alias, shifted to by canary, rolled
/// back by an alarm on the function.
fn check_deploys(
    name: &str,
    function: &FunctionProperties,
    alarms: &[LambdaAlarm],
    finding: &mut impl FnMut(Rule, String),
) {
    if function.auto_publish_alias.is_none() {
        finding(
            Rule::UnsafeDeploy,
            "has no AutoPublishAlias: a deploy replaces the code every caller runs at once, \
             with nothing to shift back to"
                .to_owned(),
        );
    }
    let all_properties = function.auto_publish_alias_all_properties.as_ref();
    if all_properties.and_then(Expr::as_bool) != Some(true) {
        finding(
            Rule::UnsafeDeploy,
            "has no AutoPublishAliasAllProperties: true: a change of its timeout, role or \
             tracing alone would publish no version, and the alias would keep the old ones"
                .to_owned(),
        );
    }
    let preference = function.deployment_preference.as_ref();
    let enabled = |p: &&Expr| p.get("Enabled").and_then(Expr::as_bool) != Some(false);
    let Some(preference) = preference.filter(enabled) else {
        finding(
            Rule::UnsafeDeploy,
            "has no enabled DeploymentPreference: a new version takes all traffic at once"
                .to_owned(),
        );
        return;
    };
    if preference.get("Type").is_none() {
        finding(
            Rule::UnsafeDeploy,
            "DeploymentPreference has no Type (e.g. Canary10Percent5Minutes)".to_owned(),
        );
    }
    if !rolls_back(name, preference, alarms) {
        finding(
            Rule::UnsafeDeploy,
            format!(
                "DeploymentPreference.Alarms names no alarm of this template on {name} \
                 (!Ref <Alarm> with dimension FunctionName: !Ref {name}): a failing version \
                 would not roll back"
            ),
        );
    }
}

/// Whether `DeploymentPreference.Alarms` names an alarm on function `name`. `Alarms` is a
/// list, or an `!If` of lists; any item may be an `!If` too.
fn rolls_back(name: &str, preference: &Expr, alarms: &[LambdaAlarm]) -> bool {
    preference
        .get("Alarms")
        .into_iter()
        .flat_map(Expr::alternatives)
        .flat_map(|a| a.as_list().unwrap_or(std::slice::from_ref(a)))
        .flat_map(Expr::alternatives)
        .filter_map(|a| match a {
            Expr::Ref(alarm) => Some(alarm.as_str()),
            _ => None,
        })
        .any(|named| alarms.iter().any(|&(a, _, f)| a == named && f == name))
}

// ------------------------------------------------------------------------------ dashboards

/// A `!Sub` template with each `${Name}` replaced by `0` (valid inside a JSON string and as a
/// bare number alike) and each `${!Literal}` by `${Literal}`, as CloudFormation writes it.
fn substitute_placeholders(template: &str) -> String {
    let zero = |_: &Expr| Ok::<_, std::convert::Infallible>("0".to_owned());
    let Ok(text) = substitute(template, &BTreeMap::new(), zero);
    text
}

/// A dashboard's `DashboardBody`: a string, or a `!Sub` of one with placeholders for values.
fn dashboard_body(dashboard: &Resource) -> Option<String> {
    match prop(dashboard, "DashboardBody")? {
        Expr::String(body) => Some(body.clone()),
        Expr::Sub { template, .. } => Some(substitute_placeholders(template)),
        _ => None,
    }
}

fn check_dashboards(resources: &Resources, findings: &mut Vec<Finding>) {
    for (name, dashboard) in resources.of_type(DASHBOARD) {
        let body = dashboard_body(dashboard);
        let problem = match body
            .as_deref()
            .map(serde_json::from_str::<serde_json::Value>)
        {
            None => Some("DashboardBody is not a string or a !Sub of one".to_owned()),
            Some(Err(e)) => Some(format!("DashboardBody is not JSON: {e}")),
            Some(Ok(json)) if !json.get("widgets").is_some_and(|w| w.is_array()) => {
                Some("DashboardBody has no \"widgets\" list".to_owned())
            }
            Some(Ok(_)) => None,
        };
        if let Some(message) = problem {
            findings.push(Finding {
                resource: name.to_owned(),
                rule: Rule::DashboardBody,
                message,
            });
        }
    }
}

/// A resource's `Properties`, for tests that plant faults into a parsed template.
pub fn properties_mut<'a>(template: &'a mut Value, resource: &str) -> Option<&'a mut Mapping> {
    template
        .get_mut("Resources")?
        .get_mut(resource)?
        .get_mut("Properties")?
        .as_mapping_mut()
}

#[cfg(test)]
mod tests;
