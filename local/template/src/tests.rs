use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use crate::resolve::Resolver;
use crate::*;

fn opts() -> LoadOptions {
    LoadOptions {
        stack_name: "shop".into(),
        region: "eu-west-1".into(),
        account_id: "111122223333".into(),
        parameter_overrides: BTreeMap::new(),
        sqs_endpoint: "http://127.0.0.1:4566/".into(),
    }
}

fn parse(yaml: &str) -> Template {
    Template::parse(yaml, std::env::temp_dir()).expect("template parses")
}

fn load(yaml: &str) -> Model {
    parse(yaml)
        .resolve(&opts(), &PhysicalIds::new())
        .expect("template resolves")
}

fn load_err(yaml: &str) -> String {
    match Template::parse(yaml, std::env::temp_dir())
        .and_then(|t| t.resolve(&opts(), &PhysicalIds::new()))
    {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.chain(),
    }
}

/// Resolves one YAML expression against a template.
fn eval_with(
    template: &str,
    opts: &LoadOptions,
    expr: &str,
) -> Result<Option<Value>, TemplateError> {
    let t = parse(template);
    let physical = PhysicalIds::new();
    let r = Resolver::new(&t.doc, opts, &physical)?;
    let expr = crate::document::to_json(crate::document::load(expr)?)?;
    r.resolve(&expr)
}

fn eval(template: &str, expr: &str) -> Value {
    eval_with(template, &opts(), expr)
        .expect("expression resolves")
        .expect("expression has a value")
}

fn eval_err(template: &str, expr: &str) -> String {
    match eval_with(template, &opts(), expr) {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e.chain(),
    }
}

const RESOURCES: &str = r#"
Parameters:
  Env:
    Type: String
    Default: dev
    AllowedValues: [dev, prod]
  Size:
    Type: Number
    Default: 30
  Zones:
    Type: CommaDelimitedList
    Default: a,b,c
Mappings:
  ByEnv:
    dev:
      Memory: 256
    prod:
      Memory: 1024
Conditions:
  IsProd: !Equals [!Ref Env, prod]
  IsDev: !Not [!Condition IsProd]
  Both: !And [!Condition IsDev, !Equals [a, a]]
  Either: !Or [!Condition IsProd, !Equals [!Ref Size, "30"]]
Resources:
  Api:
    Type: AWS::Serverless::Function
    Metadata:
      BuildProperties:
        Binary: api
    Properties:
      Handler: bootstrap
  Named:
    Type: AWS::Serverless::Function
    Metadata: { BuildProperties: { Binary: named } }
    Properties:
      FunctionName: !Sub "${AWS::StackName}-named-fn"
      Role: arn:aws:iam::111122223333:role/existing
  Orders:
    Type: AWS::DynamoDB::Table
    Properties:
      TableName: !Sub "${AWS::StackName}-orders-${Env}"
      BillingMode: PAY_PER_REQUEST
      KeySchema: [{ AttributeName: pk, KeyType: HASH }]
      AttributeDefinitions: [{ AttributeName: pk, AttributeType: S }]
  Sessions:
    Type: AWS::Serverless::SimpleTable
  Events:
    Type: AWS::SNS::Topic
  Jobs:
    Type: AWS::SQS::Queue
  Ordered:
    Type: AWS::SQS::Queue
    Properties:
      FifoQueue: true
  Key:
    Type: AWS::SecretsManager::Secret
    Properties:
      Name: shop/key
  Flow:
    Type: AWS::Serverless::StateMachine
    Properties:
      Definition: { StartAt: Done, States: { Done: { Type: Succeed } } }
  Http:
    Type: AWS::Serverless::HttpApi
  Bucket:
    Type: AWS::S3::Bucket
  ProdOnly:
    Type: AWS::SQS::Queue
    Condition: IsProd
"#;

#[test]
fn short_form_tags_become_long_form_functions() {
    let t = parse(
        r#"
Resources:
  X:
    Type: AWS::SQS::Queue
    Properties:
      A: !Ref Y
      B: !GetAtt Y.Arn
      C: !GetAtt [Y, Arn]
      D: !Sub "${Y}"
      E: !Sub ["${v}", { v: !Ref Y }]
      F: !If [Cond, !Join [",", [a, b]], !Select [0, !Split [",", "a,b"]]]
      G: !Equals [!Not [!Condition C], !And [!Or [x], x]]
      H: !FindInMap [M, a, b]
      I: !GetAZs ""
      J: !Base64 text
      K: !ImportValue other
"#,
    );
    let props = &t.raw()["Resources"]["X"]["Properties"];
    assert_eq!(props["A"], json!({"Ref": "Y"}));
    assert_eq!(props["B"], json!({"Fn::GetAtt": ["Y", "Arn"]}));
    assert_eq!(props["C"], json!({"Fn::GetAtt": ["Y", "Arn"]}));
    assert_eq!(props["D"], json!({"Fn::Sub": "${Y}"}));
    assert_eq!(
        props["E"],
        json!({"Fn::Sub": ["${v}", {"v": {"Ref": "Y"}}]})
    );
    assert_eq!(
        props["F"],
        json!({"Fn::If": ["Cond", {"Fn::Join": [",", ["a", "b"]]},
            {"Fn::Select": [0, {"Fn::Split": [",", "a,b"]}]}]})
    );
    assert_eq!(
        props["G"],
        json!({"Fn::Equals": [{"Fn::Not": [{"Condition": "C"}]},
            {"Fn::And": [{"Fn::Or": ["x"]}, "x"]}]})
    );
    assert_eq!(props["H"], json!({"Fn::FindInMap": ["M", "a", "b"]}));
    assert_eq!(props["I"], json!({"Fn::GetAZs": ""}));
    assert_eq!(props["J"], json!({"Fn::Base64": "text"}));
    assert_eq!(props["K"], json!({"Fn::ImportValue": "other"}));
}

#[test]
fn unknown_tags_are_rejected() {
    let err = Template::parse("A: !Bogus x", ".").expect_err("unknown tag");
    assert!(err.chain().contains("!Bogus"), "{err}");
}

#[test]
fn yaml_follows_the_1_2_core_schema_and_expands_anchors() {
    let json = |text: &str| crate::document::to_json(crate::document::load(text).expect("yaml"));
    assert_eq!(
        json("[yes, No, 0x1F, 1e3, '5', ~, 2.5, -7]").expect("json"),
        json!(["yes", "No", 31, 1000.0, "5", null, 2.5, -7])
    );
    assert_eq!(
        json("base: &b {Timeout: 5}\ncopy: *b").expect("json"),
        json!({"base": {"Timeout": 5}, "copy": {"Timeout": 5}})
    );
    assert_eq!(json("").expect("json"), Value::Null);
    assert!(json("!!int forty").is_err());
}

#[test]
fn duplicate_keys_and_several_documents_are_refused() {
    let err = Template::parse("Resources: {}\nResources: {}", ".").expect_err("duplicate");
    assert!(
        err.chain().to_lowercase().contains("duplicate"),
        "{}",
        err.chain()
    );
    let err = Template::parse("Resources: {}\n---\nResources: {}", ".").expect_err("two docs");
    assert!(err.chain().contains("one YAML document"), "{}", err.chain());
}

#[test]
fn import_value_is_unsupported_locally() {
    let err = eval_err(RESOURCES, "!ImportValue shared-vpc");
    assert!(err.contains("not supported by the local stack"), "{err}");
}

#[test]
fn parameters_take_defaults_and_overrides() {
    assert_eq!(eval(RESOURCES, "!Ref Env"), json!("dev"));
    assert_eq!(eval(RESOURCES, "!Ref Size"), json!("30"));
    assert_eq!(eval(RESOURCES, "!Ref Zones"), json!(["a", "b", "c"]));
    let mut o = opts();
    o.parameter_overrides.insert("Env".into(), "prod".into());
    let v = eval_with(RESOURCES, &o, "!Ref Env")
        .expect("ok")
        .expect("value");
    assert_eq!(v, json!("prod"));
    let model = parse(RESOURCES)
        .resolve(&o, &PhysicalIds::new())
        .expect("resolves");
    assert_eq!(model.parameters["Env"], "prod");
    assert_eq!(model.parameters["Size"], "30");
    assert!(model.queue("ProdOnly").is_some());
}

#[test]
fn parameter_values_outside_allowed_values_are_rejected() {
    let mut o = opts();
    o.parameter_overrides.insert("Env".into(), "staging".into());
    let err = eval_with(RESOURCES, &o, "x").expect_err("not allowed");
    assert!(err.chain().contains("AllowedValues"), "{err}");
    assert!(err.chain().contains("`Env`"), "{err}");
}

#[test]
fn number_parameters_must_be_numbers() {
    let mut o = opts();
    o.parameter_overrides.insert("Size".into(), "big".into());
    let err = eval_with(RESOURCES, &o, "x").expect_err("not a number");
    assert!(err.chain().contains("not a number"), "{err}");
}

#[test]
fn overrides_of_undeclared_parameters_are_rejected() {
    let mut o = opts();
    o.parameter_overrides.insert("Nope".into(), "x".into());
    let err = eval_with(RESOURCES, &o, "x").expect_err("undeclared");
    assert!(err.chain().contains("`Nope`"), "{err}");
}

#[test]
fn parameters_without_value_are_rejected() {
    let err = load_err("Parameters:\n  Token:\n    Type: String\nResources: {}\n");
    assert!(err.contains("`Token`") && err.contains("no value"), "{err}");
}

#[test]
fn pseudo_parameters_resolve() {
    assert_eq!(eval(RESOURCES, "!Ref AWS::StackName"), json!("shop"));
    assert_eq!(eval(RESOURCES, "!Ref AWS::Region"), json!("eu-west-1"));
    assert_eq!(
        eval(RESOURCES, "!Ref AWS::AccountId"),
        json!("111122223333")
    );
    assert_eq!(eval(RESOURCES, "!Ref AWS::Partition"), json!("aws"));
    assert_eq!(
        eval(RESOURCES, "!Ref AWS::URLSuffix"),
        json!("amazonaws.com")
    );
    assert_eq!(eval(RESOURCES, "!Ref AWS::NotificationARNs"), json!([]));
    let stack_id = eval(RESOURCES, "!Ref AWS::StackId");
    assert!(
        stack_id.as_str().is_some_and(
            |s| s.starts_with("arn:aws:cloudformation:eu-west-1:111122223333:stack/shop/")
        ),
        "{stack_id}"
    );
}

#[test]
fn no_value_removes_keys_and_list_items() {
    let v = eval(
        RESOURCES,
        r#"
Keep: 1
Drop: !Ref AWS::NoValue
List: [a, !Ref AWS::NoValue, b]
IfDrop: !If [IsProd, x, !Ref AWS::NoValue]
"#,
    );
    assert_eq!(v, json!({"Keep": 1, "List": ["a", "b"]}));
}

#[test]
fn sub_replaces_parameters_resources_attributes_and_pseudo_parameters() {
    let v = eval(
        RESOURCES,
        r#"!Sub "${Env}|${Orders}|${Orders.Arn}|${AWS::Region}|${Jobs.QueueName}""#,
    );
    assert_eq!(
        v,
        json!(
            "dev|shop-orders-dev|arn:aws:dynamodb:eu-west-1:111122223333:table/shop-orders-dev|eu-west-1|shop-Jobs"
        )
    );
}

#[test]
fn sub_keeps_escaped_literals() {
    let v = eval(
        RESOURCES,
        r#"!Sub "${!Literal} and ${ Env } and ${!Orders.Arn}""#,
    );
    assert_eq!(v, json!("${Literal} and dev and ${Orders.Arn}"));
}

#[test]
fn sub_list_form_uses_its_variables_first() {
    let v = eval(
        RESOURCES,
        r#"!Sub ["${Env}-${Table}-${Stack}", { Env: mine, Table: !Ref Orders, Stack: !Ref AWS::StackName }]"#,
    );
    assert_eq!(v, json!("mine-shop-orders-dev-shop"));
}

#[test]
fn sub_rejects_unknown_names() {
    let err = eval_err(RESOURCES, r#"!Sub "${Missing}""#);
    assert!(err.contains("`Missing`"), "{err}");
}

#[test]
fn join_select_split_find_in_map_get_azs_and_base64_evaluate() {
    assert_eq!(
        eval(RESOURCES, "!Join ['-', [a, !Ref Env, c]]"),
        json!("a-dev-c")
    );
    assert_eq!(eval(RESOURCES, "!Join [',', !Ref Zones]"), json!("a,b,c"));
    assert_eq!(eval(RESOURCES, "!Select [1, !Ref Zones]"), json!("b"));
    assert_eq!(eval(RESOURCES, "!Select ['2', [x, y, z]]"), json!("z"));
    assert_eq!(eval(RESOURCES, "!Split ['|', 'a|b']"), json!(["a", "b"]));
    assert_eq!(
        eval(RESOURCES, "!FindInMap [ByEnv, !Ref Env, Memory]"),
        json!(256)
    );
    assert_eq!(
        eval(RESOURCES, "!GetAZs ''"),
        json!(["eu-west-1a", "eu-west-1b", "eu-west-1c"])
    );
    assert_eq!(
        eval(RESOURCES, "!Select [0, !GetAZs us-east-2]"),
        json!("us-east-2a")
    );
    assert_eq!(eval(RESOURCES, "!Base64 hello"), json!("aGVsbG8="));
    assert_eq!(eval(RESOURCES, "!Base64 hi"), json!("aGk="));
    assert_eq!(eval(RESOURCES, "!Base64 abc"), json!("YWJj"));
    assert_eq!(
        eval(RESOURCES, "{ 'Fn::ToJsonString': { a: [1] } }"),
        json!(r#"{"a":[1]}"#)
    );
    assert_eq!(eval(RESOURCES, "{ 'Fn::Length': [a, b] }"), json!(2));
}

#[test]
fn select_out_of_range_and_missing_mappings_are_errors() {
    assert!(eval_err(RESOURCES, "!Select [5, [a]]").contains("out of a list of 1"));
    assert!(eval_err(RESOURCES, "!FindInMap [ByEnv, qa, Memory]").contains("ByEnv.qa.Memory"));
}

#[test]
fn conditions_evaluate_and_choose_if_branches() {
    assert_eq!(eval(RESOURCES, "!If [IsProd, p, d]"), json!("d"));
    assert_eq!(eval(RESOURCES, "!If [IsDev, p, d]"), json!("p"));
    assert_eq!(eval(RESOURCES, "!If [Both, yes, no]"), json!("yes"));
    assert_eq!(eval(RESOURCES, "!If [Either, yes, no]"), json!("yes"));
    assert_eq!(eval(RESOURCES, "!Equals [!Ref Size, 30]"), json!(true));
    assert!(eval_err(RESOURCES, "!If [Nope, a, b]").contains("unknown condition `Nope`"));
}

#[test]
fn resources_with_false_conditions_are_skipped_and_cannot_be_referenced() {
    let model = load(RESOURCES);
    assert!(model.queue("ProdOnly").is_none());
    let err = eval_err(RESOURCES, "!Ref ProdOnly");
    assert!(
        err.contains("`ProdOnly`") && err.contains("IsProd"),
        "{err}"
    );
}

#[test]
fn circular_conditions_are_rejected() {
    let err = load_err(
        "Conditions:\n  A: !Condition B\n  B: !Not [!Condition A]\nResources:\n  Q:\n    Type: AWS::SQS::Queue\n    Condition: A\n",
    );
    assert!(err.contains("depends on itself"), "{err}");
}

#[test]
fn refs_and_attributes_follow_each_resource_type() {
    let cases = [
        ("!Ref Api", "shop-Api"),
        (
            "!GetAtt Api.Arn",
            "arn:aws:lambda:eu-west-1:111122223333:function:shop-Api",
        ),
        ("!Ref Named", "shop-named-fn"),
        ("!Ref Orders", "shop-orders-dev"),
        (
            "!GetAtt Orders.StreamArn",
            "arn:aws:dynamodb:eu-west-1:111122223333:table/shop-orders-dev/stream/1970-01-01T00:00:00.000",
        ),
        ("!Ref Sessions", "shop-Sessions"),
        (
            "!GetAtt Sessions.Arn",
            "arn:aws:dynamodb:eu-west-1:111122223333:table/shop-Sessions",
        ),
        (
            "!Ref Events",
            "arn:aws:sns:eu-west-1:111122223333:shop-Events",
        ),
        (
            "!GetAtt Events.TopicArn",
            "arn:aws:sns:eu-west-1:111122223333:shop-Events",
        ),
        ("!GetAtt Events.TopicName", "shop-Events"),
        ("!Ref Jobs", "http://127.0.0.1:4566/111122223333/shop-Jobs"),
        (
            "!GetAtt Jobs.Arn",
            "arn:aws:sqs:eu-west-1:111122223333:shop-Jobs",
        ),
        (
            "!GetAtt Jobs.QueueUrl",
            "http://127.0.0.1:4566/111122223333/shop-Jobs",
        ),
        ("!GetAtt Ordered.QueueName", "shop-Ordered.fifo"),
        (
            "!Ref Key",
            "arn:aws:secretsmanager:eu-west-1:111122223333:secret:shop/key",
        ),
        (
            "!GetAtt Key.Id",
            "arn:aws:secretsmanager:eu-west-1:111122223333:secret:shop/key",
        ),
        (
            "!Ref Flow",
            "arn:aws:states:eu-west-1:111122223333:stateMachine:shop-Flow",
        ),
        ("!GetAtt Flow.Name", "shop-Flow"),
        (
            "!GetAtt Flow.Arn",
            "arn:aws:states:eu-west-1:111122223333:stateMachine:shop-Flow",
        ),
        ("!Ref ApiRole", "shop-ApiRole"),
        (
            "!GetAtt ApiRole.Arn",
            "arn:aws:iam::111122223333:role/shop-ApiRole",
        ),
        ("!Ref Bucket", "shop-Bucket"),
        (
            "!GetAtt FlowRole.Arn",
            "arn:aws:iam::111122223333:role/shop-FlowRole",
        ),
    ];
    for (expr, expected) in cases {
        assert_eq!(eval(RESOURCES, expr), json!(expected), "{expr}");
    }
    let api_id = eval(RESOURCES, "!Ref Http");
    let api_id = api_id.as_str().expect("string");
    assert_eq!(api_id.len(), 10);
    assert!(
        api_id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    );
    assert_eq!(
        eval(RESOURCES, "!GetAtt Http.ApiEndpoint"),
        json!(format!(
            "https://{api_id}.execute-api.eu-west-1.amazonaws.com"
        ))
    );
}

#[test]
fn functions_with_a_role_get_no_implicit_role() {
    let err = eval_err(RESOURCES, "!Ref NamedRole");
    assert!(err.contains("`NamedRole`"), "{err}");
}

#[test]
fn unknown_attributes_and_names_are_errors_that_name_them() {
    let err = eval_err(RESOURCES, "!GetAtt Bucket.DomainName");
    assert!(
        err.contains("`Bucket`") && err.contains("`DomainName`"),
        "{err}"
    );
    let err = eval_err(RESOURCES, "!GetAtt Jobs.Nope");
    assert!(err.contains("`Jobs`") && err.contains("`Nope`"), "{err}");
    let err = eval_err(RESOURCES, "!Ref Missing");
    assert!(err.contains("`Missing`"), "{err}");
    let err = eval_err(RESOURCES, "!GetAtt Missing.Arn");
    assert!(err.contains("`Missing`"), "{err}");
}

#[test]
fn physical_ids_override_refs_and_attributes() {
    let t = parse(RESOURCES);
    let mut physical = PhysicalIds::new();
    let arn = "arn:aws:secretsmanager:eu-west-1:111122223333:secret:shop/key-AbCdEf";
    physical.insert(
        "Key".into(),
        PhysicalId {
            reference: arn.into(),
            attributes: BTreeMap::from([("Id".to_string(), arn.to_string())]),
        },
    );
    let o = opts();
    let r = Resolver::new(&t.doc, &o, &physical).expect("resolver");
    let sub = crate::document::to_json(
        crate::document::load(r#"!Sub "${Key}|${Key.Id}""#).expect("yaml"),
    )
    .expect("json");
    assert_eq!(
        r.resolve(&sub).expect("ok"),
        Some(json!(format!("{arn}|{arn}")))
    );
    let model = t.resolve(&o, &physical).expect("model");
    assert_eq!(model.secrets[0].name, "shop/key");
}

#[test]
fn queue_and_topic_models_carry_names_urls_and_arns() {
    let model = load(RESOURCES);
    let jobs = model.queue("Jobs").expect("queue");
    assert_eq!(jobs.url, "http://127.0.0.1:4566/111122223333/shop-Jobs");
    assert_eq!(jobs.arn, "arn:aws:sqs:eu-west-1:111122223333:shop-Jobs");
    let ordered = model.queue("Ordered").expect("fifo");
    assert_eq!(ordered.name, "shop-Ordered.fifo");
    assert_eq!(
        model.topics[0].arn,
        "arn:aws:sns:eu-west-1:111122223333:shop-Events"
    );
    assert_eq!(model.state_machines[0].kind, "STANDARD");
    assert_eq!(model.state_machines[0].definition["StartAt"], "Done");
}

#[test]
fn simple_tables_get_the_dynamodb_table_shape() {
    let model = load(RESOURCES);
    let sessions = model.table("Sessions").expect("table");
    assert_eq!(sessions.name, "shop-Sessions");
    assert_eq!(
        sessions.properties,
        json!({
            "TableName": "shop-Sessions",
            "KeySchema": [{"AttributeName": "id", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "id", "AttributeType": "S"}],
            "BillingMode": "PAY_PER_REQUEST",
        })
    );
    let orders = model.table("Orders").expect("table");
    assert_eq!(orders.properties["TableName"], "shop-orders-dev");
}

const FUNCTIONS: &str = r#"
Globals:
  Function:
    Timeout: 10
    MemorySize: 256
    Architectures: [arm64]
    Environment:
      Variables:
        TABLE: !Ref Orders
        LOG_LEVEL: info
    LoggingConfig:
      LogFormat: JSON
  HttpApi:
    CorsConfiguration: true
Resources:
  Orders:
    Type: AWS::DynamoDB::Table
    Properties:
      KeySchema: [{ AttributeName: pk, KeyType: HASH }]
      AttributeDefinitions: [{ AttributeName: pk, AttributeType: S }]
  Jobs:
    Type: AWS::SQS::Queue
  Alerts:
    Type: AWS::SNS::Topic
  Worker:
    Type: AWS::Serverless::Function
    Metadata: { BuildProperties: { Binary: worker } }
    Properties:
      Timeout: 60
      Environment:
        Variables:
          LOG_LEVEL: debug
          RETRIES: 3
      ReservedConcurrentExecutions: 2
      Events:
        Queue:
          Type: SQS
          Properties:
            Queue: !GetAtt Jobs.Arn
            BatchSize: 5
            MaximumBatchingWindowInSeconds: 2
            FunctionResponseTypes: [ReportBatchItemFailures]
            ScalingConfig: { MaximumConcurrency: 4 }
        Alert:
          Type: SNS
          Properties:
            Topic: !Ref Alerts
            FilterPolicy: { kind: [alert] }
  Health:
    Type: AWS::Serverless::Function
    Metadata: { BuildProperties: { Binary: health } }
    Properties:
      Events:
        Get:
          Type: HttpApi
          Properties: { Path: /v1/health, Method: get }
        Any:
          Type: HttpApi
          Properties: { Path: "/{proxy+}", Method: any, PayloadFormatVersion: "1.0", TimeoutInMillis: 5000 }
        Default:
          Type: HttpApi
"#;

#[test]
fn globals_merge_under_each_function() {
    let model = load(FUNCTIONS);
    let worker = model.function("Worker").expect("worker");
    assert_eq!(worker.binary, "worker");
    assert_eq!(worker.timeout, Duration::from_secs(60));
    assert_eq!(worker.memory_mb, 256);
    assert_eq!(worker.architecture, "arm64");
    assert_eq!(worker.log_format.as_deref(), Some("JSON"));
    assert_eq!(worker.reserved_concurrency, Some(2));
    assert_eq!(
        worker.environment,
        BTreeMap::from([
            ("LOG_LEVEL".to_string(), "debug".to_string()),
            ("RETRIES".to_string(), "3".to_string()),
            ("TABLE".to_string(), "shop-Orders".to_string()),
        ])
    );
    let health = model.function("Health").expect("health");
    assert_eq!(health.timeout, Duration::from_secs(10));
    assert_eq!(health.environment["LOG_LEVEL"], "info");
    assert_eq!(health.name, "shop-Health");
    assert_eq!(
        health.arn,
        "arn:aws:lambda:eu-west-1:111122223333:function:shop-Health"
    );
}

#[test]
fn function_defaults_follow_sam() {
    let model = load(
        "Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Metadata: { BuildProperties: { Binary: f } }\n    Properties:\n      Events:\n        Q:\n          Type: SQS\n          Properties: { Queue: arn:aws:sqs:eu-west-1:1:q }\n",
    );
    let f = &model.functions[0];
    assert_eq!(f.timeout, Duration::from_secs(3));
    assert_eq!(f.memory_mb, 128);
    assert_eq!(f.architecture, "x86_64");
    assert_eq!(f.reserved_concurrency, None);
    let q = &f.sqs_events[0];
    assert_eq!(q.batch_size, 10);
    assert_eq!(q.batching_window, Duration::ZERO);
    assert!(!q.report_batch_item_failures);
    assert!(q.enabled);
    assert_eq!(q.maximum_concurrency, None);
}

#[test]
fn sqs_events_carry_their_settings() {
    let model = load(FUNCTIONS);
    let q = &model.function("Worker").expect("worker").sqs_events[0];
    assert_eq!(q.name, "Queue");
    assert_eq!(q.queue_arn, "arn:aws:sqs:eu-west-1:111122223333:shop-Jobs");
    assert_eq!(q.batch_size, 5);
    assert_eq!(q.batching_window, Duration::from_secs(2));
    assert!(q.report_batch_item_failures);
    assert_eq!(q.maximum_concurrency, Some(4));
}

#[test]
fn sns_events_subscribe_the_function() {
    let model = load(FUNCTIONS);
    let sub = model
        .subscriptions
        .iter()
        .find(|s| s.logical_id == "WorkerAlert")
        .expect("subscription");
    assert_eq!(sub.protocol, "lambda");
    assert_eq!(
        sub.topic_arn,
        "arn:aws:sns:eu-west-1:111122223333:shop-Alerts"
    );
    assert_eq!(
        sub.endpoint,
        "arn:aws:lambda:eu-west-1:111122223333:function:shop-Worker"
    );
    assert_eq!(sub.properties["FilterPolicy"], json!({"kind": ["alert"]}));
}

const ASYNC_FUNCTIONS: &str = r#"
Resources:
  Failures:
    Type: AWS::SQS::Queue
  Dead:
    Type: AWS::SNS::Topic
  Plain:
    Type: AWS::Serverless::Function
    Metadata: {BuildProperties: {Binary: plain}}
    Properties: {}
  Configured:
    Type: AWS::Serverless::Function
    Metadata: {BuildProperties: {Binary: configured}}
    Properties:
      DeadLetterQueue: {Type: SNS, TargetArn: !Ref Dead}
      EventInvokeConfig:
        MaximumRetryAttempts: 1
        MaximumEventAgeInSeconds: 120
        DestinationConfig:
          OnFailure: {Type: SQS, Destination: !GetAtt Failures.Arn}
"#;

#[test]
fn async_invocations_take_lambdas_defaults_and_the_functions_settings() {
    let model = load(ASYNC_FUNCTIONS);
    let function = |id: &str| {
        model
            .functions
            .iter()
            .find(|f| f.logical_id == id)
            .expect("function")
    };
    assert_eq!(function("Plain").async_invoke, AsyncInvokeConfig::default());
    assert_eq!(function("Plain").async_invoke.maximum_retry_attempts, 2);
    let configured = &function("Configured").async_invoke;
    assert_eq!(configured.maximum_retry_attempts, 1);
    assert_eq!(configured.maximum_event_age, Duration::from_secs(120));
    assert_eq!(configured.on_success, None);
    let on_failure = configured.on_failure.as_ref().expect("on failure");
    assert_eq!(on_failure.kind, DestinationKind::Sqs);
    assert_eq!(
        on_failure.arn,
        "arn:aws:sqs:eu-west-1:111122223333:shop-Failures"
    );
    let dead = configured.dead_letter.as_ref().expect("dead letter");
    assert_eq!(dead.kind, DestinationKind::Sns);
}

#[test]
fn async_invoke_settings_outside_lambdas_ranges_are_rejected() {
    let with = |settings: &str| {
        load_err(&format!(
            "Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Metadata: {{BuildProperties: {{Binary: f}}}}\n    Properties:\n      {settings}\n"
        ))
    };
    assert!(with("EventInvokeConfig: {MaximumRetryAttempts: 3}").contains("MaximumRetryAttempts"));
    assert!(
        with("EventInvokeConfig: {MaximumEventAgeInSeconds: 30}")
            .contains("MaximumEventAgeInSeconds")
    );
    assert!(
        with("DeadLetterQueue: {Type: SQS, TargetArn: 'arn:aws:lambda:us-east-1:1:function:x'}")
            .contains("SQS queue or an SNS topic")
    );
    assert!(
        with("EventInvokeConfig: {DestinationConfig: {OnFailure: {Type: SQS}}}")
            .contains("without a Destination")
    );
}

#[test]
fn functions_without_a_binary_are_rejected() {
    let err =
        load_err("Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Properties: {}\n");
    assert!(
        err.contains("`F`") && err.contains("BuildProperties.Binary"),
        "{err}"
    );
}

#[test]
fn http_api_events_without_api_id_make_the_implicit_api() {
    let model = load(FUNCTIONS);
    assert_eq!(model.http_apis.len(), 1);
    let api = &model.http_apis[0];
    assert_eq!(api.logical_id, "ServerlessHttpApi");
    assert_eq!(api.stage, "$default");
    let cors = api.cors.as_ref().expect("cors from Globals");
    assert_eq!(cors.allow_origins, vec!["*".to_string()]);
    let keys: Vec<_> = api.routes.iter().map(|r| r.route_key.as_str()).collect();
    assert_eq!(keys, vec!["ANY /{proxy+}", "$default", "GET /v1/health"]);
    let get = &api.routes[2];
    assert_eq!(get.method.as_deref(), Some("GET"));
    assert_eq!(get.path.as_deref(), Some("/v1/health"));
    assert_eq!(get.function, "Health");
    assert_eq!(get.payload_format_version, "2.0");
    assert_eq!(get.timeout, Duration::from_secs(30));
    assert_eq!(get.authorizer, None);
    let any = &api.routes[0];
    assert_eq!(any.method, None);
    assert_eq!(any.payload_format_version, "1.0");
    assert_eq!(any.timeout, Duration::from_millis(5000));
    let default = &api.routes[1];
    assert_eq!(
        (default.method.as_ref(), default.path.as_ref()),
        (None, None)
    );
}

const AUTH: &str = r#"
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      StageName: v1
      CorsConfiguration:
        AllowOrigins: [https://shop.example]
        AllowMethods: [GET, POST]
        AllowHeaders: [authorization]
        ExposeHeaders: [x-request-id]
        MaxAge: 600
        AllowCredentials: true
      DefaultRouteSettings:
        ThrottlingBurstLimit: 50
        ThrottlingRateLimit: 100
      RouteSettings:
        "POST /orders":
          ThrottlingBurstLimit: 5
      Auth:
        DefaultAuthorizer: Token
        Authorizers:
          Token:
            FunctionArn: !GetAtt Authorizer.Arn
            AuthorizerPayloadFormatVersion: 2.0
            EnableSimpleResponses: true
            Identity:
              Headers: [Authorization]
              Context: [routeKey]
              ReauthorizeEvery: 60
          Plain:
            FunctionArn: !GetAtt Authorizer.Arn
            AuthorizerPayloadFormatVersion: "1.0"
  Authorizer:
    Type: AWS::Serverless::Function
    Metadata: { BuildProperties: { Binary: authorizer } }
  Orders:
    Type: AWS::Serverless::Function
    Metadata: { BuildProperties: { Binary: orders } }
    Properties:
      Events:
        Create:
          Type: HttpApi
          Properties: { ApiId: !Ref Api, Path: /orders, Method: POST }
        Health:
          Type: HttpApi
          Properties: { ApiId: !Ref Api, Path: /health, Method: GET, Auth: { Authorizer: NONE } }
        Legacy:
          Type: HttpApi
          Properties:
            ApiId: !Ref Api
            Path: /legacy
            Method: GET
            Auth: { Authorizer: Plain }
            RouteSettings: { ThrottlingBurstLimit: 1, ThrottlingRateLimit: 2 }
"#;

#[test]
fn explicit_http_apis_carry_auth_cors_and_throttling() {
    let model = load(AUTH);
    assert_eq!(
        model.http_apis.len(),
        1,
        "no implicit API when every event names one"
    );
    let api = &model.http_apis[0];
    assert_eq!(api.logical_id, "Api");
    assert_eq!(api.stage, "v1");
    let cors = api.cors.as_ref().expect("cors");
    assert_eq!(cors.allow_origins, vec!["https://shop.example".to_string()]);
    assert_eq!(
        cors.allow_methods,
        vec!["GET".to_string(), "POST".to_string()]
    );
    assert_eq!(cors.expose_headers, vec!["x-request-id".to_string()]);
    assert_eq!(cors.max_age, Some(600));
    assert!(cors.allow_credentials);
    assert_eq!(
        api.default_throttle,
        Some(Throttle {
            burst_limit: 50,
            rate_limit: 100.0
        })
    );
    assert_eq!(
        api.route_throttles["POST /orders"],
        Throttle {
            burst_limit: 5,
            rate_limit: 10000.0
        }
    );
    assert_eq!(
        api.route_throttles["GET /legacy"],
        Throttle {
            burst_limit: 1,
            rate_limit: 2.0
        }
    );
    let token = &api.authorizers["Token"];
    assert_eq!(token.function, "Authorizer");
    assert_eq!(token.payload_format_version, "2.0");
    assert!(token.simple_responses);
    assert_eq!(token.identity_headers, vec!["Authorization".to_string()]);
    assert_eq!(token.identity_context, vec!["routeKey".to_string()]);
    assert_eq!(token.ttl, Duration::from_secs(60));
    let plain = &api.authorizers["Plain"];
    assert_eq!(plain.payload_format_version, "1.0");
    assert!(!plain.simple_responses);
    assert_eq!(plain.ttl, Duration::ZERO);
    let auth_of = |key: &str| {
        api.routes
            .iter()
            .find(|r| r.route_key == key)
            .map(|r| r.authorizer.clone())
            .expect("route")
    };
    assert_eq!(auth_of("POST /orders").as_deref(), Some("Token"));
    assert_eq!(auth_of("GET /health"), None);
    assert_eq!(auth_of("GET /legacy").as_deref(), Some("Plain"));
}

#[test]
fn credentials_with_a_wildcard_origin_are_refused_as_api_gateway_refuses_them() {
    let err = load_err(&AUTH.replace(
        "AllowOrigins: [https://shop.example]",
        "AllowOrigins: ['*']",
    ));
    assert!(
        err.contains("CorsConfiguration") && err.contains("AllowCredentials"),
        "{err}"
    );
    let model = load(
        &AUTH
            .replace(
                "AllowOrigins: [https://shop.example]",
                "AllowOrigins: ['*']",
            )
            .replace("AllowCredentials: true", "AllowCredentials: false"),
    );
    let cors = model.http_apis[0].cors.as_ref().expect("cors");
    assert_eq!(cors.allow_origins, vec!["*".to_string()]);
}

#[test]
fn routes_naming_unknown_authorizers_are_rejected() {
    let err = load_err(&AUTH.replace("Authorizer: Plain", "Authorizer: Missing"));
    assert!(err.contains("`Missing`") && err.contains("Legacy"), "{err}");
}

#[test]
fn duplicate_routes_are_rejected() {
    let err = load_err(&AUTH.replace("Path: /legacy", "Path: /health"));
    assert!(err.contains("GET /health"), "{err}");
}

#[test]
fn topics_expand_inline_subscriptions_and_subscriptions_resolve() {
    let model = load(
        r#"
Resources:
  Topic:
    Type: AWS::SNS::Topic
    Properties:
      Subscription:
        - { Protocol: sqs, Endpoint: !GetAtt Queue.Arn }
  Queue:
    Type: AWS::SQS::Queue
  Sub:
    Type: AWS::SNS::Subscription
    Properties:
      TopicArn: !Ref Topic
      Protocol: sqs
      Endpoint: !GetAtt Queue.Arn
      RawMessageDelivery: true
      FilterPolicyScope: MessageBody
      FilterPolicy: { type: [order] }
"#,
    );
    assert_eq!(model.subscriptions.len(), 2);
    let inline = &model.subscriptions[0];
    assert_eq!(inline.logical_id, "Topic.Subscription[0]");
    assert_eq!(inline.protocol, "sqs");
    assert_eq!(
        inline.endpoint,
        "arn:aws:sqs:eu-west-1:111122223333:shop-Queue"
    );
    let sub = &model.subscriptions[1];
    assert_eq!(sub.logical_id, "Sub");
    assert_eq!(
        sub.topic_arn,
        "arn:aws:sns:eu-west-1:111122223333:shop-Topic"
    );
    assert_eq!(sub.properties["RawMessageDelivery"], json!(true));
    assert_eq!(sub.properties["FilterPolicy"], json!({"type": ["order"]}));
}

#[test]
fn email_identities_are_modelled_and_ref_gives_the_identity() {
    let template = r#"
Parameters:
  NotificationSender:
    Type: String
    Default: orders@storefront.example
Resources:
  SenderIdentity:
    Type: AWS::SES::EmailIdentity
    Properties:
      EmailIdentity: !Ref NotificationSender
  Notifier:
    Type: AWS::Serverless::Function
    Metadata: { BuildProperties: { Binary: notifier } }
    Properties:
      Environment:
        Variables:
          SENDER: !Ref SenderIdentity
"#;
    let model = load(template);
    assert_eq!(model.email_identities.len(), 1);
    let identity = &model.email_identities[0];
    assert_eq!(identity.logical_id, "SenderIdentity");
    assert_eq!(identity.name, "orders@storefront.example");
    assert_eq!(
        model.functions[0].environment["SENDER"],
        "orders@storefront.example"
    );

    let err = load_err(&template.replace(
        "EmailIdentity: !Ref NotificationSender",
        "ConfigurationSetAttributes: {}",
    ));
    assert!(
        err.contains("`SenderIdentity`") && err.contains("EmailIdentity"),
        "{err}"
    );
}

#[test]
fn state_machines_read_definition_files_and_apply_substitutions() {
    let dir = std::env::temp_dir().join(format!("local-template-sm-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("statemachines")).expect("dir");
    std::fs::write(
        dir.join("statemachines/checkout.asl.json"),
        r#"{"StartAt":"Pay","States":{"Pay":{"Type":"Task","Resource":"${PayArn}","End":true}}}"#,
    )
    .expect("write");
    std::fs::write(
        dir.join("statemachines/notify.asl.yaml"),
        "StartAt: Send\nStates:\n  Send:\n    Type: Task\n    Resource: arn:aws:states:::sns:publish\n    Parameters:\n      TopicArn: ${Topic}\n    End: true\n",
    )
    .expect("write");
    let yaml = r#"
Resources:
  Pay:
    Type: AWS::Serverless::Function
    Metadata: { BuildProperties: { Binary: pay } }
  Topic:
    Type: AWS::SNS::Topic
  Checkout:
    Type: AWS::Serverless::StateMachine
    Properties:
      Name: checkout
      Type: EXPRESS
      DefinitionUri: statemachines/checkout.asl.json
      DefinitionSubstitutions:
        PayArn: !GetAtt Pay.Arn
  Notify:
    Type: AWS::Serverless::StateMachine
    Properties:
      DefinitionUri: statemachines/notify.asl.yaml
      DefinitionSubstitutions:
        Topic: !Ref Topic
"#;
    let model = Template::parse(yaml, &dir)
        .and_then(|t| t.resolve(&opts(), &PhysicalIds::new()))
        .expect("model");
    let checkout = &model.state_machines[0];
    assert_eq!(checkout.name, "checkout");
    assert_eq!(checkout.kind, "EXPRESS");
    assert_eq!(
        checkout.arn,
        "arn:aws:states:eu-west-1:111122223333:stateMachine:checkout"
    );
    assert_eq!(
        checkout.definition["States"]["Pay"]["Resource"],
        "arn:aws:lambda:eu-west-1:111122223333:function:shop-Pay"
    );
    let notify = &model.state_machines[1];
    assert_eq!(notify.kind, "STANDARD");
    assert_eq!(
        notify.definition["States"]["Send"]["Parameters"]["TopicArn"],
        "arn:aws:sns:eu-west-1:111122223333:shop-Topic"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn outputs_resolve_and_honour_conditions() {
    let model = load(
        r#"
Conditions:
  Never: !Equals [a, b]
Resources:
  Queue:
    Type: AWS::SQS::Queue
Outputs:
  QueueUrl:
    Value: !Ref Queue
  Zones:
    Value: !GetAZs ""
  Hidden:
    Condition: Never
    Value: x
"#,
    );
    assert_eq!(
        model.outputs,
        BTreeMap::from([
            (
                "QueueUrl".to_string(),
                "http://127.0.0.1:4566/111122223333/shop-Queue".to_string()
            ),
            (
                "Zones".to_string(),
                "eu-west-1a,eu-west-1b,eu-west-1c".to_string()
            ),
        ])
    );
}

#[test]
fn resources_keep_template_order() {
    let t = parse(RESOURCES);
    let ids: Vec<_> = t
        .resources()
        .into_iter()
        .map(|(id, _)| id)
        .take(4)
        .collect();
    assert_eq!(ids, vec!["Api", "ApiRole", "Named", "Orders"]);
}

#[test]
fn globals_merge_maps_concatenate_lists_and_let_resources_win() {
    use crate::document::merge_globals;
    let merged = merge_globals(
        &json!({"A": 1, "M": {"x": 1, "y": 1}, "L": [1], "I": {"Ref": "P"}}),
        &json!({"A": 2, "M": {"y": 2}, "L": [2], "I": {"z": 1}}),
    );
    assert_eq!(
        merged,
        json!({"A": 2, "M": {"x": 1, "y": 2}, "L": [1, 2], "I": {"z": 1}})
    );
}

#[test]
fn durations_outside_the_aws_ranges_are_refused() {
    for (property, value) in [("Timeout", "0"), ("Timeout", "901"), ("MemorySize", "64")] {
        let yaml = format!(
            "Resources:\n  F:\n    Type: AWS::Serverless::Function\n    Metadata: {{BuildProperties: {{Binary: f}}}}\n    Properties: {{{property}: {value}}}\n"
        );
        let template = Template::parse(&yaml, ".").unwrap();
        let error = template
            .resolve(&LoadOptions::default(), &PhysicalIds::new())
            .unwrap_err();
        assert!(error.chain().contains(property), "{}", error.chain());
    }
}

const CUSTOM: &str = r#"
Parameters:
  Admin:
    Type: String
    Default: admin@example.com
Conditions:
  Never: !Equals [a, b]
Resources:
  Boot:
    Type: AWS::Serverless::Function
    Metadata: { BuildProperties: { Binary: boot } }
  Orders:
    Type: AWS::DynamoDB::Table
  First:
    Type: Custom::Thing
    Properties:
      ServiceToken: !GetAtt Boot.Arn
      Email: !Ref Admin
      Count: 3
      Flag: true
      Nested: { List: [1, x, false] }
      Table: !Ref Orders
  Second:
    Type: AWS::CloudFormation::CustomResource
    DependsOn: Third
    Properties:
      ServiceToken: !Ref Boot
      Echo: !Sub "${First}/${First.Echo}"
  Third:
    Type: Custom::Thing
    Properties:
      ServiceToken: !GetAtt Boot.Arn
  Skipped:
    Type: Custom::Thing
    Condition: Never
    Properties:
      ServiceToken: !GetAtt Boot.Arn
Outputs:
  FirstId:
    Value: !Ref First
  FirstEcho:
    Value: !GetAtt First.Echo
"#;

#[test]
fn custom_resources_come_in_creation_order_with_their_function() {
    let model = load(CUSTOM);
    let ids: Vec<_> = model
        .custom_resources
        .iter()
        .map(|c| c.logical_id.as_str())
        .collect();
    assert_eq!(ids, vec!["First", "Third", "Second"]);
    let first = model.custom_resource("First").unwrap();
    assert_eq!(first.kind, "Custom::Thing");
    assert_eq!(first.function, "Boot");
    assert_eq!(
        first.service_token,
        "arn:aws:lambda:eu-west-1:111122223333:function:shop-Boot"
    );
    assert_eq!(first.depends_on, vec!["Boot", "Orders"]);
    assert_eq!(first.properties["Count"], json!(3));
    let second = model.custom_resource("Second").unwrap();
    assert_eq!(second.function, "Boot");
    assert_eq!(second.depends_on, vec!["Third", "Boot", "First"]);
}

#[test]
fn custom_resource_properties_are_sent_as_strings() {
    let model = load(CUSTOM);
    let first = model.custom_resource("First").unwrap();
    assert_eq!(
        first.request_properties(),
        json!({
            "ServiceToken": "arn:aws:lambda:eu-west-1:111122223333:function:shop-Boot",
            "Email": "admin@example.com",
            "Count": "3",
            "Flag": "true",
            "Nested": { "List": ["1", "x", "false"] },
            "Table": "shop-Orders",
        })
    );
}

#[test]
fn custom_resource_results_replace_placeholders_once_recorded() {
    let t = parse(CUSTOM);
    let before = t.resolve(&opts(), &PhysicalIds::new()).unwrap();
    assert_eq!(
        before.custom_resource("Second").unwrap().properties["Echo"],
        "shop-First/shop-First.Echo"
    );
    let physical = PhysicalIds::from([(
        "First".to_string(),
        PhysicalId {
            reference: "first-id".into(),
            attributes: BTreeMap::from([("Echo".to_string(), "hi".to_string())]),
        },
    )]);
    let after = t.resolve(&opts(), &physical).unwrap();
    assert_eq!(
        after.custom_resource("Second").unwrap().properties["Echo"],
        "first-id/hi"
    );
    assert_eq!(after.outputs["FirstId"], "first-id");
    assert_eq!(after.outputs["FirstEcho"], "hi");

    let missing = CUSTOM.replace("!GetAtt First.Echo\n", "!GetAtt First.Missing\n");
    let error = parse(&missing).resolve(&opts(), &physical).unwrap_err();
    assert!(error.chain().contains("`Missing`"), "{}", error.chain());
}

#[test]
fn custom_resources_need_a_function_of_the_template_as_service_token() {
    let err = load_err(
        r#"
Resources:
  Thing:
    Type: Custom::Thing
    Properties:
      ServiceToken: arn:aws:sns:eu-west-1:111122223333:provider
"#,
    );
    assert!(
        err.contains("`Thing`")
            && err.contains("ServiceToken arn:aws:sns:eu-west-1:111122223333:provider")
            && err.contains("not a function of this template"),
        "{err}"
    );
    let err = load_err("Resources:\n  Thing:\n    Type: Custom::Thing\n");
    assert!(err.contains("has no ServiceToken"), "{err}");
}

#[test]
fn custom_resources_that_depend_on_each_other_are_rejected() {
    let err = load_err(
        r#"
Resources:
  Boot:
    Type: AWS::Serverless::Function
    Metadata: { BuildProperties: { Binary: boot } }
  A:
    Type: Custom::Thing
    DependsOn: [B]
    Properties: { ServiceToken: !GetAtt Boot.Arn }
  B:
    Type: Custom::Thing
    Properties: { ServiceToken: !GetAtt Boot.Arn, Value: !GetAtt A.Value }
"#,
    );
    assert!(err.contains("A -> B -> A"), "{err}");
}

#[test]
fn other_resources_cannot_use_custom_resource_results() {
    let err = load_err(&CUSTOM.replace(
        "    Metadata: { BuildProperties: { Binary: boot } }\n",
        "    Metadata: { BuildProperties: { Binary: boot } }\n    Properties:\n      Environment: { Variables: { ADMIN: !GetAtt First.Id } }\n",
    ));
    assert!(
        err.contains("resource `Boot` properties") && err.contains("custom resource `First`"),
        "{err}"
    );
}

#[test]
fn depends_on_must_name_resources() {
    let err = load_err("Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    DependsOn: Nope\n");
    assert!(err.contains("`Q`") && err.contains("`Nope`"), "{err}");
}

#[test]
fn the_stack_id_is_what_aws_stack_id_gives() {
    let model = load(CUSTOM);
    assert_eq!(json!(model.stack_id()), eval(CUSTOM, "!Ref AWS::StackId"));
}
