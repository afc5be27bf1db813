//! Builds the function binaries a template names, with the same Cargo the developer uses.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

/// The Cargo profile to build function binaries with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Profile {
    /// Unoptimized, fast to build (the default for the local stack and tests).
    #[default]
    Dev,
    /// Optimized, as deployed.
    Release,
}

/// Builds `binaries` in the workspace at `root` and returns each binary's executable path.
///
/// Cargo's own progress goes to stderr; diagnostics are rendered as usual.
pub async fn build_binaries(
    root: &Path,
    binaries: &BTreeSet<String>,
    profile: Profile,
) -> anyhow::Result<BTreeMap<String, PathBuf>> {
    if binaries.is_empty() {
        return Ok(BTreeMap::new());
    }
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(root)
        .args(["build", "--message-format=json-render-diagnostics"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    if profile == Profile::Release {
        command.arg("--release");
    }
    for binary in binaries {
        command.args(["--bin", binary]);
    }
    let mut child = command.spawn().context("run cargo build")?;
    let stdout = child.stdout.take().context("cargo build stdout")?;
    let mut lines = BufReader::new(stdout).lines();
    let mut executables = BTreeMap::new();
    while let Some(line) = lines.next_line().await.context("read cargo build output")? {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(&line) else {
            continue;
        };
        if message["reason"] != "compiler-artifact" {
            continue;
        }
        let (Some(name), Some(executable)) = (
            message["target"]["name"].as_str(),
            message["executable"].as_str(),
        ) else {
            continue;
        };
        if binaries.contains(name) {
            executables.insert(name.to_owned(), PathBuf::from(executable));
        }
    }
    let status = child.wait().await.context("wait for cargo build")?;
    if !status.success() {
        bail!("cargo build failed ({status})");
    }
    let missing: Vec<_> = binaries
        .iter()
        .filter(|b| !executables.contains_key(*b))
        .collect();
    if !missing.is_empty() {
        bail!("cargo build produced no executable for {missing:?}");
    }
    Ok(executables)
}
