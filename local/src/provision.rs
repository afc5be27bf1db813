//! Provisioning: creates the template's tables, queues, topics, secrets, email
//! identities and subscriptions in the emulator, and returns the model resolved
//! against what was created.
//!
//! Running it twice against the same emulator is fine: what already exists is
//! kept (a secret keeps its value) and only its physical id is read back.
//!
//! Email identities (`AWS::SES::EmailIdentity`) are created with SES v2
//! `CreateEmailIdentity`; the emulator takes them as verified, so functions can send
//! from them at once.
//!
//! Subscriptions with protocol `lambda` (a function's `Type: SNS` event) are
//! returned in the model but not created in the emulator, which would try to
//! invoke its own Lambda service and fail every `Publish` to the topic: the
//! stack delivers them itself ([`crate::sources::sns`]).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use anyhow::{Context, anyhow, bail};
use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
    LocalSecondaryIndex, Projection, ProjectionType, ProvisionedThroughput, ScalarAttributeType,
    StreamSpecification, StreamViewType, TimeToLiveSpecification, TimeToLiveStatus,
};
use aws_sdk_sqs::types::QueueAttributeName;
use local_template::value::{as_bool, as_string, as_u64};
use local_template::{
    EmailIdentity, LoadOptions, Model, PhysicalId, PhysicalIds, Queue, Table, Template,
};
use rand::Rng;
use rand::seq::SliceRandom;
use serde_json::Value;

use crate::sources::sqs::DEFAULT_VISIBILITY_TIMEOUT_SECS;

/// The AWS clients provisioning talks to, all pointed at the emulator.
#[derive(Debug, Clone)]
pub struct Clients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub sns: aws_sdk_sns::Client,
    pub secrets: aws_sdk_secretsmanager::Client,
    pub sesv2: aws_sdk_sesv2::Client,
}

impl Clients {
    /// Clients for every service provisioning uses, from one SDK configuration.
    pub fn new(config: &SdkConfig) -> Self {
        Self {
            dynamodb: aws_sdk_dynamodb::Client::new(config),
            sqs: aws_sdk_sqs::Client::new(config),
            sns: aws_sdk_sns::Client::new(config),
            secrets: aws_sdk_secretsmanager::Client::new(config),
            sesv2: aws_sdk_sesv2::Client::new(config),
        }
    }
}

const LOG_TARGET: &str = "local::provision";

/// The longest visibility timeout SQS accepts (12 hours), in seconds.
const MAX_VISIBILITY_TIMEOUT_SECS: u64 = 43_200;
/// The longest delay SQS accepts (15 minutes), in seconds.
const MAX_DELAY_SECS: u64 = 900;

/// How provisioning adapts the template's resources to the local stack.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProvisionOptions {
    /// Multiplies each queue's `VisibilityTimeout` (SQS's 30 s when the template sets none) and
    /// `DelaySeconds` in the emulator, rounded to whole seconds; a visibility timeout above zero
    /// stays at least 1 s. 1.0 keeps the template's values. The model keeps the template's
    /// values. Must be positive.
    pub queue_time_scale: f64,
}

impl Default for ProvisionOptions {
    /// The template's values, unscaled.
    fn default() -> Self {
        Self {
            queue_time_scale: 1.0,
        }
    }
}

/// What provisioning created.
#[derive(Debug, Clone)]
pub struct Provisioned {
    /// The template resolved with the physical ids below.
    pub model: Model,
    /// The physical ids of the created resources, to resolve the template again with.
    pub physical: PhysicalIds,
}

/// Creates every table, queue, topic, secret, email identity and subscription of the
/// template, then returns the model resolved with the physical ids they got.
pub async fn provision(
    template: &Template,
    opts: &LoadOptions,
    clients: &Clients,
) -> anyhow::Result<Provisioned> {
    provision_with(template, opts, clients, ProvisionOptions::default()).await
}

/// [`provision`], with the template's resources adapted as `options` say.
pub async fn provision_with(
    template: &Template,
    opts: &LoadOptions,
    clients: &Clients,
    options: ProvisionOptions,
) -> anyhow::Result<Provisioned> {
    let scale = options.queue_time_scale;
    if !scale.is_finite() || scale <= 0.0 {
        bail!("the queue time scale must be a positive number, got {scale}");
    }
    let model = template
        .resolve(opts, &PhysicalIds::new())
        .context("resolve the template")?;
    let mut physical = PhysicalIds::new();

    for table in &model.tables {
        let id = create_table(&clients.dynamodb, table)
            .await
            .with_context(|| format!("create table {} ({})", table.name, table.logical_id))?;
        physical.insert(table.logical_id.clone(), id);
    }

    // Queue ARNs as resolved before provisioning → as the emulator reports them.
    let mut queue_arns = BTreeMap::new();
    for queue in queues_dead_letter_first(&model.queues) {
        let id = create_queue(&clients.sqs, queue, &queue_arns, scale)
            .await
            .with_context(|| format!("create queue {} ({})", queue.name, queue.logical_id))?;
        if let Some(arn) = id.attributes.get("Arn") {
            queue_arns.insert(queue.arn.clone(), arn.clone());
        }
        physical.insert(queue.logical_id.clone(), id);
    }

    for topic in &model.topics {
        let mut request = clients.sns.create_topic().name(&topic.name);
        for key in [
            "FifoTopic",
            "ContentBasedDeduplication",
            "DisplayName",
            "KmsMasterKeyId",
        ] {
            if let Some(v) = topic.properties.get(key).and_then(as_string) {
                request = request.attributes(key, v);
            }
        }
        let output = request
            .send()
            .await
            .with_context(|| format!("create topic {} ({})", topic.name, topic.logical_id))?;
        let arn = output
            .topic_arn()
            .with_context(|| format!("topic {} has no ARN", topic.name))?
            .to_string();
        tracing::info!(target: LOG_TARGET, kind = "topic", name = %topic.name, "provisioned");
        physical.insert(
            topic.logical_id.clone(),
            PhysicalId {
                reference: arn.clone(),
                attributes: BTreeMap::from([
                    ("TopicArn".to_string(), arn),
                    ("TopicName".to_string(), topic.name.clone()),
                ]),
            },
        );
    }

    for secret in &model.secrets {
        let arn = create_secret(&clients.secrets, &secret.name, &secret.properties)
            .await
            .with_context(|| format!("create secret {} ({})", secret.name, secret.logical_id))?;
        physical.insert(
            secret.logical_id.clone(),
            PhysicalId {
                reference: arn.clone(),
                attributes: BTreeMap::from([("Id".to_string(), arn)]),
            },
        );
    }

    for identity in &model.email_identities {
        create_email_identity(&clients.sesv2, identity)
            .await
            .with_context(|| {
                format!(
                    "create email identity {} ({})",
                    identity.name, identity.logical_id
                )
            })?;
        physical.insert(
            identity.logical_id.clone(),
            PhysicalId {
                reference: identity.name.clone(),
                attributes: BTreeMap::new(),
            },
        );
    }

    let model = template
        .resolve(opts, &physical)
        .context("resolve the template with the provisioned resources")?;

    for sub in &model.subscriptions {
        // The emulator would deliver to its own (empty) Lambda service and fail every
        // Publish to the topic: the stack's SNS sources deliver to functions.
        if sub.protocol.eq_ignore_ascii_case("lambda") {
            continue;
        }
        let mut request = clients
            .sns
            .subscribe()
            .topic_arn(&sub.topic_arn)
            .protocol(&sub.protocol)
            .endpoint(&sub.endpoint)
            .return_subscription_arn(true);
        for (key, value) in subscription_attributes(&sub.properties) {
            request = request.attributes(key, value);
        }
        request.send().await.with_context(|| {
            format!(
                "subscribe {} {} to {} ({})",
                sub.protocol, sub.endpoint, sub.topic_arn, sub.logical_id
            )
        })?;
        tracing::info!(
            target: LOG_TARGET,
            kind = "subscription",
            name = %sub.logical_id,
            protocol = %sub.protocol,
            endpoint = %sub.endpoint,
            "provisioned"
        );
    }
    Ok(Provisioned { model, physical })
}

fn text(v: &Value, key: &str) -> anyhow::Result<String> {
    v.get(key)
        .and_then(as_string)
        .with_context(|| format!("{key} is missing or not a string"))
}

fn list<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn key_schema(v: &Value) -> anyhow::Result<Vec<KeySchemaElement>> {
    list(v, "KeySchema")
        .iter()
        .map(|k| {
            Ok(KeySchemaElement::builder()
                .attribute_name(text(k, "AttributeName")?)
                .key_type(KeyType::from(text(k, "KeyType")?.as_str()))
                .build()?)
        })
        .collect()
}

fn projection(v: &Value) -> Projection {
    let p = v.get("Projection").cloned().unwrap_or(Value::Null);
    let kind = p
        .get("ProjectionType")
        .and_then(as_string)
        .unwrap_or_else(|| "ALL".into());
    let non_key: Vec<String> = list(&p, "NonKeyAttributes")
        .iter()
        .filter_map(as_string)
        .collect();
    Projection::builder()
        .projection_type(ProjectionType::from(kind.as_str()))
        .set_non_key_attributes((!non_key.is_empty()).then_some(non_key))
        .build()
}

fn throughput(v: &Value) -> anyhow::Result<Option<ProvisionedThroughput>> {
    let Some(t) = v.get("ProvisionedThroughput") else {
        return Ok(None);
    };
    let units = |key: &str| -> anyhow::Result<i64> {
        t.get(key)
            .and_then(as_u64)
            .and_then(|n| i64::try_from(n).ok())
            .with_context(|| format!("ProvisionedThroughput.{key} must be a whole number"))
    };
    Ok(Some(
        ProvisionedThroughput::builder()
            .read_capacity_units(units("ReadCapacityUnits")?)
            .write_capacity_units(units("WriteCapacityUnits")?)
            .build()?,
    ))
}

async fn create_table(
    client: &aws_sdk_dynamodb::Client,
    table: &Table,
) -> anyhow::Result<PhysicalId> {
    let p = &table.properties;
    let attributes = list(p, "AttributeDefinitions")
        .iter()
        .map(|a| {
            Ok(AttributeDefinition::builder()
                .attribute_name(text(a, "AttributeName")?)
                .attribute_type(ScalarAttributeType::from(
                    text(a, "AttributeType")?.as_str(),
                ))
                .build()?)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let table_throughput = throughput(p)?;
    let billing = match p.get("BillingMode").and_then(as_string) {
        Some(mode) => BillingMode::from(mode.as_str()),
        None if table_throughput.is_some() => BillingMode::Provisioned,
        None => BillingMode::PayPerRequest,
    };
    let mut gsis = Vec::new();
    for index in list(p, "GlobalSecondaryIndexes") {
        gsis.push(
            GlobalSecondaryIndex::builder()
                .index_name(text(index, "IndexName")?)
                .set_key_schema(Some(key_schema(index)?))
                .projection(projection(index))
                .set_provisioned_throughput(throughput(index)?)
                .build()?,
        );
    }
    let mut lsis = Vec::new();
    for index in list(p, "LocalSecondaryIndexes") {
        lsis.push(
            LocalSecondaryIndex::builder()
                .index_name(text(index, "IndexName")?)
                .set_key_schema(Some(key_schema(index)?))
                .projection(projection(index))
                .build()?,
        );
    }
    // A `StreamSpecification` with a `StreamViewType` turns the stream on, as in CloudFormation.
    let stream = p
        .pointer("/StreamSpecification/StreamViewType")
        .and_then(as_string)
        .map(|view| {
            StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(StreamViewType::from(view.as_str()))
                .build()
        })
        .transpose()?;
    let created = client
        .create_table()
        .table_name(&table.name)
        .set_stream_specification(stream)
        .set_key_schema(Some(key_schema(p)?))
        .set_attribute_definitions(Some(attributes))
        .billing_mode(billing)
        .set_provisioned_throughput(table_throughput)
        .set_global_secondary_indexes((!gsis.is_empty()).then_some(gsis))
        .set_local_secondary_indexes((!lsis.is_empty()).then_some(lsis))
        .send()
        .await;
    let description = match created {
        Ok(output) => {
            tracing::info!(target: LOG_TARGET, kind = "table", name = %table.name, "created");
            output.table_description
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_in_use_exception()) =>
        {
            tracing::info!(target: LOG_TARGET, kind = "table", name = %table.name, "already exists");
            client
                .describe_table()
                .table_name(&table.name)
                .send()
                .await
                .context("describe the existing table")?
                .table
        }
        Err(e) => return Err(e.into()),
    };

    if let Some(ttl) = p.get("TimeToLiveSpecification")
        && ttl.get("Enabled").and_then(as_bool).unwrap_or(false)
    {
        let attribute = text(ttl, "AttributeName")?;
        let current = client
            .describe_time_to_live()
            .table_name(&table.name)
            .send()
            .await
            .context("describe time to live")?;
        let enabled = current.time_to_live_description().is_some_and(|d| {
            d.attribute_name() == Some(attribute.as_str())
                && matches!(
                    d.time_to_live_status(),
                    Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
                )
        });
        if !enabled {
            client
                .update_time_to_live()
                .table_name(&table.name)
                .time_to_live_specification(
                    TimeToLiveSpecification::builder()
                        .attribute_name(&attribute)
                        .enabled(true)
                        .build()?,
                )
                .send()
                .await
                .with_context(|| format!("enable time to live on {attribute}"))?;
        }
    }

    let mut attributes = BTreeMap::new();
    if let Some(d) = &description {
        if let Some(arn) = d.table_arn() {
            attributes.insert("Arn".to_string(), arn.to_string());
        }
        if let Some(arn) = d.latest_stream_arn() {
            attributes.insert("StreamArn".to_string(), arn.to_string());
        }
    }
    Ok(PhysicalId {
        reference: table.name.clone(),
        attributes,
    })
}

/// The ARN a queue's `RedrivePolicy` sends failed messages to.
fn dead_letter_arn(queue: &Queue) -> Option<String> {
    let policy = queue.properties.get("RedrivePolicy")?;
    match policy {
        Value::String(s) => serde_json::from_str::<Value>(s)
            .ok()?
            .get("deadLetterTargetArn")
            .and_then(as_string),
        other => other.get("deadLetterTargetArn").and_then(as_string),
    }
}

/// Queues ordered so that each dead-letter queue comes before the queues that use it.
fn queues_dead_letter_first(queues: &[Queue]) -> Vec<&Queue> {
    fn visit<'a>(
        queue: &'a Queue,
        queues: &'a [Queue],
        seen: &mut BTreeSet<String>,
        out: &mut Vec<&'a Queue>,
    ) {
        if !seen.insert(queue.logical_id.clone()) {
            return;
        }
        if let Some(dlq) =
            dead_letter_arn(queue).and_then(|arn| queues.iter().find(|q| q.arn == arn))
        {
            visit(dlq, queues, seen, out);
        }
        out.push(queue);
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(queues.len());
    for queue in queues {
        visit(queue, queues, &mut seen, &mut out);
    }
    out
}

/// `seconds` multiplied by `scale`, rounded, at most `max`; at least 1 when `at_least_one` and
/// `seconds` is above zero.
fn scaled_seconds(seconds: u64, scale: f64, max: u64, at_least_one: bool) -> u64 {
    let scaled = (seconds as f64 * scale).round().min(max as f64) as u64;
    if at_least_one && seconds > 0 {
        scaled.max(1)
    } else {
        scaled
    }
}

/// SQS attributes of a queue, from its resolved CloudFormation properties.
/// `queue_arns` maps template-resolved ARNs to the ARNs of created queues; the visibility
/// timeout and delay are multiplied by `time_scale` (see [`ProvisionOptions`]).
fn queue_attributes(
    queue: &Queue,
    queue_arns: &BTreeMap<String, String>,
    time_scale: f64,
) -> anyhow::Result<HashMap<QueueAttributeName, String>> {
    let p = &queue.properties;
    let mut attributes = HashMap::new();
    let seconds = |key: &str| -> anyhow::Result<Option<u64>> {
        p.get(key)
            .map(|v| as_u64(v).with_context(|| format!("{key} must be a whole number, got {v}")))
            .transpose()
    };
    if time_scale == 1.0 {
        for key in ["VisibilityTimeout", "DelaySeconds"] {
            if let Some(v) = seconds(key)? {
                attributes.insert(QueueAttributeName::from(key), v.to_string());
            }
        }
    } else {
        let visibility = seconds("VisibilityTimeout")?.unwrap_or(DEFAULT_VISIBILITY_TIMEOUT_SECS);
        attributes.insert(
            QueueAttributeName::VisibilityTimeout,
            scaled_seconds(visibility, time_scale, MAX_VISIBILITY_TIMEOUT_SECS, true).to_string(),
        );
        if let Some(delay) = seconds("DelaySeconds")? {
            attributes.insert(
                QueueAttributeName::DelaySeconds,
                scaled_seconds(delay, time_scale, MAX_DELAY_SECS, false).to_string(),
            );
        }
    }
    for key in [
        "MessageRetentionPeriod",
        "ReceiveMessageWaitTimeSeconds",
        "MaximumMessageSize",
        "FifoQueue",
        "ContentBasedDeduplication",
        "DeduplicationScope",
        "FifoThroughputLimit",
        "SqsManagedSseEnabled",
    ] {
        if let Some(v) = p.get(key) {
            let v = as_string(v).with_context(|| format!("{key} must be a scalar"))?;
            attributes.insert(QueueAttributeName::from(key), v);
        }
    }
    for key in ["RedrivePolicy", "RedriveAllowPolicy"] {
        let Some(policy) = p.get(key) else { continue };
        let mut policy = match policy {
            Value::String(s) => {
                serde_json::from_str(s).with_context(|| format!("{key} is not JSON"))?
            }
            other => other.clone(),
        };
        if let Some(target) = policy.get("deadLetterTargetArn").and_then(as_string)
            && let Some(real) = queue_arns.get(&target)
        {
            policy["deadLetterTargetArn"] = Value::String(real.clone());
        }
        // SQS wants maxReceiveCount as a number; templates often pass it through a parameter.
        if let Some(count) = policy.get("maxReceiveCount").and_then(as_u64) {
            policy["maxReceiveCount"] = Value::from(count);
        }
        attributes.insert(QueueAttributeName::from(key), policy.to_string());
    }
    Ok(attributes)
}

async fn create_queue(
    client: &aws_sdk_sqs::Client,
    queue: &Queue,
    queue_arns: &BTreeMap<String, String>,
    time_scale: f64,
) -> anyhow::Result<PhysicalId> {
    let attributes = queue_attributes(queue, queue_arns, time_scale)?;
    let created = client
        .create_queue()
        .queue_name(&queue.name)
        .set_attributes(Some(attributes.clone()))
        .send()
        .await;
    let url = match created {
        Ok(output) => {
            tracing::info!(target: LOG_TARGET, kind = "queue", name = %queue.name, "provisioned");
            output.queue_url().map(str::to_string)
        }
        // Same name, other attributes: keep the queue and bring its attributes up to date.
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_queue_name_exists()) =>
        {
            let url = client
                .get_queue_url()
                .queue_name(&queue.name)
                .send()
                .await
                .context("look up the existing queue")?
                .queue_url()
                .map(str::to_string)
                .context("the existing queue has no URL")?;
            // FIFO-ness cannot change after creation.
            let mut changeable = attributes;
            changeable.remove(&QueueAttributeName::FifoQueue);
            client
                .set_queue_attributes()
                .queue_url(&url)
                .set_attributes(Some(changeable))
                .send()
                .await
                .context("update the existing queue's attributes")?;
            tracing::info!(target: LOG_TARGET, kind = "queue", name = %queue.name, "updated");
            Some(url)
        }
        Err(e) => return Err(e.into()),
    };
    let url = url.with_context(|| format!("queue {} has no URL", queue.name))?;
    let arn = client
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .context("read the queue ARN")?
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .unwrap_or_else(|| queue.arn.clone());
    Ok(PhysicalId {
        reference: url.clone(),
        attributes: BTreeMap::from([
            ("Arn".to_string(), arn),
            ("QueueName".to_string(), queue.name.clone()),
            ("QueueUrl".to_string(), url),
        ]),
    })
}

/// Creates an email identity in SES (keeping it if it exists). The emulator marks it verified
/// at once; on AWS an address would wait for its owner to click the link SES sends.
async fn create_email_identity(
    client: &aws_sdk_sesv2::Client,
    identity: &EmailIdentity,
) -> anyhow::Result<()> {
    let name = &identity.name;
    let created = client
        .create_email_identity()
        .email_identity(name)
        .send()
        .await;
    match created {
        Ok(_) => {
            tracing::info!(target: LOG_TARGET, kind = "email identity", name = %name, "created");
            Ok(())
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_already_exists_exception()) =>
        {
            tracing::info!(target: LOG_TARGET, kind = "email identity", name = %name, "already exists");
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// Creates a secret (or finds the existing one, keeping its value) and returns its ARN.
async fn create_secret(
    client: &aws_sdk_secretsmanager::Client,
    name: &str,
    properties: &Value,
) -> anyhow::Result<String> {
    let value = match (
        properties.get("SecretString"),
        properties.get("GenerateSecretString"),
    ) {
        (Some(s), _) => as_string(s).context("SecretString must be a string")?,
        (None, Some(spec)) => generate_secret_string(spec)?,
        (None, None) => generate_secret_string(&Value::Object(Default::default()))?,
    };
    let created = client
        .create_secret()
        .name(name)
        .set_description(properties.get("Description").and_then(as_string))
        .secret_string(value)
        .send()
        .await;
    match created {
        Ok(output) => {
            tracing::info!(target: LOG_TARGET, kind = "secret", name = %name, "created");
            output
                .arn()
                .map(str::to_string)
                .with_context(|| format!("secret {name} has no ARN"))
        }
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_exists_exception()) =>
        {
            tracing::info!(target: LOG_TARGET, kind = "secret", name = %name, "already exists");
            client
                .describe_secret()
                .secret_id(name)
                .send()
                .await
                .context("describe the existing secret")?
                .arn()
                .map(str::to_string)
                .with_context(|| format!("secret {name} has no ARN"))
        }
        Err(e) => Err(e.into()),
    }
}

const PUNCTUATION: &str = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";

/// A secret value as Secrets Manager's `GenerateSecretString` would make it:
/// a random password of `PasswordLength` (default 32) characters, from the
/// character classes not excluded, with one of each class unless
/// `RequireEachIncludedType` is false; with `SecretStringTemplate` and
/// `GenerateStringKey` the password goes into that JSON object under that key.
pub fn generate_secret_string(spec: &Value) -> anyhow::Result<String> {
    let flag = |key: &str, default: bool| spec.get(key).and_then(as_bool).unwrap_or(default);
    let length = spec
        .get("PasswordLength")
        .map(|v| as_u64(v).context("PasswordLength must be a whole number"))
        .transpose()?
        .unwrap_or(32);
    let length = usize::try_from(length).context("PasswordLength is too large")?;
    if !(1..=4096).contains(&length) {
        bail!("PasswordLength must be between 1 and 4096, got {length}");
    }
    let excluded: Vec<char> = spec
        .get("ExcludeCharacters")
        .and_then(as_string)
        .map(|s| s.chars().collect())
        .unwrap_or_default();
    let mut classes: Vec<Vec<char>> = Vec::new();
    let mut add = |include: bool, chars: &mut dyn Iterator<Item = char>| {
        if include {
            let class: Vec<char> = chars.filter(|c| !excluded.contains(c)).collect();
            if !class.is_empty() {
                classes.push(class);
            }
        }
    };
    add(!flag("ExcludeUppercase", false), &mut ('A'..='Z'));
    add(!flag("ExcludeLowercase", false), &mut ('a'..='z'));
    add(!flag("ExcludeNumbers", false), &mut ('0'..='9'));
    add(!flag("ExcludePunctuation", false), &mut PUNCTUATION.chars());
    add(flag("IncludeSpace", false), &mut std::iter::once(' '));
    let all: Vec<char> = classes.iter().flatten().copied().collect();
    if all.is_empty() {
        bail!("GenerateSecretString excludes every character");
    }
    let mut rng = rand::thread_rng();
    let mut password: Vec<char> = Vec::with_capacity(length);
    if flag("RequireEachIncludedType", true) && length >= classes.len() {
        for class in &classes {
            password.push(class[rng.gen_range(0..class.len())]);
        }
    }
    while password.len() < length {
        password.push(all[rng.gen_range(0..all.len())]);
    }
    password.shuffle(&mut rng);
    let password: String = password.into_iter().collect();

    match (
        spec.get("SecretStringTemplate").and_then(as_string),
        spec.get("GenerateStringKey").and_then(as_string),
    ) {
        (Some(template), Some(key)) => {
            let mut object: Value =
                serde_json::from_str(&template).context("SecretStringTemplate is not JSON")?;
            let map = object
                .as_object_mut()
                .ok_or_else(|| anyhow!("SecretStringTemplate must be a JSON object"))?;
            map.insert(key, Value::String(password));
            Ok(object.to_string())
        }
        (None, None) => Ok(password),
        _ => bail!("SecretStringTemplate and GenerateStringKey go together"),
    }
}

/// SNS subscription attributes from resolved subscription properties; policies
/// given as objects become JSON strings.
fn subscription_attributes(properties: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for key in [
        "RawMessageDelivery",
        "FilterPolicy",
        "FilterPolicyScope",
        "RedrivePolicy",
        "DeliveryPolicy",
    ] {
        let value = match properties.get(key) {
            None | Some(Value::Null) => continue,
            Some(v @ (Value::Object(_) | Value::Array(_))) => v.to_string(),
            Some(v) => match as_string(v) {
                Some(s) => s,
                None => continue,
            },
        };
        out.push((key.to_string(), value));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn queue(id: &str, properties: Value) -> Queue {
        Queue {
            logical_id: id.into(),
            name: id.into(),
            url: format!("http://q/{id}"),
            arn: format!("arn:aws:sqs:us-east-1:1:{id}"),
            properties,
        }
    }

    #[test]
    fn dead_letter_queues_are_created_first() {
        let queues = vec![
            queue(
                "Orders",
                json!({"RedrivePolicy": {"deadLetterTargetArn": "arn:aws:sqs:us-east-1:1:OrdersDlq", "maxReceiveCount": 3}}),
            ),
            queue(
                "Emails",
                json!({"RedrivePolicy": "{\"deadLetterTargetArn\":\"arn:aws:sqs:us-east-1:1:Shared\",\"maxReceiveCount\":5}"}),
            ),
            queue("OrdersDlq", json!({})),
            queue("Shared", json!({})),
        ];
        let order: Vec<_> = queues_dead_letter_first(&queues)
            .iter()
            .map(|q| q.logical_id.as_str())
            .collect();
        assert_eq!(order, vec!["OrdersDlq", "Orders", "Shared", "Emails"]);
    }

    #[test]
    fn queue_attributes_carry_settings_and_real_dead_letter_arns() {
        let q = queue(
            "Orders",
            json!({
                "VisibilityTimeout": "60",
                "DelaySeconds": 5,
                "FifoQueue": true,
                "RedrivePolicy": {"deadLetterTargetArn": "arn:computed", "maxReceiveCount": "3"}
            }),
        );
        let arns = BTreeMap::from([("arn:computed".to_string(), "arn:real".to_string())]);
        let attributes = queue_attributes(&q, &arns, 1.0).expect("attributes");
        assert_eq!(attributes[&QueueAttributeName::VisibilityTimeout], "60");
        assert_eq!(attributes[&QueueAttributeName::DelaySeconds], "5");
        assert_eq!(attributes[&QueueAttributeName::FifoQueue], "true");
        let policy: Value =
            serde_json::from_str(&attributes[&QueueAttributeName::RedrivePolicy]).expect("json");
        assert_eq!(
            policy,
            json!({"deadLetterTargetArn": "arn:real", "maxReceiveCount": 3})
        );
    }

    #[test]
    fn a_queue_time_scale_shortens_visibility_timeouts_and_delays() {
        let arns = BTreeMap::new();
        let scaled = |properties: Value| {
            queue_attributes(&queue("Q", properties), &arns, 0.05).expect("attributes")
        };
        let attributes = scaled(json!({"VisibilityTimeout": "60", "DelaySeconds": 30}));
        assert_eq!(attributes[&QueueAttributeName::VisibilityTimeout], "3");
        assert_eq!(attributes[&QueueAttributeName::DelaySeconds], "2");
        // SQS's default of 30 s is scaled too, and a short timeout stays at least a second.
        let attributes = scaled(json!({}));
        assert_eq!(attributes[&QueueAttributeName::VisibilityTimeout], "2");
        assert!(!attributes.contains_key(&QueueAttributeName::DelaySeconds));
        let attributes = scaled(json!({"VisibilityTimeout": 5, "DelaySeconds": 5}));
        assert_eq!(attributes[&QueueAttributeName::VisibilityTimeout], "1");
        assert_eq!(attributes[&QueueAttributeName::DelaySeconds], "0");
        let attributes = scaled(json!({"VisibilityTimeout": 0}));
        assert_eq!(attributes[&QueueAttributeName::VisibilityTimeout], "0");
        // Slowed down, they stay within what SQS accepts.
        let slow = queue(
            "Q",
            json!({"VisibilityTimeout": 40000, "DelaySeconds": 600}),
        );
        let attributes = queue_attributes(&slow, &arns, 10.0).expect("attributes");
        assert_eq!(attributes[&QueueAttributeName::VisibilityTimeout], "43200");
        assert_eq!(attributes[&QueueAttributeName::DelaySeconds], "900");
        // Unscaled, a queue without them leaves them to SQS.
        let attributes = queue_attributes(&queue("Q", json!({})), &arns, 1.0).expect("attributes");
        assert!(attributes.is_empty(), "{attributes:?}");
        let unreadable = queue("Q", json!({"VisibilityTimeout": "soon"}));
        assert!(queue_attributes(&unreadable, &arns, 0.05).is_err());
    }

    #[test]
    fn generated_secrets_follow_the_spec() {
        let plain = generate_secret_string(&json!({})).expect("secret");
        assert_eq!(plain.chars().count(), 32);
        let spec = json!({
            "PasswordLength": 64,
            "ExcludePunctuation": true,
            "ExcludeCharacters": "abc",
            "ExcludeUppercase": "true",
        });
        for _ in 0..20 {
            let s = generate_secret_string(&spec).expect("secret");
            assert_eq!(s.len(), 64);
            assert!(
                s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()),
                "{s}"
            );
            assert!(!s.contains(['a', 'b', 'c']), "{s}");
            assert!(s.chars().any(|c| c.is_ascii_digit()), "{s}");
        }
        let spaced = generate_secret_string(&json!({
            "PasswordLength": 4, "IncludeSpace": true, "ExcludeNumbers": true,
            "ExcludeLowercase": true, "ExcludeUppercase": true, "ExcludePunctuation": true
        }))
        .expect("secret");
        assert_eq!(spaced, "    ");
    }

    #[test]
    fn generated_secrets_fill_the_template_key() {
        let s = generate_secret_string(&json!({
            "SecretStringTemplate": "{\"kid\":\"k1\"}",
            "GenerateStringKey": "secret",
            "PasswordLength": 16
        }))
        .expect("secret");
        let v: Value = serde_json::from_str(&s).expect("json");
        assert_eq!(v["kid"], "k1");
        assert_eq!(v["secret"].as_str().map(str::len), Some(16));
    }

    #[test]
    fn generated_secrets_reject_impossible_specs() {
        assert!(generate_secret_string(&json!({"PasswordLength": 0})).is_err());
        assert!(
            generate_secret_string(&json!({
                "ExcludeNumbers": true, "ExcludeLowercase": true,
                "ExcludeUppercase": true, "ExcludePunctuation": true
            }))
            .is_err()
        );
        assert!(generate_secret_string(&json!({"GenerateStringKey": "k"})).is_err());
    }

    #[test]
    fn subscription_policies_become_json_strings() {
        let attributes = subscription_attributes(&json!({
            "RawMessageDelivery": true,
            "FilterPolicy": {"type": ["order"]},
            "FilterPolicyScope": "MessageAttributes",
            "Protocol": "sqs"
        }));
        assert_eq!(
            attributes,
            vec![
                ("RawMessageDelivery".to_string(), "true".to_string()),
                (
                    "FilterPolicy".to_string(),
                    "{\"type\":[\"order\"]}".to_string()
                ),
                (
                    "FilterPolicyScope".to_string(),
                    "MessageAttributes".to_string()
                ),
            ]
        );
    }
}
