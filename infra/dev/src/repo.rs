//! Finding the repository root, from this crate's own location or from `cargo`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

/// The directory holding `template.yaml`, wherever the caller runs from.
///
/// This crate always lives at `<repo>/infra/dev`, so its compile-time manifest directory
/// names the repository even when another crate's tests use it as a library. If that
/// checkout has moved since (a copied binary), `cargo locate-project` from the current
/// directory finds the workspace instead.
pub fn repo_root() -> Result<PathBuf> {
    let compiled_in = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    if compiled_in.join("template.yaml").is_file() {
        return Ok(compiled_in.canonicalize()?);
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .args(["locate-project", "--workspace", "--message-format", "plain"])
        .output()
        .context("cannot run `cargo locate-project` to find the repository")?;
    if !output.status.success() {
        bail!("not inside the shop's cargo workspace: cannot find template.yaml");
    }
    let manifest = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    let root = manifest
        .parent()
        .context("cargo printed a manifest path without a directory")?
        .to_path_buf();
    if !root.join("template.yaml").is_file() {
        bail!("{} has no template.yaml", root.display());
    }
    Ok(root)
}

/// `<repo>/.dev`: the venv, logs and locks of the local cloud (git-ignored).
pub fn dev_dir(repo_root: &Path) -> PathBuf {
    repo_root.join(".dev")
}
