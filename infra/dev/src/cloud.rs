//! The whole local cloud in one value: emulator, provisioned resources, functions, HTTP
//! gateway and SQS event sources.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use aws_config::SdkConfig;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::authorizer::JwtAuthorizer;
use crate::aws::EmulatorSettings;
use crate::binaries::{self, BuildOutput};
use crate::emulator::{self, Emulator, EmulatorLog};
use crate::environment::function_environment;
use crate::event_source::{self, SqsSourceConfig};
use crate::faults::{self, FaultReport, FaultSpec};
use crate::gateway::{self, Functions, Routes};
use crate::issuer::{self, Issuer, LOCAL_AUDIENCE};
use crate::logs::{LogOutput, Logs};
use crate::provision::{ProvisionReport, provision};
use crate::resources::Resources;
use crate::runtime::{FunctionConfig, FunctionHost, InvokeError, Program};
use crate::stream_source::{self, StreamClients, StreamSourceConfig};
use crate::template::Template;
use crate::{api_docs, catalog, dev_page, repo, traces};

/// Progress lines for a person watching (`starting emulator`, ...).
pub type Progress = Arc<dyn Fn(&str) + Send + Sync>;

/// How to start a [`LocalCloud`].
#[derive(Clone)]
pub struct CloudOptions {
    /// The repository (with `template.yaml`); found from this crate's location if `None`.
    pub repo_root: Option<PathBuf>,
    /// The HTTP gateway's port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// A running emulator to use instead of starting one.
    pub endpoint: Option<String>,
    /// Processes per function, and SQS pollers per SQS event.
    pub concurrency: usize,
    /// Build the functions with `--release`.
    pub release: bool,
    /// How soon a message that failed is retried (Lambda: the queue's visibility timeout).
    pub retry_delay: Duration,
    pub logs: LogOutput,
    pub progress: Option<Progress>,
    /// Executables already built, by binary name: no `cargo build` (the bench builds every
    /// binary it measures in one cargo invocation, with one set of features).
    pub executables: Option<HashMap<String, PathBuf>>,
    /// A shorter payment window than the template's `PaymentWindowMinutes`, to watch unpaid
    /// orders expire (`PAYMENT_WINDOW` of every function that has it).
    pub payment_window: Option<Duration>,
    /// Template parameters to use instead of their defaults (`MaxUnpaidOrders`, ...), as
    /// `sam deploy --parameter-overrides` would.
    pub parameters: BTreeMap<String, String>,
    /// Faults to inject into the functions' AWS calls from the start (`--faults`). The
    /// functions always call the emulator's functions port, so faults can also be set later
    /// ([`LocalCloud::set_faults`]); it needs the cloud's own emulator.
    pub faults: Option<FaultSpec>,
}

impl Default for CloudOptions {
    fn default() -> CloudOptions {
        CloudOptions {
            repo_root: None,
            port: 3000,
            endpoint: None,
            concurrency: 2,
            release: false,
            retry_delay: Duration::from_secs(1),
            logs: LogOutput::Terminal,
            progress: None,
            executables: None,
            payment_window: None,
            parameters: BTreeMap::new(),
            faults: None,
        }
    }
}

struct InvokeRequest {
    binary: String,
    payload: Value,
    reply: oneshot::Sender<Result<Value, InvokeError>>,
}

/// A running local cloud. Dropping it stops what it started; [`LocalCloud::stop`] also
/// waits until the function processes are gone.
pub struct LocalCloud {
    url: String,
    issuer: Arc<Issuer>,
    settings: EmulatorSettings,
    resources: Resources,
    /// Where the functions send their AWS calls: the emulator's faulty port, when it is ours.
    functions_endpoint: String,
    template: Template,
    environments: BTreeMap<String, BTreeMap<String, String>>,
    log_dir: Option<PathBuf>,
    invoker: mpsc::UnboundedSender<InvokeRequest>,
    /// Why the cloud stopped by itself (its emulator went away), once it has.
    failure: watch::Receiver<Option<String>>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
    emulator: Mutex<Option<Emulator>>,
}

impl LocalCloud {
    /// Starts everything on the current tokio runtime, which must outlive the cloud
    /// (tests: see [`crate::testing::shared_cloud`]).
    ///
    /// In order: the emulator (installing its venv on first use) unless
    /// `options.endpoint` names one, `cargo build` of every function in the template,
    /// provisioning and the sample catalog, the functions' processes, the SQS pollers and
    /// the HTTP gateway.
    pub async fn start(options: CloudOptions) -> Result<LocalCloud> {
        let startup = Startup::new(options)?;
        // If a later step fails, what was already started stops (the emulator on drop).
        let stop_on_failure = startup.shutdown.clone().drop_guard();
        let mut template = startup.template()?;
        // Taken first: a busy port should fail before minutes of building.
        let listener = listen(startup.options.port).await?;
        let url = format!("http://{}", listener.local_addr()?);
        let (endpoint, emulator) = startup.emulator().await?;
        let functions_endpoint = emulator
            .as_ref()
            .map_or_else(|| endpoint.clone(), Emulator::functions_endpoint);
        let settings = EmulatorSettings::new(&endpoint);
        let issuer = start_issuer(&mut template, &startup.shutdown, &startup.tasks).await?;
        let resources = Resources::new(&template, &endpoint);
        let executables = startup.executables(&template).await?;
        let config = settings.sdk_config().await;
        startup
            .provision(&template, &resources, &config, &endpoint)
            .await?;
        let (hosts, environments) = startup
            .functions(&template, &resources, &executables, &functions_endpoint)
            .await?;
        let sources = Sources {
            template: &template,
            resources: &resources,
            hosts: &hosts,
        };
        startup.sqs_sources(&sources, &config)?;
        startup.stream_sources(&sources, &config).await?;
        startup.gateway(listener, &sources, &config)?;
        let (shutdown, tasks) = (startup.shutdown, startup.tasks);
        let invoker = start_invoker(hosts, shutdown.clone(), &tasks);
        let failure = watch_emulator(&endpoint, shutdown.clone(), &tasks);
        stop_on_failure.disarm();

        Ok(LocalCloud {
            url,
            issuer,
            settings,
            resources,
            functions_endpoint,
            template,
            environments,
            log_dir: startup.options.logs.dir().cloned(),
            invoker,
            failure,
            shutdown,
            tasks,
            emulator: Mutex::new(emulator),
        })
    }

    /// The HTTP API's base URL, `http://127.0.0.1:<port>`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The local OIDC issuer's URL (its discovery document is under `/.well-known/`).
    pub fn issuer_url(&self) -> &str {
        self.issuer.url()
    }

    /// The local issuer, to sign tokens (`cargo dev token`; tests).
    pub fn issuer(&self) -> &Issuer {
        &self.issuer
    }

    /// A bearer token for `customer`, valid for `ttl`.
    pub fn token(&self, customer: &str, ttl: Duration) -> Result<String> {
        self.issuer.token(customer, ttl)
    }

    /// The emulator's URL.
    pub fn endpoint(&self) -> &str {
        &self.settings.endpoint
    }

    /// Where the functions' AWS calls go: the emulator's faulty port (the emulator itself
    /// with `--endpoint`).
    pub fn functions_endpoint(&self) -> &str {
        &self.functions_endpoint
    }

    /// Injects `spec` into the functions' AWS calls from now on (`FaultSpec::none()`: stop).
    pub async fn set_faults(&self, spec: &FaultSpec) -> Result<FaultReport> {
        if self.functions_endpoint == self.settings.endpoint {
            bail!("faults need the local cloud's own emulator");
        }
        faults::set_faults(self.endpoint(), spec).await
    }

    /// What was injected so far.
    pub async fn fault_report(&self) -> Result<FaultReport> {
        faults::fault_report(self.endpoint()).await
    }

    /// Region, endpoint and credentials for building SDK clients of the emulator.
    pub fn emulator_settings(&self) -> &EmulatorSettings {
        &self.settings
    }

    /// An SDK config for the emulator, for clients used in the caller's runtime.
    pub async fn sdk_config(&self) -> SdkConfig {
        self.settings.sdk_config().await
    }

    /// Table names, queue URLs and ARNs, topic ARNs by logical id.
    pub fn resources(&self) -> &Resources {
        &self.resources
    }

    pub fn template(&self) -> &Template {
        &self.template
    }

    /// The environment the function with this binary runs with.
    pub fn function_env(&self, binary: &str) -> Option<&BTreeMap<String, String>> {
        self.environments.get(binary)
    }

    /// Where function output goes when the cloud logs to files.
    pub fn log_dir(&self) -> Option<&PathBuf> {
        self.log_dir.as_ref()
    }

    /// Invokes a function by binary name, as `aws lambda invoke` would, and waits for its
    /// answer (at most its template timeout once it runs). Works from any async runtime:
    /// the request travels over a channel to the cloud's own runtime.
    pub async fn invoke(&self, binary: &str, payload: Value) -> Result<Value, InvokeError> {
        let (reply, answer) = oneshot::channel();
        self.invoker
            .send(InvokeRequest {
                binary: binary.to_owned(),
                payload,
                reply,
            })
            .map_err(|_| InvokeError::Stopped)?;
        answer.await.unwrap_or(Err(InvokeError::Stopped))
    }

    /// Resolves, with the reason, if the cloud stops by itself: its emulator stopped
    /// answering (it died, or the one `--endpoint` named went away). Everything the cloud
    /// started is stopping by then; the emulator's state is gone.
    pub async fn failure(&self) -> String {
        let mut failure = self.failure.clone();
        match failure.wait_for(Option::is_some).await {
            Ok(reason) => reason.clone().unwrap_or_default(),
            // The watchdog ended without a failure: the cloud was stopped on purpose.
            Err(_) => std::future::pending().await,
        }
    }

    /// Stops everything and waits (up to 10 s) until the function processes are gone.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.tasks.close();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.tasks.wait()).await;
    }
}

impl Drop for LocalCloud {
    fn drop(&mut self) {
        self.shutdown.cancel();
        // Dropping the emulator stops moto.
        self.emulator
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
    }
}

/// What the phases of [`LocalCloud::start`] share.
struct Startup {
    options: CloudOptions,
    progress: Progress,
    repo_root: PathBuf,
    logs: Logs,
    shutdown: CancellationToken,
    tasks: TaskTracker,
}

/// What an event source needs to find its queue or table and its function.
struct Sources<'a> {
    template: &'a Template,
    resources: &'a Resources,
    hosts: &'a HashMap<String, FunctionHost>,
}

impl Startup {
    fn new(options: CloudOptions) -> Result<Startup> {
        let progress = options.progress.clone();
        let repo_root = match &options.repo_root {
            Some(root) => root.clone(),
            None => repo::repo_root()?,
        };
        Ok(Startup {
            logs: Logs::new(options.logs.clone()),
            options,
            progress: progress.unwrap_or_else(|| Arc::new(|_: &str| {})),
            repo_root,
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
        })
    }

    fn say(&self, line: &str) {
        (self.progress)(line);
    }

    /// `template.yaml`, its warnings said, with the parameters of `options`.
    fn template(&self) -> Result<Template> {
        let mut template = Template::load(&self.repo_root)?;
        for warning in &template.warnings {
            self.say(&format!("warning: {warning}"));
        }
        template.parameters.extend(self.options.parameters.clone());
        Ok(template)
    }

    /// The emulator's endpoint: `--endpoint`'s, else one started here (with its venv).
    async fn emulator(&self) -> Result<(String, Option<Emulator>)> {
        if let Some(endpoint) = &self.options.endpoint {
            if self.options.faults.is_some() {
                bail!("--faults needs the local cloud's own emulator: leave out --endpoint");
            }
            crate::aws::check_reachable(endpoint).await?;
            return Ok((endpoint.trim_end_matches('/').to_owned(), None));
        }
        let root = self.repo_root.clone();
        let progress = self.progress.clone();
        let emulator = tokio::task::spawn_blocking(move || {
            emulator::ensure_venv(&root, &*progress)?;
            progress("starting emulator");
            let log = repo::dev_dir(&root).join("logs").join("emulator.log");
            Emulator::start_with(&root, 0, EmulatorLog::File(log), &*progress)
        })
        .await??;
        Ok((emulator.endpoint(), Some(emulator)))
    }

    /// Every function's executable: the ones given, else `cargo build`'s.
    async fn executables(&self, template: &Template) -> Result<HashMap<String, PathBuf>> {
        let binaries: Vec<String> = template
            .functions
            .iter()
            .map(|f| f.binary.clone())
            .collect();
        if let Some(built) = &self.options.executables {
            if let Some(missing) = binaries.iter().find(|b| !built.contains_key(*b)) {
                bail!("no executable given for {missing}");
            }
            return Ok(built.clone());
        }
        self.say("building functions");
        let build_output = match self.options.logs.dir() {
            Some(dir) => BuildOutput::File(dir.join("build.log")),
            None => BuildOutput::Terminal,
        };
        let root = self.repo_root.clone();
        let release = self.options.release;
        tokio::task::spawn_blocking(move || {
            binaries::build(&root, &binaries, release, &build_output)
        })
        .await?
    }

    /// Creates the template's resources and the catalog, and sets `--faults`.
    async fn provision(
        &self,
        template: &Template,
        resources: &Resources,
        config: &SdkConfig,
        endpoint: &str,
    ) -> Result<()> {
        self.say("provisioning");
        let report = provision_all(template, resources, config, &self.repo_root).await?;
        for line in report.changes.iter().chain(&report.warnings) {
            self.say(&format!("  {line}"));
        }
        if let Some(spec) = self.options.faults.as_ref().filter(|s| !s.is_none()) {
            faults::set_faults(endpoint, spec).await?;
            self.say(&format!(
                "injecting faults into the functions' AWS calls: {spec}"
            ));
        }
        Ok(())
    }

    /// `--concurrency` processes of each function; the hosts and environments by binary.
    async fn functions(
        &self,
        template: &Template,
        resources: &Resources,
        executables: &HashMap<String, PathBuf>,
        functions_endpoint: &str,
    ) -> Result<Hosts> {
        self.say("starting functions");
        let xray_daemon = traces::listen(
            self.logs.traces().clone(),
            self.shutdown.clone(),
            &self.tasks,
        )
        .await?;
        let mut hosts = HashMap::new();
        let mut environments = BTreeMap::new();
        for function in &template.functions {
            let mut env = function_environment(function, resources);
            env.variables
                .insert("AWS_ENDPOINT_URL".to_owned(), functions_endpoint.to_owned());
            env.variables
                .insert(traces::DAEMON_ADDRESS.to_owned(), xray_daemon.to_string());
            if let (Some(window), Some(value)) = (
                self.options.payment_window,
                env.variables.get_mut("PAYMENT_WINDOW"),
            ) {
                *value = format!("{}s", window.as_secs().max(1));
            }
            for dropped in &env.dropped {
                self.say(&format!("warning: {dropped}"));
            }
            let host = FunctionHost::new(
                FunctionConfig::of(function, resources, env.variables.clone()),
                self.logs.clone(),
                self.shutdown.clone(),
                self.tasks.clone(),
            );
            let program = Program::of(executables[&function.binary].clone());
            for _ in 0..self.options.concurrency.max(1) {
                host.spawn(program.clone())
                    .await
                    .context("cannot open a Runtime API endpoint")?;
            }
            environments.insert(function.binary.clone(), env.variables);
            hosts.insert(function.binary.clone(), host);
        }
        Ok((hosts, environments))
    }

    /// The HTTP API, with the local cloud's own pages (`/docs`, `/_dev`).
    fn gateway(
        &self,
        listener: TcpListener,
        sources: &Sources<'_>,
        config: &SdkConfig,
    ) -> Result<()> {
        let authorizers = authorizers(sources.template, sources.resources)?;
        let functions = Functions::new(sources.hosts.clone(), authorizers);
        let docs = api_docs::router(self.repo_root.join("docs"));
        let stats = self.logs.stats().clone();
        let traces = self.logs.traces().clone();
        let pages = docs.merge(dev_page::router(
            stats,
            traces,
            sources.resources.clone(),
            config,
        ));
        let app = pages.merge(Routes::from_template(sources.template).router(functions));
        gateway::serve(listener, app, self.shutdown.clone(), &self.tasks);
        Ok(())
    }

    /// Pollers for the template's SQS events.
    fn sqs_sources(&self, sources: &Sources<'_>, config: &SdkConfig) -> Result<()> {
        let sqs = aws_sdk_sqs::Client::new(config);
        let resources = sources.resources;
        for function in &sources.template.functions {
            for (name, event) in &function.sqs_events {
                let id = &function.logical_id;
                let arn = resources
                    .resolve(&event.queue)
                    .map_err(|e| anyhow!("{id}.{name}: Queue: {e}"))?;
                let Some(queue) = resources.queue_by_arn(&arn) else {
                    bail!("{id}.{name}: no queue in template.yaml has ARN {arn}");
                };
                let config =
                    SqsSourceConfig::new(event, queue.url.clone(), arn, self.options.retry_delay);
                event_source::start(
                    &sqs,
                    &sources.hosts[&function.binary],
                    &config,
                    self.options.concurrency,
                    &self.logs,
                    &self.shutdown,
                    &self.tasks,
                );
            }
        }
        Ok(())
    }

    /// Readers of the tables' streams for the template's `DynamoDB` events.
    async fn stream_sources(&self, sources: &Sources<'_>, config: &SdkConfig) -> Result<()> {
        let clients = StreamClients {
            dynamodb: aws_sdk_dynamodb::Client::new(config),
            streams: aws_sdk_dynamodbstreams::Client::new(config),
            sqs: aws_sdk_sqs::Client::new(config),
        };
        let resources = sources.resources;
        for function in &sources.template.functions {
            for (name, event) in &function.stream_events {
                let id = &function.logical_id;
                let on_failure_queue_url = match event.on_failure() {
                    Some(destination) => {
                        let arn = resources
                            .resolve(destination)
                            .map_err(|e| anyhow!("{id}.{name}: OnFailure: {e}"))?;
                        let queue = resources.queue_by_arn(&arn).ok_or_else(|| {
                            anyhow!("{id}.{name}: OnFailure: only SQS destinations are run locally")
                        })?;
                        Some(queue.url.clone())
                    }
                    None => None,
                };
                // The template is checked: the event reads a table's stream.
                let table = event.table().unwrap_or_default();
                let table = resources.table(table).unwrap_or(table).to_owned();
                let config = StreamSourceConfig::new(
                    event,
                    table,
                    on_failure_queue_url,
                    self.options.retry_delay,
                );
                stream_source::start(
                    &clients,
                    &sources.hosts[&function.binary],
                    &config,
                    &self.logs,
                    &self.shutdown,
                    &self.tasks,
                )
                .await
                .with_context(|| format!("{id}.{name}"))?;
            }
        }
        Ok(())
    }
}

/// The function hosts by binary, and the environment each runs with.
type Hosts = (
    HashMap<String, FunctionHost>,
    BTreeMap<String, BTreeMap<String, String>>,
);

/// The gateway's listener on 127.0.0.1:`port`.
async fn listen(port: u16) -> Result<TcpListener> {
    TcpListener::bind(("127.0.0.1", port))
        .await
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AddrInUse => {
                anyhow!("port {port} is already in use (--port 0 picks a free one)")
            }
            _ => anyhow!("cannot listen on 127.0.0.1:{port}: {e}"),
        })
}

/// Starts the local OIDC issuer on a free port and points the template's issuer and audience
/// parameters (`JwtIssuer`, `JwtAudience`) at it, as a deploy would point them at Cognito.
async fn start_issuer(
    template: &mut Template,
    shutdown: &CancellationToken,
    tasks: &TaskTracker,
) -> Result<Arc<Issuer>> {
    let listener = TcpListener::bind(("127.0.0.1", 0))
        .await
        .context("cannot listen for the local issuer")?;
    let url = format!("http://{}", listener.local_addr()?);
    let issuer = Arc::new(Issuer::generate(&url, LOCAL_AUDIENCE)?);
    issuer::serve(listener, issuer.clone(), shutdown.clone(), tasks);
    template
        .parameters
        .insert("JwtIssuer".to_owned(), issuer.url().to_owned());
    template
        .parameters
        .insert("JwtAudience".to_owned(), LOCAL_AUDIENCE.to_owned());
    Ok(issuer)
}

/// The template's JWT authorizers, with their issuer and audience resolved.
fn authorizers(
    template: &Template,
    resources: &Resources,
) -> Result<HashMap<String, JwtAuthorizer>> {
    let mut authorizers = HashMap::new();
    for (name, config) in &template.jwt_authorizers {
        let issuer = resources
            .resolve(&config.issuer)
            .map_err(|e| anyhow!("authorizer {name}: issuer: {e}"))?;
        let audience = config
            .audience
            .iter()
            .map(|a| resources.resolve(a))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| anyhow!("authorizer {name}: audience: {e}"))?;
        authorizers.insert(name.clone(), JwtAuthorizer::new(&issuer, audience));
    }
    Ok(authorizers)
}

/// Checks every second that the emulator still takes connections; after three misses in a
/// row the cloud stops, with the reason in the returned channel, instead of answering 503 and
/// logging "connection refused" forever.
fn watch_emulator(
    endpoint: &str,
    shutdown: CancellationToken,
    tasks: &TaskTracker,
) -> watch::Receiver<Option<String>> {
    const MISSES: u32 = 3;
    let (report, failure) = watch::channel(None);
    let endpoint = endpoint.to_owned();
    let address = endpoint
        .trim_start_matches("http://")
        .trim_start_matches("https://")
        .trim_end_matches('/')
        .to_owned();
    tasks.spawn(async move {
        let mut misses = 0;
        loop {
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
                () = shutdown.cancelled() => return,
            }
            let connected = tokio::time::timeout(
                Duration::from_secs(2),
                tokio::net::TcpStream::connect(&address),
            )
            .await;
            misses = match connected {
                Ok(Ok(_)) => 0,
                _ => misses + 1,
            };
            if misses >= MISSES {
                let _ = report.send(Some(format!(
                    "the emulator at {endpoint} stopped answering, so the local cloud stopped \
                     (its tables and queues are gone: start it again with `cargo dev up`)"
                )));
                shutdown.cancel();
                return;
            }
        }
    });
    failure
}

fn start_invoker(
    hosts: HashMap<String, FunctionHost>,
    shutdown: CancellationToken,
    tasks: &TaskTracker,
) -> mpsc::UnboundedSender<InvokeRequest> {
    let (sender, mut requests) = mpsc::unbounded_channel::<InvokeRequest>();
    let spawner = tasks.clone();
    tasks.spawn(async move {
        loop {
            let request = tokio::select! {
                request = requests.recv() => request,
                () = shutdown.cancelled() => None,
            };
            let Some(request) = request else { return };
            let Some(host) = hosts.get(&request.binary).cloned() else {
                let _ = request
                    .reply
                    .send(Err(InvokeError::UnknownFunction(request.binary)));
                continue;
            };
            spawner.spawn(async move {
                let _ = request.reply.send(host.invoke(&request.payload).await);
            });
        }
    });
    sender
}

/// Provisions the template and loads the sample catalog into `ProductsTable`.
pub async fn provision_all(
    template: &Template,
    resources: &Resources,
    config: &SdkConfig,
    repo_root: &std::path::Path,
) -> Result<ProvisionReport> {
    let mut report = provision(template, resources, config).await?;
    if let Some(table) = resources.table("ProductsTable") {
        let products = catalog::demo_catalog(repo_root)?;
        let client = aws_sdk_dynamodb::Client::new(config);
        report.catalog_products = Some(catalog::load(&client, table, &products, &|_| {}).await?);
    }
    Ok(report)
}
