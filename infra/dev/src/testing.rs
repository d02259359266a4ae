//! One local cloud per test process, shared by every test in it.
//!
//! cargo gives each `#[tokio::test]` its own runtime, which ends with the test; the cloud
//! must outlive them all. So it runs on a dedicated thread with its own multi-thread
//! runtime, and tests reach it only through runtime-independent means: URLs, names and
//! [`LocalCloud::invoke`]'s channel. Build SDK clients inside each test
//! (`shared_cloud().sdk_config().await`).
//!
//! ```no_run
//! # async fn example() {
//! let cloud = dev::testing::shared_cloud();
//! let products = reqwest::get(format!("{}/products", cloud.url())).await.unwrap();
//! # }
//! ```

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

use crate::cloud::{CloudOptions, LocalCloud};
use crate::logs::LogOutput;
use crate::repo;

static CLOUD: OnceLock<LocalCloud> = OnceLock::new();
static PAYMENT_WINDOW: OnceLock<std::time::Duration> = OnceLock::new();

/// Gives this test process's cloud a short payment window (`cargo dev up --payment-window`).
/// Call it before anything starts the cloud, in every test of the binary that relies on it;
/// panics if the cloud already runs with another window.
pub fn use_payment_window(window: std::time::Duration) {
    let chosen = *PAYMENT_WINDOW.get_or_init(|| window);
    assert_eq!(chosen, window, "one payment window per test process");
}

static PARAMETERS: std::sync::Mutex<BTreeMap<String, String>> =
    std::sync::Mutex::new(BTreeMap::new());

/// Overrides a template parameter for this test process's cloud (`MaxUnpaidOrders`, ...).
/// Like [`use_payment_window`], call it first in every test of the binary that relies on it.
pub fn use_parameter(name: &str, value: &str) {
    assert!(
        CLOUD.get().is_none()
            || PARAMETERS.lock().unwrap().get(name).map(String::as_str) == Some(value),
        "the cloud started before {name} was set"
    );
    PARAMETERS
        .lock()
        .unwrap()
        .insert(name.to_owned(), value.to_owned());
}

/// The test process's local cloud, started on first use with a free gateway port, its own
/// emulator, and function output in `<repo>/.dev/logs/<binary>.log`. Progress goes to
/// stderr. Panics with the reason if it cannot start: tests cannot run without it.
pub fn shared_cloud() -> &'static LocalCloud {
    CLOUD.get_or_init(|| {
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("local-cloud".to_owned())
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("local-cloud")
                    .enable_all()
                    .build()
                {
                    Ok(runtime) => runtime,
                    Err(e) => {
                        let _ = sender.send(Err(anyhow::anyhow!("cannot build a runtime: {e}")));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let started = async {
                        let root = repo::repo_root()?;
                        let options = CloudOptions {
                            port: 0,
                            logs: LogOutput::Dir(repo::dev_dir(&root).join("logs")),
                            repo_root: Some(root),
                            progress: Some(Arc::new(|line: &str| eprintln!("local cloud: {line}"))),
                            payment_window: PAYMENT_WINDOW.get().copied(),
                            parameters: PARAMETERS.lock().unwrap().clone(),
                            ..CloudOptions::default()
                        };
                        LocalCloud::start(options).await
                    }
                    .await;
                    let running = started.is_ok();
                    let _ = sender.send(started);
                    if running {
                        // Keep the runtime, and so the cloud, alive until the process exits.
                        std::future::pending::<()>().await;
                    }
                });
            })
            .expect("cannot spawn the local cloud's thread");
        match receiver.recv() {
            Ok(Ok(cloud)) => cloud,
            Ok(Err(e)) => panic!("the local cloud did not start: {e:#}"),
            Err(_) => panic!("the local cloud's thread ended before it started"),
        }
    })
}

/// Polls `check` until it returns `Some`, failing the test after `timeout`. Tests wait for
/// conditions this way, never with a bare sleep.
pub async fn eventually<T, F, Fut>(what: &str, timeout: std::time::Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}
