//! How the local cloud ends: on purpose (Ctrl-C), with every function process gone and no
//! panic in their logs; and by itself when its emulator dies, saying why.

use std::path::Path;
use std::time::Duration;

use dev::emulator::Emulator;
use dev::{CloudOptions, LocalCloud, LogOutput, repo};

async fn start(logs: &Path, endpoint: Option<String>) -> LocalCloud {
    LocalCloud::start(CloudOptions {
        port: 0,
        endpoint,
        concurrency: 1,
        logs: LogOutput::Dir(logs.to_owned()),
        ..CloudOptions::default()
    })
    .await
    .expect("the local cloud starts")
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("shop-{name}-{}", ulid::Ulid::new()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn stopping_ends_every_function_without_a_panic() {
    let logs = scratch("stopping-logs");
    let cloud = start(&logs, None).await;
    let products = reqwest::get(format!("{}/products?limit=1", cloud.url()))
        .await
        .unwrap();
    assert_eq!(products.status(), 200, "the functions are up");
    cloud.stop().await;
    let mut read = 0;
    for entry in std::fs::read_dir(&logs).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        read += 1;
        assert!(
            !text.contains("panicked"),
            "{} shows a panic:\n{text}",
            path.display()
        );
    }
    assert!(read >= 1, "the functions' logs were written ({read} files)");
}

#[tokio::test]
async fn a_dead_emulator_stops_the_cloud_with_the_reason() {
    let root = repo::repo_root().unwrap();
    let emulator = tokio::task::spawn_blocking(move || Emulator::start(&root, 0))
        .await
        .unwrap()
        .unwrap();
    let logs = scratch("dead-emulator-logs");
    let cloud = start(&logs, Some(emulator.endpoint())).await;
    drop(emulator);
    let reason = tokio::time::timeout(Duration::from_secs(30), cloud.failure())
        .await
        .expect("the cloud noticed within 30 s");
    assert!(reason.contains("stopped answering"), "{reason}");
    let after = reqwest::Client::new()
        .get(format!("{}/products", cloud.url()))
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    assert!(after.is_err(), "the gateway stopped too: {after:?}");
    cloud.stop().await;
}
