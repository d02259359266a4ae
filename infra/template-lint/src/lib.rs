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
//! The template is read as YAML with CloudFormation's short tags (`!Ref`, `!GetAtt`, `!Sub`,
//! `!If`) and their long forms (`Ref`, `Fn::GetAtt`, ...). The check reads what the template
//! says: it does not expand SAM policy templates or managed policies. A SAM function's
//! properties are read merged with `Globals.Function`, as SAM merges them.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

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
    let template: Value = serde_norway::from_str(text)?;
    Ok(check(&template))
}

/// Checks a parsed template; findings come sorted by resource, then rule.
pub fn check(template: &Value) -> Vec<Finding> {
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
struct Resources<'a>(BTreeMap<&'a str, &'a Value>);

impl<'a> Resources<'a> {
    fn of(template: &'a Value) -> Self {
        let map = template
            .get("Resources")
            .and_then(Value::as_mapping)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| Some((k.as_str()?, v)))
                    .collect()
            })
            .unwrap_or_default();
        Resources(map)
    }

    fn of_type(&self, ty: &'a str) -> impl Iterator<Item = (&'a str, &'a Value)> + '_ {
        self.0
            .iter()
            .filter(move |(_, r)| type_of(r) == Some(ty))
            .map(|(n, r)| (*n, *r))
    }

    fn is_type(&self, name: &str, ty: &str) -> bool {
        self.0.get(name).is_some_and(|r| type_of(r) == Some(ty))
    }

    fn get(&self, name: &str) -> Option<&'a Value> {
        self.0.get(name).copied()
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

fn type_of(resource: &Value) -> Option<&str> {
    resource.get("Type").and_then(Value::as_str)
}

fn props(resource: &Value) -> Option<&Value> {
    resource.get("Properties")
}

fn prop<'a>(resource: &'a Value, key: &str) -> Option<&'a Value> {
    props(resource).and_then(|p| p.get(key))
}

// ------------------------------------------------------------------------------ intrinsics

/// The argument of intrinsic `name` (short name: `Ref`, `GetAtt`, `Sub`, `If`, ...), written
/// either as a tag (`!GetAtt X.Arn`) or as a one-key mapping (`Fn::GetAtt: [X, Arn]`).
fn intrinsic<'a>(v: &'a Value, name: &str) -> Option<&'a Value> {
    match v {
        Value::Tagged(t) if t.tag == name => Some(&t.value),
        Value::Mapping(m) if m.len() == 1 => {
            let long = if name == "Ref" {
                "Ref".to_owned()
            } else {
                format!("Fn::{name}")
            };
            m.get(long.as_str())
        }
        _ => None,
    }
}

/// `!GetAtt X.Attr`, `!GetAtt [X, Attr]` or `Fn::GetAtt` in either form: `(X, Attr)`.
fn get_att(v: &Value) -> Option<(&str, &str)> {
    let arg = intrinsic(v, "GetAtt")?;
    match arg {
        Value::String(s) => s.split_once('.'),
        Value::Sequence(seq) if seq.len() == 2 => Some((seq[0].as_str()?, seq[1].as_str()?)),
        _ => None,
    }
}

/// The template string of `!Sub "..."` or `!Sub ["...", {vars}]`.
fn sub_string(v: &Value) -> Option<&str> {
    match intrinsic(v, "Sub")? {
        Value::String(s) => Some(s),
        Value::Sequence(seq) => seq.first()?.as_str(),
        _ => None,
    }
}

/// Whether `v` evaluates to attribute `attr` of resource `name`: `!GetAtt name.attr` or a
/// `!Sub` that is exactly `${name.attr}`.
fn denotes_attr(v: &Value, name: &str, attr: &str) -> bool {
    get_att(v) == Some((name, attr))
        || sub_string(v) == Some(format!("${{{name}.{attr}}}").as_str())
}

/// The resource an `!Ref X`, `!GetAtt X.Attr` or `${X...}`-only `!Sub` points at.
fn referenced(v: &Value) -> Option<&str> {
    if let Some(name) = intrinsic(v, "Ref").and_then(Value::as_str) {
        return Some(name);
    }
    if let Some((name, _)) = get_att(v) {
        return Some(name);
    }
    let s = sub_string(v)?.strip_prefix("${")?.strip_suffix('}')?;
    Some(s.split_once('.').map_or(s, |(n, _)| n))
}

/// The alternatives a value may take: both branches of an `!If`, recursively, without
/// `AWS::NoValue`; otherwise the value itself.
fn branches(v: &Value) -> Vec<&Value> {
    if let Some(Value::Sequence(args)) = intrinsic(v, "If")
        && args.len() == 3
    {
        return args[1..]
            .iter()
            .filter(|b| intrinsic(b, "Ref").and_then(Value::as_str) != Some("AWS::NoValue"))
            .flat_map(branches)
            .collect();
    }
    vec![v]
}

/// The literal strings a value can evaluate to or be built from: plain strings, the items of
/// lists, both branches of `!If`, the pieces of `!Join` and the template of `!Sub`. References
/// (`!Ref`, `!GetAtt`, `!ImportValue`) contribute nothing: their values are not in the file.
fn literals<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    if let Some(s) = sub_string(v) {
        out.push(s);
        return;
    }
    if let Some(Value::Sequence(args)) = intrinsic(v, "Join") {
        if let Some(pieces) = args.get(1) {
            literals(pieces, out);
        }
        return;
    }
    if intrinsic(v, "If").is_some() {
        for b in branches(v) {
            if !std::ptr::eq(b, v) {
                literals(b, out);
            }
        }
        return;
    }
    match v {
        Value::String(s) => out.push(s),
        Value::Sequence(items) => items.iter().for_each(|i| literals(i, out)),
        // Any other tag or one-key `Fn::` mapping is a reference or a function whose result
        // is not written out.
        _ => {}
    }
}

fn as_number(v: &Value) -> Option<u64> {
    v.as_u64().or_else(|| v.as_str()?.parse().ok())
}

// ------------------------------------------------------------------------------ queues

/// Queues that an event source (a SAM function's event, or an event source mapping) names as
/// its on-failure destination: a stream source's dead-letter queue.
fn on_failure_destinations<'a>(resources: &Resources<'a>) -> Vec<&'a str> {
    let mut configs: Vec<&Value> = Vec::new();
    for (_, function) in resources.of_type(SAM_FUNCTION) {
        if let Some(events) = prop(function, "Events").and_then(Value::as_mapping) {
            configs.extend(
                events
                    .values()
                    .filter_map(|e| e.get("Properties")?.get("DestinationConfig")),
            );
        }
    }
    for (_, mapping) in resources.of_type(EVENT_SOURCE_MAPPING) {
        configs.extend(prop(mapping, "DestinationConfig"));
    }
    configs
        .into_iter()
        .filter_map(|c| c.get("OnFailure")?.get("Destination").and_then(get_att))
        .filter(|(queue, attr)| *attr == "Arn" && resources.is_type(queue, QUEUE))
        .map(|(queue, _)| queue)
        .collect()
}

fn check_queues(resources: &Resources, findings: &mut Vec<Finding>) {
    let mut dlqs: BTreeSet<&str> = on_failure_destinations(resources).into_iter().collect();
    let mut without_redrive = Vec::new();
    for (name, queue) in resources.of_type(QUEUE) {
        let Some(redrive) = prop(queue, "RedrivePolicy") else {
            without_redrive.push(name);
            continue;
        };
        let target = redrive
            .get("deadLetterTargetArn")
            .and_then(get_att)
            .filter(|(t, attr)| *attr == "Arn" && resources.is_type(t, QUEUE));
        match target {
            Some((dlq, _)) => {
                dlqs.insert(dlq);
            }
            None => findings.push(Finding {
                resource: name.to_owned(),
                rule: Rule::QueueWithoutDlq,
                message: "RedrivePolicy.deadLetterTargetArn does not name a queue of this \
                          template (write !GetAtt <Queue>.Arn)"
                    .to_owned(),
            }),
        }
    }
    for name in without_redrive {
        if !dlqs.contains(name) {
            findings.push(Finding {
                resource: name.to_owned(),
                rule: Rule::QueueWithoutDlq,
                message: "has no RedrivePolicy: a message that keeps failing is retried until \
                          it expires, then lost"
                    .to_owned(),
            });
        }
    }

    let alarmed: Vec<&Value> = resources
        .of_type(ALARM)
        .flat_map(|(_, alarm)| queue_name_dimensions(alarm))
        .collect();
    for dlq in dlqs {
        let literal_name = resources
            .get(dlq)
            .and_then(|q| prop(q, "QueueName"))
            .and_then(Value::as_str);
        let has_alarm = alarmed.iter().any(|v| {
            denotes_attr(v, dlq, "QueueName")
                || (literal_name.is_some() && v.as_str() == literal_name)
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
fn queue_name_dimensions(alarm: &Value) -> Vec<&Value> {
    let mut lists = vec![prop(alarm, "Dimensions")];
    if let Some(Value::Sequence(metrics)) = prop(alarm, "Metrics") {
        lists.extend(metrics.iter().map(|m| {
            m.get("MetricStat")
                .and_then(|s| s.get("Metric"))
                .and_then(|m| m.get("Dimensions"))
        }));
    }
    lists
        .into_iter()
        .flatten()
        .filter_map(Value::as_sequence)
        .flatten()
        .filter(|d| d.get("Name").and_then(Value::as_str) == Some("QueueName"))
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
    properties: Option<&'a Value>,
    queue: Option<&'a str>,
    /// The consuming function's timeout in seconds, when the template says it literally.
    timeout: Option<u64>,
    function: Option<&'a str>,
}

fn sqs_sources<'a>(template: &'a Value, resources: &Resources<'a>) -> Vec<SqsSource<'a>> {
    let global_timeout = template
        .get("Globals")
        .and_then(|g| g.get("Function"))
        .and_then(|f| f.get("Timeout"));
    let timeout_of = |function: &Value| -> Option<u64> {
        match prop(function, "Timeout") {
            Some(t) => as_number(t),
            None if type_of(function) == Some(SAM_FUNCTION) => {
                global_timeout.map_or(Some(LAMBDA_DEFAULT_TIMEOUT), as_number)
            }
            None => Some(LAMBDA_DEFAULT_TIMEOUT),
        }
    };
    let queue_of = |arn: Option<&'a Value>| -> Option<&'a str> {
        let (name, attr) = arn.and_then(get_att)?;
        (attr == "Arn" && resources.is_type(name, QUEUE)).then_some(name)
    };

    let mut sources = Vec::new();
    for (name, function) in resources.of_type(SAM_FUNCTION) {
        let Some(events) = prop(function, "Events").and_then(Value::as_mapping) else {
            continue;
        };
        for (event_name, event) in events {
            if event.get("Type").and_then(Value::as_str) != Some("SQS") {
                continue;
            }
            let properties = event.get("Properties");
            sources.push(SqsSource {
                owner: name,
                label: format!("SQS event {}", event_name.as_str().unwrap_or("?")),
                properties,
                queue: queue_of(properties.and_then(|p| p.get("Queue"))),
                timeout: timeout_of(function),
                function: Some(name),
            });
        }
    }
    for (name, mapping) in resources.of_type(EVENT_SOURCE_MAPPING) {
        let arn = prop(mapping, "EventSourceArn");
        let queue = queue_of(arn);
        let literal_sqs_arn = arn.is_some_and(|a| {
            let mut lits = Vec::new();
            literals(a, &mut lits);
            lits.iter().any(|l| l.contains(":sqs:"))
        });
        if queue.is_none() && !literal_sqs_arn {
            continue;
        }
        let function = prop(mapping, "FunctionName")
            .and_then(referenced)
            .filter(|f| {
                resources.is_type(f, SAM_FUNCTION) || resources.is_type(f, LAMBDA_FUNCTION)
            });
        sources.push(SqsSource {
            owner: name,
            label: "SQS event source mapping".to_owned(),
            properties: props(mapping),
            queue,
            timeout: function.and_then(|f| timeout_of(resources.get(f)?)),
            function,
        });
    }
    sources
}

fn check_sqs_event_sources(template: &Value, resources: &Resources, findings: &mut Vec<Finding>) {
    for source in sqs_sources(template, resources) {
        let reports_failures = source
            .properties
            .and_then(|p| p.get("FunctionResponseTypes"))
            .is_some_and(|types| {
                let mut lits = Vec::new();
                literals(types, &mut lits);
                lits.contains(&"ReportBatchItemFailures")
            });
        if !reports_failures {
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
        let visibility = match resources
            .get(queue)
            .and_then(|q| prop(q, "VisibilityTimeout"))
        {
            Some(v) => as_number(v),
            None => Some(SQS_DEFAULT_VISIBILITY),
        };
        if let Some(visibility) = visibility
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

/// Every policy document a resource declares, with where it sits (for messages).
fn policy_documents(resource: &Value) -> Vec<(String, &Value, PolicyKind)> {
    let mut docs = Vec::new();
    let Some(ty) = type_of(resource) else {
        return docs;
    };
    let Some(properties) = props(resource) else {
        return docs;
    };
    let is_doc = |v: &Value| v.get("Statement").is_some();

    if ty.starts_with("AWS::Serverless::") {
        // SAM's Policies: a managed policy name, a policy template, a document, or a list of
        // those. Names and templates are expanded by SAM, out of this check's sight.
        if let Some(policies) = properties.get("Policies") {
            match policies {
                Value::Sequence(items) => {
                    for (i, item) in items.iter().enumerate() {
                        for b in branches(item) {
                            if is_doc(b) {
                                docs.push((format!("Policies[{i}]"), b, PolicyKind::Identity));
                            }
                        }
                    }
                }
                v if is_doc(v) => docs.push(("Policies".to_owned(), v, PolicyKind::Identity)),
                _ => {}
            }
        }
    }

    if matches!(ty, "AWS::IAM::Role" | "AWS::IAM::User" | "AWS::IAM::Group")
        && let Some(Value::Sequence(policies)) = properties.get("Policies")
    {
        for (i, policy) in policies.iter().enumerate() {
            for b in branches(policy) {
                if let Some(doc) = b.get("PolicyDocument") {
                    docs.push((
                        format!("Policies[{i}].PolicyDocument"),
                        doc,
                        PolicyKind::Identity,
                    ));
                }
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
        if let Some(doc) = properties.get(key).filter(|d| is_doc(d)) {
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
            let statements: Vec<&Value> = branches(statement)
                .into_iter()
                .flat_map(|s| match s {
                    Value::Sequence(items) => items.iter().flat_map(branches).collect(),
                    other => vec![other],
                })
                .collect();
            for (i, stmt) in statements.into_iter().enumerate() {
                check_statement(
                    name,
                    &format!("{path}.Statement[{i}]"),
                    stmt,
                    kind,
                    findings,
                );
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
fn action_count(stmt: &Value) -> usize {
    match stmt.get("Action") {
        Some(Value::Sequence(items)) => items.iter().map(|i| branches(i).len()).sum(),
        Some(other) => branches(other).len(),
        None => 0,
    }
}

fn check_statement(
    resource: &str,
    path: &str,
    stmt: &Value,
    kind: PolicyKind,
    findings: &mut Vec<Finding>,
) {
    // A Deny with a wildcard takes permissions away; only what is allowed matters here.
    if stmt.get("Effect").and_then(Value::as_str) == Some("Deny") {
        return;
    }
    let at = match stmt.get("Sid").and_then(Value::as_str) {
        Some(sid) => format!("{path} (Sid {sid})"),
        None => path.to_owned(),
    };
    let mut finding = |rule, message: String| {
        findings.push(Finding {
            resource: resource.to_owned(),
            rule,
            message: format!("{at} {message}"),
        })
    };

    let mut actions = Vec::new();
    if let Some(action) = stmt.get("Action") {
        literals(action, &mut actions);
        for &action in &actions {
            if action.contains(['*', '?']) {
                finding(
                    Rule::WildcardAction,
                    format!("allows wildcard action `{action}`: name each action"),
                );
            }
        }
    }
    if stmt.get("NotAction").is_some() {
        finding(
            Rule::WildcardAction,
            "allows NotAction, i.e. every action but those listed: name each action".to_owned(),
        );
    }

    if kind == PolicyKind::Identity {
        if let Some(resources) = stmt.get("Resource") {
            let mut lits = Vec::new();
            literals(resources, &mut lits);
            // Written-out actions only: one behind a !Ref could be anything.
            let scoped: Vec<&str> = actions
                .iter()
                .copied()
                .filter(|a| !is_star_only(a))
                .collect();
            let star_only =
                !actions.is_empty() && scoped.is_empty() && action_count(stmt) == actions.len();
            if lits.contains(&"*") && !star_only {
                let message = if scoped.is_empty() {
                    "allows Resource \"*\": scope it to the resource (!GetAtt / !Ref)".to_owned()
                } else {
                    format!(
                        "allows Resource \"*\" for {}: scope it to the resource (!GetAtt / \
                         !Ref); only actions AWS grants on \"*\" alone may have it",
                        scoped
                            .iter()
                            .map(|a| format!("`{a}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                };
                finding(Rule::WildcardResource, message);
            }
        }
        if stmt.get("NotResource").is_some() {
            finding(
                Rule::WildcardResource,
                "allows NotResource, i.e. every resource but those listed".to_owned(),
            );
        }
    }
}

// ------------------------------------------------------------------------------ functions

/// A SAM function's property as SAM deploys it: its own merged with `Globals.Function`'s.
fn function_property(template: &Value, function: &Value, key: &str) -> Option<Value> {
    let global = template
        .get("Globals")
        .and_then(|g| g.get("Function"))
        .and_then(|f| f.get(key));
    match (global, prop(function, key)) {
        (Some(global), Some(local)) => Some(merge_globals(global, local)),
        (global, local) => local.or(global).cloned(),
    }
}

/// SAM's merge of a global value with a function's: mappings key by key, lists one after the
/// other (global first), anything else (an intrinsic too) the function's own.
fn merge_globals(global: &Value, local: &Value) -> Value {
    match (global, local) {
        (Value::Mapping(g), Value::Mapping(l)) if !is_intrinsic(global) && !is_intrinsic(local) => {
            let mut merged = g.clone();
            for (key, value) in l {
                let value = match g.get(key) {
                    Some(global) => merge_globals(global, value),
                    None => value.clone(),
                };
                merged.insert(key.clone(), value);
            }
            Value::Mapping(merged)
        }
        (Value::Sequence(g), Value::Sequence(l)) => {
            Value::Sequence(g.iter().chain(l).cloned().collect())
        }
        _ => local.clone(),
    }
}

/// A long-form intrinsic (`{"Ref": ...}`, `{"Fn::If": ...}`): a value, not a mapping to merge.
fn is_intrinsic(v: &Value) -> bool {
    let Value::Mapping(m) = v else { return false };
    m.len() == 1
        && m.keys()
            .next()
            .and_then(Value::as_str)
            .is_some_and(|k| k == "Ref" || k == "Condition" || k.starts_with("Fn::"))
}

/// The Lambda metric an alarm watches and the function its `FunctionName` dimension names:
/// `("Errors", "OrdersApiFunction")`.
fn lambda_alarm(alarm: &Value) -> Option<(&str, &str)> {
    if prop(alarm, "Namespace").and_then(Value::as_str) != Some("AWS/Lambda") {
        return None;
    }
    let metric = prop(alarm, "MetricName").and_then(Value::as_str)?;
    let function = prop(alarm, "Dimensions")?
        .as_sequence()?
        .iter()
        .find(|d| d.get("Name").and_then(Value::as_str) == Some("FunctionName"))?
        .get("Value")
        .and_then(referenced)?;
    Some((metric, function))
}

fn check_functions(template: &Value, resources: &Resources, findings: &mut Vec<Finding>) {
    // (alarm, metric, function)
    let alarms: Vec<(&str, &str, &str)> = resources
        .of_type(ALARM)
        .filter_map(|(name, alarm)| {
            let (metric, function) = lambda_alarm(alarm)?;
            Some((name, metric, function))
        })
        .collect();
    for (name, function) in resources.of_type(SAM_FUNCTION) {
        let mut finding = |rule, message: String| {
            findings.push(Finding {
                resource: name.to_owned(),
                rule,
                message,
            })
        };

        let tracing = function_property(template, function, "Tracing");
        if tracing.as_ref().and_then(Value::as_str) != Some("Active") {
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

        if function_property(template, function, "AutoPublishAlias").is_none() {
            finding(
                Rule::UnsafeDeploy,
                "has no AutoPublishAlias: a deploy replaces the code every caller runs at once, \
                 with nothing to shift back to"
                    .to_owned(),
            );
        }
        let all_properties = function_property(template, function, "AutoPublishAliasAllProperties");
        if all_properties.as_ref().and_then(Value::as_bool) != Some(true) {
            finding(
                Rule::UnsafeDeploy,
                "has no AutoPublishAliasAllProperties: true: a change of its timeout, role or \
                 tracing alone would publish no version, and the alias would keep the old ones"
                    .to_owned(),
            );
        }
        let preference = function_property(template, function, "DeploymentPreference");
        let Some(preference) = preference.filter(|p| {
            p.get("Enabled")
                .and_then(|e| e.as_bool().or_else(|| e.as_str().map(|s| s != "false")))
                != Some(false)
        }) else {
            finding(
                Rule::UnsafeDeploy,
                "has no enabled DeploymentPreference: a new version takes all traffic at once"
                    .to_owned(),
            );
            continue;
        };
        if preference.get("Type").is_none() {
            finding(
                Rule::UnsafeDeploy,
                "DeploymentPreference has no Type (e.g. Canary10Percent5Minutes)".to_owned(),
            );
        }
        let named: Vec<&str> = preference
            .get("Alarms")
            .map(|a| -> Vec<&Value> {
                match a {
                    Value::Sequence(items) => items.iter().flat_map(branches).collect(),
                    other => branches(other)
                        .into_iter()
                        .flat_map(|b| b.as_sequence().into_iter().flatten())
                        .collect(),
                }
            })
            .unwrap_or_default()
            .into_iter()
            .filter_map(|a| intrinsic(a, "Ref").and_then(Value::as_str))
            .collect();
        let watches_it = named
            .iter()
            .any(|n| alarms.iter().any(|&(a, _, f)| a == *n && f == name));
        if !watches_it {
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
}

// ------------------------------------------------------------------------------ dashboards

/// A `!Sub` template with each `${Name}` replaced by `0` (valid inside a JSON string and as a
/// bare number alike) and each `${!Literal}` by `${Literal}`, as CloudFormation writes it.
fn substitute_placeholders(template: &str) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        if let Some(literal) = after.strip_prefix('!') {
            out.push_str("${");
            rest = literal;
        } else if let Some(end) = after.find('}') {
            out.push('0');
            rest = &after[end + 1..];
        } else {
            out.push_str("${");
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

fn check_dashboards(resources: &Resources, findings: &mut Vec<Finding>) {
    for (name, dashboard) in resources.of_type(DASHBOARD) {
        let body = match prop(dashboard, "DashboardBody") {
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => sub_string(other).map(substitute_placeholders),
            None => None,
        };
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
