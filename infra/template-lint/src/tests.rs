//! The real template passes; each fault planted into a copy of it is found.

use super::*;

/// Checks a template planted with faults as YAML.
fn check(template: &Value) -> Vec<Finding> {
    super::check(&parse(template))
}

fn parse(template: &Value) -> Template {
    Template::from_value(template).expect("a template")
}

/// The template string of `!Sub "..."`.
fn sub_string(v: &Value) -> Option<&str> {
    match v {
        Value::Tagged(t) if t.tag == "Sub" => t.value.as_str(),
        _ => None,
    }
}

fn real_template() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml");
    let text = std::fs::read_to_string(path).expect("template.yaml at the repository root");
    serde_norway::from_str(&text).expect("template.yaml parses")
}

fn props<'a>(template: &'a mut Value, resource: &str) -> &'a mut Mapping {
    properties_mut(template, resource).unwrap_or_else(|| panic!("{resource} has Properties"))
}

fn has(findings: &[Finding], resource: &str, rule: Rule) -> bool {
    findings
        .iter()
        .any(|f| f.resource == resource && f.rule == rule)
}

#[track_caller]
fn assert_finding(template: &Value, resource: &str, rule: Rule) -> Vec<Finding> {
    let findings = check(template);
    assert!(
        has(&findings, resource, rule),
        "expected {resource}: {rule}, got {findings:#?}"
    );
    findings
}

fn yaml(text: &str) -> Value {
    serde_norway::from_str(text).expect("test YAML parses")
}

/// The first statement of the first inline policy of an IAM role.
fn first_role_statement<'a>(template: &'a mut Value, role: &str) -> &'a mut Value {
    &mut props(template, role)["Policies"][0]["PolicyDocument"]["Statement"][0]
}

#[test]
fn the_real_template_has_no_findings() {
    let findings = check(&real_template());
    assert!(findings.is_empty(), "{findings:#?}");
}

#[test]
fn the_real_template_reads_as_intended() {
    // Guards against the check passing because it sees nothing: the template's queues, DLQs
    // and event sources are where the rules expect them.
    let template = parse(&real_template());
    let resources = Resources::of(&template);
    assert_eq!(resources.of_type(QUEUE).count(), 9);
    // 5 DLQs, 3 queue ages, 6 x (errors, throttles), relay lag and unreadable events, payment
    // anomalies, stock not returned
    assert_eq!(resources.of_type(ALARM).count(), 24);
    assert_eq!(resources.of_type(SAM_FUNCTION).count(), 6);
    assert_eq!(on_failure_destinations(&resources), ["OrderRelayDLQ"]);
    let sources = sqs_sources(&template, &resources);
    let consumed: Vec<_> = sources
        .iter()
        .map(|s| (s.owner, s.queue, s.timeout))
        .collect();
    assert_eq!(
        consumed,
        [
            (
                "OrderPaymentsFunction",
                Some("PaymentEventsQueue"),
                Some(30)
            ),
            (
                "OrderPaymentsFunction",
                Some("PaymentDeadlinesQueue"),
                Some(30)
            ),
            ("OrderProcessorFunction", Some("OrdersQueue"), Some(30)),
        ]
    );
    let documents: usize = resources
        .0
        .values()
        .map(|r| policy_documents(r).len())
        .sum();
    // 7 roles (6 functions', CodeDeploy's) x (trust + inline) + 6 log policies + 3 queue policies
    assert_eq!(documents, 23);

    // Every function's rollback alarm is its Errors alarm, found through Globals' merge.
    for (name, function) in resources.functions() {
        let function = function.with_globals(&template.globals.function);
        let preference = function.deployment_preference.unwrap();
        assert_eq!(
            preference.get("Type"),
            Some(&Expr::String("Canary10Percent5Minutes".into()))
        );
        let alarm = name.replace("Function", "ErrorsAlarm");
        assert_eq!(
            preference.get("Alarms"),
            Some(&Expr::from(yaml(&format!(
                "!If [RollsBackOnErrors, [!Ref {alarm}], [!Ref AWS::NoValue]]"
            )))),
            "{name}"
        );
    }

    let (_, dashboard) = resources.of_type(DASHBOARD).next().expect("a dashboard");
    let body = dashboard_body(dashboard).unwrap();
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(body["widgets"].as_array().unwrap().len(), 16);
}

// ---------------------------------------------------------------- the four planted faults

#[test]
fn a_queue_without_redrive_policy_is_found() {
    let mut template = real_template();
    props(&mut template, "OrdersQueue").remove("RedrivePolicy");
    assert_finding(&template, "OrdersQueue", Rule::QueueWithoutDlq);
}

#[test]
fn a_dlq_without_alarm_is_found() {
    let mut template = real_template();
    template["Resources"]
        .as_mapping_mut()
        .unwrap()
        .remove("PaymentEventsDLQAlarm");
    let findings = assert_finding(&template, "PaymentEventsDLQ", Rule::DlqWithoutAlarm);
    assert_eq!(findings.len(), 1, "{findings:#?}");
}

#[test]
fn a_stream_sources_failure_queue_without_alarm_is_found() {
    let mut template = real_template();
    template["Resources"]
        .as_mapping_mut()
        .unwrap()
        .remove("OrderRelayDLQAlarm");
    assert_finding(&template, "OrderRelayDLQ", Rule::DlqWithoutAlarm);
}

#[test]
fn an_sqs_event_source_without_report_batch_item_failures_is_found() {
    let mut template = real_template();
    props(&mut template, "OrderProcessorFunction")["Events"]["PlaceOrderCommands"]["Properties"]
        .as_mapping_mut()
        .unwrap()
        .remove("FunctionResponseTypes");
    let findings = assert_finding(
        &template,
        "OrderProcessorFunction",
        Rule::NoPartialBatchResponse,
    );
    assert_eq!(findings.len(), 1, "{findings:#?}");
}

#[test]
fn a_wildcard_action_is_found() {
    let mut template = real_template();
    first_role_statement(&mut template, "OrdersApiRole")["Action"] = Value::from("dynamodb:*");
    let findings = assert_finding(&template, "OrdersApiRole", Rule::WildcardAction);
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert!(findings[0].message.contains("`dynamodb:*`"));
}

// ---------------------------------------------------------------- variants of each rule

#[test]
fn a_redrive_policy_to_an_outside_queue_is_found() {
    let mut template = real_template();
    props(&mut template, "OrdersQueue")["RedrivePolicy"]["deadLetterTargetArn"] =
        Value::from("arn:aws:sqs:us-east-1:123456789012:elsewhere");
    assert_finding(&template, "OrdersQueue", Rule::QueueWithoutDlq);
}

#[test]
fn a_dlq_whose_alarm_watches_another_queue_is_found() {
    let mut template = real_template();
    props(&mut template, "OrdersDLQAlarm")["Dimensions"][0]["Value"] =
        yaml("!GetAtt OrdersQueue.QueueName");
    assert_finding(&template, "OrdersDLQ", Rule::DlqWithoutAlarm);
}

#[test]
fn a_wrong_response_type_is_found() {
    let mut template = real_template();
    props(&mut template, "OrderPaymentsFunction")["Events"]["PaymentEvents"]["Properties"]["FunctionResponseTypes"] =
        yaml("[SomethingElse]");
    assert_finding(
        &template,
        "OrderPaymentsFunction",
        Rule::NoPartialBatchResponse,
    );
}

#[test]
fn wildcard_actions_are_found_in_every_kind_of_policy() {
    for (resource, action) in [
        ("OrdersApiRole", "*"),
        ("OrdersApiRole", "sqs:Get*"),
        ("OrdersApiRole", "dynamodb:Get?tem"),
        ("OrdersApiLogsPolicy", "logs:*"),
        ("PaymentEventsQueuePolicy", "sqs:*"),
    ] {
        let mut template = real_template();
        let statement = if resource.ends_with("Role") {
            first_role_statement(&mut template, resource)
        } else {
            &mut props(&mut template, resource)["PolicyDocument"]["Statement"][0]
        };
        statement["Action"] = yaml(&format!("[sqs:SendMessage, '{action}']"));
        assert_finding(&template, resource, Rule::WildcardAction);
    }
}

#[test]
fn wildcards_in_sam_function_policies_are_found() {
    let mut template = real_template();
    props(&mut template, "ProductReadsFunction").insert(
        "Policies".into(),
        // A SAM policy template (expanded by SAM, not checked) and a document.
        yaml(
            "[{DynamoDBReadPolicy: {TableName: !Ref ProductsTable}},
              {Statement: [{Effect: Allow, Action: 'dynamodb:*', Resource: '*'}]}]",
        ),
    );
    let findings = check(&template);
    assert!(has(&findings, "ProductReadsFunction", Rule::WildcardAction));
    assert!(has(
        &findings,
        "ProductReadsFunction",
        Rule::WildcardResource
    ));
}

#[test]
fn a_wildcard_resource_in_a_role_is_found_but_not_in_a_deny() {
    let mut template = real_template();
    first_role_statement(&mut template, "OrderProcessorRole")["Resource"] = Value::from("*");
    assert_finding(&template, "OrderProcessorRole", Rule::WildcardResource);

    let mut template = real_template();
    let statement = first_role_statement(&mut template, "OrderProcessorRole");
    statement["Effect"] = Value::from("Deny");
    statement["Action"] = Value::from("sqs:*");
    statement["Resource"] = Value::from("*");
    assert!(check(&template).is_empty());
}

#[test]
fn not_action_is_a_wildcard() {
    let mut template = real_template();
    let statement = first_role_statement(&mut template, "ProductReadsRole")
        .as_mapping_mut()
        .unwrap();
    let actions = statement.remove("Action").unwrap();
    statement.insert("NotAction".into(), actions);
    assert_finding(&template, "ProductReadsRole", Rule::WildcardAction);
}

#[test]
fn a_wildcard_inside_if_is_found() {
    let mut template = real_template();
    first_role_statement(&mut template, "OrdersApiRole")["Action"] =
        yaml("!If [HasCors, dynamodb:GetItem, 'dynamodb:*']");
    assert_finding(&template, "OrdersApiRole", Rule::WildcardAction);
}

#[test]
fn a_short_visibility_timeout_is_found() {
    let mut template = real_template();
    props(&mut template, "OrdersQueue")["VisibilityTimeout"] = Value::from(60);
    let findings = assert_finding(&template, "OrdersQueue", Rule::VisibilityTimeout);
    assert!(findings[0].message.contains("OrderProcessorFunction"));
}

#[test]
fn long_form_intrinsics_and_plain_event_source_mappings_are_understood() {
    let template = yaml(
        r#"
Globals:
  Function:
    Timeout: 20
Resources:
  Work:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 100
      RedrivePolicy:
        deadLetterTargetArn: {"Fn::GetAtt": [WorkDLQ, Arn]}
        maxReceiveCount: 3
  WorkDLQ:
    Type: AWS::SQS::Queue
  WorkDLQAlarm:
    Type: AWS::CloudWatch::Alarm
    Properties:
      Metrics:
        - Id: m
          MetricStat:
            Metric:
              Namespace: AWS/SQS
              MetricName: ApproximateNumberOfMessagesVisible
              Dimensions:
                - Name: QueueName
                  Value: !Sub "${WorkDLQ.QueueName}"
  Worker:
    Type: AWS::Lambda::Function
    Properties:
      Timeout: 20
  WorkerMapping:
    Type: AWS::Lambda::EventSourceMapping
    Properties:
      EventSourceArn: {"Fn::GetAtt": "Work.Arn"}
      FunctionName: {"Ref": "Worker"}
"#,
    );
    let findings = check(&template);
    assert_eq!(
        findings
            .iter()
            .map(|f| (f.resource.as_str(), f.rule))
            .collect::<Vec<_>>(),
        [
            ("Work", Rule::VisibilityTimeout),
            ("WorkerMapping", Rule::NoPartialBatchResponse),
        ],
        "{findings:#?}"
    );
}

// ---------------------------------------------------------------- "*" for X-Ray alone

/// The statement that allows X-Ray's calls in OrdersApiRole.
fn xray_statement(template: &mut Value) -> &mut Value {
    props(template, "OrdersApiRole")["Policies"][0]["PolicyDocument"]["Statement"]
        .as_sequence_mut()
        .unwrap()
        .iter_mut()
        .find(|s| s["Sid"] == "XRayTraces")
        .expect("OrdersApiRole has an XRayTraces statement")
}

#[test]
fn x_ray_actions_may_have_a_wildcard_resource_and_nothing_else_may() {
    // The real template's roles each allow X-Ray's two calls on "*" (no finding, above).
    let mut template = real_template();
    xray_statement(&mut template)["Action"] = yaml("[xray:PutTraceSegments, dynamodb:GetItem]");
    let findings = assert_finding(&template, "OrdersApiRole", Rule::WildcardResource);
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert!(
        findings[0].message.contains("`dynamodb:GetItem`"),
        "{findings:#?}"
    );

    // An action the check cannot read could be anything.
    let mut template = real_template();
    xray_statement(&mut template)["Action"] = yaml("[xray:PutTraceSegments, !Ref LogLevel]");
    assert_finding(&template, "OrdersApiRole", Rule::WildcardResource);

    // Case does not matter to IAM, nor here.
    let mut template = real_template();
    xray_statement(&mut template)["Action"] = yaml("XRay:PutTraceSegments");
    assert!(check(&template).is_empty());
}

// ---------------------------------------------------------------- functions

#[test]
fn a_function_without_tracing_is_found() {
    let mut template = real_template();
    template["Globals"]["Function"]
        .as_mapping_mut()
        .unwrap()
        .remove("Tracing");
    let findings = check(&template);
    assert_eq!(findings.len(), 6, "{findings:#?}");
    assert!(findings.iter().all(|f| f.rule == Rule::NoTracing));

    let mut template = real_template();
    props(&mut template, "ProductReadsFunction").insert("Tracing".into(), "PassThrough".into());
    let findings = assert_finding(&template, "ProductReadsFunction", Rule::NoTracing);
    assert_eq!(findings.len(), 1, "{findings:#?}");
}

#[test]
fn a_function_without_a_throttles_or_errors_alarm_is_found() {
    let mut template = real_template();
    template["Resources"]
        .as_mapping_mut()
        .unwrap()
        .remove("OrderRelayThrottlesAlarm");
    let findings = assert_finding(&template, "OrderRelayFunction", Rule::FunctionWithoutAlarm);
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert!(findings[0].message.contains("Throttles"));

    // An Errors alarm on another function does not count.
    let mut template = real_template();
    props(&mut template, "OrderPaymentsErrorsAlarm")["Dimensions"][0]["Value"] =
        yaml("!Ref OrderRelayFunction");
    let findings = check(&template);
    assert!(has(
        &findings,
        "OrderPaymentsFunction",
        Rule::FunctionWithoutAlarm
    ));
    // ...and it no longer guards OrderPayments' deploys either.
    assert!(has(&findings, "OrderPaymentsFunction", Rule::UnsafeDeploy));
}

#[test]
fn a_function_without_safe_deploys_is_found() {
    // No alias: every function.
    let mut template = real_template();
    template["Globals"]["Function"]
        .as_mapping_mut()
        .unwrap()
        .remove("AutoPublishAlias");
    let findings = check(&template);
    assert_eq!(findings.len(), 6, "{findings:#?}");
    assert!(findings.iter().all(|f| f.rule == Rule::UnsafeDeploy));

    // No rollback alarm: Globals give the Type and role, not the alarm.
    let mut template = real_template();
    props(&mut template, "OrdersApiFunction").remove("DeploymentPreference");
    let findings = assert_finding(&template, "OrdersApiFunction", Rule::UnsafeDeploy);
    assert_eq!(findings.len(), 1, "{findings:#?}");
    assert!(findings[0].message.contains("roll back"), "{findings:#?}");

    // A version only when the code changes.
    let mut template = real_template();
    props(&mut template, "PaymentWebhookFunction").remove("AutoPublishAliasAllProperties");
    let findings = assert_finding(&template, "PaymentWebhookFunction", Rule::UnsafeDeploy);
    assert_eq!(findings.len(), 1, "{findings:#?}");

    // Switched off for good: no branch names the alarm.
    let mut template = real_template();
    props(&mut template, "OrderProcessorFunction")["DeploymentPreference"]["Alarms"] =
        yaml("!If [RollsBackOnErrors, [!Ref AWS::NoValue], [!Ref AWS::NoValue]]");
    assert_finding(&template, "OrderProcessorFunction", Rule::UnsafeDeploy);

    // A rollback alarm that watches another function.
    let mut template = real_template();
    props(&mut template, "OrdersApiFunction")["DeploymentPreference"]["Alarms"] =
        yaml("[!Ref ProductReadsErrorsAlarm]");
    let findings = assert_finding(&template, "OrdersApiFunction", Rule::UnsafeDeploy);
    assert_eq!(findings.len(), 1, "{findings:#?}");

    // Switched off, or without a Type.
    let mut template = real_template();
    props(&mut template, "OrderRelayFunction")["DeploymentPreference"]
        .as_mapping_mut()
        .unwrap()
        .insert("Enabled".into(), false.into());
    assert_finding(&template, "OrderRelayFunction", Rule::UnsafeDeploy);
    let mut template = real_template();
    template["Globals"]["Function"]["DeploymentPreference"]
        .as_mapping_mut()
        .unwrap()
        .remove("Type");
    assert_eq!(check(&template).len(), 6);
}

// ---------------------------------------------------------------- dashboards

#[test]
fn a_dashboard_body_that_is_not_json_is_found() {
    let body = |template: &mut Value| -> String {
        sub_string(&props(template, "OperationsDashboard")["DashboardBody"])
            .unwrap()
            .to_owned()
    };
    let mut template = real_template();
    // A bracket too many.
    let broken = body(&mut template).replacen("\"widgets\": [", "\"widgets\": [[", 1);
    assert_ne!(broken, body(&mut template), "the body has widgets");
    props(&mut template, "OperationsDashboard")["DashboardBody"] =
        yaml(&format!("!Sub {}", serde_json::to_string(&broken).unwrap()));
    let findings = assert_finding(&template, "OperationsDashboard", Rule::DashboardBody);
    assert!(findings[0].message.contains("not JSON"), "{findings:#?}");

    let mut template = real_template();
    props(&mut template, "OperationsDashboard")["DashboardBody"] =
        Value::from(r#"{"start": "-PT3H"}"#);
    let findings = assert_finding(&template, "OperationsDashboard", Rule::DashboardBody);
    assert!(findings[0].message.contains("widgets"), "{findings:#?}");

    let mut template = real_template();
    props(&mut template, "OperationsDashboard")["DashboardBody"] = yaml("!Ref LogLevel");
    assert_finding(&template, "OperationsDashboard", Rule::DashboardBody);
}

#[test]
fn placeholders_keep_json_valid_and_escapes_literal() {
    assert_eq!(
        substitute_placeholders(r#"{"region": "${AWS::Region}", "n": ${Threshold}}"#),
        r#"{"region": "0", "n": 0}"#
    );
    assert_eq!(
        substitute_placeholders(r#""label": "${!PROP('Dim.reason')} of ${Queue.QueueName}""#),
        r#""label": "${PROP('Dim.reason')} of 0""#
    );
    assert_eq!(substitute_placeholders("unclosed ${x"), "unclosed ${x");
}

#[test]
fn findings_print_resource_and_rule() {
    let finding = Finding {
        resource: "OrdersQueue".into(),
        rule: Rule::QueueWithoutDlq,
        message: "has no RedrivePolicy".into(),
    };
    assert_eq!(
        finding.to_string(),
        "OrdersQueue: queue-without-dlq: has no RedrivePolicy"
    );
}
