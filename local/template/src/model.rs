//! The resolved model of a template: what the local stack provisions and runs.
//!
//! Every string here is fully resolved (no intrinsic functions left). Resource
//! properties that only provisioning interprets stay as resolved CloudFormation
//! JSON (`properties`), so this crate does not have to model every AWS type.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

/// Everything the local stack needs from one template, resolved for one stack.
#[derive(Debug, Clone, Default)]
pub struct Model {
    pub stack_name: String,
    pub region: String,
    pub account_id: String,
    /// Final parameter values (defaults, then overrides).
    pub parameters: BTreeMap<String, String>,
    pub functions: Vec<Function>,
    pub http_apis: Vec<HttpApi>,
    pub tables: Vec<Table>,
    pub topics: Vec<Topic>,
    pub queues: Vec<Queue>,
    pub subscriptions: Vec<Subscription>,
    pub secrets: Vec<Secret>,
    /// SES identities (`AWS::SES::EmailIdentity`): the addresses and domains mail is sent from.
    pub email_identities: Vec<EmailIdentity>,
    pub state_machines: Vec<StateMachine>,
    /// Custom resources, in the order they are created: each after those it depends on,
    /// otherwise in template order.
    pub custom_resources: Vec<CustomResource>,
    /// Resolved `Outputs` (name → value), for display.
    pub outputs: BTreeMap<String, String>,
}

impl Model {
    /// The function with this logical id.
    pub fn function(&self, logical_id: &str) -> Option<&Function> {
        self.functions.iter().find(|f| f.logical_id == logical_id)
    }

    /// The queue with this logical id.
    pub fn queue(&self, logical_id: &str) -> Option<&Queue> {
        self.queues.iter().find(|q| q.logical_id == logical_id)
    }

    /// The table with this logical id.
    pub fn table(&self, logical_id: &str) -> Option<&Table> {
        self.tables.iter().find(|t| t.logical_id == logical_id)
    }

    /// The state machine with this logical id.
    pub fn state_machine(&self, logical_id: &str) -> Option<&StateMachine> {
        self.state_machines
            .iter()
            .find(|s| s.logical_id == logical_id)
    }

    /// The queue with this ARN.
    pub fn queue_by_arn(&self, arn: &str) -> Option<&Queue> {
        self.queues.iter().find(|q| q.arn == arn)
    }

    /// The topic with this ARN.
    pub fn topic_by_arn(&self, arn: &str) -> Option<&Topic> {
        self.topics.iter().find(|t| t.arn == arn)
    }

    /// The state machine with this ARN.
    pub fn state_machine_by_arn(&self, arn: &str) -> Option<&StateMachine> {
        self.state_machines.iter().find(|s| s.arn == arn)
    }

    /// The custom resource with this logical id.
    pub fn custom_resource(&self, logical_id: &str) -> Option<&CustomResource> {
        self.custom_resources
            .iter()
            .find(|c| c.logical_id == logical_id)
    }

    /// `AWS::StackId`: the stack's ARN.
    pub fn stack_id(&self) -> String {
        stack_id(&self.region, &self.account_id, &self.stack_name)
    }
}

/// The stack ARN `AWS::StackId` gives; the local stack has one stack per name, so its id
/// part is all zeros.
pub(crate) fn stack_id(region: &str, account_id: &str, stack_name: &str) -> String {
    format!(
        "arn:aws:cloudformation:{region}:{account_id}:stack/{stack_name}/00000000-0000-0000-0000-000000000000"
    )
}

/// Whether a resource type is a CloudFormation custom resource
/// (`AWS::CloudFormation::CustomResource` or `Custom::<Name>`).
pub fn is_custom_resource_type(kind: &str) -> bool {
    kind == "AWS::CloudFormation::CustomResource" || kind.starts_with("Custom::")
}

/// An `AWS::Serverless::Function` (after applying `Globals`).
#[derive(Debug, Clone)]
pub struct Function {
    pub logical_id: String,
    /// Physical name: `FunctionName` or `<stack>-<LogicalId>`.
    pub name: String,
    pub arn: String,
    /// `Metadata.BuildProperties.Binary` (the Cargo binary name).
    pub binary: String,
    /// `Environment.Variables`, resolved; Globals merged under the function's own.
    pub environment: BTreeMap<String, String>,
    /// `Timeout` (default 3 s).
    pub timeout: Duration,
    /// `MemorySize` (default 128).
    pub memory_mb: u32,
    /// `ReservedConcurrentExecutions`, if set.
    pub reserved_concurrency: Option<u32>,
    /// `Architectures[0]` (default `x86_64`).
    pub architecture: String,
    /// `LoggingConfig.LogFormat` (`Text` or `JSON`).
    pub log_format: Option<String>,
    /// `LoggingConfig.ApplicationLogLevel`.
    pub application_log_level: Option<String>,
    /// SQS event sources (`Events` of `Type: SQS`).
    pub sqs_events: Vec<SqsEventSource>,
    /// DynamoDB Streams event sources (`Events` of `Type: DynamoDB`).
    pub stream_events: Vec<StreamEventSource>,
    /// Schedules (`Events` of `Type: Schedule` or `Type: ScheduleV2`), disabled ones included.
    pub schedule_events: Vec<ScheduleEventSource>,
    /// What Lambda does with the function's asynchronous invocations (SNS deliveries):
    /// `EventInvokeConfig` and `DeadLetterQueue`.
    pub async_invoke: AsyncInvokeConfig,
}

/// `EventInvokeConfig` and `DeadLetterQueue` of a function: how often Lambda retries an
/// asynchronous invocation that fails, for how long, and where the event goes after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AsyncInvokeConfig {
    /// `MaximumRetryAttempts` (0 to 2, default 2).
    pub maximum_retry_attempts: u32,
    /// `MaximumEventAgeInSeconds` (60 to 21,600, default 21,600: six hours).
    pub maximum_event_age: Duration,
    /// `DestinationConfig.OnSuccess`: gets an invocation record for each success.
    pub on_success: Option<Destination>,
    /// `DestinationConfig.OnFailure`: gets an invocation record for each event given up.
    pub on_failure: Option<Destination>,
    /// `DeadLetterQueue.TargetArn` (an SQS queue or SNS topic): gets each event given up.
    pub dead_letter: Option<Destination>,
}

impl Default for AsyncInvokeConfig {
    fn default() -> Self {
        Self {
            maximum_retry_attempts: 2,
            maximum_event_age: Duration::from_secs(21_600),
            on_success: None,
            on_failure: None,
            dead_letter: None,
        }
    }
}

/// Where Lambda sends an asynchronous invocation's record or event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    pub kind: DestinationKind,
    pub arn: String,
}

/// The service a [`Destination`] ARN names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DestinationKind {
    Sqs,
    Sns,
    Lambda,
    EventBridge,
    S3,
}

impl Destination {
    /// The destination an ARN names, by its service (`arn:aws:sqs:...`, `arn:aws:sns:...`).
    pub fn from_arn(arn: &str) -> Option<Self> {
        let kind = match arn.split(':').nth(2)? {
            "sqs" => DestinationKind::Sqs,
            "sns" => DestinationKind::Sns,
            "lambda" => DestinationKind::Lambda,
            "events" => DestinationKind::EventBridge,
            "s3" => DestinationKind::S3,
            _ => return None,
        };
        arn.starts_with("arn:").then(|| Self {
            kind,
            arn: arn.to_owned(),
        })
    }
}

/// One `Type: SQS` event of a function.
#[derive(Debug, Clone)]
pub struct SqsEventSource {
    /// The event's key under `Events`.
    pub name: String,
    pub queue_arn: String,
    /// `BatchSize` (default 10).
    pub batch_size: u32,
    /// `MaximumBatchingWindowInSeconds` (default 0).
    pub batching_window: Duration,
    /// `FunctionResponseTypes` contains `ReportBatchItemFailures`.
    pub report_batch_item_failures: bool,
    /// `Enabled` (default true).
    pub enabled: bool,
    /// `ScalingConfig.MaximumConcurrency`, if set.
    pub maximum_concurrency: Option<u32>,
}

/// Where a stream event source starts reading a shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartingPosition {
    /// The oldest record the stream still holds.
    TrimHorizon,
    /// Only records written after the mapping starts.
    Latest,
}

/// One `Type: DynamoDB` event of a function: an event source mapping on a table's stream.
#[derive(Debug, Clone)]
pub struct StreamEventSource {
    /// The event's key under `Events`.
    pub name: String,
    /// `Stream`: the table's stream ARN.
    pub stream_arn: String,
    /// `StartingPosition` (required).
    pub starting_position: StartingPosition,
    /// `BatchSize` (default 100, at most 10000).
    pub batch_size: u32,
    /// `MaximumBatchingWindowInSeconds` (default 0).
    pub batching_window: Duration,
    /// `MaximumRetryAttempts`; `None` (absent or -1) retries until the record expires.
    pub maximum_retry_attempts: Option<u32>,
    /// `MaximumRecordAgeInSeconds`; `None` (absent or -1) keeps records as long as the stream does.
    pub maximum_record_age: Option<Duration>,
    /// `BisectBatchOnFunctionError`.
    pub bisect_on_error: bool,
    /// `FunctionResponseTypes` contains `ReportBatchItemFailures`.
    pub report_batch_item_failures: bool,
    /// `DestinationConfig.OnFailure.Destination`: an SQS queue or SNS topic ARN that gets the
    /// batch's description when its records are given up on.
    pub on_failure: Option<String>,
    /// `FilterCriteria.Filters[].Pattern`, each parsed from its JSON text.
    pub filters: Vec<Value>,
    /// `Enabled` (default true).
    pub enabled: bool,
}

/// Which AWS service runs a schedule: it decides the default event and the ARN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScheduleKind {
    /// `Type: Schedule`: an EventBridge rule (`AWS::Events::Rule`).
    Rule,
    /// `Type: ScheduleV2`: an EventBridge Scheduler schedule (`AWS::Scheduler::Schedule`).
    Scheduler,
}

/// One `Type: Schedule` or `Type: ScheduleV2` event of a function.
#[derive(Debug, Clone)]
pub struct ScheduleEventSource {
    /// The event's key under `Events`.
    pub name: String,
    pub kind: ScheduleKind,
    /// The rule's or schedule's name: `Name`, else what SAM and CloudFormation would make
    /// (`<Function><Event>` for a schedule; `<stack>-<Function><Event>` for a rule, without
    /// CloudFormation's random suffix).
    pub schedule_name: String,
    /// `arn:aws:events:<region>:<account>:rule/<name>` or
    /// `arn:aws:scheduler:<region>:<account>:schedule/<group>/<name>`.
    pub arn: String,
    /// `Schedule` (rule) or `ScheduleExpression` (schedule), parsed.
    pub expression: crate::schedule::ScheduleExpression,
    /// `State` is `ENABLED` (the default), or `Enabled` is not false (rule).
    pub enabled: bool,
    /// `Input`: the JSON text sent as the event instead of the default one. For a schedule,
    /// it may hold Scheduler's context attributes (`<aws.scheduler.execution-id>`, ...).
    pub input: Option<String>,
    /// `RetryPolicy.MaximumRetryAttempts` as written (AWS's default is 185).
    pub maximum_retry_attempts: u32,
    /// `RetryPolicy.MaximumEventAgeInSeconds` (default 24 hours).
    pub maximum_event_age: Duration,
}

/// An `AWS::Serverless::HttpApi`, explicit or the implicit `ServerlessHttpApi`.
#[derive(Debug, Clone)]
pub struct HttpApi {
    pub logical_id: String,
    /// A stable, API-Gateway-shaped id (10 lowercase alphanumerics) derived from the logical id.
    pub api_id: String,
    /// `StageName` (default `$default`).
    pub stage: String,
    pub cors: Option<Cors>,
    /// `Auth.Authorizers`, by name.
    pub authorizers: BTreeMap<String, Authorizer>,
    /// `Auth.DefaultAuthorizer` (already applied to `routes`).
    pub default_authorizer: Option<String>,
    pub routes: Vec<Route>,
    /// `DefaultRouteSettings` throttling.
    pub default_throttle: Option<Throttle>,
    /// `RouteSettings` throttling, by route key (`"GET /v1/health"`).
    pub route_throttles: BTreeMap<String, Throttle>,
}

/// One route: an `HttpApi` event of a function.
#[derive(Debug, Clone)]
pub struct Route {
    /// `"GET /v1/items/{id}"`, `"ANY /{proxy+}"` or `"$default"`.
    pub route_key: String,
    /// Upper-case method, or `None` for `ANY` and `$default`.
    pub method: Option<String>,
    /// The path template, or `None` for `$default`.
    pub path: Option<String>,
    /// Logical id of the function the route invokes.
    pub function: String,
    /// Name of the authorizer that guards the route (after `DefaultAuthorizer`
    /// and the route's own `Auth.Authorizer`; `NONE` gives `None`).
    pub authorizer: Option<String>,
    /// `PayloadFormatVersion` (default `"2.0"`).
    pub payload_format_version: String,
    /// `TimeoutInMillis` (default 30000).
    pub timeout: Duration,
}

/// A Lambda authorizer of an HTTP API.
#[derive(Debug, Clone)]
pub struct Authorizer {
    pub name: String,
    /// Logical id of the authorizer function (from `FunctionArn`).
    pub function: String,
    /// `AuthorizerPayloadFormatVersion` (`"1.0"` or `"2.0"`).
    pub payload_format_version: String,
    /// `EnableSimpleResponses`.
    pub simple_responses: bool,
    /// `Identity.Headers`, as written.
    pub identity_headers: Vec<String>,
    /// `Identity.QueryStrings`.
    pub identity_query_strings: Vec<String>,
    /// `Identity.Context`: context variable names, each the `$context.<name>`
    /// identity source SAM makes of it (`routeKey`, `identity.sourceIp`, ...).
    pub identity_context: Vec<String>,
    /// `Identity.ReauthorizeEvery` (seconds; 0 disables caching).
    pub ttl: Duration,
}

/// `CorsConfiguration` of an HTTP API.
#[derive(Debug, Clone, Default)]
pub struct Cors {
    pub allow_origins: Vec<String>,
    pub allow_methods: Vec<String>,
    pub allow_headers: Vec<String>,
    pub expose_headers: Vec<String>,
    pub max_age: Option<u64>,
    pub allow_credentials: bool,
}

/// Throttling settings (`ThrottlingBurstLimit`, `ThrottlingRateLimit`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Throttle {
    pub burst_limit: u32,
    pub rate_limit: f64,
}

/// `AWS::DynamoDB::Table` or `AWS::Serverless::SimpleTable` (converted to the
/// `AWS::DynamoDB::Table` property shape).
#[derive(Debug, Clone)]
pub struct Table {
    pub logical_id: String,
    pub name: String,
    pub arn: String,
    /// Resolved `AWS::DynamoDB::Table` properties.
    pub properties: Value,
}

/// `AWS::SNS::Topic`.
#[derive(Debug, Clone)]
pub struct Topic {
    pub logical_id: String,
    pub name: String,
    pub arn: String,
    /// Resolved properties.
    pub properties: Value,
}

/// `AWS::SQS::Queue`.
#[derive(Debug, Clone)]
pub struct Queue {
    pub logical_id: String,
    pub name: String,
    pub url: String,
    pub arn: String,
    /// Resolved properties (`RedrivePolicy`, `VisibilityTimeout`, `FifoQueue`, ...).
    pub properties: Value,
}

/// `AWS::SNS::Subscription`, or an entry of a topic's `Subscription` list.
#[derive(Debug, Clone)]
pub struct Subscription {
    /// Logical id, or `<TopicLogicalId>.Subscription[<n>]` for inline ones.
    pub logical_id: String,
    pub topic_arn: String,
    pub protocol: String,
    pub endpoint: String,
    /// Resolved properties (`RawMessageDelivery`, `FilterPolicy`, `FilterPolicyScope`, `RedrivePolicy`).
    pub properties: Value,
}

/// `AWS::SecretsManager::Secret`.
#[derive(Debug, Clone)]
pub struct Secret {
    pub logical_id: String,
    pub name: String,
    /// Resolved properties (`SecretString` or `GenerateSecretString`, `Description`).
    pub properties: Value,
}

/// `AWS::SES::EmailIdentity`: an email address or a domain that SES sends from.
#[derive(Debug, Clone)]
pub struct EmailIdentity {
    pub logical_id: String,
    /// The identity (`EmailIdentity`): an address such as `orders@example.com`, or a domain.
    /// Its `Ref`, as on AWS.
    pub name: String,
    /// Resolved properties (`ConfigurationSetAttributes`, `DkimAttributes`, ...).
    pub properties: Value,
}

/// `AWS::Serverless::StateMachine`.
#[derive(Debug, Clone)]
pub struct StateMachine {
    pub logical_id: String,
    pub name: String,
    pub arn: String,
    /// `STANDARD` or `EXPRESS`.
    pub kind: String,
    /// The definition with `DefinitionSubstitutions` applied (read from
    /// `DefinitionUri` relative to the template, or `Definition`).
    pub definition: Value,
}

/// A custom resource (`AWS::CloudFormation::CustomResource` or `Custom::<Name>`) whose
/// `ServiceToken` is one of the template's functions.
#[derive(Debug, Clone)]
pub struct CustomResource {
    pub logical_id: String,
    /// The resource type as written, e.g. `Custom::FirstAdmin`.
    pub kind: String,
    /// `ServiceToken`, resolved: the function's ARN (or name).
    pub service_token: String,
    /// Logical id of the function `ServiceToken` names.
    pub function: String,
    /// Resolved properties, `ServiceToken` included. A `Ref` or `Fn::GetAtt` of a custom
    /// resource not created yet gives a placeholder here, until it is resolved again with
    /// that resource's [`crate::PhysicalId`].
    pub properties: Value,
    /// The created resources this one waits for: its `DependsOn`, and those its properties
    /// refer to.
    pub depends_on: Vec<String>,
}

impl CustomResource {
    /// `ResourceProperties` as CloudFormation sends them to the function: the resolved
    /// properties with every number and boolean turned into a string.
    pub fn request_properties(&self) -> Value {
        scalars_as_strings(&self.properties)
    }
}

fn scalars_as_strings(v: &Value) -> Value {
    match v {
        Value::Number(n) => Value::String(n.to_string()),
        Value::Bool(b) => Value::String(b.to_string()),
        Value::Array(items) => Value::Array(items.iter().map(scalars_as_strings).collect()),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), scalars_as_strings(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}
