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
    Up {
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
        /// The emulator.
        #[arg(long, value_name = "URL", default_value = DEFAULT_ENDPOINT)]
        endpoint: String,
    },
    /// Print a webhook sample event (API Gateway JSON) signed now with the local webhook
    /// secret, e.g. for `cargo lambda invoke payment-webhook --data-file`.
    Webhook {
        /// The event file, e.g. events/payment-webhook/succeeded.json.
        #[arg(long, value_name = "FILE")]
        sign: std::path::PathBuf,
    },
    /// Run only the AWS emulator (moto) in the foreground, logging each request.
    Emulator {
        #[arg(long, default_value_t = 5000)]
        port: u16,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Up {
            port,
            endpoint,
            concurrency,
            release,
            retry_delay,
        } => {
            let options = CloudOptions {
                port,
                endpoint,
                concurrency: usize::from(concurrency),
                release,
                retry_delay: Duration::from_secs(retry_delay),
                logs: LogOutput::Terminal,
                progress: Some(Arc::new(|line: &str| eprintln!("{line}"))),
                repo_root: None,
            };
            up(options).await
        }
        Command::Provision { endpoint } => provision(&endpoint).await,
        Command::Env { endpoint } => env(&endpoint),
        Command::Webhook { sign } => webhook(&sign),
        Command::Emulator { port } => emulator(port).await,
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
    let cloud = LocalCloud::start(options).await?;
    eprintln!("emulator: {}", cloud.endpoint());
    println!("ready: {}", cloud.url());
    shutdown_signal().await?;
    eprintln!("stopping");
    cloud.stop().await;
    Ok(())
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
    Ok(())
}

fn webhook(file: &std::path::Path) -> Result<()> {
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
