//! The bench's own small cloud for the per-function measurements: an emulator, the
//! template's resources, and function processes the bench starts itself (so it knows their
//! pid and spawn time), each behind its own Runtime API endpoint ([`FunctionHost`]). No
//! pollers and no gateway: nothing else calls AWS while a request count is read. Besides the
//! functions and the floor it runs the Python peer of product-reads ([`super::peer`]).

use std::collections::{BTreeMap, HashMap};
use std::fs::OpenOptions;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use aws_config::{AppName, SdkConfig};
use aws_sdk_dynamodb::types::AttributeValue;
use tokio::process::Child;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::counts::{self, BENCH_CALLER, Counts, DIRECT_CALLER, FUNCTION_CALLER};
use super::peer;
use crate::aws::EmulatorSettings;
use crate::cloud::{Progress, provision_all};
use crate::emulator::{self, Emulator, EmulatorLog};
use crate::environment::function_environment;
use crate::logs::{LogOutput, Logs};
use crate::resources::{QueueRef, REGION, Resources};
use crate::runtime::{FunctionConfig, FunctionHost, Program, QUEUE_TIMEOUT, function_command};
use crate::template::Template;
use crate::traces;

/// The floor's binary: `infra/hello`.
pub const HELLO: &str = "hello";

/// Stock every product gets, so no benchmark order is rejected for stock.
const PLENTY: i64 = 1_000_000_000;

pub struct Lab {
    pub root: PathBuf,
    pub template: Template,
    pub resources: Resources,
    pub endpoint: String,
    /// SDK config of the bench's plumbing (app name `bench`).
    pub bench: SdkConfig,
    /// SDK config of the direct calls (app name `bench-direct`), as the functions build it.
    pub direct: SdkConfig,
    /// What each measured name runs: a function's or the floor's executable, the peer's
    /// interpreter.
    pub programs: HashMap<String, Program>,
    pub log_dir: PathBuf,
    logs: Logs,
    /// Where the functions send their traces: every invocation is sampled, so the bench
    /// measures them with tracing on (crate::traces).
    xray_daemon: SocketAddr,
    shutdown: CancellationToken,
    tasks: TaskTracker,
    _emulator: Emulator,
}

/// A function process the bench started, with its own Runtime API endpoint.
pub struct Process {
    pub host: FunctionHost,
    pub pid: u32,
    /// Just before the process was spawned.
    pub spawned: Instant,
    child: Child,
    token: CancellationToken,
}

impl Process {
    /// Peak resident set size (VmHWM) so far, in bytes.
    pub fn peak_rss(&self) -> Result<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid))
            .with_context(|| format!("cannot read /proc/{}/status", self.pid))?;
        let line = status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .context("no VmHWM in /proc/<pid>/status")?;
        let kb: u64 = line
            .split_whitespace()
            .nth(1)
            .and_then(|v| v.parse().ok())
            .context("unreadable VmHWM")?;
        Ok(kb * 1024)
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
        self.token.cancel();
    }
}

impl Lab {
    /// The lab of `executables` (by binary name) and the peer, installed if need be.
    pub async fn start(
        root: &Path,
        executables: HashMap<String, PathBuf>,
        log_dir: &Path,
        progress: &Progress,
    ) -> Result<Lab> {
        let template = Template::load(root)?;
        let (emulator, peer) = {
            let root = root.to_path_buf();
            let log = log_dir.join("emulator.log");
            let progress = progress.clone();
            tokio::task::spawn_blocking(move || {
                emulator::ensure_venv(&root, &*progress)?;
                let peer = peer::program(&root, &*progress)?;
                let emulator = Emulator::start_with(&root, 0, EmulatorLog::File(log), &*progress);
                anyhow::Ok((emulator?, peer))
            })
            .await??
        };
        let mut programs: HashMap<String, Program> = executables
            .into_iter()
            .map(|(name, path)| (name, Program::of(path)))
            .collect();
        programs.insert(peer::NAME.to_owned(), peer);
        let endpoint = emulator.endpoint();
        let resources = Resources::new(&template, &endpoint);
        let settings = EmulatorSettings::new(&endpoint);
        let bench = named_config(&settings, BENCH_CALLER).await;
        let direct = named_config(&settings, DIRECT_CALLER).await;
        provision_all(&template, &resources, &bench, root).await?;
        plenty_of_stock(&bench, &resources, root).await?;
        // The launcher must be one that counts: fail now rather than after the cold starts.
        counts::fetch(&endpoint, FUNCTION_CALLER)?;
        let shutdown = CancellationToken::new();
        let logs = Logs::new(LogOutput::Dir(log_dir.to_path_buf()));
        let tasks = TaskTracker::new();
        let xray_daemon = traces::listen(logs.traces().clone(), shutdown.clone(), &tasks).await?;
        Ok(Lab {
            root: root.to_path_buf(),
            template,
            resources,
            endpoint,
            bench,
            direct,
            programs,
            log_dir: log_dir.to_path_buf(),
            logs,
            xray_daemon,
            tasks,
            shutdown,
            _emulator: emulator,
        })
    }

    /// The functions' binaries, in template order.
    pub fn functions(&self) -> Vec<String> {
        self.template
            .functions
            .iter()
            .map(|f| f.binary.clone())
            .collect()
    }

    pub fn memory_mb(&self, binary: &str) -> u32 {
        self.template
            .function_by_binary(binary)
            .map_or(128, |f| f.memory_size)
    }

    /// Functions' AWS requests so far.
    pub fn function_counts(&self) -> Result<Counts> {
        counts::fetch(&self.endpoint, FUNCTION_CALLER)
    }

    fn config(&self, binary: &str) -> Result<FunctionConfig> {
        if binary == peer::NAME {
            return Ok(peer::config(self.config(peer::OF)?, &self.root));
        }
        if binary == HELLO {
            let environment: BTreeMap<String, String> = [
                ("AWS_LAMBDA_FUNCTION_NAME", "HelloFunction"),
                ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
                ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
                ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/HelloFunction"),
                ("AWS_REGION", REGION),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
            return Ok(FunctionConfig {
                binary: HELLO.to_owned(),
                function_name: "HelloFunction".to_owned(),
                function_arn: self.resources.function_arn("HelloFunction"),
                timeout: Duration::from_secs(10),
                queue_timeout: QUEUE_TIMEOUT,
                environment,
            });
        }
        let function = self
            .template
            .function_by_binary(binary)
            .ok_or_else(|| anyhow!("no function with binary {binary} in template.yaml"))?;
        let mut environment = function_environment(function, &self.resources).variables;
        environment.insert(
            traces::DAEMON_ADDRESS.to_owned(),
            self.xray_daemon.to_string(),
        );
        Ok(FunctionConfig::of(function, &self.resources, environment))
    }

    /// Starts one process of `binary` (a function, the floor or the peer) behind a new
    /// Runtime API endpoint. The endpoint is new each time so a killed process's pending
    /// `next` request can never take an event.
    pub async fn spawn(&self, binary: &str) -> Result<Process> {
        let config = self.config(binary)?;
        let program = self
            .programs
            .get(binary)
            .ok_or_else(|| anyhow!("{binary} was not built"))?;
        let token = self.shutdown.child_token();
        let host = FunctionHost::new(
            config.clone(),
            self.logs.clone(),
            token.clone(),
            self.tasks.clone(),
        );
        let environment = host.add_environment().await?;
        let log = self.log_dir.join(format!("{binary}.log"));
        let open = || {
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(&log)
                .with_context(|| format!("cannot open {}", log.display()))
        };
        let log_stream = format!("bench/{binary}/{}", environment.id);
        let runtime_api = environment.runtime_api();
        let mut command = function_command(
            &program.path,
            &config.environment,
            &runtime_api,
            &log_stream,
        );
        command
            .args(&program.args)
            .stdout(Stdio::from(open()?))
            .stderr(Stdio::from(open()?));
        let spawned = Instant::now();
        let child = command
            .spawn()
            .with_context(|| format!("cannot start {}", program.path.display()))?;
        let pid = child.id().context("the process has no pid")?;
        Ok(Process {
            host,
            pid,
            spawned,
            child,
            token,
        })
    }

    /// Runs `work` with a new process of `binary`, and stops the process however it went.
    pub async fn with_process<T>(
        &self,
        binary: &str,
        work: impl AsyncFnOnce(&Process) -> Result<T>,
    ) -> Result<T> {
        let process = self.spawn(binary).await?;
        let result = work(&process).await;
        process.stop().await;
        result
    }

    /// Bytes the function's log file holds (its stdout and stderr), for log costs.
    pub fn log_bytes(&self, binary: &str) -> u64 {
        std::fs::metadata(self.log_dir.join(format!("{binary}.log"))).map_or(0, |m| m.len())
    }

    pub fn queue_url(&self, logical_id: &str) -> Result<String> {
        Ok(self.queue(logical_id)?.url.clone())
    }

    pub fn queue_arn(&self, logical_id: &str) -> Result<String> {
        Ok(self.queue(logical_id)?.arn.clone())
    }

    fn queue(&self, logical_id: &str) -> Result<&QueueRef> {
        let queue = self.resources.queue(logical_id);
        queue.ok_or_else(|| anyhow!("template.yaml has no queue {logical_id}"))
    }

    pub fn table(&self, logical_id: &str) -> Result<String> {
        Ok(self
            .resources
            .table(logical_id)
            .ok_or_else(|| anyhow!("template.yaml has no table {logical_id}"))?
            .to_owned())
    }

    pub fn topic(&self, logical_id: &str) -> Result<String> {
        Ok(self
            .resources
            .topic_arn(logical_id)
            .ok_or_else(|| anyhow!("template.yaml has no topic {logical_id}"))?
            .to_owned())
    }

    pub async fn stop(self) {
        self.shutdown.cancel();
        self.tasks.close();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.tasks.wait()).await;
    }
}

/// An SDK config for the emulator whose requests carry `app/<name>` in their User-Agent, so
/// the emulator counts them apart from the functions'. Retries and timeouts as the
/// functions' (`shop::aws::sdk_config`).
pub async fn named_config(settings: &EmulatorSettings, name: &str) -> SdkConfig {
    use aws_config::retry::RetryConfig;
    use aws_config::timeout::TimeoutConfig;
    let base = settings.sdk_config().await;
    let mut builder = base.into_builder();
    builder.set_app_name(Some(
        AppName::new(name.to_owned()).expect("a valid app name"),
    ));
    builder.set_retry_config(Some(
        RetryConfig::standard()
            .with_max_attempts(3)
            .with_initial_backoff(Duration::from_millis(50)),
    ));
    builder.set_timeout_config(Some(
        TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(2))
            .operation_attempt_timeout(Duration::from_secs(5))
            .build(),
    ));
    builder.build()
}

/// Sets every demo product's stock to [`PLENTY`].
pub async fn plenty_of_stock(config: &SdkConfig, resources: &Resources, root: &Path) -> Result<()> {
    let table = resources
        .table("ProductsTable")
        .context("template.yaml has no ProductsTable")?;
    let client = aws_sdk_dynamodb::Client::new(config);
    for product in crate::catalog::demo_catalog(root)? {
        client
            .update_item()
            .table_name(table)
            .key(
                "product_id",
                AttributeValue::S(product.product_id.to_string()),
            )
            .update_expression("SET stock = :plenty")
            .expression_attribute_values(":plenty", AttributeValue::N(PLENTY.to_string()))
            .send()
            .await
            .map_err(crate::aws::aws_error)?;
    }
    Ok(())
}
