//! Shared by the integration tests: one emulator per test binary, and waiting for
//! conditions with a deadline.

#![allow(dead_code)] // each test binary uses its own part

use std::sync::OnceLock;

use aws_config::SdkConfig;
use dev::emulator::Emulator;
use dev::{EmulatorSettings, repo};

/// This test binary's moto, on a free port. It stops when the process exits.
pub fn emulator() -> &'static Emulator {
    static EMULATOR: OnceLock<Emulator> = OnceLock::new();
    EMULATOR.get_or_init(|| {
        let root = repo::repo_root().expect("repository root");
        Emulator::start(&root, 0).unwrap_or_else(|e| panic!("emulator: {e}"))
    })
}

/// An SDK config for this binary's emulator, built in the calling test's runtime.
pub async fn sdk_config() -> SdkConfig {
    EmulatorSettings::new(&emulator().endpoint())
        .sdk_config()
        .await
}

#[allow(unused_imports)] // not every test binary waits on a condition
pub use dev::testing::eventually;
