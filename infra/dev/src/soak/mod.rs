//! `cargo dev soak`: orders and signed payment webhooks through the whole local cloud with
//! faults injected into the functions' AWS calls, then the faults off, the system left to
//! heal, and the invariants checked ([`invariants`]).
//!
//! The clients behave as real ones: they retry a 5xx or a dropped connection with backoff,
//! three quarters of them with an `Idempotency-Key` and a quarter without one (so a lost 202
//! can leave an order they never heard of, which must still be processed). Each confirmed
//! order is then paid (60 %, a fifth of those webhooks delivered twice), refused by the
//! provider (10 %), cancelled by its customer (10 %) or left unpaid to expire (20 %). A few
//! poison messages go straight to the work queues: they must end in their dead-letter
//! queues, intact, and nothing else may.

mod invariants;
mod workload;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::faults::{FaultReport, FaultSpec};
use crate::logs::LogOutput;
use crate::{CloudOptions, LocalCloud, repo};

pub(crate) use invariants::orders;
pub use invariants::{Check, Invariants, section};
pub use workload::Figures;

/// The fault mix: what `cargo dev soak` injects unless told otherwise.
pub const DEFAULT_FAULTS: &str = "throttle=0.05,error5xx=0.05,lost=0.03,conflict=0.15";

#[derive(clap::Args, Debug)]
pub struct SoakArgs {
    /// How many orders the clients place.
    #[arg(long, default_value_t = 500)]
    pub orders: usize,
    /// Faults to inject while the orders run (rates 0..1).
    #[arg(long, default_value = DEFAULT_FAULTS, value_name = "SPEC")]
    pub faults: FaultSpec,
    /// Build the functions in release mode.
    #[arg(long)]
    pub release: bool,
    /// Write the result into docs/benchmarks.md (its "Soak" section).
    #[arg(long)]
    pub record: bool,
}

/// How to run a soak (the CLI's, or a test's smaller one).
#[derive(Clone, Debug)]
pub struct SoakOptions {
    pub repo_root: PathBuf,
    pub orders: usize,
    pub faults: FaultSpec,
    pub release: bool,
    /// Clients at work at once.
    pub clients: usize,
    /// The unpaid orders' window: short, so that they expire within the soak.
    pub payment_window: Duration,
}

impl SoakOptions {
    pub fn new(repo_root: PathBuf, orders: usize, faults: FaultSpec) -> SoakOptions {
        SoakOptions {
            repo_root,
            orders,
            faults,
            release: false,
            clients: 16,
            payment_window: Duration::from_secs(20),
        }
    }
}

/// What a soak did and found.
#[derive(Debug)]
pub struct SoakReport {
    pub options: SoakOptions,
    pub figures: Figures,
    pub faults: FaultReport,
    pub invariants: Invariants,
    /// From the faults going off to every order settled and every queue empty.
    pub healed_in: Duration,
    pub took: Duration,
}

impl SoakReport {
    pub fn passed(&self) -> bool {
        self.invariants.passed()
    }

    /// The result as Markdown: the figures, the faults injected, the invariants.
    pub fn markdown(&self) -> String {
        invariants::markdown(self)
    }
}

/// Starts its own local cloud with `options.faults`, runs the workload, heals, checks.
pub async fn run(options: SoakOptions, progress: &(dyn Fn(&str) + Sync)) -> Result<SoakReport> {
    let started = Instant::now();
    let log_dir = repo::dev_dir(&options.repo_root).join("logs").join("soak");
    progress(&format!("local cloud (logs in {})", log_dir.display()));
    let cloud = LocalCloud::start(CloudOptions {
        repo_root: Some(options.repo_root.clone()),
        port: 0,
        release: options.release,
        logs: LogOutput::Dir(log_dir),
        progress: None,
        payment_window: Some(options.payment_window),
        faults: Some(options.faults),
        ..CloudOptions::default()
    })
    .await
    .context("cannot start the local cloud")?;
    let result = soak(&cloud, &options, progress).await;
    cloud.stop().await;
    let (figures, faults, invariants, healed_in) = result?;
    Ok(SoakReport {
        options,
        figures,
        faults,
        invariants,
        healed_in,
        took: started.elapsed(),
    })
}

async fn soak(
    cloud: &LocalCloud,
    options: &SoakOptions,
    progress: &(dyn Fn(&str) + Sync),
) -> Result<(Figures, FaultReport, Invariants, Duration)> {
    let world = workload::World::prepare(cloud, options).await?;
    progress(&format!(
        "{} orders, {} clients at a time, faults {}",
        options.orders, options.clients, options.faults
    ));
    let figures = world.run(options.orders, options.clients, progress).await;
    let faults = cloud.set_faults(&FaultSpec::none()).await?;
    let injected: u64 = faults.totals().values().sum();
    progress(&format!("faults off ({injected} injected); healing"));
    let healing = Instant::now();
    let settle_within = options.payment_window + Duration::from_secs(180);
    world.heal(settle_within).await?;
    let healed_in = healing.elapsed();
    progress(&format!(
        "healed in {:.1} s; checking",
        healed_in.as_secs_f64()
    ));
    let invariants = world.check(&figures).await?;
    Ok((figures, faults, invariants, healed_in))
}

/// `cargo dev soak`.
pub async fn cli(args: SoakArgs) -> Result<()> {
    let root = repo::repo_root()?;
    let mut options = SoakOptions::new(root.clone(), args.orders, args.faults);
    options.release = args.release;
    let progress = Arc::new(|line: &str| eprintln!("soak: {line}"));
    let report = run(options, &*progress).await?;
    let markdown = report.markdown();
    println!("{markdown}");
    if args.record {
        let path = root.join("docs/benchmarks.md");
        invariants::record(&path, &markdown)?;
        eprintln!("soak: written into {}", path.display());
    }
    anyhow::ensure!(report.passed(), "an invariant does not hold");
    Ok(())
}
