//! `cargo dev bench`: cold start, warm latency, memory, artifact size, AWS requests per
//! order, throughput and cost, measured on this machine in one run and written as
//! `docs/benchmarks.md` (tables and SVG plots) and `docs/benchmarks.json`.
//!
//! A full run builds every measured binary and the bench itself with the release profile in
//! one cargo invocation (one feature set), then measures from the release build of the bench
//! so the harness and the direct baseline are optimised like the functions. `--smoke` is
//! the CI variant: debug builds, tiny counts, output in a temporary directory.
//!
//! Phases:
//! 1. artifacts: each bootstrap's size and its zip's;
//! 2. [`measure::cold_starts`], on the bench's own emulator and processes ([`lab`]);
//! 3. [`measure::warm`]: latency next to the direct path, requests per invocation, peak RSS;
//!    the same figures of product-reads' Python peer ([`peer`]) in steps 2 and 3;
//! 4. [`measure::batches`]: AWS requests per processed order at batch sizes 1 and 10;
//! 5. [`throughput`]: orders end to end on a whole [`crate::LocalCloud`];
//! 6. [`cost`]: the model over those figures.

mod artifacts;
mod cost;
pub mod counts;
mod lab;
mod markdown;
mod measure;
mod peer;
mod plot;
pub mod report;
pub mod stats;
mod targets;
mod throughput;
mod workload;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::binaries::{self, BuildOutput};
use crate::cloud::Progress;
use crate::repo;
use crate::template::Template;
pub use report::{BenchCounts, Report};

/// The batch sizes requests per order are counted at.
pub const BATCH_SIZES: [usize; 2] = [1, 10];

/// Processes per function in the throughput run: one per core here.
const THROUGHPUT_CONCURRENCY: usize = 2;

impl BenchCounts {
    /// The minimums: 20 spawns, 2,000 invocations, RSS after 1,000, 5,000 orders.
    pub fn full() -> BenchCounts {
        BenchCounts {
            spawns: 20,
            invocations: 2_000,
            warmup: 20,
            rss_after: 1_000,
            batches: 20,
            orders: 5_000,
            in_flight: 64,
        }
    }

    /// Enough to exercise every phase in well under a minute.
    pub fn smoke() -> BenchCounts {
        BenchCounts {
            spawns: 3,
            invocations: 20,
            warmup: 2,
            rss_after: 10,
            batches: 1,
            orders: 50,
            in_flight: 10,
        }
    }
}

#[derive(clap::Args, Debug, Clone)]
pub struct BenchArgs {
    /// The CI variant: debug builds, tiny counts, report in a temporary directory.
    #[arg(long)]
    pub smoke: bool,
    /// Where to write benchmarks.md, benchmarks.json and the plots [default: docs/, or a
    /// temporary directory with --smoke].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Process starts per binary for the cold start [default: 20].
    #[arg(long)]
    pub spawns: Option<usize>,
    /// Measured warm invocations per function [default: 2000].
    #[arg(long)]
    pub invocations: Option<usize>,
    /// Orders through the local cloud [default: 5000].
    #[arg(long)]
    pub orders: Option<usize>,
    /// Only write benchmarks.md again from this benchmarks.json (after editing the findings
    /// in infra/dev/src/bench/findings.md); measures nothing.
    #[arg(long, value_name = "JSON", conflicts_with = "smoke")]
    pub render: Option<PathBuf>,
    /// Executables already built, as a JSON object from binary name to path: how a debug
    /// `cargo dev` hands over to its release build.
    #[arg(long, hide = true, value_name = "FILE")]
    pub prebuilt: Option<PathBuf>,
}

/// What [`run`] needs.
pub struct BenchOptions {
    pub repo_root: PathBuf,
    pub smoke: bool,
    pub counts: BenchCounts,
    pub out_dir: PathBuf,
    /// Function and `hello` executables; built by [`run`] when `None`.
    pub executables: Option<HashMap<String, PathBuf>>,
    pub progress: Progress,
}

impl BenchOptions {
    /// A smoke run writing to `out_dir`, progress on stderr.
    pub fn smoke(repo_root: PathBuf, out_dir: PathBuf) -> BenchOptions {
        BenchOptions {
            repo_root,
            smoke: true,
            counts: BenchCounts::smoke(),
            out_dir,
            executables: None,
            progress: Arc::new(|line: &str| eprintln!("bench: {line}")),
        }
    }
}

/// `cargo dev bench`.
pub async fn cli(args: BenchArgs) -> Result<()> {
    if let Some(json) = &args.render {
        return render(json);
    }
    let root = repo::repo_root()?;
    let progress: Progress = Arc::new(|line: &str| eprintln!("bench: {line}"));
    let counts = counts_of(&args);
    let out_dir = match &args.out {
        Some(dir) => dir.clone(),
        None if args.smoke => {
            std::env::temp_dir().join(format!("shop-bench-{}", std::process::id()))
        }
        None => root.join("docs"),
    };
    let mut executables = match &args.prebuilt {
        Some(file) => Some(serde_json::from_str(&read(file)?)?),
        None => None,
    };
    if !args.smoke && executables.is_none() {
        let mut wanted = measured_binaries(&root)?;
        // The bench itself, in the same invocation: one feature set, one build.
        wanted.push("dev".to_owned());
        progress("building release binaries (fat LTO: several minutes on two cores)");
        let built = binaries::build(&root, &wanted, true, &BuildOutput::Terminal)?;
        if cfg!(debug_assertions) {
            return hand_over(&root, &built, &progress);
        }
        executables = Some(built);
    }
    let report = run(BenchOptions {
        repo_root: root,
        smoke: args.smoke,
        counts,
        out_dir: out_dir.clone(),
        executables,
        progress: progress.clone(),
    })
    .await?;
    for target in &report.targets {
        progress(&format!(
            "{} {}: {} (limit {})",
            if target.met { "met    " } else { "MISSED " },
            target.name,
            target.measured,
            target.limit
        ));
    }
    println!("report: {}", out_dir.join("benchmarks.md").display());
    Ok(())
}

/// `--render`: `benchmarks.md` again from a `benchmarks.json`.
fn render(json: &Path) -> Result<()> {
    let report: Report = serde_json::from_str(&read(json)?)
        .with_context(|| format!("{} is not a bench report", json.display()))?;
    let out = json.with_file_name("benchmarks.md");
    std::fs::write(&out, with_soak(&out, markdown::render(&report)))?;
    println!("report: {}", out.display());
    Ok(())
}

fn read(file: &Path) -> Result<String> {
    std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))
}

/// The mode's counts, with those the flags give.
fn counts_of(args: &BenchArgs) -> BenchCounts {
    let mut counts = if args.smoke {
        BenchCounts::smoke()
    } else {
        BenchCounts::full()
    };
    if let Some(n) = args.spawns {
        counts.spawns = n.max(1);
    }
    if let Some(n) = args.invocations {
        counts.invocations = n.max(1);
        counts.rss_after = counts.rss_after.min(n + counts.warmup);
    }
    if let Some(n) = args.orders {
        counts.orders = n.max(1);
    }
    counts
}

/// Measures from the release build of the bench: a debug harness would slow the direct
/// baseline (the SDK unoptimised) and the Runtime API host, and flatter the functions.
fn hand_over(root: &Path, built: &HashMap<String, PathBuf>, progress: &Progress) -> Result<()> {
    use std::os::unix::process::CommandExt;
    let file = repo::dev_dir(root).join("bench-prebuilt.json");
    std::fs::create_dir_all(repo::dev_dir(root))?;
    std::fs::write(&file, serde_json::to_string_pretty(built)?)?;
    let dev = built.get("dev").context("cargo built no dev binary")?;
    progress(&format!("measuring with {}", dev.display()));
    let mut args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    args.push("--prebuilt".into());
    args.push(file.into());
    let error = std::process::Command::new(dev).args(args).exec();
    bail!("cannot run {}: {error}", dev.display())
}

/// The template's functions and the floor.
fn measured_binaries(root: &Path) -> Result<Vec<String>> {
    let template = Template::load(root)?;
    let mut names: Vec<String> = template
        .functions
        .iter()
        .map(|f| f.binary.clone())
        .collect();
    names.push(lab::HELLO.to_owned());
    Ok(names)
}

/// One whole bench run; writes the report to `options.out_dir` and returns it.
pub async fn run(options: BenchOptions) -> Result<Report> {
    let started = Instant::now();
    let progress = options.progress.clone();
    let release = !options.smoke;
    let log_dir = fresh_log_dir(&options)?;
    let binaries = measured_binaries(&options.repo_root)?;
    let executables = executables(&options, &binaries, &log_dir).await?;
    progress("[1/6] artifact sizes");
    let mut artifacts = Vec::new();
    for binary in &binaries {
        let path = executables
            .get(binary)
            .with_context(|| format!("no executable for {binary}"))?;
        artifacts.push(artifacts::measure(binary, path)?);
    }
    progress("[2/6] cold starts: starting the emulator");
    let lab = lab::Lab::start(&options.repo_root, executables.clone(), &log_dir, &progress);
    let lab = lab.await?;
    let measured = on_the_lab(&lab, &options.counts, &progress).await;
    let memory_of: HashMap<String, u32> = binaries
        .iter()
        .map(|b| (b.clone(), lab.memory_mb(b)))
        .collect();
    lab.stop().await;
    let (cold, warm, warm_floor_ms, batches, peer) = measured?;
    let (throughput, samples) = on_the_cloud(&options, &executables, &log_dir).await?;

    progress("[6/6] cost model and report");
    let warm_figures: Vec<report::Warm> = warm.iter().map(|w| w.warm.clone()).collect();
    let memory: Vec<report::Memory> = warm.iter().map(|w| w.memory.clone()).collect();
    let memory_mb = |binary: &str| memory_of.get(binary).copied().unwrap_or(128);
    let cost = cost::model(&warm_figures, &batches, &memory_mb);
    let mut report = Report {
        meta: report::Meta {
            generated_at: now(),
            mode: if options.smoke { "smoke" } else { "full" }.to_owned(),
            profile: if release { "release" } else { "debug" }.to_owned(),
            git_commit: git_commit(&options.repo_root),
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            memory_gib: memory_gib(),
            counts: options.counts.clone(),
            seconds: started.elapsed().as_secs_f64(),
        },
        targets: Vec::new(),
        artifacts,
        cold_start: cold,
        warm: warm_figures,
        warm_floor_ms,
        memory,
        peer: Some(peer),
        requests_per_order: batches,
        throughput,
        cost,
        notes: Vec::new(),
    };
    report.targets = targets::evaluate(&report);
    report.notes = targets::notes(&report);
    write(&options.out_dir, &report, &samples)?;
    Ok(report)
}

/// The run's log directory, emptied: its growth is the functions' log volume.
fn fresh_log_dir(options: &BenchOptions) -> Result<PathBuf> {
    let log_dir = if options.smoke {
        options.out_dir.join("logs")
    } else {
        repo::dev_dir(&options.repo_root).join("logs").join("bench")
    };
    let _ = std::fs::remove_dir_all(&log_dir);
    std::fs::create_dir_all(&log_dir)?;
    std::fs::create_dir_all(&options.out_dir)?;
    Ok(log_dir)
}

/// The binaries to measure: the ones given, else built now.
async fn executables(
    options: &BenchOptions,
    binaries: &[String],
    log_dir: &Path,
) -> Result<HashMap<String, PathBuf>> {
    if let Some(built) = &options.executables {
        return Ok(built.clone());
    }
    let release = !options.smoke;
    let profile = if release { "release" } else { "debug" };
    (options.progress)(&format!(
        "[build] {profile} builds of {}",
        binaries.join(", ")
    ));
    let output = BuildOutput::File(log_dir.join("build.log"));
    let (root, names) = (options.repo_root.clone(), binaries.to_vec());
    tokio::task::spawn_blocking(move || binaries::build(&root, &names, release, &output)).await?
}

type LabFigures = (
    report::ColdStart,
    Vec<measure::WarmRun>,
    stats::Dist,
    Vec<report::BatchRequests>,
    report::Peer,
);

/// Steps 2 to 4, on the lab: cold starts, warm latency, AWS requests per order.
async fn on_the_lab(
    lab: &lab::Lab,
    counts: &BenchCounts,
    progress: &Progress,
) -> Result<LabFigures> {
    measure::check_functions(lab)?;
    let events = workload::Events::new(lab)?;
    progress("cold start: checking the Python peer answers as product-reads");
    peer::check(lab, &events).await?;
    let mut cold = measure::cold_starts(lab, &events, counts.spawns, progress).await?;
    progress("[3/6] warm latency, direct path and peak RSS");
    let direct = workload::Direct::new(lab, &lab.direct)?;
    let warm_counts = measure::WarmCounts {
        invocations: counts.invocations,
        warmup: counts.warmup,
        rss_after: counts.rss_after,
    };
    let warm = measure::warm(lab, &events, &direct, &warm_counts, progress).await?;
    let warm_floor = measure::warm_floor(lab, &warm_counts).await?;
    progress("warm: the Python peer");
    let peer_warm = peer::warm(lab, &events, &warm_counts).await?;
    let peer = peer::report(lab, &mut cold, peer_warm)?;
    progress("[4/6] AWS requests per processed order");
    let batches = measure::batches(lab, &BATCH_SIZES, counts.batches, progress).await?;
    Ok((cold, warm, warm_floor, batches, peer))
}

/// Step 5: end-to-end throughput on a local cloud of the functions.
async fn on_the_cloud(
    options: &BenchOptions,
    executables: &HashMap<String, PathBuf>,
    log_dir: &Path,
) -> Result<(report::Throughput, throughput::Samples)> {
    let counts = &options.counts;
    let orders = counts.orders;
    (options.progress)(&format!(
        "[5/6] throughput: {orders} orders on the local cloud"
    ));
    let functions: HashMap<String, PathBuf> = executables
        .iter()
        .filter(|(name, _)| name.as_str() != lab::HELLO && name.as_str() != "dev")
        .map(|(name, path)| (name.clone(), path.clone()))
        .collect();
    let progress = options.progress.clone();
    let options = throughput::ThroughputOptions {
        root: options.repo_root.clone(),
        executables: functions,
        release: !options.smoke,
        log_dir: log_dir.join("cloud"),
        orders,
        in_flight: counts.in_flight,
        concurrency: THROUGHPUT_CONCURRENCY,
    };
    throughput::run(options, &progress).await
}

/// The bench's report with the soak's section of the report it replaces (`cargo dev soak
/// --record` writes that one; each keeps the other's).
fn with_soak(previous: &Path, rendered: String) -> String {
    let previous = std::fs::read_to_string(previous).unwrap_or_default();
    rendered + &crate::soak::section(&previous)
}

fn write(dir: &Path, report: &Report, samples: &throughput::Samples) -> Result<()> {
    let files = [
        (
            "benchmarks.json",
            serde_json::to_string_pretty(report)? + "\n",
        ),
        (
            "benchmarks.md",
            with_soak(&dir.join("benchmarks.md"), markdown::render(report)),
        ),
        ("cold-start.svg", plot::cold_start(report)?),
        ("warm-latency.svg", plot::warm_latency(report)?),
        (
            "throughput.svg",
            plot::throughput(&samples.confirmed, &samples.terminal)?,
        ),
    ];
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::write(&path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

fn now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

fn git_commit(root: &Path) -> String {
    std::process::Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(root)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|| "unknown".to_owned())
}

fn memory_gib() -> f64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0 / 1024.0)
}
