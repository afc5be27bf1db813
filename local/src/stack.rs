//! The whole local stack: the emulator, the template's resources in it, every function
//! behind the Lambda Runtime API, the HTTP APIs, the SQS and DynamoDB Streams event sources, the
//! schedules, the state machines behind a local Step Functions endpoint, and the custom resources.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use aws_config::SdkConfig;
use local_lambda::{FunctionConfig, Lambda, LogSink, LogStream, RuntimeOptions};
use local_template::{LoadOptions, Model, Template};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::apigw::{Gateway, GatewayOptions};
use crate::build::{Profile, build_binaries};
use crate::custom_resources;
use crate::emulator::{self, Emulator};
use crate::events::{EventTap, Schemas};
use crate::metrics::MetricsBoard;
use crate::provision::{Clients, ProvisionOptions, provision_with};
use crate::sfn::tasks::{StackTasks, TaskTokens};
use crate::sfn::{self, Sfn, SfnOptions};
use crate::sources::{self, sqs};

/// Instances per function when the template sets no `ReservedConcurrentExecutions`.
pub const DEFAULT_MAX_INSTANCES: usize = 10;

/// How long a shutdown waits for requests and queue batches in flight.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// How to start a stack.
#[derive(Debug, Clone)]
pub struct StackOptions {
    /// The repository root (where `Cargo.toml` and the tools live).
    pub root: PathBuf,
    /// The template to run.
    pub template: PathBuf,
    /// `AWS::StackName`, and the prefix of every resource name.
    pub stack_name: String,
    /// Template parameter values.
    pub parameter_overrides: BTreeMap<String, String>,
    /// Port of the first HTTP API (0 picks a free one); further APIs get free ports.
    pub port: u16,
    /// Port of the emulator (0 picks a free one).
    pub emulator_port: u16,
    /// Cargo profile of the function binaries.
    pub profile: Profile,
    /// Instances per function without `ReservedConcurrentExecutions`.
    pub default_max_instances: usize,
    /// Port of the Step Functions endpoint (0 picks a free one).
    pub sfn_port: u16,
    /// Multiplies every wait of state machine executions (Wait states, retry intervals,
    /// timeouts); 1.0 is real time.
    pub sfn_time_scale: f64,
    /// Multiplies every wait of the schedules (`Type: Schedule` and `ScheduleV2` events): their
    /// clock starts at the stack's start and runs `1 / schedule_time_scale` times as fast as
    /// real time, so 0.005 makes a `rate(1 minute)` schedule fire every 300 ms (and `cron`
    /// times come 200 times as fast); 1.0 is real time. Must be positive.
    pub schedule_time_scale: f64,
    /// Multiplies the waits between Lambda's retries of asynchronous invocations (SNS
    /// deliveries): one and two minutes on AWS, 0.6 s and 1.2 s at 0.01. Must be positive.
    pub async_time_scale: f64,
    /// Multiplies each queue's `VisibilityTimeout` (SQS's default 30 s when the template sets
    /// none) and `DelaySeconds` as the queues are created, rounded to whole seconds (a visibility
    /// timeout above zero stays at least 1 s), so that redelivery and dead-lettering
    /// (`maxReceiveCount` receives) happen within seconds: 0.05 makes a 60 s visibility timeout
    /// 3 s. 1.0 is the template's values. Must be positive.
    ///
    /// Only the emulator's queues change: the model, and checks made on it (an SQS event
    /// source's queue must not time out before its function, as Lambda requires), keep the
    /// template's values. A function that works longer than the scaled timeout sees its message
    /// delivered again meanwhile.
    pub queue_time_scale: f64,
}

impl StackOptions {
    /// Options for the repository's own `template.yaml`.
    pub fn new(root: PathBuf) -> Self {
        Self {
            template: root.join("template.yaml"),
            root,
            stack_name: "local".into(),
            parameter_overrides: BTreeMap::new(),
            port: 0,
            emulator_port: 0,
            profile: Profile::Dev,
            default_max_instances: DEFAULT_MAX_INSTANCES,
            sfn_port: 0,
            sfn_time_scale: 1.0,
            schedule_time_scale: 1.0,
            async_time_scale: 1.0,
            queue_time_scale: 1.0,
        }
    }
}

/// An HTTP API being served.
#[derive(Debug, Clone)]
pub struct ServedApi {
    pub logical_id: String,
    pub address: SocketAddr,
}

impl ServedApi {
    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }
}

/// A running local stack. Stop it with [`Stack::shutdown`].
pub struct Stack {
    emulator: Option<Emulator>,
    sdk_config: SdkConfig,
    model: Model,
    lambda: Arc<Lambda>,
    apis: Vec<ServedApi>,
    sfn: Arc<Sfn>,
    sfn_address: SocketAddr,
    shutdown: CancellationToken,
    tasks: JoinSet<()>,
    started: Duration,
    events: Arc<EventTap>,
    metrics: Arc<MetricsBoard>,
}

impl Stack {
    /// Builds the function binaries, starts the emulator, provisions the template's
    /// resources and starts serving. Returns once every HTTP API accepts requests.
    pub async fn start(options: StackOptions) -> anyhow::Result<Self> {
        let started = Instant::now();
        let template = read_template(&options)?;
        let preview = resolve_preview(&template, &options)?;
        // An invalid state machine definition fails the start before anything is built.
        sfn::machines_from_model(&preview)?;
        // Build and start the emulator at the same time: both take a while.
        let binaries: BTreeSet<String> =
            preview.functions.iter().map(|f| f.binary.clone()).collect();
        let (executables, emulator) = tokio::try_join!(
            build_binaries(&options.root, &binaries, options.profile),
            Emulator::start(&options.root, options.emulator_port),
        )?;
        tracing::info!(target: "local::stack", endpoint = emulator.endpoint(), "emulator ready");

        let sdk_config = emulator.sdk_config().await;
        let load = LoadOptions {
            stack_name: options.stack_name.clone(),
            region: emulator::REGION.into(),
            account_id: emulator::ACCOUNT_ID.into(),
            parameter_overrides: options.parameter_overrides.clone(),
            sqs_endpoint: emulator.endpoint().to_owned(),
        };
        let provisioned = provision_with(
            &template,
            &load,
            &Clients::new(&sdk_config),
            ProvisionOptions {
                queue_time_scale: options.queue_time_scale,
            },
        )
        .await?;
        let model = provisioned.model;

        // Step Functions first: its endpoint is part of every function's environment, and an
        // invalid definition should fail the start before any function runs.
        let machines = sfn::machines_from_model(&model)?;
        let sfn_listener = TcpListener::bind(("127.0.0.1", options.sfn_port))
            .await
            .with_context(|| {
                format!(
                    "listen on 127.0.0.1:{} for Step Functions",
                    options.sfn_port
                )
            })?;
        let sfn_address = sfn_listener.local_addr()?;
        let sfn_endpoint = format!("http://{sfn_address}");

        // The APIs' listeners next: a function may be given an API's address (a webhook URL),
        // which locally is the listener's.
        let mut api_listeners = Vec::new();
        let mut api_addresses = Vec::new();
        for (i, api) in model.http_apis.iter().enumerate() {
            let port = if i == 0 { options.port } else { 0 };
            let listener = TcpListener::bind(("127.0.0.1", port))
                .await
                .with_context(|| format!("listen on 127.0.0.1:{port} for {}", api.logical_id))?;
            let address = listener.local_addr()?;
            api_addresses.push((
                format!(
                    "https://{}.execute-api.{}.amazonaws.com",
                    api.api_id, model.region
                ),
                format!("http://{address}"),
            ));
            api_listeners.push((listener, address));
        }

        let functions = model
            .functions
            .iter()
            .map(|function| {
                let executable = executables
                    .get(&function.binary)
                    .with_context(|| format!("no executable for binary {}", function.binary))?;
                Ok(FunctionConfig {
                    name: function.name.clone(),
                    arn: function.arn.clone(),
                    executable: executable.clone(),
                    environment: local_api_addresses(
                        function_environment(function, &model, emulator.endpoint(), &sfn_endpoint),
                        &api_addresses,
                    ),
                    timeout: function.timeout,
                    memory_mb: function.memory_mb,
                    max_instances: function
                        .reserved_concurrency
                        .map_or(options.default_max_instances, |n| n as usize),
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let metrics = Arc::new(MetricsBoard::new());
        let lambda = Lambda::new(
            functions,
            RuntimeOptions {
                log_sink: function_output(metrics.clone()),
                ..RuntimeOptions::default()
            },
        );

        let shutdown = CancellationToken::new();
        let mut tasks = JoinSet::new();

        let tokens = TaskTokens::new();
        let runner = StackTasks::new(
            lambda.clone(),
            &model,
            &sdk_config,
            emulator.endpoint(),
            tokens.clone(),
        );
        let sfn = Sfn::new(
            machines,
            runner,
            tokens,
            SfnOptions {
                region: model.region.clone(),
                account_id: model.account_id.clone(),
                time_scale: options.sfn_time_scale,
            },
        );
        {
            let sfn = sfn.clone();
            let token = shutdown.clone();
            tasks.spawn(async move {
                if let Err(err) = sfn.serve(sfn_listener, token).await {
                    tracing::error!(target: "local::sfn", error = format!("{err:#}"), "Step Functions stopped");
                }
            });
        }
        let names: BTreeMap<String, String> = model
            .functions
            .iter()
            .map(|f| (f.logical_id.clone(), f.name.clone()))
            .collect();
        let mut apis = Vec::new();
        for (api, (listener, address)) in model.http_apis.iter().zip(api_listeners) {
            let gateway = Arc::new(Gateway::new(
                api,
                names.clone(),
                lambda.clone(),
                GatewayOptions {
                    region: model.region.clone(),
                    account_id: model.account_id.clone(),
                    port: address.port(),
                },
            )?);
            let token = shutdown.clone();
            let logical_id = api.logical_id.clone();
            tasks.spawn(async move {
                if let Err(err) = gateway.serve(listener, token).await {
                    tracing::error!(target: "local::stack", api = %logical_id, error = format!("{err:#}"), "HTTP API stopped");
                }
            });
            apis.push(ServedApi {
                logical_id: api.logical_id.clone(),
                address,
            });
        }

        let sqs_client = aws_sdk_sqs::Client::new(&sdk_config);
        let sources = sqs::event_sources(&model)?;
        for source in &sources {
            // A function's instances are shared by all its queues' pollers: a poller without
            // an instance would hold its batch while the visibility timeout runs.
            let max_instances = lambda
                .function(&source.function)
                .map_or(1, |f| f.max_instances);
            let siblings = sources
                .iter()
                .filter(|s| s.function == source.function)
                .count();
            let source = Arc::new(source.clone());
            for _ in 0..source.pollers(max_instances / siblings.max(1)) {
                tasks.spawn(source.clone().run(
                    sqs_client.clone(),
                    lambda.clone(),
                    shutdown.clone(),
                ));
            }
        }

        let stream_clients = sources::streams::Clients {
            streams: aws_sdk_dynamodbstreams::Client::new(&sdk_config),
            sqs: sqs_client.clone(),
            sns: aws_sdk_sns::Client::new(&sdk_config),
        };
        for source in sources::streams::event_sources(&model)? {
            tasks.spawn(Arc::new(source).run(
                stream_clients.clone(),
                lambda.clone(),
                shutdown.clone(),
            ));
        }

        let sns_clients = sources::sns::Clients {
            sqs: sqs_client.clone(),
            sns: stream_clients.sns.clone(),
        };
        if !(options.async_time_scale.is_finite() && options.async_time_scale > 0.0) {
            anyhow::bail!(
                "the asynchronous invocation time scale must be a positive number, got {}",
                options.async_time_scale
            );
        }
        for source in
            sources::sns::provision(&model, &sns_clients, options.async_time_scale).await?
        {
            tasks.spawn(Arc::new(source).run(
                sns_clients.clone(),
                lambda.clone(),
                shutdown.clone(),
            ));
        }

        let clock = sources::schedule::Clock::new(options.schedule_time_scale)?;
        for source in sources::schedule::event_sources(&model) {
            tasks.spawn(Arc::new(source).run(lambda.clone(), clock, shutdown.clone()));
        }

        let schemas = Arc::new(Schemas::load(&options.root.join("events/schemas"))?);
        let events = EventTap::new();
        let event_topics = event_topics(&model);
        for topic in &model.topics {
            let queue_url =
                tap_queue(&sqs_client, &stream_clients.sns, &model.stack_name, topic).await?;
            let checked = event_topics.is_empty() || event_topics.contains(topic.arn.as_str());
            tasks.spawn(events.clone().run(
                sqs_client.clone(),
                queue_url,
                topic.name.clone(),
                checked.then(|| schemas.clone()),
                shutdown.clone(),
            ));
        }

        let mut stack = Self {
            emulator: Some(emulator),
            sdk_config,
            model,
            lambda,
            apis,
            sfn,
            sfn_address,
            shutdown,
            tasks,
            started: Duration::ZERO,
            events,
            metrics,
        };
        // Custom resources come last: their functions may use any other resource, the HTTP
        // APIs and Step Functions included, as on AWS, where they wait for what they use.
        if !stack.model.custom_resources.is_empty() {
            let created = custom_resources::create_all(
                &template,
                &load,
                provisioned.physical,
                &stack.model,
                &stack.lambda,
            )
            .await;
            match created {
                Ok(model) => stack.model = model,
                Err(err) => {
                    stack.shutdown().await;
                    return Err(err);
                }
            }
        }
        stack.started = started.elapsed();
        Ok(stack)
    }

    /// The resolved model of the running template.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The HTTP APIs being served, the template's first one first.
    pub fn apis(&self) -> &[ServedApi] {
        &self.apis
    }

    /// The base URL of the first HTTP API.
    pub fn api_url(&self) -> anyhow::Result<String> {
        match self.apis.first() {
            Some(api) => Ok(api.url()),
            None => bail!("the template has no HTTP API"),
        }
    }

    /// Resolves if the emulator process exits under the running stack (killed, crashed), with
    /// its exit status. Every table, queue, secret and email is gone with it.
    pub async fn emulator_exited(&self) -> String {
        match &self.emulator {
            Some(emulator) => emulator.exited().await,
            None => std::future::pending().await,
        }
    }

    /// The emulator's endpoint (`AWS_ENDPOINT_URL` of the functions).
    pub fn emulator_endpoint(&self) -> &str {
        self.emulator.as_ref().map_or("", |e| e.endpoint())
    }

    /// Which emulator serves the AWS APIs (none once the stack stopped).
    pub fn emulator_kind(&self) -> Option<emulator::Kind> {
        self.emulator.as_ref().map(Emulator::kind)
    }

    /// The Step Functions endpoint (`AWS_ENDPOINT_URL_SFN` of the functions).
    pub fn sfn_endpoint(&self) -> String {
        format!("http://{}", self.sfn_address)
    }

    /// The Step Functions service: state machines and executions.
    pub fn sfn(&self) -> &Arc<Sfn> {
        &self.sfn
    }

    /// SDK configuration for talking to the emulator as the functions do.
    pub fn sdk_config(&self) -> &SdkConfig {
        &self.sdk_config
    }

    /// The function runner, for direct invocations.
    pub fn lambda(&self) -> &Arc<Lambda> {
        &self.lambda
    }

    /// Every event published to the template's topics, checked against `events/schemas`.
    pub fn events(&self) -> &Arc<EventTap> {
        &self.events
    }

    /// The metrics the functions reported (their EMF lines).
    pub fn metrics(&self) -> &Arc<MetricsBoard> {
        &self.metrics
    }

    /// How long [`Stack::start`] took.
    pub fn start_duration(&self) -> Duration {
        self.started
    }

    /// Finds a function by logical id, physical name or binary name.
    pub fn function(&self, name: &str) -> Option<&local_template::Function> {
        self.model
            .functions
            .iter()
            .find(|f| names_function(f, name))
    }

    /// Stops serving and polling, stops every function instance and the emulator.
    ///
    /// Running executions are aborted. Requests and queue batches in flight get
    /// [`SHUTDOWN_GRACE`] to finish.
    pub async fn shutdown(mut self) {
        self.sfn.shutdown(SHUTDOWN_GRACE).await;
        self.shutdown.cancel();
        let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            self.tasks.abort_all();
            while self.tasks.join_next().await.is_some() {}
        }
        self.lambda.shutdown().await;
        if let Some(emulator) = self.emulator.take() {
            emulator.stop().await;
        }
    }
}

/// The topics that carry domain events: those the outbox publishers publish to (the
/// `TOPIC_ARN` of a function). Other topics (alerts, alarms) carry other messages.
fn event_topics(model: &Model) -> std::collections::BTreeSet<&str> {
    model
        .functions
        .iter()
        .filter_map(|f| f.environment.get("TOPIC_ARN"))
        .map(String::as_str)
        .collect()
}

/// Creates the queue that taps `topic` (raw delivery, every message) and returns its URL.
async fn tap_queue(
    sqs: &aws_sdk_sqs::Client,
    sns: &aws_sdk_sns::Client,
    stack_name: &str,
    topic: &local_template::Topic,
) -> anyhow::Result<String> {
    let name: String = format!("{stack_name}-tap-{}", topic.logical_id)
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(75)
        .collect();
    let name = if topic.name.ends_with(".fifo") {
        format!("{name}.fifo")
    } else {
        name
    };
    let mut create = sqs.create_queue().queue_name(&name);
    if name.ends_with(".fifo") {
        create = create.attributes(aws_sdk_sqs::types::QueueAttributeName::FifoQueue, "true");
    }
    let url = create
        .send()
        .await
        .with_context(|| format!("create the event tap queue {name}"))?
        .queue_url
        .with_context(|| format!("the event tap queue {name} has no URL"))?;
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .context("read the event tap queue's ARN")?
        .attributes
        .and_then(|mut a| a.remove(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
        .context("the event tap queue has no ARN")?;
    sns.subscribe()
        .topic_arn(&topic.arn)
        .protocol("sqs")
        .endpoint(arn)
        .attributes("RawMessageDelivery", "true")
        .send()
        .await
        .with_context(|| format!("subscribe the event tap to {}", topic.name))?;
    Ok(url)
}

/// Whether `name` is the function's logical id, physical name or binary name.
pub fn names_function(function: &local_template::Function, name: &str) -> bool {
    function.logical_id == name || function.name == name || function.binary == name
}

/// The template's model as it will be run, without starting anything (resource ids that
/// only provisioning learns are placeholders).
pub fn preview(options: &StackOptions) -> anyhow::Result<Model> {
    resolve_preview(&read_template(options)?, options)
}

fn read_template(options: &StackOptions) -> anyhow::Result<Template> {
    Template::from_file(&options.template)
        .with_context(|| format!("read {}", options.template.display()))
}

fn resolve_preview(template: &Template, options: &StackOptions) -> anyhow::Result<Model> {
    let load = LoadOptions {
        stack_name: options.stack_name.clone(),
        parameter_overrides: options.parameter_overrides.clone(),
        ..LoadOptions::default()
    };
    template
        .resolve(&load, &Default::default())
        .with_context(|| format!("resolve {}", options.template.display()))
}

/// Where the functions' output goes: EMF documents to `metrics` (and the log at debug level),
/// every other line to the log as a `function` event.
fn function_output(metrics: Arc<MetricsBoard>) -> LogSink {
    let log = LogSink::tracing();
    LogSink::new(move |line| {
        if line.stream == LogStream::Stdout && metrics.record_line(line.line) {
            tracing::debug!(target: "function", function = line.function, "{}", line.line);
        } else {
            log.emit(line);
        }
    })
}

/// `environment` with every API's AWS address (`https://<id>.execute-api.<region>.amazonaws.com`,
/// as `!Sub` or `!GetAtt ApiEndpoint` make it) replaced by its local listener's.
pub fn local_api_addresses(
    mut environment: BTreeMap<String, String>,
    addresses: &[(String, String)],
) -> BTreeMap<String, String> {
    for value in environment.values_mut() {
        for (aws, local) in addresses {
            if value.contains(aws.as_str()) {
                *value = value.replace(aws.as_str(), local);
            }
        }
    }
    environment
}

/// The environment of a function's processes: the template's variables plus what Lambda
/// sets from the function's configuration, and the standard AWS variables that point the
/// SDK at the emulator and at the local Step Functions.
pub fn function_environment(
    function: &local_template::Function,
    model: &Model,
    endpoint: &str,
    sfn_endpoint: &str,
) -> BTreeMap<String, String> {
    let mut env = function.environment.clone();
    let lambda_env = [
        ("AWS_REGION", model.region.as_str()),
        ("AWS_DEFAULT_REGION", model.region.as_str()),
        ("AWS_ACCESS_KEY_ID", emulator::ACCESS_KEY_ID),
        ("AWS_SECRET_ACCESS_KEY", emulator::SECRET_ACCESS_KEY),
        ("AWS_SESSION_TOKEN", "local"),
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_ENDPOINT_URL_SFN", sfn_endpoint),
    ];
    for (key, value) in lambda_env {
        env.insert(key.to_owned(), value.to_owned());
    }
    if let Some(format) = &function.log_format {
        env.insert("AWS_LAMBDA_LOG_FORMAT".into(), format.clone());
        if format.eq_ignore_ascii_case("json") {
            let level = function.application_log_level.as_deref().unwrap_or("INFO");
            env.insert("AWS_LAMBDA_LOG_LEVEL".into(), level.to_owned());
        }
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_apis_aws_address_in_a_functions_environment_becomes_the_local_one() {
        let environment = BTreeMap::from([
            (
                "WEBHOOK_URL".to_owned(),
                "https://abc1234567.execute-api.us-east-1.amazonaws.com/v1/payments/webhook"
                    .to_owned(),
            ),
            ("TABLE_NAME".to_owned(), "orders".to_owned()),
        ]);
        let addresses = [(
            "https://abc1234567.execute-api.us-east-1.amazonaws.com".to_owned(),
            "http://127.0.0.1:3000".to_owned(),
        )];
        let environment = local_api_addresses(environment, &addresses);
        assert_eq!(
            environment["WEBHOOK_URL"],
            "http://127.0.0.1:3000/v1/payments/webhook"
        );
        assert_eq!(environment["TABLE_NAME"], "orders");
    }
}
