//! `cargo dev`: the shop's local cloud, as a CLI (`src/main.rs`) and as a library for tests.
//!
//! - [`emulator`]: moto in server mode from a project-local venv (`.dev/venv`).
//! - [`template`], [`resources`], [`environment`]: `template.yaml` read into tables, queues,
//!   topics, subscriptions and functions, their local names, and each function's environment.
//! - [`provision`], [`catalog`]: those resources created in the emulator, idempotently, and
//!   the sample catalog loaded.
//! - [`runtime`]: the Lambda Runtime API, serving each function's real bootstrap binary;
//!   [`traces`]: the X-Ray daemon its sampled invocations send their AWS calls to.
//! - [`gateway`]: the template's HTTP API routes as API Gateway payload 2.0 events, guarded by
//!   the template's JWT [`authorizer`]s; [`issuer`]: the local OIDC issuer behind them.
//! - [`api_docs`]: the API documents and their HTML renderings at `/docs`.
//! - [`event_source`]: the template's SQS event sources, partial batch responses included.
//! - [`webhook`]: signing payment webhooks with the local secret.
//! - [`redrive`]: dead-letter queues' messages back to their source queues.
//! - [`bench`]: `cargo dev bench`, the measurements behind `docs/benchmarks.md`.
//! - [`cloud`]: all of it together, [`LocalCloud`]; [`testing::shared_cloud`] for tests.
//!
//! Differences from AWS, all deliberate: physical names are the logical ids; secrets are
//! not emulated (functions get [`LOCAL_WEBHOOK_SECRET`] as `WEBHOOK_SECRET`); a failed SQS
//! message is retried after a short delay instead of the queue's visibility timeout; moto
//! serializes DynamoDB requests, allows 100 items per transaction and rolls back failed
//! transactions item by item (see `infra/emulator/moto_launcher.py`).

pub mod api_docs;
pub mod authorizer;
pub mod aws;
pub mod bench;
pub mod binaries;
pub mod catalog;
pub mod cloud;
pub mod dev_page;
pub mod emulator;
pub mod environment;
pub mod event_source;
pub mod faults;
pub mod gateway;
pub mod issuer;
pub mod logs;
pub mod provision;
pub mod redrive;
pub mod repo;
pub mod resources;
pub mod runtime;
pub mod soak;
pub mod stats;
pub mod stream_source;
pub mod template;
pub mod testing;
pub mod traces;
pub mod webhook;

pub use aws::EmulatorSettings;
pub use cloud::{CloudOptions, LocalCloud};
pub use environment::LOCAL_WEBHOOK_SECRET;
pub use logs::LogOutput;
pub use runtime::InvokeError;
