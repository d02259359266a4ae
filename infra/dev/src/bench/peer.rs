//! The Python peer of product-reads (issue 16): its `GET /products/{product_id}` written as a
//! user would write it, with Powertools for AWS Lambda (event handler, logger) and boto3
//! (`peer/app.py`, pinned in `peer/requirements.txt`, installed in `<repo>/.dev/peer-venv`).
//! awslambdaric runs it behind the same Runtime API host as ours, against the same emulator,
//! in the same run, with product-reads' environment; the functions' own measurements measure
//! it ([`measure::cold_starts`], [`measure::warm_alone`]).

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value;

use super::lab::Lab;
use super::measure::{self, WarmCounts, WarmRun};
use super::report::{ColdStart, Peer};
use super::workload::Events;
use crate::emulator::{self, Pinned};
use crate::runtime::{FunctionConfig, Program};

/// Its name in the lab and in the report.
pub const NAME: &str = "python-peer";
/// Our function it does the work of.
pub const OF: &str = "product-reads";
/// Its code, from the repository's root.
const DIR: &str = "infra/dev/src/bench/peer";
const PINNED: Pinned<'static> = Pinned {
    venv: "peer-venv",
    requirements: "infra/dev/src/bench/peer/requirements.txt",
    log: "peer-pip.log",
    what: "the bench's Python peer (Powertools, boto3, awslambdaric)",
};

/// Its venv, installed if need be, and how Lambda's Python runtime starts it:
/// `python -m awslambdaric app.lambda_handler`.
pub fn program(root: &Path, progress: &dyn Fn(&str)) -> Result<Program> {
    let python = emulator::ensure_pinned(root, &PINNED, progress)?;
    let args = ["-m", "awslambdaric", "app.lambda_handler"];
    Ok(Program {
        path: python,
        args: args.map(str::to_owned).to_vec(),
    })
}

/// `ours` (product-reads' configuration: its table, the emulator's endpoint, region and
/// credentials) with what Lambda's Python runtime adds: the code's folder on the path, the
/// region where botocore reads it, and no bytecode written (Lambda's code folder is
/// read-only, so app.py is compiled at each cold start there too).
pub fn config(mut ours: FunctionConfig, root: &Path) -> FunctionConfig {
    ours.binary = NAME.to_owned();
    let region = ours.environment.get("AWS_REGION").cloned();
    let code = root.join(DIR).display().to_string();
    let added = [
        ("PYTHONPATH", code.clone()),
        ("LAMBDA_TASK_ROOT", code),
        ("AWS_DEFAULT_REGION", region.unwrap_or_default()),
        ("PYTHONDONTWRITEBYTECODE", "1".to_owned()),
    ];
    for (key, value) in added {
        ours.environment.insert(key.to_owned(), value);
    }
    ours
}

/// Fails unless the peer answers a product read with product-reads' body, field for field.
/// Also the peer's first start, so that its measured ones find its files in the page cache,
/// as ours find theirs after the build.
pub async fn check(lab: &Lab, events: &Events) -> Result<()> {
    let event = events.get_product(0).await?;
    let mut bodies = Vec::new();
    for binary in [OF, NAME] {
        let answer = lab.with_process(binary, async |process| {
            let (answer, _) = process.host.invoke_timed(&event).await;
            answer.map_err(|e| anyhow!("{binary}: {e}"))
        });
        let answer = answer.await?;
        let body = answer["body"].as_str().unwrap_or_default();
        let body = serde_json::from_str::<Value>(body);
        bodies.push(body.with_context(|| format!("{binary} answered {answer}"))?);
    }
    if bodies[0] != bodies[1] {
        bail!(
            "{NAME} answers {} where {OF} answers {}",
            bodies[1],
            bodies[0]
        );
    }
    Ok(())
}

/// Its warm run: the product reads product-reads' warm run gets, with no direct path.
pub async fn warm(lab: &Lab, events: &Events, counts: &WarmCounts) -> Result<WarmRun> {
    measure::warm_alone(lab, NAME, counts, async |i| events.get_product(i).await).await
}

/// The peer's figures: its cold start, taken out of the functions', and its warm run.
pub fn report(lab: &Lab, cold: &mut ColdStart, warm: WarmRun) -> Result<Peer> {
    let at = cold.functions.iter().position(|f| f.binary == NAME);
    let cold = cold
        .functions
        .remove(at.context("the peer's cold start was not measured")?);
    Ok(Peer {
        name: NAME.to_owned(),
        of: OF.to_owned(),
        stack: stack(lab)?,
        cold,
        invocations: warm.warm.invocations,
        duration_ms: warm.warm.duration_ms,
        invoke_ms: warm.warm.invoke_ms,
        requests: warm.warm.requests,
        memory: warm.memory,
    })
}

/// What the peer's figures are of: `Python 3.11.7; aws-lambda-powertools==…, boto3==…`.
fn stack(lab: &Lab) -> Result<String> {
    let python = &lab.programs[NAME].path;
    let version = Command::new(python).arg("--version").output()?;
    let version = String::from_utf8_lossy(&version.stdout).trim().to_owned();
    let pins = std::fs::read_to_string(lab.root.join(PINNED.requirements))?;
    let pins = pins.lines().map(str::trim);
    let pins: Vec<&str> = pins
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    Ok(format!("{version}; {}", pins.join(", ")))
}
