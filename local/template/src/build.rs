//! Filling the [`Model`] from a resolved template.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::document::{IMPLICIT_HTTP_API, Resource};
use crate::error::{ResultExt, TemplateError};
use crate::model::*;
use crate::resolve::Resolver;
use crate::schedule::ScheduleExpression;
use crate::value::{as_bool, as_f64, as_string, as_string_list, as_u64};

/// API Gateway's account-level throttling, used for the half of a throttle
/// setting a template leaves out.
const DEFAULT_BURST_LIMIT: u32 = 5000;
const DEFAULT_RATE_LIMIT: f64 = 10000.0;

/// An `HttpApi` event waiting for its API.
struct PendingRoute {
    function: String,
    event: String,
    properties: Value,
}

pub(crate) fn build(r: &Resolver<'_>, base_dir: &Path) -> Result<Model, TemplateError> {
    let mut model = Model {
        stack_name: r.opts.stack_name.clone(),
        region: r.opts.region.clone(),
        account_id: r.opts.account_id.clone(),
        parameters: r.param_text.clone(),
        ..Model::default()
    };
    let mut enabled: Vec<(&str, &Resource)> = Vec::new();
    for id in &r.doc.order {
        if let Some(resource) = r.doc.resources.get(id)
            && r.enabled(resource).at(|| format!("resource `{id}`"))?
        {
            enabled.push((id.as_str(), resource));
        }
    }
    let of_kind = |kinds: &'static [&'static str]| {
        enabled
            .iter()
            .filter(move |(_, res)| kinds.contains(&res.kind.as_str()))
            .copied()
    };
    // Every resource but custom resources and outputs is set up before any custom resource
    // is created, so none of them may use a custom resource's results.
    let properties = |id: &str, res: &Resource| -> Result<Value, TemplateError> {
        let at = || format!("resource `{id}` properties");
        r.take_pending();
        let props = r.resolve_value(&res.properties).at(at)?;
        if let Some(custom) = r.take_pending().into_iter().next() {
            return Err(TemplateError::Unsupported(format!(
                "using the Ref or attributes of custom resource `{custom}` outside Outputs and \
                 other custom resources (custom resources are created after every other \
                 resource and function)"
            ))
            .at(at()));
        }
        Ok(props)
    };

    let mut pending_routes = Vec::new();
    for (id, res) in of_kind(&["AWS::Serverless::Function"]) {
        let props = properties(id, res)?;
        let (function, routes, subscriptions) =
            function(r, id, res, &props).at(|| format!("function `{id}`"))?;
        model.functions.push(function);
        pending_routes.extend(routes);
        model.subscriptions.extend(subscriptions);
    }

    for (id, res) in of_kind(&["AWS::Serverless::HttpApi"]) {
        let props = properties(id, res)?;
        let api = http_api(r, id, &props, &model.functions).at(|| format!("HTTP API `{id}`"))?;
        model.http_apis.push(api);
    }
    for pending in pending_routes {
        add_route(r, &mut model.http_apis, &pending).at(|| {
            format!(
                "event `{}` of function `{}`",
                pending.event, pending.function
            )
        })?;
    }

    for (id, res) in of_kind(&["AWS::DynamoDB::Table", "AWS::Serverless::SimpleTable"]) {
        let props = properties(id, res)?;
        let rref = r.resource_ref(id)?;
        let properties = if res.kind == "AWS::Serverless::SimpleTable" {
            simple_table(&rref.name, &props)
        } else {
            props
        };
        model.tables.push(Table {
            logical_id: id.to_string(),
            name: rref.name.clone(),
            arn: rref.attribute(id, "Arn")?,
            properties,
        });
    }

    for (id, res) in of_kind(&["AWS::SNS::Topic"]) {
        let props = properties(id, res)?;
        let rref = r.resource_ref(id)?;
        let arn = rref.reference.clone();
        if let Some(list) = props.get("Subscription").and_then(Value::as_array) {
            for (n, sub) in list.iter().enumerate() {
                let logical_id = format!("{id}.Subscription[{n}]");
                let field = |key: &str| {
                    sub.get(key)
                        .and_then(as_string)
                        .ok_or_else(|| TemplateError::invalid(format!("{logical_id} has no {key}")))
                };
                model.subscriptions.push(Subscription {
                    topic_arn: arn.clone(),
                    protocol: field("Protocol")?,
                    endpoint: field("Endpoint")?,
                    properties: Value::Object(Map::new()),
                    logical_id,
                });
            }
        }
        model.topics.push(Topic {
            logical_id: id.to_string(),
            name: rref.name.clone(),
            arn,
            properties: props,
        });
    }

    for (id, res) in of_kind(&["AWS::SQS::Queue"]) {
        let props = properties(id, res)?;
        let rref = r.resource_ref(id)?;
        model.queues.push(Queue {
            logical_id: id.to_string(),
            name: rref.name.clone(),
            url: rref.reference.clone(),
            arn: rref.attribute(id, "Arn")?,
            properties: props,
        });
    }

    for (id, res) in of_kind(&["AWS::SNS::Subscription"]) {
        let props = properties(id, res)?;
        let field = |key: &str| {
            props
                .get(key)
                .and_then(as_string)
                .ok_or_else(|| TemplateError::invalid(format!("subscription `{id}` has no {key}")))
        };
        model.subscriptions.push(Subscription {
            logical_id: id.to_string(),
            topic_arn: field("TopicArn")?,
            protocol: field("Protocol")?,
            endpoint: field("Endpoint")?,
            properties: props.clone(),
        });
    }

    for (id, res) in of_kind(&["AWS::SecretsManager::Secret"]) {
        let props = properties(id, res)?;
        let rref = r.resource_ref(id)?;
        model.secrets.push(Secret {
            logical_id: id.to_string(),
            name: rref.name.clone(),
            properties: props,
        });
    }

    for (id, res) in of_kind(&["AWS::SES::EmailIdentity"]) {
        let props = properties(id, res)?;
        let rref = r.resource_ref(id)?;
        model.email_identities.push(EmailIdentity {
            logical_id: id.to_string(),
            name: rref.name.clone(),
            properties: props,
        });
    }

    for (id, res) in of_kind(&[
        "AWS::Serverless::StateMachine",
        "AWS::StepFunctions::StateMachine",
    ]) {
        let props = properties(id, res)?;
        let rref = r.resource_ref(id)?;
        let (kind, definition) =
            state_machine(&res.kind, &props, base_dir).at(|| format!("state machine `{id}`"))?;
        model.state_machines.push(StateMachine {
            logical_id: id.to_string(),
            name: rref.name.clone(),
            arn: rref.reference.clone(),
            kind,
            definition,
        });
    }

    let mut custom_resources = Vec::new();
    for (id, res) in enabled
        .iter()
        .filter(|(_, res)| is_custom_resource_type(&res.kind))
    {
        let props = r
            .resolve_value(&res.properties)
            .at(|| format!("resource `{id}` properties"))?;
        custom_resources.push(
            custom_resource(r, id, res, props, &model.functions)
                .at(|| format!("custom resource `{id}`"))?,
        );
    }
    model.custom_resources = creation_order(custom_resources)?;

    for (name, output) in &r.doc.outputs {
        let at = || format!("output `{name}`");
        if let Some(c) = output.get("Condition").and_then(Value::as_str)
            && !r.condition(c).at(at)?
        {
            continue;
        }
        let Some(value) = output.get("Value") else {
            return Err(TemplateError::invalid("has no Value").at(at()));
        };
        let value = r.resolve_value(value).at(at)?;
        let text = match &value {
            Value::Array(items) => items
                .iter()
                .filter_map(as_string)
                .collect::<Vec<_>>()
                .join(","),
            other => as_string(other).unwrap_or_else(|| other.to_string()),
        };
        model.outputs.insert(name.clone(), text);
    }
    Ok(model)
}

fn opt_u64(props: &Value, key: &str) -> Result<Option<u64>, TemplateError> {
    match props.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => as_u64(v).map(Some).ok_or_else(|| {
            TemplateError::invalid(format!("{key} must be a whole number, got {v}"))
        }),
    }
}

/// `key` as a whole number within AWS's documented range for it.
fn opt_u64_in(
    props: &Value,
    key: &str,
    range: std::ops::RangeInclusive<u64>,
) -> Result<Option<u64>, TemplateError> {
    match opt_u64(props, key)? {
        Some(n) if !range.contains(&n) => Err(TemplateError::invalid(format!(
            "{key} must be between {} and {}, got {n}",
            range.start(),
            range.end()
        ))),
        n => Ok(n),
    }
}

fn opt_u32(props: &Value, key: &str) -> Result<Option<u32>, TemplateError> {
    opt_u64(props, key)?
        .map(|n| {
            u32::try_from(n).map_err(|_| TemplateError::invalid(format!("{key} {n} is too large")))
        })
        .transpose()
}

fn opt_string(props: &Value, key: &str) -> Result<Option<String>, TemplateError> {
    match props.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => as_string(v)
            .map(Some)
            .ok_or_else(|| TemplateError::invalid(format!("{key} must be a string, got {v}"))),
    }
}

fn opt_bool(props: &Value, key: &str) -> Result<Option<bool>, TemplateError> {
    match props.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => as_bool(v)
            .map(Some)
            .ok_or_else(|| TemplateError::invalid(format!("{key} must be true or false, got {v}"))),
    }
}

fn opt_list(props: &Value, key: &str) -> Result<Vec<String>, TemplateError> {
    match props.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(v) => as_string_list(v).ok_or_else(|| {
            TemplateError::invalid(format!("{key} must be a list of strings, got {v}"))
        }),
    }
}

type FunctionParts = (Function, Vec<PendingRoute>, Vec<Subscription>);

fn function(
    r: &Resolver<'_>,
    id: &str,
    res: &Resource,
    props: &Value,
) -> Result<FunctionParts, TemplateError> {
    let rref = r.resource_ref(id)?;
    let arn = rref.attribute(id, "Arn")?;
    let metadata = r.resolve_value(&res.metadata)?;
    let binary = metadata
        .pointer("/BuildProperties/Binary")
        .and_then(as_string)
        .ok_or_else(|| TemplateError::invalid("has no Metadata.BuildProperties.Binary"))?;
    let mut environment = BTreeMap::new();
    if let Some(vars) = props.pointer("/Environment/Variables") {
        let vars = vars
            .as_object()
            .ok_or_else(|| TemplateError::invalid("Environment.Variables must be a mapping"))?;
        for (k, v) in vars {
            let v = as_string(v).ok_or_else(|| {
                TemplateError::invalid(format!(
                    "environment variable {k} must be a string, got {v}"
                ))
            })?;
            environment.insert(k.clone(), v);
        }
    }
    let logging = props.get("LoggingConfig").cloned().unwrap_or(Value::Null);
    let architecture = match props.get("Architectures") {
        None | Some(Value::Null) => "x86_64".to_string(),
        Some(v) => as_string_list(v)
            .and_then(|l| l.into_iter().next())
            .ok_or_else(|| TemplateError::invalid("Architectures must be a list of one"))?,
    };
    let mut sqs_events = Vec::new();
    let mut stream_events = Vec::new();
    let mut schedule_events = Vec::new();
    let mut routes = Vec::new();
    let mut subscriptions = Vec::new();
    if let Some(events) = props.get("Events") {
        let events = events
            .as_object()
            .ok_or_else(|| TemplateError::invalid("Events must be a mapping"))?;
        for (name, event) in events {
            let at = || format!("event `{name}`");
            let ev = event.get("Properties").cloned().unwrap_or(json!({}));
            match event.get("Type").and_then(Value::as_str) {
                Some("SQS") => sqs_events.push(sqs_event(name, &ev).at(at)?),
                Some("DynamoDB") => stream_events.push(stream_event(name, &ev).at(at)?),
                Some("Schedule") => schedule_events
                    .push(schedule_event(r, id, name, ScheduleKind::Rule, &ev).at(at)?),
                Some("ScheduleV2") => schedule_events
                    .push(schedule_event(r, id, name, ScheduleKind::Scheduler, &ev).at(at)?),
                Some("HttpApi") => routes.push(PendingRoute {
                    function: id.to_string(),
                    event: name.clone(),
                    properties: ev,
                }),
                Some("SNS") => subscriptions.push(sns_event(id, name, &arn, &ev).at(at)?),
                Some(_) => {}
                None => return Err(TemplateError::invalid("has no Type").at(at())),
            }
        }
    }
    let function = Function {
        logical_id: id.to_string(),
        name: rref.name.clone(),
        arn,
        binary,
        environment,
        timeout: Duration::from_secs(opt_u64_in(props, "Timeout", 1..=900)?.unwrap_or(3)),
        memory_mb: opt_u64_in(props, "MemorySize", 128..=10_240)?.map_or(128, |n| n as u32),
        reserved_concurrency: opt_u32(props, "ReservedConcurrentExecutions")?,
        architecture,
        log_format: opt_string(&logging, "LogFormat")?,
        application_log_level: opt_string(&logging, "ApplicationLogLevel")?,
        sqs_events,
        stream_events,
        schedule_events,
        async_invoke: async_invoke(props)?,
    };
    Ok((function, routes, subscriptions))
}

/// `EventInvokeConfig` and `DeadLetterQueue`, with Lambda's defaults and ranges.
fn async_invoke(props: &Value) -> Result<AsyncInvokeConfig, TemplateError> {
    let mut config = AsyncInvokeConfig::default();
    let destination = |arn: String, what: &str| {
        Destination::from_arn(&arn).ok_or_else(|| {
            TemplateError::invalid(format!(
                "{what} must be the ARN of a queue, topic, function, event bus or bucket, got {arn}"
            ))
        })
    };
    if let Some(dlq) = props.get("DeadLetterQueue").filter(|v| !v.is_null()) {
        let arn = opt_string(dlq, "TargetArn")?
            .ok_or_else(|| TemplateError::invalid("DeadLetterQueue has no TargetArn"))?;
        let target = destination(arn, "DeadLetterQueue.TargetArn")?;
        if !matches!(target.kind, DestinationKind::Sqs | DestinationKind::Sns) {
            return Err(TemplateError::invalid(
                "DeadLetterQueue.TargetArn must be an SQS queue or an SNS topic",
            ));
        }
        config.dead_letter = Some(target);
    }
    let Some(invoke) = props.get("EventInvokeConfig").filter(|v| !v.is_null()) else {
        return Ok(config);
    };
    if let Some(n) = opt_u64_in(invoke, "MaximumRetryAttempts", 0..=2)? {
        config.maximum_retry_attempts = n as u32;
    }
    if let Some(age) = opt_u64_in(invoke, "MaximumEventAgeInSeconds", 60..=21_600)? {
        config.maximum_event_age = Duration::from_secs(age);
    }
    let destinations = invoke
        .get("DestinationConfig")
        .cloned()
        .unwrap_or(Value::Null);
    for (key, slot) in [
        ("OnSuccess", &mut config.on_success),
        ("OnFailure", &mut config.on_failure),
    ] {
        let Some(entry) = destinations.get(key).filter(|v| !v.is_null()) else {
            continue;
        };
        let arn = opt_string(entry, "Destination")?.ok_or_else(|| {
            TemplateError::Unsupported(format!(
                "EventInvokeConfig.DestinationConfig.{key} without a Destination (SAM would create the queue or topic; declare it and name its ARN)"
            ))
        })?;
        *slot = Some(destination(
            arn,
            &format!("DestinationConfig.{key}.Destination"),
        )?);
    }
    Ok(config)
}

fn sqs_event(name: &str, ev: &Value) -> Result<SqsEventSource, TemplateError> {
    let queue_arn =
        opt_string(ev, "Queue")?.ok_or_else(|| TemplateError::invalid("has no Queue"))?;
    let report_batch_item_failures = opt_list(ev, "FunctionResponseTypes")?
        .iter()
        .any(|t| t == "ReportBatchItemFailures");
    let maximum_concurrency = match ev.get("ScalingConfig") {
        Some(scaling) => opt_u32(scaling, "MaximumConcurrency")?,
        None => None,
    };
    Ok(SqsEventSource {
        name: name.to_string(),
        queue_arn,
        batch_size: opt_u32(ev, "BatchSize")?.unwrap_or(10),
        batching_window: Duration::from_secs(
            opt_u64(ev, "MaximumBatchingWindowInSeconds")?.unwrap_or(0),
        ),
        report_batch_item_failures,
        enabled: opt_bool(ev, "Enabled")?.unwrap_or(true),
        maximum_concurrency,
    })
}

/// A whole number that may be -1 ("no limit"), within AWS's range otherwise.
fn opt_limit(
    props: &Value,
    key: &str,
    range: std::ops::RangeInclusive<u64>,
) -> Result<Option<u64>, TemplateError> {
    match props.get(key) {
        Some(v) if as_f64(v) == Some(-1.0) => Ok(None),
        _ => opt_u64_in(props, key, range),
    }
}

/// A function's `Type: DynamoDB` event (AWS::Lambda::EventSourceMapping on a table stream).
fn stream_event(name: &str, ev: &Value) -> Result<StreamEventSource, TemplateError> {
    let stream_arn =
        opt_string(ev, "Stream")?.ok_or_else(|| TemplateError::invalid("has no Stream"))?;
    let starting_position = match opt_string(ev, "StartingPosition")?.as_deref() {
        Some("TRIM_HORIZON") => StartingPosition::TrimHorizon,
        Some("LATEST") => StartingPosition::Latest,
        Some(other) => {
            return Err(TemplateError::invalid(format!(
                "StartingPosition must be TRIM_HORIZON or LATEST for a DynamoDB stream, got {other}"
            )));
        }
        None => return Err(TemplateError::invalid("has no StartingPosition")),
    };
    let report_batch_item_failures = opt_list(ev, "FunctionResponseTypes")?
        .iter()
        .any(|t| t == "ReportBatchItemFailures");
    let on_failure = match ev.pointer("/DestinationConfig/OnFailure") {
        Some(on_failure) => opt_string(on_failure, "Destination")?,
        None => None,
    };
    let mut filters = Vec::new();
    if let Some(criteria) = ev.get("FilterCriteria") {
        let list = criteria
            .get("Filters")
            .and_then(Value::as_array)
            .ok_or_else(|| TemplateError::invalid("FilterCriteria.Filters must be a list"))?;
        for filter in list {
            let pattern = filter
                .get("Pattern")
                .and_then(as_string)
                .ok_or_else(|| TemplateError::invalid("a filter has no Pattern"))?;
            let pattern: Value = serde_json::from_str(&pattern).map_err(|e| {
                TemplateError::invalid(format!("filter pattern {pattern} is not JSON: {e}"))
            })?;
            if !pattern.is_object() {
                return Err(TemplateError::invalid(format!(
                    "filter pattern {pattern} must be a JSON object"
                )));
            }
            filters.push(pattern);
        }
    }
    if let Some(factor) = opt_u64_in(ev, "ParallelizationFactor", 1..=10)?
        && factor > 1
    {
        return Err(TemplateError::Unsupported(format!(
            "ParallelizationFactor {factor} (the local stack reads each shard with one poller)"
        )));
    }
    Ok(StreamEventSource {
        name: name.to_string(),
        stream_arn,
        starting_position,
        batch_size: opt_u64_in(ev, "BatchSize", 1..=10_000)?.map_or(100, |n| n as u32),
        batching_window: Duration::from_secs(
            opt_u64_in(ev, "MaximumBatchingWindowInSeconds", 0..=300)?.unwrap_or(0),
        ),
        maximum_retry_attempts: opt_limit(ev, "MaximumRetryAttempts", 0..=10_000)?
            .map(|n| n as u32),
        maximum_record_age: opt_limit(ev, "MaximumRecordAgeInSeconds", 60..=604_800)?
            .map(Duration::from_secs),
        bisect_on_error: opt_bool(ev, "BisectBatchOnFunctionError")?.unwrap_or(false),
        report_batch_item_failures,
        on_failure,
        filters,
        enabled: opt_bool(ev, "Enabled")?.unwrap_or(true),
    })
}

/// Time zones that are UTC under another name.
const UTC_ZONES: &[&str] = &[
    "UTC",
    "Etc/UTC",
    "GMT",
    "Etc/GMT",
    "Etc/UCT",
    "UCT",
    "Universal",
    "Etc/Universal",
    "Zulu",
    "Etc/Zulu",
    "Etc/GMT+0",
    "Etc/GMT-0",
    "Etc/GMT0",
];

/// A function's `Type: Schedule` (EventBridge rule) or `Type: ScheduleV2` (EventBridge
/// Scheduler) event.
fn schedule_event(
    r: &Resolver<'_>,
    function: &str,
    name: &str,
    kind: ScheduleKind,
    ev: &Value,
) -> Result<ScheduleEventSource, TemplateError> {
    let expression_key = match kind {
        ScheduleKind::Rule => "Schedule",
        ScheduleKind::Scheduler => "ScheduleExpression",
    };
    let text = opt_string(ev, expression_key)?
        .ok_or_else(|| TemplateError::invalid(format!("has no {expression_key}")))?;
    let expression = ScheduleExpression::parse(&text)
        .map_err(|e| TemplateError::invalid(format!("{expression_key}: {e}")))?;
    if kind == ScheduleKind::Rule && matches!(expression, ScheduleExpression::At(_)) {
        return Err(TemplateError::invalid(
            "an EventBridge rule takes rate(...) or cron(...); at(...) is for ScheduleV2",
        ));
    }
    if let Some(zone) = opt_string(ev, "ScheduleExpressionTimezone")?
        && expression.uses_time_zone()
        && !UTC_ZONES.iter().any(|z| z.eq_ignore_ascii_case(&zone))
    {
        return Err(TemplateError::Unsupported(format!(
            "ScheduleExpressionTimezone {zone} (the local stack computes cron and at schedules \
             in UTC: leave it out or use UTC)"
        )));
    }
    let state = opt_string(ev, "State")?;
    let enabled = match (kind, state.as_deref(), opt_bool(ev, "Enabled")?) {
        (_, Some(_), Some(_)) if kind == ScheduleKind::Rule => {
            return Err(TemplateError::invalid("give State or Enabled, not both"));
        }
        (ScheduleKind::Scheduler, _, Some(_)) => {
            return Err(TemplateError::invalid(
                "ScheduleV2 has no Enabled property: use State: ENABLED or DISABLED",
            ));
        }
        (_, None, None) => true,
        (_, None, Some(enabled)) => enabled,
        (_, Some("ENABLED"), _) => true,
        (ScheduleKind::Rule, Some("ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"), _) => true,
        (_, Some("DISABLED"), _) => false,
        (_, Some(other), _) => {
            return Err(TemplateError::invalid(format!(
                "State must be ENABLED or DISABLED, got {other}"
            )));
        }
    };
    let input = match ev.get("Input") {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => {
            // Scheduler's context attributes may stand where a JSON value goes.
            let sample = text
                .replace("<aws.scheduler.attempt-number>", "1")
                .replace("<aws.scheduler.", "<");
            serde_json::from_str::<Value>(&sample).map_err(|e| {
                TemplateError::invalid(format!("Input is not JSON text ({e}): {text}"))
            })?;
            Some(text.clone())
        }
        Some(other) => {
            return Err(TemplateError::invalid(format!(
                "Input must be a string of JSON text (quote it, e.g. Input: '{{\"key\": 1}}'), \
                 got {other}"
            )));
        }
    };
    let retry = ev.get("RetryPolicy").cloned().unwrap_or(json!({}));
    let maximum_retry_attempts =
        opt_u64_in(&retry, "MaximumRetryAttempts", 0..=185)?.map_or(185, |n| n as u32);
    let maximum_event_age = Duration::from_secs(
        opt_u64_in(&retry, "MaximumEventAgeInSeconds", 60..=86_400)?.unwrap_or(86_400),
    );
    let opts = r.opts;
    let (schedule_name, arn) = match kind {
        ScheduleKind::Rule => {
            let rule = opt_string(ev, "Name")?.unwrap_or_else(|| {
                format!("{}-{function}{name}", opts.stack_name)
                    .chars()
                    .take(64)
                    .collect()
            });
            let arn = format!(
                "arn:aws:events:{}:{}:rule/{rule}",
                opts.region, opts.account_id
            );
            (rule, arn)
        }
        ScheduleKind::Scheduler => {
            let schedule = opt_string(ev, "Name")?
                .unwrap_or_else(|| format!("{function}{name}").chars().take(64).collect());
            let group = opt_string(ev, "GroupName")?.unwrap_or_else(|| "default".into());
            let arn = format!(
                "arn:aws:scheduler:{}:{}:schedule/{group}/{schedule}",
                opts.region, opts.account_id
            );
            (schedule, arn)
        }
    };
    Ok(ScheduleEventSource {
        name: name.to_string(),
        kind,
        schedule_name,
        arn,
        expression,
        enabled,
        input,
        maximum_retry_attempts,
        maximum_event_age,
    })
}

/// A function's `Type: SNS` event: SAM subscribes the function to the topic.
fn sns_event(
    function: &str,
    name: &str,
    function_arn: &str,
    ev: &Value,
) -> Result<Subscription, TemplateError> {
    if ev
        .get("SqsSubscription")
        .is_some_and(|v| v != &Value::Bool(false))
    {
        return Err(TemplateError::Unsupported(
            "SqsSubscription on an SNS event (declare the queue and subscription instead)".into(),
        ));
    }
    let topic_arn =
        opt_string(ev, "Topic")?.ok_or_else(|| TemplateError::invalid("has no Topic"))?;
    let mut properties = Map::new();
    for key in ["FilterPolicy", "FilterPolicyScope", "RedrivePolicy"] {
        if let Some(v) = ev.get(key) {
            properties.insert(key.to_string(), v.clone());
        }
    }
    Ok(Subscription {
        logical_id: format!("{function}{name}"),
        topic_arn,
        protocol: "lambda".into(),
        endpoint: function_arn.to_string(),
        properties: Value::Object(properties),
    })
}

fn http_api(
    r: &Resolver<'_>,
    id: &str,
    props: &Value,
    functions: &[Function],
) -> Result<HttpApi, TemplateError> {
    let rref = r.resource_ref(id)?;
    let auth = props.get("Auth").cloned().unwrap_or(json!({}));
    let mut authorizers = BTreeMap::new();
    if let Some(list) = auth.get("Authorizers") {
        let list = list
            .as_object()
            .ok_or_else(|| TemplateError::invalid("Auth.Authorizers must be a mapping"))?;
        for (name, a) in list {
            let authorizer =
                authorizer(name, a, functions).at(|| format!("authorizer `{name}`"))?;
            authorizers.insert(name.clone(), authorizer);
        }
    }
    let default_authorizer = opt_string(&auth, "DefaultAuthorizer")?;
    if let Some(name) = &default_authorizer {
        check_authorizer(name, &authorizers).at(|| "Auth.DefaultAuthorizer".to_string())?;
    }
    let mut route_throttles = BTreeMap::new();
    if let Some(settings) = props.get("RouteSettings").and_then(Value::as_object) {
        for (key, s) in settings {
            if let Some(t) = throttle(s).at(|| format!("RouteSettings `{key}`"))? {
                route_throttles.insert(key.clone(), t);
            }
        }
    }
    let default_throttle = match props.get("DefaultRouteSettings") {
        Some(s) => throttle(s).at(|| "DefaultRouteSettings".to_string())?,
        None => None,
    };
    Ok(HttpApi {
        logical_id: id.to_string(),
        api_id: rref.reference.clone(),
        stage: opt_string(props, "StageName")?.unwrap_or_else(|| "$default".into()),
        cors: cors(props.get("CorsConfiguration")).at(|| "CorsConfiguration".to_string())?,
        authorizers,
        routes: Vec::new(),
        default_throttle,
        route_throttles,
        default_authorizer,
    })
}

fn check_authorizer(
    name: &str,
    authorizers: &BTreeMap<String, Authorizer>,
) -> Result<(), TemplateError> {
    if name == "AWS_IAM" {
        return Err(TemplateError::Unsupported("the AWS_IAM authorizer".into()));
    }
    if authorizers.contains_key(name) {
        Ok(())
    } else {
        Err(TemplateError::invalid(format!(
            "authorizer `{name}` is not in the API's Auth.Authorizers"
        )))
    }
}

fn authorizer(name: &str, a: &Value, functions: &[Function]) -> Result<Authorizer, TemplateError> {
    let Some(arn) = opt_string(a, "FunctionArn")? else {
        if a.get("JwtConfiguration").is_some() {
            return Err(TemplateError::Unsupported("a JWT authorizer".into()));
        }
        return Err(TemplateError::invalid("has no FunctionArn"));
    };
    let function = functions
        .iter()
        .find(|f| f.arn == arn || f.name == arn)
        .map(|f| f.logical_id.clone())
        .ok_or_else(|| {
            TemplateError::invalid(format!(
                "FunctionArn {arn} is not a function of this template"
            ))
        })?;
    let payload_format_version = opt_string(a, "AuthorizerPayloadFormatVersion")?
        .ok_or_else(|| TemplateError::invalid("has no AuthorizerPayloadFormatVersion"))?;
    if payload_format_version != "1.0" && payload_format_version != "2.0" {
        return Err(TemplateError::invalid(format!(
            "AuthorizerPayloadFormatVersion must be 1.0 or 2.0, got {payload_format_version}"
        )));
    }
    let identity = a.get("Identity").cloned().unwrap_or(json!({}));
    Ok(Authorizer {
        name: name.to_string(),
        function,
        payload_format_version,
        simple_responses: opt_bool(a, "EnableSimpleResponses")?.unwrap_or(false),
        identity_headers: opt_list(&identity, "Headers")?,
        identity_query_strings: opt_list(&identity, "QueryStrings")?,
        identity_context: opt_list(&identity, "Context")?,
        ttl: Duration::from_secs(opt_u64_in(&identity, "ReauthorizeEvery", 0..=3600)?.unwrap_or(0)),
    })
}

fn cors(v: Option<&Value>) -> Result<Option<Cors>, TemplateError> {
    let Some(v) = v else { return Ok(None) };
    if let Some(enabled) = as_bool(v) {
        return Ok(enabled.then(|| Cors {
            allow_origins: vec!["*".into()],
            ..Cors::default()
        }));
    }
    match v {
        Value::Null => Ok(None),
        Value::String(origin) => Ok(Some(Cors {
            allow_origins: vec![origin.clone()],
            ..Cors::default()
        })),
        Value::Object(_) => {
            let cors = Cors {
                allow_origins: opt_list(v, "AllowOrigins")?,
                allow_methods: opt_list(v, "AllowMethods")?,
                allow_headers: opt_list(v, "AllowHeaders")?,
                expose_headers: opt_list(v, "ExposeHeaders")?,
                max_age: opt_u64(v, "MaxAge")?,
                allow_credentials: opt_bool(v, "AllowCredentials")?.unwrap_or(false),
            };
            // API Gateway refuses this at deployment (a 400 from CreateApi/UpdateApi):
            // "allow-credentials is not supported if 'allow-origin' is *".
            if cors.allow_credentials && cors.allow_origins.iter().any(|o| o == "*") {
                return Err(TemplateError::invalid(
                    "AllowCredentials: true cannot be combined with AllowOrigins: '*' \
                     (API Gateway refuses it); list the origins instead",
                ));
            }
            Ok(Some(cors))
        }
        other => Err(TemplateError::invalid(format!(
            "expected true, an origin or a mapping, got {other}"
        ))),
    }
}

fn throttle(v: &Value) -> Result<Option<Throttle>, TemplateError> {
    let burst = opt_u32(v, "ThrottlingBurstLimit")?;
    let rate = match v.get("ThrottlingRateLimit") {
        None | Some(Value::Null) => None,
        Some(r) => Some(as_f64(r).ok_or_else(|| {
            TemplateError::invalid(format!("ThrottlingRateLimit must be a number, got {r}"))
        })?),
    };
    if burst.is_none() && rate.is_none() {
        return Ok(None);
    }
    Ok(Some(Throttle {
        burst_limit: burst.unwrap_or(DEFAULT_BURST_LIMIT),
        rate_limit: rate.unwrap_or(DEFAULT_RATE_LIMIT),
    }))
}

fn add_route(
    r: &Resolver<'_>,
    apis: &mut [HttpApi],
    pending: &PendingRoute,
) -> Result<(), TemplateError> {
    let ev = &pending.properties;
    let api_id = match opt_string(ev, "ApiId")? {
        Some(id) => id,
        None => r.resource_ref(IMPLICIT_HTTP_API)?.reference.clone(),
    };
    let api = apis
        .iter_mut()
        .find(|a| a.api_id == api_id)
        .ok_or_else(|| {
            TemplateError::invalid(format!(
                "ApiId {api_id} is not an AWS::Serverless::HttpApi of this template"
            ))
        })?;
    let (route_key, method, path) = match (opt_string(ev, "Path")?, opt_string(ev, "Method")?) {
        (None, None) => ("$default".to_string(), None, None),
        (Some(path), Some(method)) => {
            let method = method.to_uppercase();
            if method == "ANY" || method == "X-AMAZON-APIGATEWAY-ANY-METHOD" {
                (format!("ANY {path}"), None, Some(path))
            } else {
                (format!("{method} {path}"), Some(method), Some(path))
            }
        }
        _ => {
            return Err(TemplateError::invalid(
                "give both Path and Method, or neither for the $default route",
            ));
        }
    };
    if api.routes.iter().any(|r| r.route_key == route_key) {
        return Err(TemplateError::invalid(format!(
            "route `{route_key}` is already defined on API `{}`",
            api.logical_id
        )));
    }
    let route_authorizer = match ev.get("Auth") {
        Some(auth) => opt_string(auth, "Authorizer")?,
        None => None,
    };
    let authorizer = match route_authorizer {
        Some(name) if name == "NONE" => None,
        Some(name) => {
            check_authorizer(&name, &api.authorizers)?;
            Some(name)
        }
        None => api.default_authorizer.clone(),
    };
    // An event's own RouteSettings go into the stage's settings for its route.
    if let Some(settings) = ev.get("RouteSettings")
        && let Some(t) = throttle(settings).at(|| "RouteSettings".to_string())?
    {
        api.route_throttles.insert(route_key.clone(), t);
    }
    api.routes.push(Route {
        route_key,
        method,
        path,
        function: pending.function.clone(),
        authorizer,
        payload_format_version: opt_string(ev, "PayloadFormatVersion")?
            .unwrap_or_else(|| "2.0".into()),
        timeout: Duration::from_millis(
            opt_u64_in(ev, "TimeoutInMillis", 50..=30_000)?.unwrap_or(30_000),
        ),
    });
    Ok(())
}

/// `AWS::Serverless::SimpleTable` in the `AWS::DynamoDB::Table` property shape.
fn simple_table(name: &str, props: &Value) -> Value {
    let key = props.get("PrimaryKey").cloned().unwrap_or(json!({}));
    let key_name = key
        .get("Name")
        .and_then(as_string)
        .unwrap_or_else(|| "id".into());
    let key_type = match key.get("Type").and_then(Value::as_str) {
        Some("Number") => "N",
        Some("Binary") => "B",
        _ => "S",
    };
    let mut table = json!({
        "TableName": name,
        "KeySchema": [{ "AttributeName": key_name, "KeyType": "HASH" }],
        "AttributeDefinitions": [{ "AttributeName": key_name, "AttributeType": key_type }],
    });
    match props.get("ProvisionedThroughput") {
        Some(throughput) => {
            table["BillingMode"] = json!("PROVISIONED");
            table["ProvisionedThroughput"] = throughput.clone();
        }
        None => table["BillingMode"] = json!("PAY_PER_REQUEST"),
    }
    for key in ["SSESpecification", "Tags"] {
        if let Some(v) = props.get(key) {
            table[key] = v.clone();
        }
    }
    table
}

fn state_machine(
    kind: &str,
    props: &Value,
    base_dir: &Path,
) -> Result<(String, Value), TemplateError> {
    let serverless = kind == "AWS::Serverless::StateMachine";
    let type_key = if serverless {
        "Type"
    } else {
        "StateMachineType"
    };
    let machine_kind = opt_string(props, type_key)?
        .unwrap_or_else(|| "STANDARD".into())
        .to_uppercase();
    let definition = if let Some(d) = props.get("Definition") {
        d.clone()
    } else if let Some(s) = props.get("DefinitionString") {
        let s = as_string(s)
            .ok_or_else(|| TemplateError::invalid("DefinitionString must be a string"))?;
        serde_json::from_str(&s)
            .map_err(|e| TemplateError::invalid(format!("DefinitionString is not JSON: {e}")))?
    } else if let Some(uri) = props.get("DefinitionUri") {
        let Some(uri) = uri.as_str() else {
            return Err(TemplateError::Unsupported(
                "a DefinitionUri in S3 (give a path relative to the template)".into(),
            ));
        };
        read_definition(&base_dir.join(uri))?
    } else if props.get("DefinitionS3Location").is_some() {
        return Err(TemplateError::Unsupported("DefinitionS3Location".into()));
    } else {
        return Err(TemplateError::invalid("has no Definition or DefinitionUri"));
    };
    let mut substitutions = BTreeMap::new();
    if let Some(subs) = props.get("DefinitionSubstitutions") {
        let subs = subs
            .as_object()
            .ok_or_else(|| TemplateError::invalid("DefinitionSubstitutions must be a mapping"))?;
        for (k, v) in subs {
            let v = as_string(v).ok_or_else(|| {
                TemplateError::invalid(format!("substitution {k} must be a string, got {v}"))
            })?;
            substitutions.insert(format!("${{{k}}}"), v);
        }
    }
    Ok((machine_kind, substitute(definition, &substitutions)))
}

fn read_definition(path: &Path) -> Result<Value, TemplateError> {
    let text = std::fs::read_to_string(path).map_err(|source| TemplateError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    if let Ok(json) = serde_json::from_str(&text) {
        return Ok(json);
    }
    let yaml = crate::document::load(&text)
        .map_err(|e| TemplateError::invalid(format!("{}: {}", path.display(), e.chain())))?;
    crate::document::to_json(yaml)
}

/// Replaces `${Name}` in every string (and key) of a definition.
fn substitute(v: Value, substitutions: &BTreeMap<String, String>) -> Value {
    if substitutions.is_empty() {
        return v;
    }
    let text = |s: String| {
        if !s.contains("${") {
            return s;
        }
        substitutions
            .iter()
            .fold(s, |acc, (k, value)| acc.replace(k.as_str(), value))
    };
    match v {
        Value::String(s) => Value::String(text(s)),
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|i| substitute(i, substitutions))
                .collect(),
        ),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| (text(k), substitute(v, substitutions)))
                .collect(),
        ),
        other => other,
    }
}

fn custom_resource(
    r: &Resolver<'_>,
    id: &str,
    res: &Resource,
    properties: Value,
    functions: &[Function],
) -> Result<CustomResource, TemplateError> {
    let service_token = opt_string(&properties, "ServiceToken")?
        .ok_or_else(|| TemplateError::invalid("has no ServiceToken"))?;
    let function = functions
        .iter()
        .find(|f| f.arn == service_token || f.name == service_token)
        .map(|f| f.logical_id.clone())
        .ok_or_else(|| {
            TemplateError::invalid(format!(
                "ServiceToken {service_token} is not a function of this template \
                 (the local stack runs custom resources backed by the template's functions)"
            ))
        })?;
    let mut referenced = BTreeSet::new();
    references(&res.properties, &mut referenced);
    let mut depends_on = Vec::new();
    for other in res.depends_on.iter().chain(&referenced) {
        let created = match r.doc.resources.get(other) {
            Some(resource) => r.enabled(resource)?,
            None => false,
        };
        if created && other != id && !depends_on.contains(other) {
            depends_on.push(other.clone());
        }
    }
    Ok(CustomResource {
        logical_id: id.to_string(),
        kind: res.kind.clone(),
        service_token,
        function,
        properties,
        depends_on,
    })
}

/// Names a long-form value refers to with `Ref`, `Fn::GetAtt` or `Fn::Sub` (parameters and
/// pseudo parameters included; the caller keeps the resources).
fn references(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(map) => {
            if let Some(Value::String(name)) = map.get("Ref") {
                out.insert(name.clone());
            }
            match map.get("Fn::GetAtt") {
                Some(Value::String(s)) => {
                    out.insert(s.split('.').next().unwrap_or_default().to_string());
                }
                Some(Value::Array(items)) => {
                    if let Some(Value::String(id)) = items.first() {
                        out.insert(id.clone());
                    }
                }
                _ => {}
            }
            let sub = match map.get("Fn::Sub") {
                Some(Value::String(text)) => Some((text.as_str(), None)),
                Some(Value::Array(items)) => match items.as_slice() {
                    [Value::String(text), Value::Object(vars)] => Some((text.as_str(), Some(vars))),
                    _ => None,
                },
                _ => None,
            };
            if let Some((text, vars)) = sub {
                for name in sub_names(text) {
                    if !vars.is_some_and(|vars| vars.contains_key(name)) {
                        out.insert(name.split('.').next().unwrap_or_default().to_string());
                    }
                }
            }
            for value in map.values() {
                references(value, out);
            }
        }
        Value::Array(items) => {
            for item in items {
                references(item, out);
            }
        }
        _ => {}
    }
}

/// The `${Name}` and `${Resource.Attribute}` names of an `Fn::Sub` text, without the
/// `${!Literal}` escapes.
fn sub_names(text: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else { break };
        let name = &after[..end];
        if !name.starts_with('!') {
            names.push(name.trim());
        }
        rest = &after[end + 1..];
    }
    names
}

/// Custom resources in creation order: each after the custom resources it depends on,
/// otherwise in template order.
fn creation_order(resources: Vec<CustomResource>) -> Result<Vec<CustomResource>, TemplateError> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        Visiting,
        Done,
    }
    fn visit(
        i: usize,
        resources: &[CustomResource],
        marks: &mut [Mark],
        path: &mut Vec<usize>,
        order: &mut Vec<usize>,
    ) -> Result<(), TemplateError> {
        match marks[i] {
            Mark::Done => return Ok(()),
            Mark::Visiting => {
                let from = path.iter().position(|&p| p == i).unwrap_or_default();
                let cycle: Vec<&str> = path[from..]
                    .iter()
                    .chain(std::iter::once(&i))
                    .map(|&p| resources[p].logical_id.as_str())
                    .collect();
                return Err(TemplateError::invalid(format!(
                    "custom resources depend on each other: {}",
                    cycle.join(" -> ")
                )));
            }
            Mark::New => {}
        }
        marks[i] = Mark::Visiting;
        path.push(i);
        for dependency in &resources[i].depends_on {
            if let Some(j) = resources.iter().position(|c| &c.logical_id == dependency) {
                visit(j, resources, marks, path, order)?;
            }
        }
        path.pop();
        marks[i] = Mark::Done;
        order.push(i);
        Ok(())
    }
    let mut marks = vec![Mark::New; resources.len()];
    let mut order = Vec::with_capacity(resources.len());
    for i in 0..resources.len() {
        visit(i, &resources, &mut marks, &mut Vec::new(), &mut order)?;
    }
    let mut slots: Vec<Option<CustomResource>> = resources.into_iter().map(Some).collect();
    Ok(order.into_iter().filter_map(|i| slots[i].take()).collect())
}
