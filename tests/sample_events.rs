//! Every sample event under events/ invoked against its function on the local cloud, with the
//! outcome events/manifest.json documents, so the samples cannot rot.

use e2e::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn events_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../events")
}

/// `expected` is contained in `actual`: every key of an object, every element of an array.
fn contains(actual: &Value, expected: &Value) -> bool {
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => e
            .iter()
            .all(|(k, v)| a.get(k).is_some_and(|av| contains(av, v))),
        (Value::Array(a), Value::Array(e)) => {
            a.len() == e.len() && a.iter().zip(e).all(|(av, ev)| contains(av, ev))
        }
        _ => actual == expected,
    }
}

fn sample_files(dir: &Path, found: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sample_files(&path, found);
        } else if path.file_name().unwrap() != "manifest.json" {
            found.insert(
                path.strip_prefix(events_dir())
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
            );
        }
    }
}

#[tokio::test]
async fn every_sample_event_gives_its_documented_outcome() {
    let manifest: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(events_dir().join("manifest.json")).unwrap())
            .unwrap();
    let mut on_disk = BTreeSet::new();
    sample_files(&events_dir(), &mut on_disk);
    let listed: BTreeSet<String> = manifest
        .iter()
        .map(|e| e["file"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        on_disk, listed,
        "every file under events/ must be in events/manifest.json"
    );

    let mut failures = Vec::new();
    for entry in &manifest {
        let file = entry["file"].as_str().unwrap();
        let mut event: Value =
            serde_json::from_str(&std::fs::read_to_string(events_dir().join(file)).unwrap())
                .unwrap();
        if let Some(secret) = entry["sign"].as_str() {
            // Webhook signatures expire after 300 s, so the samples are signed afresh, the way
            // `cargo dev webhook --sign FILE` does for a person.
            dev::webhook::sign_event_in_place(&mut event, secret == "local-secret");
        }
        let function = entry["function"].as_str().unwrap();
        match cloud().invoke(function, event).await {
            Ok(answer) if contains(&answer, &entry["expect"]) => {}
            Ok(answer) => {
                failures.push(format!("{file}: expected {} in {answer}", entry["expect"]))
            }
            Err(e) => failures.push(format!("{file}: {e}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
