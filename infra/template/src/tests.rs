use super::*;

fn expr(yaml: &str) -> Expr {
    serde_norway::from_str(yaml).expect("test YAML parses")
}

fn get_att(resource: &str, attribute: &str) -> Expr {
    Expr::GetAtt {
        resource: resource.into(),
        attribute: attribute.into(),
    }
}

#[test]
fn tag_and_long_forms_read_alike() {
    for (short, long) in [
        ("!Ref Things", r#"{"Ref": "Things"}"#),
        ("!GetAtt Work.Arn", r#"{"Fn::GetAtt": ["Work", "Arn"]}"#),
        ("!GetAtt [Work, Arn]", r#"{"Fn::GetAtt": "Work.Arn"}"#),
        ("!Sub '${A}-x'", r#"{"Fn::Sub": "${A}-x"}"#),
        ("!If [C, a, b]", r#"{"Fn::If": ["C", "a", "b"]}"#),
        (
            "!Join ['', [a, !Ref B]]",
            r#"{"Fn::Join": ["", ["a", {"Ref": "B"}]]}"#,
        ),
        ("!Split [',', x]", r#"{"Fn::Split": [",", "x"]}"#),
    ] {
        assert_eq!(expr(short), expr(long), "{short}");
    }
    assert_eq!(expr("!Ref Things"), Expr::Ref("Things".into()));
    assert_eq!(expr("!GetAtt Work.Arn"), get_att("Work", "Arn"));
    assert!(matches!(expr("!Split [',', x]"), Expr::Call { function, .. } if function == "Split"));
    assert!(
        matches!(expr("{Condition: C}"), Expr::Call { function, .. } if function == "Condition")
    );
    // Not an intrinsic: a mapping of two keys, or of another key.
    assert!(matches!(expr("{Ref: A, Other: B}"), Expr::Map(_)));
    assert!(matches!(expr("{Name: A}"), Expr::Map(_)));
    // An intrinsic of the wrong shape is a call, not an error.
    assert!(matches!(expr("!GetAtt NoDot"), Expr::Call { function, .. } if function == "GetAtt"));
}

#[test]
fn sub_reads_with_and_without_variables_and_substitutes_once() {
    let plain = expr(r#"!Sub "${Table.Arn}/index in ${AWS::Region} ${!Kept} ${Name}""#);
    let Expr::Sub {
        template,
        variables,
    } = &plain
    else {
        panic!("{plain:?}")
    };
    assert!(variables.is_empty());
    let value = |e: &Expr| -> Result<String, ()> {
        Ok(match e {
            Expr::Ref(name) => format!("<{name}>"),
            Expr::GetAtt {
                resource,
                attribute,
            } => format!("<{resource}:{attribute}>"),
            Expr::String(s) => s.clone(),
            _ => return Err(()),
        })
    };
    assert_eq!(
        substitute(template, variables, value).unwrap(),
        "<Table:Arn>/index in <AWS::Region> ${Kept} <Name>"
    );

    let with = expr("{'Fn::Sub': ['${Prefix}-${Table}', {Prefix: shop, Table: !Ref T}]}");
    let Expr::Sub {
        template,
        variables,
    } = &with
    else {
        panic!("{with:?}")
    };
    assert_eq!(variables["Table"], Expr::Ref("T".into()));
    assert_eq!(substitute(template, variables, value).unwrap(), "shop-<T>");
    assert_eq!(
        substitute("unclosed ${x", &BTreeMap::new(), value).unwrap(),
        "unclosed ${x"
    );
}

#[test]
fn alternatives_literals_and_references() {
    let choice = expr("!If [C, [!Ref A], !Ref AWS::NoValue]");
    assert_eq!(choice.alternatives(), [&expr("[!Ref A]")]);
    assert_eq!(
        expr("[a, !If [C, b, !Join ['', [c, !Ref D]]], !Sub 'e${F}', !Ref G]").literals(),
        ["a", "b", "c", "e${F}"]
    );
    assert_eq!(
        expr("!Sub '${Queue.QueueName}'").referenced(),
        Some("Queue")
    );
    assert!(expr("!Sub '${Queue.QueueName}'").denotes("Queue", "QueueName"));
    assert_eq!(expr("!Sub 'x-${Queue}'").referenced(), None);
    assert_eq!(expr("!Sub '${A}-${B}'").referenced(), None);
}

#[test]
fn globals_merge_as_sam_merges_them() {
    let global = expr("{Type: Canary10Percent5Minutes, Alarms: [!Ref A], Hooks: {Pre: x}}");
    let own = expr("{Alarms: [!Ref B], Hooks: {Post: y}, Type: AllAtOnce}");
    assert_eq!(
        global.merge(&own),
        expr("{Type: AllAtOnce, Alarms: [!Ref A, !Ref B], Hooks: {Pre: x, Post: y}}")
    );
    // An intrinsic is a value: the function's replaces the global one.
    assert_eq!(expr("{Ref: A}").merge(&expr("{Ref: B}")), expr("{Ref: B}"));
    // So is a scalar.
    assert_eq!(
        expr("Active").merge(&expr("PassThrough")),
        expr("PassThrough")
    );
}

const SMALL: &str = r#"
Parameters:
  Level: {Type: String, Default: debug}
Globals:
  Function:
    Timeout: 5
    Tracing: Active
    Environment: {Variables: {RUST_LOG: !Ref Level, SHARED: global}}
Resources:
  Api:
    Type: AWS::Serverless::Function
    Metadata: {BuildProperties: {Binary: api}}
    Properties:
      MemorySize: "512"
      Environment: {Variables: {SHARED: mine}}
      Events:
        Get: {Type: HttpApi, Properties: {Path: /things, Method: get}}
        Work:
          Type: SQS
          Properties: {Queue: !GetAtt Work.Arn, BatchSize: "5", FunctionResponseTypes: [ReportBatchItemFailures]}
        Tick: {Type: Schedule, Properties: {Schedule: rate(1 minute)}}
  Work:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 30
      RedrivePolicy: {deadLetterTargetArn: {"Fn::GetAtt": [Dead, Arn]}, maxReceiveCount: "2"}
  Dead:
    Type: AWS::SQS::Queue
  Mystery:
    Type: AWS::Made::Up
    Properties: {Anything: !Join ["", [a, b]], Deep: [{Ref: Nothing}]}
"#;

#[test]
fn reads_resources_by_type_and_keeps_unknown_ones() {
    let template = Template::from_yaml(SMALL).unwrap();
    let ids: Vec<_> = template
        .resources
        .iter()
        .map(|(id, _)| id.as_str())
        .collect();
    assert_eq!(ids, ["Api", "Work", "Dead", "Mystery"]);
    assert_eq!(
        template.parameters["Level"].default,
        Some(Expr::String("debug".into()))
    );

    let api = template.resource("Api").unwrap();
    let binary = api
        .metadata
        .build_properties
        .as_ref()
        .unwrap()
        .binary
        .as_deref();
    assert_eq!(binary, Some("api"));
    let Properties::Function(function) = &api.properties else {
        panic!("{api:?}")
    };
    let function = function.with_globals(&template.globals.function);
    assert_eq!(function.memory_size, Some(512));
    assert_eq!(function.timeout.as_ref().and_then(Expr::as_u64), Some(5));
    assert_eq!(function.tracing, Some(Expr::String("Active".into())));
    let variables = &function.environment.variables;
    assert_eq!(variables["SHARED"], Expr::String("mine".into()));
    assert_eq!(variables["RUST_LOG"], Expr::Ref("Level".into()));
    let events: Vec<_> = function
        .events
        .iter()
        .map(|(name, _)| name.as_str())
        .collect();
    assert_eq!(events, ["Get", "Work", "Tick"]);
    let Event::Sqs(work) = &function.events[1].1 else {
        panic!("{:?}", function.events[1])
    };
    assert_eq!(work.queue, get_att("Work", "Arn"));
    assert_eq!(work.batch_size, Some(5));
    assert!(reports_batch_item_failures(
        work.function_response_types.as_ref()
    ));
    assert!(matches!(&function.events[2].1, Event::Other { kind, .. } if kind == "Schedule"));

    let Properties::Queue(queue) = &template.resource("Work").unwrap().properties else {
        panic!()
    };
    let redrive = queue.redrive_policy.as_ref().unwrap();
    assert_eq!(redrive.dead_letter_target_arn, get_att("Dead", "Arn"));
    assert_eq!(redrive.max_receive_count, 2);
    assert!(matches!(
        template.resource("Dead").unwrap().properties,
        Properties::Queue(_)
    ));

    let mystery = template.resource("Mystery").unwrap();
    assert_eq!(mystery.kind, "AWS::Made::Up");
    let Properties::Other(properties) = &mystery.properties else {
        panic!()
    };
    assert_eq!(properties.get("Deep"), Some(&expr("[!Ref Nothing]")));
}

#[test]
fn errors_name_the_resource() {
    let text = SMALL.replace("Queue: !GetAtt Work.Arn, ", "");
    let error = Template::from_yaml(&text).unwrap_err().to_string();
    assert!(
        error.contains("Api: Properties: Work: Properties: missing field `Queue`"),
        "{error}"
    );
}

#[test]
fn reads_the_projects_template() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml");
    let template = Template::from_yaml(&std::fs::read_to_string(path).unwrap()).unwrap();
    let count = |kind: &str| {
        template
            .resources
            .iter()
            .filter(|(_, r)| r.kind == kind)
            .count()
    };
    assert_eq!(count("AWS::Serverless::Function"), 6);
    assert_eq!(count("AWS::DynamoDB::Table"), 3);
    assert_eq!(count("AWS::SQS::Queue"), 9);
}
