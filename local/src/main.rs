//! `local`: runs the system described by `template.yaml` on this machine.
//!
//! ```text
//! cargo run -p local -- up                       # the whole stack on http://127.0.0.1:3000
//! cargo run -p local -- up --seed                # ... with the demo catalog loaded
//! cargo run -p local -- seed                     # load the demo catalog into a running stack
//! cargo run -p local -- invoke HealthFunction --event events/health.json
//! cargo run -p local -- executions --endpoint http://127.0.0.1:3001
//! cargo run -p local -- dead-letters --endpoint http://127.0.0.1:46681
//! cargo run -p local -- dead-letters --endpoint http://127.0.0.1:46681 --redrive all
//! cargo run -p local -- notifications --endpoint http://127.0.0.1:46681
//! cargo run -p local -- notifications --endpoint http://127.0.0.1:46681 --show last --html
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use bytes::Bytes;
use clap::{Args, Parser, Subcommand};
use local::build::Profile;
use local::paths;
use local::stack::{Stack, StackOptions};
use local_lambda::{InvokeRequest, Outcome};

#[derive(Parser)]
#[command(
    name = "local",
    version,
    about = "Runs the template's functions, APIs, queues and tables on this machine"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the whole stack and serve it until Ctrl-C.
    Up {
        #[command(flatten)]
        stack: StackArgs,
        /// Port of the HTTP API.
        #[arg(long, short, env = "LOCAL_PORT", default_value_t = 3000)]
        port: u16,
        /// Port of the AWS API emulator (0 picks a free one).
        #[arg(long, env = "LOCAL_EMULATOR_PORT", default_value_t = 0)]
        emulator_port: u16,
        /// Port of the Step Functions endpoint (0 picks a free one).
        #[arg(long, env = "LOCAL_SFN_PORT", default_value_t = 0)]
        sfn_port: u16,
        /// Port of the console: the API reference and other pages for people (0 picks a free one).
        #[arg(long, env = "LOCAL_CONSOLE_PORT", default_value_t = 3001)]
        console_port: u16,
        /// Load the demo catalog once the stack is up (and create the demo admin unless
        /// `--parameter AdminEmail=...` names one).
        #[arg(long)]
        seed: bool,
    },
    /// Load the demo catalog (8 categories, 240 products with stock) into a running stack,
    /// through its public API.
    Seed {
        /// The stack's HTTP API.
        #[arg(long, env = "LOCAL_URL", default_value = "http://127.0.0.1:3000")]
        url: String,
        /// The first admin's email (the stack's `AdminEmail` parameter).
        #[arg(long, default_value = local::seed::ADMIN_EMAIL)]
        admin_email: String,
        /// The first admin's password (the stack's `AdminPassword` parameter).
        #[arg(long, env = "LOCAL_ADMIN_PASSWORD", default_value = local::seed::ADMIN_PASSWORD)]
        admin_password: String,
        /// How many products.
        #[arg(long, default_value_t = 240)]
        products: usize,
    },
    /// List the state machine executions of a running stack, or one execution's history.
    Executions {
        /// The stack's Step Functions endpoint, as `local up` prints it.
        #[arg(long, env = "AWS_ENDPOINT_URL_SFN")]
        endpoint: String,
        /// Print the history of this execution (its ARN) instead.
        #[arg(long, value_name = "EXECUTION_ARN")]
        history: Option<String>,
    },
    /// List the dead-letter queues of a running stack, each with its source queues and how many
    /// messages it holds; or, with `--redrive`, move their messages back to the queues they came
    /// from (as `aws sqs start-message-move-task` does on AWS).
    ///
    /// Messages are moved at least once: each is sent to its source queue with the same body and
    /// message attributes, then deleted from the dead-letter queue, so an interruption may leave a
    /// duplicate (which the consumers, idempotent on the event id, process once) but never loses
    /// one. The queues come from the template; give the same --template, --stack-name and
    /// --parameter as `local up` had.
    DeadLetters {
        /// The running stack's AWS API emulator, as `local up` prints it
        /// (`Emulator http://127.0.0.1:<port>`). Required: only the running `up` knows it (start
        /// `up` with `--emulator-port` to fix it).
        #[arg(long, env = "AWS_ENDPOINT_URL")]
        endpoint: String,
        /// Move the messages of this dead-letter queue (logical id, queue name or ARN), or of
        /// every one with `all`, back to their source queues.
        #[arg(long, value_name = "DLQ|all")]
        redrive: Option<String>,
        /// Move at most this many messages from each dead-letter queue [default: until it reads
        /// empty].
        #[arg(long, requires = "redrive")]
        max: Option<usize>,
        /// The SAM template the stack runs [default: the repository's template.yaml].
        #[arg(long, short)]
        template: Option<PathBuf>,
        /// The running stack's name.
        #[arg(long, default_value = "local")]
        stack_name: String,
        /// A template parameter the stack was started with, as `Name=Value` (repeatable).
        #[arg(long = "parameter", value_name = "NAME=VALUE")]
        parameters: Vec<String>,
    },
    /// List the emails (SES) and SMS (SNS) the functions of a running stack sent, oldest first, as
    /// the emulator kept them (the last few thousand of each); or, with `--show`, print one email.
    Notifications {
        /// The running stack's AWS API emulator, as `local up` prints it
        /// (`Emulator http://127.0.0.1:<port>`).
        #[arg(long, env = "AWS_ENDPOINT_URL")]
        endpoint: String,
        /// Print this email's headers and text body: its message id, its number in the listing
        /// (1 is the oldest), or `last`.
        #[arg(long, value_name = "MESSAGE_ID|N|last")]
        show: Option<String>,
        /// With --show, print the HTML body instead of the text body.
        #[arg(long, requires = "show")]
        html: bool,
    },
    /// Invoke one function once, as `sam local invoke` does, and print its response.
    Invoke {
        /// The function's logical id, physical name or binary name.
        function: String,
        /// The event to send (a JSON file); `{}` if omitted.
        #[arg(long, short)]
        event: Option<PathBuf>,
        #[command(flatten)]
        stack: StackArgs,
    },
    /// Measure cold starts of function binaries (see bench/cold-start.sh).
    ColdStart {
        /// A binary and the event it answers, as `BINARY=EVENT_FILE` (repeatable).
        #[arg(long = "binary", value_name = "BINARY=EVENT_FILE", required = true)]
        binaries: Vec<String>,
        /// Cold starts per binary.
        #[arg(long, default_value_t = 25)]
        runs: usize,
        /// Cargo profile of the binaries.
        #[arg(long, value_enum, default_value_t = Profile::Release)]
        profile: Profile,
        /// Measure the executables already in this directory (`DIR/BINARY`, as a cargo target
        /// directory holds them) instead of building them.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// A variable added to each function's environment, as `NAME=VALUE` (repeatable).
        #[arg(long = "env", value_name = "NAME=VALUE")]
        env: Vec<String>,
    },
}

#[derive(Args)]
struct StackArgs {
    /// The SAM template to run [default: the repository's template.yaml].
    #[arg(long, short)]
    template: Option<PathBuf>,
    /// The stack name (prefix of every resource name).
    #[arg(long, default_value = "local")]
    stack_name: String,
    /// A template parameter, as `Name=Value` (repeatable).
    #[arg(long = "parameter", value_name = "NAME=VALUE")]
    parameters: Vec<String>,
    /// Cargo profile for the function binaries.
    #[arg(long, value_enum, default_value_t = Profile::Dev)]
    profile: Profile,
}

impl StackArgs {
    fn options(&self, port: u16, emulator_port: u16) -> anyhow::Result<StackOptions> {
        let root = paths::repo_root();
        let parameter_overrides = name_values("--parameter", &self.parameters)?;
        let mut options = StackOptions {
            stack_name: self.stack_name.clone(),
            parameter_overrides,
            port,
            emulator_port,
            profile: self.profile,
            ..StackOptions::new(root)
        };
        if let Some(template) = &self.template {
            options.template = std::env::current_dir()?.join(template);
        }
        Ok(options)
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    local::logging::init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Up {
            stack,
            port,
            emulator_port,
            sfn_port,
            console_port,
            seed,
        } => up(stack, port, emulator_port, sfn_port, console_port, seed).await,
        Command::Seed {
            url,
            admin_email,
            admin_password,
            products,
        } => {
            let options = local::seed::SeedOptions {
                admin_email,
                admin_password,
                products,
                ..local::seed::SeedOptions::new(url)
            };
            seed(&options).await
        }
        Command::Executions { endpoint, history } => {
            executions(&endpoint, history.as_deref()).await
        }
        Command::DeadLetters {
            endpoint,
            redrive,
            max,
            template,
            stack_name,
            parameters,
        } => {
            let stack = StackArgs {
                template,
                stack_name,
                parameters,
                profile: Profile::Dev,
            };
            dead_letters(&endpoint, redrive.as_deref(), max, &stack).await
        }
        Command::Notifications {
            endpoint,
            show,
            html,
        } => notifications(&endpoint, show.as_deref(), html).await,
        Command::Invoke {
            function,
            event,
            stack,
        } => invoke(&function, event, stack).await,
        Command::ColdStart {
            binaries,
            runs,
            profile,
            dir,
            env,
        } => cold_start(&binaries, runs, profile, dir, &env).await,
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn up(
    args: StackArgs,
    port: u16,
    emulator_port: u16,
    sfn_port: u16,
    console_port: u16,
    with_seed: bool,
) -> anyhow::Result<ExitCode> {
    let mut options = args.options(port, emulator_port)?;
    options.sfn_port = sfn_port;
    let mut admin = None;
    if with_seed {
        let overrides = &mut options.parameter_overrides;
        if !overrides.contains_key("AdminEmail") {
            overrides.insert("AdminEmail".into(), local::seed::ADMIN_EMAIL.into());
            overrides.insert("AdminPassword".into(), local::seed::ADMIN_PASSWORD.into());
        }
        admin = Some((
            overrides.get("AdminEmail").cloned().unwrap_or_default(),
            overrides.get("AdminPassword").cloned().unwrap_or_default(),
        ));
    }
    let stack = Stack::start(options).await?;
    let console = local::console::Console::start(
        console_port,
        &stack.api_url()?,
        stack.emulator_endpoint(),
        stack.metrics().clone(),
    )
    .await
    .with_context(|| format!("start the console on port {console_port}"))?;
    print_summary(&stack, &console);
    // Runs until Ctrl-C (or SIGTERM), or until the emulator dies under the stack.
    let run = async {
        if let Some((admin_email, admin_password)) = admin {
            let options = local::seed::SeedOptions {
                admin_email,
                admin_password,
                ..local::seed::SeedOptions::new(stack.api_url()?)
            };
            tokio::select! {
                seeded = seed(&options) => {
                    if let Err(err) = seeded {
                        eprintln!("error: seeding failed: {err:#}");
                    }
                }
                signal = wait_for_signal() => return signal,
            }
        }
        wait_for_signal().await
    };
    let emulator_died = tokio::select! {
        signal = run => {
            signal?;
            None
        }
        status = stack.emulator_exited() => Some(status),
    };
    if let Some(status) = &emulator_died {
        eprintln!(
            "error: the AWS API emulator exited ({status}). Every table, queue, secret and email \
             of the stack was in it and is lost, so every request would now fail: stopping. \
             Run `up` again to start afresh."
        );
    }
    eprintln!("Stopping...");
    console.shutdown().await;
    stack.shutdown().await;
    eprintln!("Stopped.");
    Ok(if emulator_died.is_some() {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

async fn seed(options: &local::seed::SeedOptions) -> anyhow::Result<ExitCode> {
    eprintln!("Seeding the demo catalog at {}...", options.url);
    let seeded = local::seed::seed(options).await?;
    eprintln!(
        "Seeded {} categories and {} products with stock. Log in as the seller who owns them:",
        seeded.categories.len(),
        seeded.products.len()
    );
    eprintln!(
        "  curl -s {}/v1/auth/login -H 'content-type: application/json' -d '{{\"email\":\"{}\",\"password\":\"{}\"}}'",
        options.url,
        local::seed::SELLER_EMAIL,
        local::seed::SELLER_PASSWORD
    );
    Ok(ExitCode::SUCCESS)
}

async fn invoke(
    function: &str,
    event: Option<PathBuf>,
    args: StackArgs,
) -> anyhow::Result<ExitCode> {
    let payload = match &event {
        Some(path) => {
            let text = std::fs::read(path).with_context(|| format!("read {}", path.display()))?;
            serde_json::from_slice::<serde_json::Value>(&text)
                .with_context(|| format!("{} is not JSON", path.display()))?;
            Bytes::from(text)
        }
        None => Bytes::from_static(b"{}"),
    };
    let options = args.options(0, 0)?;
    // Check the name before building and starting anything.
    let name = local::stack::preview(&options)?
        .functions
        .iter()
        .find(|f| local::stack::names_function(f, function))
        .map(|f| f.name.clone())
        .with_context(|| format!("the template has no function {function:?}"))?;
    let stack = Stack::start(options).await?;
    let result = async {
        let invocation = stack
            .lambda()
            .invoke(
                &name,
                InvokeRequest {
                    payload,
                    trace_id: None,
                    client_context: None,
                },
            )
            .await?;
        let (body, code) = match &invocation.outcome {
            Outcome::Success(body) => (body.clone(), ExitCode::SUCCESS),
            Outcome::Error(error) => (error.payload.clone(), ExitCode::FAILURE),
        };
        let pretty = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| serde_json::to_string_pretty(&v).ok())
            .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
        println!("{pretty}");
        eprintln!(
            "{} {} in {} ms ({})",
            name,
            if matches!(invocation.outcome, Outcome::Success(_)) {
                "succeeded"
            } else {
                "failed"
            },
            invocation.duration.as_millis(),
            if invocation.cold_start {
                "cold"
            } else {
                "warm"
            },
        );
        anyhow::Ok(code)
    }
    .await;
    stack.shutdown().await;
    result
}

async fn executions(endpoint: &str, history: Option<&str>) -> anyhow::Result<ExitCode> {
    match history {
        Some(arn) => {
            let execution = local::sfn::listing::history(endpoint, arn).await?;
            print!("{}", local::sfn::listing::history_table(&execution));
        }
        None => {
            let items = local::sfn::listing::executions(endpoint).await?;
            if items.is_empty() {
                eprintln!("No executions yet.");
            } else {
                print!("{}", local::sfn::listing::executions_table(&items));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn dead_letters(
    endpoint: &str,
    redrive: Option<&str>,
    max: Option<usize>,
    args: &StackArgs,
) -> anyhow::Result<ExitCode> {
    use local::dead_letters;
    let options = args.options(0, 0)?;
    let model = local::stack::preview(&options)?;
    let sqs = aws_sdk_sqs::Client::new(&local::emulator::sdk_config(endpoint).await);
    let reach = || {
        format!(
            "ask the emulator at {endpoint} (`local up` prints it as `Emulator http://127.0.0.1:<port>`) about stack {:?}",
            options.stack_name
        )
    };
    let Some(which) = redrive else {
        let counts = dead_letters::list(&sqs, &model).await.with_context(reach)?;
        if counts.is_empty() {
            eprintln!("The template has no dead-letter queue.");
        } else {
            print!("{}", dead_letters::table(&counts));
        }
        return Ok(ExitCode::SUCCESS);
    };
    let queues = dead_letters::dead_letter_queues(&model);
    let mut code = ExitCode::SUCCESS;
    for queue in dead_letters::select(&queues, which)? {
        let report = dead_letters::redrive(&sqs, queue, max)
            .await
            .with_context(reach)?;
        let name = &report.dead_letter_queue;
        let per_source = report.per_source();
        if per_source.is_empty() {
            println!("{name}: 0 moved");
        }
        for (source, moved) in per_source {
            println!("{name}: {moved} moved to {source}");
        }
        if report.reached_max {
            eprintln!("{name}: stopped at --max; more may be left");
        }
        if report.returned > 0 {
            eprintln!(
                "{name}: {} moved message(s) failed again and came back; left in place",
                report.returned
            );
        }
        if report.unroutable > 0 {
            eprintln!(
                "{name}: {} message(s) left: the queue has several sources and they do not say which",
                report.unroutable
            );
            code = ExitCode::FAILURE;
        }
    }
    Ok(code)
}

async fn notifications(endpoint: &str, show: Option<&str>, html: bool) -> anyhow::Result<ExitCode> {
    use local::mailbox;
    let reach = || {
        format!(
            "ask the emulator at {endpoint} (`local up` prints it as `Emulator http://127.0.0.1:<port>`)"
        )
    };
    let emails = mailbox::emails(endpoint).await.with_context(reach)?;
    if let Some(which) = show {
        let email = mailbox::find(&emails, which).with_context(|| {
            format!(
                "no email {which:?} among the {} sent (give a message id, a number from the listing, or last)",
                emails.len()
            )
        })?;
        print!("{}", mailbox::show(email, html));
        return Ok(ExitCode::SUCCESS);
    }
    let sms = mailbox::sms(endpoint).await.with_context(reach)?;
    if emails.is_empty() {
        eprintln!("No email sent yet.");
    } else {
        print!("{}", mailbox::emails_table(&emails));
    }
    if sms.is_empty() {
        eprintln!("No SMS sent yet.");
    } else {
        if !emails.is_empty() {
            println!();
        }
        print!("{}", mailbox::sms_table(&sms));
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads `NAME=VALUE` arguments of `flag` into a map.
fn name_values(flag: &str, pairs: &[String]) -> anyhow::Result<BTreeMap<String, String>> {
    pairs
        .iter()
        .map(|pair| match pair.split_once('=') {
            Some((name, value)) => Ok((name.to_owned(), value.to_owned())),
            None => bail!("{flag} {pair:?} is not NAME=VALUE"),
        })
        .collect()
}

async fn cold_start(
    specs: &[String],
    runs: usize,
    profile: Profile,
    dir: Option<PathBuf>,
    env: &[String],
) -> anyhow::Result<ExitCode> {
    let root = paths::repo_root();
    let env = name_values("--env", env)?;
    let targets = specs
        .iter()
        .map(|spec| local::bench::parse_target(spec))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let names: BTreeSet<String> = targets.iter().map(|(binary, _)| binary.clone()).collect();
    let executables = match dir {
        Some(dir) => names
            .iter()
            .map(|name| {
                // Absolute: the function runs in a directory of its own.
                let path = std::path::absolute(dir.join(name))?;
                anyhow::ensure!(path.is_file(), "no executable {}", path.display());
                Ok((name.clone(), path))
            })
            .collect::<anyhow::Result<BTreeMap<_, _>>>()?,
        None => local::build::build_binaries(&root, &names, profile).await?,
    };
    let mut results = Vec::new();
    for (binary, event) in targets {
        let path = root.join(&event);
        let event = std::fs::read(&path).with_context(|| format!("read {}", path.display()))?;
        let executable = executables
            .get(&binary)
            .with_context(|| format!("no executable for {binary}"))?
            .clone();
        eprintln!("measuring {binary} ({runs} cold starts)...");
        results.push(
            local::bench::cold_start_with_env(
                &binary,
                executable,
                Bytes::from(event),
                runs,
                env.clone(),
            )
            .await?,
        );
    }
    local::bench::print(&results);
    Ok(ExitCode::SUCCESS)
}

fn print_summary(stack: &Stack, console: &local::console::Console) {
    let model = stack.model();
    eprintln!();
    eprintln!(
        "Local stack {:?} is up ({} ms).",
        model.stack_name,
        stack.start_duration().as_millis()
    );
    for api in stack.apis() {
        eprintln!("  {:<14} {}", api.logical_id, api.url());
        if let Some(spec) = model
            .http_apis
            .iter()
            .find(|a| a.logical_id == api.logical_id)
        {
            for route in &spec.routes {
                let auth = route
                    .authorizer
                    .as_deref()
                    .map(|a| format!("  [{a}]"))
                    .unwrap_or_default();
                eprintln!("      {:<34} -> {}{auth}", route.route_key, route.function);
            }
        }
    }
    eprintln!(
        "  {:<14} {}  ({}; AWS_ENDPOINT_URL of every function)",
        "Emulator",
        stack.emulator_endpoint(),
        stack
            .emulator_kind()
            .map_or_else(String::new, |kind| kind.to_string())
    );
    eprintln!(
        "  {:<14} {}  (AWS_ENDPOINT_URL_SFN of every function; `local executions --endpoint {}`)",
        "StepFunctions",
        stack.sfn_endpoint(),
        stack.sfn_endpoint()
    );
    for machine in stack.sfn().machines() {
        eprintln!(
            "      {:<34} {}  {}",
            machine.name,
            machine.kind.as_str(),
            machine.arn
        );
    }
    eprintln!(
        "  {} functions, {} tables, {} queues, {} topics, {} secrets, {} email identities, {} state machines, {} custom resources",
        model.functions.len(),
        model.tables.len(),
        model.queues.len(),
        model.topics.len(),
        model.secrets.len(),
        model.email_identities.len(),
        model.state_machines.len(),
        model.custom_resources.len()
    );
    eprintln!(
        "  {:<14} {}/docs  (the API reference; the document itself is GET /v1/openapi.json)",
        "Console",
        console.url()
    );
    eprintln!(
        "  {:<14} {}/metrics  (what the functions report: requests, errors and latency per route, business counts)",
        "",
        console.url()
    );
    eprintln!(
        "  {:<14} {}/notifications  (the emails and SMS the functions sent; `local notifications --endpoint {}`)",
        "",
        console.url(),
        stack.emulator_endpoint()
    );
    eprintln!("Press Ctrl-C to stop.");
    eprintln!();
}

async fn wait_for_signal() -> anyhow::Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("listen for SIGTERM")?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result.context("listen for Ctrl-C")?,
        _ = terminate.recv() => {}
    }
    Ok(())
}
