//! `cargo dev`: run the shop's backend on this machine.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use dev::cloud::provision_all;
use dev::emulator::{Emulator, EmulatorLog};
use dev::environment::shared_environment;
use dev::resources::Resources;
use dev::template::Template;
use dev::{CloudOptions, EmulatorSettings, LocalCloud, LogOutput, repo};

/// Where `provision` and `env` look for an emulator unless told otherwise.
const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:5000";

#[derive(Parser)]
#[command(
    name = "cargo dev",
    bin_name = "cargo dev",
    about = "The shop's local cloud: AWS emulator, provisioning from template.yaml, the functions' \
             real binaries behind a local HTTP API and SQS event sources."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start everything: emulator, resources, sample catalog, functions, HTTP API, SQS
    /// event sources. Prints `ready: <url>` when it takes traffic; Ctrl-C stops it all.
    Up(UpArgs),
    /// Run orders and signed payment webhooks through the whole system with faults on, heal,
    /// and check the invariants (no order stuck, stock conserved, every event delivered, every
    /// webhook applied once, nothing valid in a dead-letter queue).
    Soak(dev::soak::SoakArgs),
    /// The running cloud's figures so far: the orders funnel, revenue, per-function latency
    /// and queue depths (the same as http://127.0.0.1:3000/_dev).
    Stats {
        /// The local API; the one `cargo dev up` is running by default.
        #[arg(long, value_name = "URL")]
        url: Option<String>,
    },
    /// Create the template's tables, queues, topics and subscriptions and load the sample
    /// catalog, in a running emulator. Idempotent; live stock is kept.
    Provision {
        /// The emulator; `cargo dev emulator` listens on the default.
        #[arg(long, value_name = "URL", default_value = DEFAULT_ENDPOINT)]
        endpoint: String,
    },
    /// Print the functions' environment for that emulator as KEY=VALUE lines, for
    /// `cargo lambda watch --env-file`.
    Env {
        /// The emulator; the one `cargo dev up` is running by default, else
        /// http://127.0.0.1:5000.
        #[arg(long, value_name = "URL")]
        endpoint: Option<String>,
    },
    /// A payment webhook signed with the local secret: for an order (printed as a curl
    /// command, or sent with --send), or a sample event file re-signed now (--sign FILE).
    #[command(group(clap::ArgGroup::new("what").required(true).args(["order", "sign"])))]
    Webhook {
        /// The order the payment is for.
        #[arg(long, value_name = "ORDER_ID", requires = "outcome")]
        order: Option<String>,
        /// What happened to the payment.
        #[arg(long, value_enum)]
        outcome: Option<dev::webhook::Outcome>,
        /// Amount in minor units; the order's total by default (read from the running API).
        #[arg(long)]
        amount: Option<i64>,
        /// Currency of the payment; the order's by default.
        #[arg(long)]
        currency: Option<String>,
        /// The local API; the one `cargo dev up` is running by default.
        #[arg(long, value_name = "URL")]
        url: Option<String>,
        /// Send it and print the answer, instead of printing a curl command.
        #[arg(long)]
        send: bool,
        /// Print this sample event (API Gateway JSON, e.g. events/payment-webhook/succeeded.json)
        /// signed now, for `cargo lambda invoke payment-webhook --data-file`.
        #[arg(long, value_name = "FILE", conflicts_with = "order")]
        sign: Option<std::path::PathBuf>,
    },
    /// Bearer tokens from the running cloud's local issuer, one line per customer, for the
    /// customer routes (`curl -H "authorization: Bearer $(cargo dev token --customer c-1)"`).
    Token {
        /// The customer (the token's subject); repeat for several tokens.
        #[arg(long = "customer", value_name = "ID", required = true)]
        customers: Vec<String>,
        /// How long each token is valid.
        #[arg(long, default_value_t = 3600, value_name = "SECONDS")]
        ttl: u64,
    },
    /// Move a dead-letter queue's messages back to their source queue (every DLQ's without
    /// QUEUE), as SQS's DLQ redrive does in the cloud. Safe once the cause is fixed: every
    /// consumer is idempotent, and a message that still fails comes back to its DLQ.
    Redrive {
        /// The dead-letter queue, by logical id (`OrdersDLQ`).
        queue: Option<String>,
        /// The emulator; the one `cargo dev up` is running by default, else
        /// http://127.0.0.1:5000.
        #[arg(long, value_name = "URL")]
        endpoint: Option<String>,
    },
    /// Validate a catalog file (.json, .jsonl or .csv) and load its good rows into
    /// ProductsTable; every bad row is named by its line. Idempotent; live stock is kept.
    Import {
        file: std::path::PathBuf,
        /// The emulator; the one `cargo dev up` is running by default, else
        /// http://127.0.0.1:5000.
        #[arg(long, value_name = "URL")]
        endpoint: Option<String>,
    },
    /// Print a generated catalog (JSON Lines) for load and benchmark runs.
    GenerateCatalog {
        #[arg(long, default_value_t = 1_000)]
        products: usize,
    },
    /// Measure cold start, warm latency, memory, sizes, AWS requests per order, throughput
    /// and cost; writes docs/benchmarks.md and .json with plots (release builds).
    Bench(dev::bench::BenchArgs),
    /// Run only the AWS emulator (moto) in the foreground, logging each request.
    Emulator {
        #[arg(long, default_value_t = 5000)]
        port: u16,
    },
}

#[derive(clap::Args)]
struct UpArgs {
    /// Port of the HTTP API on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 3000)]
    port: u16,
    /// Use this running emulator instead of starting one (e.g. from `cargo dev emulator`).
    #[arg(long, value_name = "URL")]
    endpoint: Option<String>,
    /// Processes per function, and pollers per SQS event source.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=64))]
    concurrency: u16,
    /// Build the functions in release mode.
    #[arg(long)]
    release: bool,
    /// Seconds before a failed SQS message is retried (Lambda waits for the queue's
    /// visibility timeout).
    #[arg(long, default_value_t = 1, value_name = "SECONDS")]
    retry_delay: u64,
    /// Seconds a confirmed order has to be paid before it is cancelled (the template's
    /// PaymentWindowMinutes, 15 minutes, by default).
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    payment_window: Option<u64>,
    /// Inject faults into the functions' AWS calls (never the local cloud's own), as rates
    /// 0..1: `throttle=0.05,error5xx=0.05,lost=0.03,conflict=0.15`. What was injected is
    /// printed on Ctrl-C.
    #[arg(long, value_name = "SPEC")]
    faults: Option<dev::faults::FaultSpec>,
}

impl From<UpArgs> for CloudOptions {
    fn from(args: UpArgs) -> CloudOptions {
        CloudOptions {
            port: args.port,
            endpoint: args.endpoint,
            concurrency: usize::from(args.concurrency),
            release: args.release,
            retry_delay: Duration::from_secs(args.retry_delay),
            logs: LogOutput::Terminal,
            progress: Some(Arc::new(|line: &str| eprintln!("{line}"))),
            repo_root: None,
            executables: None,
            payment_window: args.payment_window.map(Duration::from_secs),
            parameters: Default::default(),
            faults: args.faults,
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Up(args) => up(args.into()).await,
        Command::Provision { endpoint } => provision(&endpoint).await,
        Command::Env { endpoint } => env(&emulator_endpoint(endpoint)),
        Command::Webhook {
            order,
            outcome,
            amount,
            currency,
            url,
            send,
            sign,
        } => match (sign, order, outcome) {
            (Some(file), _, _) => sign_sample(&file),
            (None, Some(order), Some(outcome)) => {
                webhook(&order, outcome, amount, currency, url, send).await
            }
            _ => unreachable!("clap requires --order with --outcome, or --sign"),
        },
        Command::Import { file, endpoint } => import(&file, endpoint).await,
        Command::GenerateCatalog { products } => {
            print!("{}", dev::catalog::generate(products));
            Ok(())
        }
        Command::Bench(args) => dev::bench::cli(args).await,
        Command::Soak(args) => dev::soak::cli(args).await,
        Command::Stats { url } => stats(url).await,
        Command::Emulator { port } => emulator(port).await,
        Command::Token { customers, ttl } => token(&customers, ttl).await,
        Command::Redrive { queue, endpoint } => {
            redrive(queue.as_deref(), &emulator_endpoint(endpoint)).await
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn up(options: CloudOptions) -> Result<()> {
    let faulty = options.faults.as_ref().is_some_and(|f| !f.is_none());
    let cloud = LocalCloud::start(options).await?;
    eprintln!("emulator: {}", cloud.endpoint());
    let running = running_file()?;
    let record = serde_json::json!({
        "url": cloud.url(),
        "endpoint": cloud.endpoint(),
        "issuer": cloud.issuer_url(),
    });
    std::fs::write(&running, record.to_string())?;
    println!("ready: {}", cloud.url());
    let failure = tokio::select! {
        signal = shutdown_signal() => signal.map(|()| None)?,
        reason = cloud.failure() => Some(reason),
    };
    eprintln!("stopping");
    if faulty {
        match cloud.fault_report().await {
            Ok(report) => eprintln!("faults injected:\n{report}"),
            Err(e) => eprintln!("cannot read the faults injected: {e:#}"),
        }
    }
    let _ = std::fs::remove_file(&running);
    cloud.stop().await;
    match failure {
        None => Ok(()),
        Some(reason) => Err(anyhow::anyhow!(reason)),
    }
}

/// Where `up` notes its URLs, so `import` and `webhook` find the running cloud.
fn running_file() -> Result<std::path::PathBuf> {
    Ok(repo::dev_dir(&repo::repo_root()?).join("running.json"))
}

/// `field` ("url" or "endpoint") of the cloud `cargo dev up` is running, if any.
fn running(field: &str) -> Option<String> {
    let text = std::fs::read_to_string(running_file().ok()?).ok()?;
    let record: serde_json::Value = serde_json::from_str(&text).ok()?;
    record[field].as_str().map(str::to_owned)
}

/// `endpoint`, else the running cloud's emulator, else [`DEFAULT_ENDPOINT`].
fn emulator_endpoint(endpoint: Option<String>) -> String {
    endpoint
        .or_else(|| running("endpoint"))
        .unwrap_or_else(|| DEFAULT_ENDPOINT.to_owned())
}

async fn provision(endpoint: &str) -> Result<()> {
    let root = repo::repo_root()?;
    let template = Template::load(&root)?;
    for warning in &template.warnings {
        eprintln!("warning: {warning}");
    }
    dev::aws::check_reachable(endpoint).await?;
    let resources = Resources::new(&template, endpoint);
    let config = EmulatorSettings::new(endpoint).sdk_config().await;
    let report = provision_all(&template, &resources, &config, &root).await?;
    for line in &report.changes {
        println!("{line}");
    }
    for line in &report.warnings {
        eprintln!("warning: {line}");
    }
    if !report.changed_anything() {
        println!(
            "all {} resources already as in template.yaml",
            report.unchanged.len()
        );
    }
    if let Some(count) = report.catalog_products {
        println!("loaded {count} catalog products (existing stock kept)");
    }
    Ok(())
}

fn env(endpoint: &str) -> Result<()> {
    let root = repo::repo_root()?;
    let template = Template::load(&root)?;
    let resources = Resources::new(&template, endpoint);
    for (key, value) in shared_environment(&template, &resources) {
        println!("{key}={value}");
    }
    // Not a function's variable: where the running cloud's customer tokens come from.
    if let Some(issuer) = running("issuer") {
        println!("JWT_ISSUER={issuer}");
    }
    Ok(())
}

async fn redrive(queue: Option<&str>, endpoint: &str) -> Result<()> {
    let template = Template::load(&repo::repo_root()?)?;
    let resources = Resources::new(&template, endpoint);
    let sqs = aws_sdk_sqs::Client::new(&EmulatorSettings::new(endpoint).sdk_config().await);
    for redrive in dev::redrive::redrives(&template, &resources, queue)? {
        let moved = dev::redrive::move_back(&sqs, &redrive).await?;
        println!(
            "{}: {moved} message(s) moved back to {}",
            redrive.dead_letters.name, redrive.source.name
        );
    }
    Ok(())
}

async fn stats(url: Option<String>) -> Result<()> {
    let url = url
        .or_else(|| running("url"))
        .context("no running cloud: start `cargo dev up`, or pass --url")?;
    let report: dev::dev_page::DevReport = reqwest::get(format!("{url}/_dev/stats"))
        .await
        .with_context(|| format!("no local cloud at {url}"))?
        .error_for_status()?
        .json()
        .await?;
    print!("{}", dev::dev_page::text(&report));
    Ok(())
}

async fn token(customers: &[String], ttl: u64) -> Result<()> {
    let issuer = running("issuer").context("no local issuer: is `cargo dev up` running?")?;
    for customer in customers {
        let token = dev::issuer::fetch_token(&issuer, customer, Duration::from_secs(ttl)).await?;
        println!("{token}");
    }
    Ok(())
}

async fn webhook(
    order_id: &str,
    outcome: dev::webhook::Outcome,
    amount: Option<i64>,
    currency: Option<String>,
    url: Option<String>,
    send: bool,
) -> Result<()> {
    let url = url
        .or_else(|| running("url"))
        .unwrap_or_else(|| "http://127.0.0.1:3000".to_owned());
    let (amount, currency) = match (amount, currency) {
        (Some(amount), Some(currency)) => (amount, currency),
        (amount, currency) => {
            // The provider knows what it charges; locally that is the order's total, read from
            // the emulator (the API would want the customer's token).
            let total = order_total(order_id).await?;
            (
                amount.unwrap_or(total.amount),
                currency.unwrap_or_else(|| total.currency.code().to_owned()),
            )
        }
    };
    let body = dev::webhook::provider_event(order_id, outcome, amount, &currency).to_string();
    if !send {
        println!("{}", dev::webhook::curl_command(&url, &body));
        return Ok(());
    }
    let response = reqwest::Client::new()
        .post(format!("{url}/webhooks/payments"))
        .header("content-type", "application/json")
        .header("stripe-signature", dev::webhook::local_signature(&body))
        .body(body)
        .send()
        .await
        .with_context(|| format!("no local API at {url}"))?;
    println!("{} {}", response.status(), response.text().await?);
    Ok(())
}

/// The total of an order of the running cloud, read from its OrdersTable.
async fn order_total(order_id: &str) -> Result<shop::kernel::Money> {
    use shop::ordering::ports::OrderRepository;
    let endpoint = running("endpoint")
        .context("is `cargo dev up` running? else pass --amount and --currency")?;
    let config = EmulatorSettings::new(&endpoint).sdk_config().await;
    let orders = shop::adapters::dynamodb::DynamoOrders::new(
        aws_sdk_dynamodb::Client::new(&config),
        "OrdersTable",
    );
    let id = shop::kernel::OrderId::parse(order_id).map_err(|e| anyhow::anyhow!("{e}"))?;
    let order = orders
        .load(&id)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .with_context(|| format!("no order {order_id}"))?;
    let total = order.state().confirmation().map(|c| c.totals.total);
    total.with_context(|| {
        format!(
            "order {order_id} has no total yet (it is {:?}); pass --amount and --currency",
            order.status()
        )
    })
}

async fn import(file: &std::path::Path, endpoint: Option<String>) -> Result<()> {
    let endpoint = emulator_endpoint(endpoint);
    let parsed = dev::catalog::parse_file(file)?;
    for rejected in &parsed.rejected {
        eprintln!("{}: {rejected}", file.display());
    }
    eprintln!(
        "{} valid products, {} rows refused; loading into {endpoint}",
        parsed.products.len(),
        parsed.rejected.len()
    );
    dev::aws::check_reachable(&endpoint).await?;
    let root = repo::repo_root()?;
    let template = Template::load(&root)?;
    let resources = Resources::new(&template, &endpoint);
    let table = resources
        .table("ProductsTable")
        .context("no ProductsTable in template.yaml")?;
    let client =
        aws_sdk_dynamodb::Client::new(&EmulatorSettings::new(&endpoint).sdk_config().await);
    let total = parsed.products.len();
    let loaded = dev::catalog::load(&client, table, &parsed.products, &|done| {
        eprintln!("  {done}/{total}")
    })
    .await?;
    println!(
        "imported {loaded} products ({} rows refused)",
        parsed.rejected.len()
    );
    anyhow::ensure!(
        parsed.rejected.is_empty(),
        "{} rows were refused",
        parsed.rejected.len()
    );
    Ok(())
}

fn sign_sample(file: &std::path::Path) -> Result<()> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let mut event: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", file.display()))?;
    dev::webhook::sign_event_in_place(&mut event, true);
    println!("{}", serde_json::to_string_pretty(&event)?);
    Ok(())
}

async fn emulator(port: u16) -> Result<()> {
    let root = repo::repo_root()?;
    let emulator = tokio::task::spawn_blocking(move || {
        Emulator::start_with(&root, port, EmulatorLog::Inherit, &|line| {
            eprintln!("{line}")
        })
    })
    .await??;
    println!("emulator: {} (Ctrl-C stops it)", emulator.endpoint());
    shutdown_signal().await?;
    drop(emulator);
    Ok(())
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() -> Result<()> {
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot listen for SIGTERM")?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result.context("cannot listen for Ctrl-C")?,
        _ = terminate.recv() => {}
    }
    Ok(())
}
