//! Headless Chromium, for the pages the local cloud serves (`/docs`, `/_dev`).

use std::path::{Path, PathBuf};

/// Debian's Chromium, which `.ci/run` installs. Outside CI a machine without it skips the
/// browser check, saying so; in CI (`CI` set) its absence is a failure.
pub fn chromium() -> Option<PathBuf> {
    let found = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists());
    if found.is_none() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must install Debian's chromium (see .ci/run)"
        );
        eprintln!("SKIPPED the browser check: no chromium here (apt-get install chromium)");
    }
    found
}

/// The page's DOM once headless Chromium has loaded it and run its scripts (the rendered API
/// documents build themselves in script).
pub async fn rendered(chromium: &Path, url: &str) -> String {
    dump_dom(chromium, url, &["--virtual-time-budget=15000"]).await
}

/// The page's DOM as soon as it has loaded, for a page rendered on the server that reloads
/// itself: with a virtual time budget its reloads would never let Chromium finish.
pub async fn loaded(chromium: &Path, url: &str) -> String {
    dump_dom(chromium, url, &[]).await
}

async fn dump_dom(chromium: &Path, url: &str, extra: &[&str]) -> String {
    let profile = std::env::temp_dir().join(format!("shop-chromium-{}", ulid::Ulid::new()));
    let output = tokio::process::Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .args(extra)
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(["--dump-dom", url])
        .output()
        .await
        .expect("chromium runs");
    let _ = std::fs::remove_dir_all(&profile);
    assert!(output.status.success(), "chromium failed on {url}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}
