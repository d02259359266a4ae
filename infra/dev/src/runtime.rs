//! The Lambda Runtime API, served to each function's real bootstrap binary.
//!
//! A [`FunctionHost`] is one function: a queue of pending invocations and its execution
//! environments. Each environment has its own Runtime API endpoint on `127.0.0.1:<port>`
//! (as each Lambda sandbox has its own), so the host always knows which process holds which
//! invocation: when a process dies, its in-flight invocation fails and a new process takes
//! its place, as when Lambda replaces an execution environment. An invocation that outlives
//! the function's timeout fails and its process is killed and replaced, as in Lambda.
//!
//! Endpoints served (`AWS_LAMBDA_RUNTIME_API=127.0.0.1:<port>`):
//! `GET /2018-06-01/runtime/invocation/next`, `POST .../invocation/{id}/response`,
//! `POST .../invocation/{id}/error`, `POST .../init/error`.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use futures::FutureExt;
use serde_json::{Value, json};
use shop::telemetry::xray::TraceHeader;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::net::TcpListener;
use tokio::process::Command;
use tokio::sync::{Notify, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::logs::Logs;
use crate::resources::Resources;
use crate::template::Function;

/// How long an invocation waits for a free execution environment by default: API
/// Gateway's integration timeout.
pub const QUEUE_TIMEOUT: Duration = Duration::from_secs(30);

/// Why an invocation did not return a result.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum InvokeError {
    #[error("no function with binary `{0}` in template.yaml")]
    UnknownFunction(String),
    /// The function reported an error (`/invocation/{id}/error`).
    #[error("{function} failed: {error_type}: {error_message}")]
    Function {
        function: String,
        error_type: String,
        error_message: String,
    },
    #[error("{function} did not answer within its timeout of {timeout:?}")]
    Timeout { function: String, timeout: Duration },
    /// Every execution environment stayed busy (or none could start) for the queue timeout.
    #[error("no execution environment of {function} became free within {waited:?}")]
    NoEnvironment { function: String, waited: Duration },
    /// The process exited (or asked for the next event) without answering.
    #[error("{function}'s execution environment ended during the invocation: {reason}")]
    Crashed { function: String, reason: String },
    #[error("{function} answered with something that is not JSON: {reason}")]
    InvalidResponse { function: String, reason: String },
    #[error("the local cloud is stopping")]
    Stopped,
}

/// What a [`FunctionHost`] needs to know about its function.
#[derive(Clone, Debug)]
pub struct FunctionConfig {
    /// The binary name (`orders-api`): the name callers invoke it by.
    pub binary: String,
    /// `AWS_LAMBDA_FUNCTION_NAME`; locally the logical id.
    pub function_name: String,
    pub function_arn: String,
    pub timeout: Duration,
    /// How long an invocation may wait for a free execution environment; Lambda would
    /// start another one instead. [`QUEUE_TIMEOUT`] in the local cloud.
    pub queue_timeout: Duration,
    /// Every process gets exactly this environment, plus `AWS_LAMBDA_RUNTIME_API`,
    /// `AWS_LAMBDA_LOG_STREAM_NAME` and the caller's `PATH`.
    pub environment: BTreeMap<String, String>,
}

impl FunctionConfig {
    /// The template's `function`, as the local cloud runs it, with `environment`.
    pub fn of(
        function: &Function,
        resources: &Resources,
        environment: BTreeMap<String, String>,
    ) -> FunctionConfig {
        FunctionConfig {
            binary: function.binary.clone(),
            function_name: function.logical_id.clone(),
            function_arn: resources.function_arn(&function.logical_id),
            timeout: function.timeout,
            queue_timeout: QUEUE_TIMEOUT,
            environment,
        }
    }
}

/// The program an execution environment runs: the function's bootstrap binary, or in
/// tests anything that speaks the Runtime API.
#[derive(Clone, Debug)]
pub struct Program {
    pub path: PathBuf,
    pub args: Vec<String>,
}

impl Program {
    /// The executable at `path`, without arguments.
    pub fn of(path: PathBuf) -> Program {
        Program {
            path,
            args: Vec::new(),
        }
    }
}

/// When an invocation's event was handed to an execution environment (its `next` request
/// answered) and when the environment's answer arrived; `None` if it never got that far.
#[derive(Clone, Copy, Debug, Default)]
pub struct Timing {
    pub picked_up: Option<Instant>,
    pub answered: Option<Instant>,
}

impl Timing {
    /// Event handed over to answer received: what Lambda bills.
    pub fn duration(&self) -> Option<Duration> {
        Some(self.answered?.saturating_duration_since(self.picked_up?))
    }
}

/// One execution environment's Runtime API endpoint.
#[derive(Clone, Debug)]
pub struct Environment {
    pub id: usize,
    pub addr: SocketAddr,
}

impl Environment {
    /// The value for `AWS_LAMBDA_RUNTIME_API`: `127.0.0.1:<port>`.
    pub fn runtime_api(&self) -> String {
        self.addr.to_string()
    }
}

/// One function: its pending invocations and execution environments. Cheap to clone.
#[derive(Clone)]
pub struct FunctionHost {
    inner: Arc<Host>,
}

struct Host {
    config: FunctionConfig,
    queue: mpsc::UnboundedSender<Pending>,
    // Shared by every environment's long poll: whichever asks first gets the next event.
    pending: tokio::sync::Mutex<mpsc::UnboundedReceiver<Pending>>,
    in_flight: Mutex<HashMap<String, InFlight>>,
    slots: Mutex<Vec<Arc<Slot>>>,
    next_slot: AtomicUsize,
    logs: Logs,
    shutdown: CancellationToken,
    tasks: TaskTracker,
}

struct Pending {
    request_id: String,
    payload: Bytes,
    result: oneshot::Sender<Result<Value, InvokeError>>,
    picked_up: oneshot::Sender<(usize, Instant)>,
}

struct InFlight {
    slot: usize,
    result: oneshot::Sender<Result<Value, InvokeError>>,
}

/// An execution environment: its endpoint and, when it runs a process, the way to kill it.
struct Slot {
    id: usize,
    label: String,
    current: Mutex<Option<String>>,
    kill: Notify,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl FunctionHost {
    /// A host with no execution environment yet; add them with [`FunctionHost::spawn`] or
    /// [`FunctionHost::add_environment`]. Everything it starts ends when `shutdown` is
    /// cancelled; `tasks` tracks it so the caller can wait for processes to be gone.
    pub fn new(
        config: FunctionConfig,
        logs: Logs,
        shutdown: CancellationToken,
        tasks: TaskTracker,
    ) -> FunctionHost {
        let (queue, pending) = mpsc::unbounded_channel();
        FunctionHost {
            inner: Arc::new(Host {
                config,
                queue,
                pending: tokio::sync::Mutex::new(pending),
                in_flight: Mutex::default(),
                slots: Mutex::default(),
                next_slot: AtomicUsize::new(1),
                logs,
                shutdown,
                tasks,
            }),
        }
    }

    pub fn config(&self) -> &FunctionConfig {
        &self.inner.config
    }

    /// Invokes the function synchronously (`RequestResponse`): waits for an execution
    /// environment to take the event (at most the queue timeout), then for its answer (at
    /// most the function's timeout).
    pub async fn invoke(&self, payload: &Value) -> Result<Value, InvokeError> {
        self.invoke_timed(payload).await.0
    }

    /// [`FunctionHost::invoke`], also saying when an environment took the event and when
    /// its answer came: Lambda's billed duration is the time between the two.
    pub async fn invoke_timed(&self, payload: &Value) -> (Result<Value, InvokeError>, Timing) {
        let mut timing = Timing::default();
        let result = self.invoke_inner(payload, &mut timing).await;
        if let Some(duration) = timing.duration() {
            let host = &self.inner;
            host.logs
                .stats()
                .record_duration(&host.config.binary, duration);
        }
        (result, timing)
    }

    async fn invoke_inner(
        &self,
        payload: &Value,
        timing: &mut Timing,
    ) -> Result<Value, InvokeError> {
        let host = &self.inner;
        if host.shutdown.is_cancelled() {
            return Err(InvokeError::Stopped);
        }
        let request_id = request_id();
        let (result_tx, result_rx) = oneshot::channel();
        let (picked_tx, picked_rx) = oneshot::channel();
        let payload = Bytes::from(serde_json::to_vec(payload).expect("a JSON value serializes"));
        host.queue
            .send(Pending {
                request_id: request_id.clone(),
                payload,
                result: result_tx,
                picked_up: picked_tx,
            })
            .map_err(|_| InvokeError::Stopped)?;
        // Waiting for a free environment is not part of the function's timeout: Lambda would
        // start another one. On this timeout `result_rx` is dropped, so the queued event is
        // skipped later.
        let queue_timeout = host.config.queue_timeout;
        let picked_up = host
            .or_stopped(tokio::time::timeout(queue_timeout, picked_rx))
            .await?;
        let slot = match picked_up {
            Ok(Ok((slot, at))) => {
                timing.picked_up = Some(at);
                slot
            }
            Ok(Err(_)) => return Err(InvokeError::Stopped),
            Err(_) => {
                return Err(InvokeError::NoEnvironment {
                    function: host.config.binary.clone(),
                    waited: queue_timeout,
                });
            }
        };
        let timeout = host.config.timeout;
        let answered = host
            .or_stopped(tokio::time::timeout(timeout, result_rx))
            .await?;
        match answered {
            Ok(Ok(result)) => {
                timing.answered = Some(Instant::now());
                result
            }
            Ok(Err(_)) => Err(InvokeError::Stopped),
            Err(_) => {
                host.abandon(&request_id, slot);
                Err(InvokeError::Timeout {
                    function: host.config.binary.clone(),
                    timeout,
                })
            }
        }
    }

    /// Opens a Runtime API endpoint for an execution environment that something else runs
    /// (a test playing the function). Its invocations time out but nothing is killed.
    pub async fn add_environment(&self) -> std::io::Result<Environment> {
        let (environment, _slot) = self.open_slot().await?;
        Ok(environment)
    }

    /// Starts an execution environment running `program`, replaced whenever it exits.
    pub async fn spawn(&self, program: Program) -> std::io::Result<Environment> {
        let (environment, slot) = self.open_slot().await?;
        let host = self.inner.clone();
        let runtime_api = environment.runtime_api();
        self.inner
            .tasks
            .spawn(supervise(host, slot, program, runtime_api));
        Ok(environment)
    }

    async fn open_slot(&self) -> std::io::Result<(Environment, Arc<Slot>)> {
        let host = &self.inner;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let id = host.next_slot.fetch_add(1, Ordering::Relaxed);
        let slot = Arc::new(Slot {
            id,
            label: format!("{}#{id}", host.config.binary),
            current: Mutex::new(None),
            kill: Notify::new(),
        });
        lock(&host.slots).push(slot.clone());
        let state = SlotState {
            host: host.clone(),
            slot: slot.clone(),
        };
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{request_id}/response",
                post(response),
            )
            .route(
                "/2018-06-01/runtime/invocation/{request_id}/error",
                post(error),
            )
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(state);
        crate::gateway::serve(listener, app, host.shutdown.clone(), &host.tasks);
        Ok((Environment { id, addr }, slot))
    }
}

impl Host {
    fn finish(&self, request_id: &str, result: Result<Value, InvokeError>) -> bool {
        let Some(in_flight) = lock(&self.in_flight).remove(request_id) else {
            return false;
        };
        if let Some(slot) = self.slot(in_flight.slot) {
            let mut current = lock(&slot.current);
            if current.as_deref() == Some(request_id) {
                *current = None;
            }
        }
        let _ = in_flight.result.send(result);
        true
    }

    fn slot(&self, id: usize) -> Option<Arc<Slot>> {
        lock(&self.slots).iter().find(|s| s.id == id).cloned()
    }

    /// A timed-out invocation: forget it and replace the environment still running it.
    fn abandon(&self, request_id: &str, slot_id: usize) {
        lock(&self.in_flight).remove(request_id);
        if let Some(slot) = self.slot(slot_id) {
            let mut current = lock(&slot.current);
            if current.as_deref() == Some(request_id) {
                *current = None;
                slot.kill.notify_one();
            }
        }
    }

    /// The environment's process is gone: whatever it was running failed.
    fn environment_ended(&self, slot: &Slot, reason: &str) {
        let request_id = lock(&slot.current).take();
        if let Some(request_id) = request_id {
            self.finish(
                &request_id,
                Err(InvokeError::Crashed {
                    function: self.config.binary.clone(),
                    reason: reason.to_owned(),
                }),
            );
        }
    }
}

#[derive(Clone)]
struct SlotState {
    host: Arc<Host>,
    slot: Arc<Slot>,
}

/// How long a stopping Runtime API holds back its last answers to `next`: longer than it takes
/// to kill a function process.
const STOPPING_GRACE: Duration = Duration::from_secs(1);

async fn next(State(SlotState { host, slot }): State<SlotState>) -> Response {
    // Asking for the next event means the previous one is over, answered or not.
    host.environment_ended(
        &slot,
        "the runtime asked for the next event without answering",
    );
    loop {
        let pending = tokio::select! {
            pending = async { host.pending.lock().await.recv().await } => pending,
            () = host.shutdown.cancelled() => None,
        };
        let Some(pending) = pending else {
            // Stopping: the process is being killed. An answer now would reach its runtime
            // as an event without a request id, and lambda_runtime panics on that; so the
            // answer waits until the process is most likely gone.
            tokio::time::sleep(STOPPING_GRACE).await;
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                "the local cloud is stopping",
            )
                .into_response();
        };
        // The caller gave up waiting for an environment: skip the event.
        if pending.result.is_closed() {
            continue;
        }
        let deadline = SystemTime::now() + host.config.timeout;
        lock(&host.in_flight).insert(
            pending.request_id.clone(),
            InFlight {
                slot: slot.id,
                result: pending.result,
            },
        );
        *lock(&slot.current) = Some(pending.request_id.clone());
        let _ = pending.picked_up.send((slot.id, Instant::now()));

        let mut headers = HeaderMap::new();
        let mut set = |name: &'static str, value: String| {
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(name, value);
            }
        };
        let trace = trace_header();
        host.logs
            .traces()
            .invoked(&host.config.binary, &pending.request_id, &trace);
        set("content-type", "application/json".to_owned());
        set("lambda-runtime-aws-request-id", pending.request_id);
        set(
            "lambda-runtime-deadline-ms",
            millis_since_epoch(deadline).to_string(),
        );
        set(
            "lambda-runtime-invoked-function-arn",
            host.config.function_arn.clone(),
        );
        set("lambda-runtime-trace-id", trace.to_string());
        return (StatusCode::OK, headers, pending.payload).into_response();
    }
}

async fn response(
    State(SlotState { host, .. }): State<SlotState>,
    Path(request_id): Path<String>,
    body: Bytes,
) -> Response {
    let result = serde_json::from_slice(&body).map_err(|e| InvokeError::InvalidResponse {
        function: host.config.binary.clone(),
        reason: e.to_string(),
    });
    answer(&host, &request_id, result)
}

async fn error(
    State(SlotState { host, .. }): State<SlotState>,
    Path(request_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (error_type, error_message) = error_body(&headers, &body);
    let result = Err(InvokeError::Function {
        function: host.config.binary.clone(),
        error_type,
        error_message,
    });
    answer(&host, &request_id, result)
}

async fn init_error(
    State(SlotState { host, slot }): State<SlotState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (error_type, error_message) = error_body(&headers, &body);
    host.logs.dev(
        &slot.label,
        &format!("init failed: {error_type}: {error_message}"),
    );
    // Lambda discards an environment whose init failed.
    slot.kill.notify_one();
    accepted()
}

fn answer(host: &Host, request_id: &str, result: Result<Value, InvokeError>) -> Response {
    if host.finish(request_id, result) {
        accepted()
    } else {
        let body = json!({
            "errorType": "InvalidRequestID",
            "errorMessage": format!("no invocation {request_id} is in flight (it may have timed out)"),
        });
        (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
    }
}

fn accepted() -> Response {
    (StatusCode::ACCEPTED, axum::Json(json!({"status": "OK"}))).into_response()
}

/// The Runtime API's error document, `{"errorType", "errorMessage"}`, read leniently: the
/// type may come only in the `Lambda-Runtime-Function-Error-Type` header.
fn error_body(headers: &HeaderMap, body: &[u8]) -> (String, String) {
    let document: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let text = |key: &str| document.get(key).and_then(Value::as_str).map(str::to_owned);
    let error_type = text("errorType")
        .or_else(|| {
            headers
                .get("lambda-runtime-function-error-type")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "Unhandled".to_owned());
    let error_message =
        text("errorMessage").unwrap_or_else(|| String::from_utf8_lossy(body).into_owned());
    (error_type, error_message)
}

/// Runs `program` in `slot` until shutdown, replacing it whenever it exits.
async fn supervise(host: Arc<Host>, slot: Arc<Slot>, program: Program, runtime_api: String) {
    const QUICK_EXIT: Duration = Duration::from_secs(5);
    const FIRST_BACKOFF: Duration = Duration::from_millis(100);
    const MAX_BACKOFF: Duration = Duration::from_secs(10);
    let mut backoff = FIRST_BACKOFF;
    let mut generation = 0u32;
    while !host.shutdown.is_cancelled() {
        generation += 1;
        // A kill meant for the previous process (it exited on its own first) is stale.
        let _ = slot.kill.notified().now_or_never();
        let started = Instant::now();
        let log_stream = format!("local/{}/{generation}", slot.label);
        let mut command = function_command(
            &program.path,
            &host.config.environment,
            &runtime_api,
            &log_stream,
        );
        command.args(&program.args);
        let Ok(reason) = host.run(&slot, command).await else {
            return;
        };
        host.environment_ended(&slot, &reason);
        if host.shutdown.is_cancelled() {
            return;
        }
        // A process that dies right away would otherwise restart in a tight loop.
        backoff = if started.elapsed() < QUICK_EXIT {
            (backoff * 2).min(MAX_BACKOFF)
        } else {
            FIRST_BACKOFF
        };
        host.logs.dev(
            &slot.label,
            &format!("{reason}; starting a new one in {backoff:?}"),
        );
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            () = host.shutdown.cancelled() => return,
        }
    }
}

/// A function's process as Lambda starts one: its environment only (and `PATH`), the
/// Runtime API's address, killed when dropped.
pub fn function_command(
    executable: &std::path::Path,
    environment: &BTreeMap<String, String>,
    runtime_api: &str,
    log_stream: &str,
) -> Command {
    let mut command = Command::new(executable);
    command
        .env_clear()
        .envs(environment)
        .env("AWS_LAMBDA_RUNTIME_API", runtime_api)
        .env("AWS_LAMBDA_LOG_STREAM_NAME", log_stream)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        // Out of the terminal's process group: Ctrl-C stops `cargo dev`, which stops us.
        .process_group(0);
    if let Some(path) = std::env::var_os("PATH") {
        command.env("PATH", path);
    }
    command
}

impl Host {
    /// `future`, unless the host shuts down first.
    async fn or_stopped<T>(&self, future: impl Future<Output = T>) -> Result<T, InvokeError> {
        tokio::select! {
            value = future => Ok(value),
            () = self.shutdown.cancelled() => Err(InvokeError::Stopped),
        }
    }

    /// Runs `command` in `slot`, its output logged, until it exits or is killed: why it
    /// ended; `Err` at shutdown.
    async fn run(
        self: &Arc<Self>,
        slot: &Slot,
        mut command: Command,
    ) -> Result<String, InvokeError> {
        command.stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(e) => {
                let program = command
                    .as_std()
                    .get_program()
                    .to_string_lossy()
                    .into_owned();
                return Ok(format!("cannot start {program}: {e}"));
            }
        };
        if let Some(stdout) = child.stdout.take() {
            (self.tasks).spawn(forward(self.clone(), slot.label.clone(), stdout));
        }
        if let Some(stderr) = child.stderr.take() {
            (self.tasks).spawn(forward(self.clone(), slot.label.clone(), stderr));
        }
        let ended = self.or_stopped(async {
            tokio::select! {
                status = child.wait() => match status {
                    Ok(status) => format!("the process exited ({status})"),
                    Err(e) => format!("cannot wait for the process: {e}"),
                },
                () = slot.kill.notified() => {
                    let _ = child.kill().await;
                    "the process was stopped after a timeout or init error".to_owned()
                }
            }
        });
        let ended = ended.await;
        if ended.is_err() {
            let _ = child.kill().await;
        }
        ended
    }
}

async fn forward(host: Arc<Host>, label: String, output: impl AsyncRead + Unpin) {
    let mut lines = BufReader::new(output).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        host.logs.function(&host.config.binary, &label, &line);
    }
}

fn millis_since_epoch(time: SystemTime) -> u128 {
    time.duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
}

/// A unique id in the shape of Lambda's (a UUID).
pub(crate) fn request_id() -> String {
    let hex = format!("{:032x}", ulid::Ulid::new().0);
    format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..]
    )
}

/// An X-Ray trace header, `Root=1-<epoch hex>-<24 hex>;Parent=<16 hex>;Sampled=1`: every
/// local invocation is sampled, so its AWS calls show in `/_dev/traces` (crate::traces).
fn trace_header() -> TraceHeader {
    let hex = format!("{:032x}", ulid::Ulid::new().0);
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    TraceHeader {
        root: format!("1-{seconds:08x}-{}", &hex[8..]),
        parent: hex[16..].to_owned(),
        sampled: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_look_like_uuids() {
        let id = request_id();
        assert_eq!(id.len(), 36);
        assert_eq!(id.matches('-').count(), 4);
        assert_ne!(id, request_id());
        let trace = trace_header().to_string();
        assert!(
            trace.starts_with("Root=1-") && trace.ends_with(";Sampled=1"),
            "{trace}"
        );
    }

    #[test]
    fn error_documents_are_read_leniently() {
        let headers = HeaderMap::new();
        let body = br#"{"errorType":"Boom","errorMessage":"it broke"}"#;
        assert_eq!(
            error_body(&headers, body),
            ("Boom".into(), "it broke".into())
        );
        let mut headers = HeaderMap::new();
        headers.insert(
            "lambda-runtime-function-error-type",
            HeaderValue::from_static("Runtime.X"),
        );
        assert_eq!(
            error_body(&headers, b"plain"),
            ("Runtime.X".into(), "plain".into())
        );
    }
}
