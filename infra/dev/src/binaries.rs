//! Building the functions' bootstrap binaries with cargo.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// Where cargo's own output (progress, compiler errors) goes.
#[derive(Clone, Debug)]
pub enum BuildOutput {
    /// The terminal, as with a plain `cargo build`.
    Terminal,
    /// This file; its tail is shown if the build fails.
    File(PathBuf),
}

/// Builds `binaries` (one package each, named like its binary) and returns each one's
/// executable.
pub fn build(
    repo_root: &Path,
    binaries: &[String],
    release: bool,
    output: &BuildOutput,
) -> Result<HashMap<String, PathBuf>> {
    let mut command = cargo_build(repo_root, binaries, release, output)?;
    let mut child = command.spawn().context("cannot run cargo")?;
    let stdout = child.stdout.take().expect("stdout is piped");
    let executables = executables(BufReader::new(stdout), binaries)?;
    let status = child.wait().context("cannot wait for cargo")?;
    if !status.success() {
        match output {
            BuildOutput::Terminal => {
                bail!("the functions did not build (cargo's errors are above)")
            }
            BuildOutput::File(path) => bail!(
                "the functions did not build; cargo said:\n{}\n(full output: {})",
                tail(path, 30),
                path.display()
            ),
        }
    }
    if let Some(missing) = binaries.iter().find(|b| !executables.contains_key(*b)) {
        bail!(
            "cargo built no binary named {missing}: template.yaml names it as a function's Binary"
        );
    }
    Ok(executables)
}

/// `cargo build` of `binaries`, its messages as JSON on stdout, its own output to `output`.
fn cargo_build(
    repo_root: &Path,
    binaries: &[String],
    release: bool,
    output: &BuildOutput,
) -> Result<Command> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command.current_dir(repo_root).args([
        "build",
        "--bins",
        "--message-format=json-render-diagnostics",
    ]);
    for binary in binaries {
        command.args(["-p", binary]);
    }
    if release {
        command.arg("--release");
    }
    command.stdin(Stdio::null()).stdout(Stdio::piped());
    match output {
        BuildOutput::Terminal => command.stderr(Stdio::inherit()),
        BuildOutput::File(path) => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let file =
                File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
            command.stderr(file)
        }
    };
    Ok(command)
}

/// The executables of `binaries` in cargo's `compiler-artifact` messages.
fn executables(messages: impl BufRead, binaries: &[String]) -> Result<HashMap<String, PathBuf>> {
    let mut executables = HashMap::new();
    for line in messages.lines() {
        let line = line.context("cannot read cargo's output")?;
        let Ok(message) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        let name = message["target"]["name"].as_str().unwrap_or_default();
        if message["reason"] == "compiler-artifact"
            && binaries.iter().any(|b| b == name)
            && let Some(executable) = message["executable"].as_str()
        {
            executables.insert(name.to_owned(), PathBuf::from(executable));
        }
    }
    Ok(executables)
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
