//! Every state machine definition the project ships (`infra/**/*.asl.json`) and every one the
//! local stack's tests run (`local/tests/fixtures/statemachines/*.asl.json`) is accepted by
//! `asl-validator`, pinned in `local/node/package-lock.json`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the local crate lives in the repository")
        .to_path_buf()
}

/// Installs the pinned Node tools once (`local/node/install.sh` holds a lock and skips an
/// install from the same lock file) and returns `asl-validator`'s path.
fn asl_validator() -> PathBuf {
    let script = repo_root().join("local/node/install.sh");
    let output = Command::new("bash")
        .arg(&script)
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", script.display()));
    assert!(
        output.status.success(),
        "{} failed ({}):\n{}",
        script.display(),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let bin = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    PathBuf::from(bin).join("asl-validator")
}

fn definitions_under(dir: &Path, found: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if path.is_dir() && name != "node_modules" && name != "target" {
            definitions_under(&path, found);
        } else if name.to_string_lossy().ends_with(".asl.json") {
            found.push(path);
        }
    }
}

#[test]
fn asl_validator_accepts_every_definition() {
    let root = repo_root();
    let mut fixtures = Vec::new();
    definitions_under(
        &root.join("local/tests/fixtures/statemachines"),
        &mut fixtures,
    );
    assert!(
        !fixtures.is_empty(),
        "no fixture definitions under local/tests/fixtures/statemachines"
    );
    let mut definitions = Vec::new();
    definitions_under(&root.join("infra"), &mut definitions);
    definitions.extend(fixtures);
    definitions.sort();

    // One run for all of them (each start of node costs a second); the validator reports
    // every file on its own line.
    let mut command = Command::new(asl_validator());
    for definition in &definitions {
        command.arg("--json-path").arg(definition);
    }
    let output = command.output().expect("run asl-validator");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    println!("{}", report.trim());
    let names: Vec<String> = definitions
        .iter()
        .map(|d| d.strip_prefix(&root).unwrap_or(d).display().to_string())
        .collect();
    assert!(
        output.status.success(),
        "asl-validator rejected at least one of {names:#?} ({}):\n{}",
        output.status,
        report.trim()
    );
}

#[test]
fn asl_validator_rejects_a_broken_definition() {
    let dir = std::env::temp_dir().join(format!("asl-validate-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let broken = dir.join("broken.asl.json");
    std::fs::write(
        &broken,
        r#"{"StartAt": "Missing", "States": {"Only": {"Type": "Pass", "Next": "Nowhere"}}}"#,
    )
    .unwrap();
    let output = Command::new(asl_validator())
        .arg("--json-path")
        .arg(&broken)
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).ok();
    assert!(
        !output.status.success(),
        "asl-validator accepted a definition whose StartAt and Next name no state:\n{}",
        String::from_utf8_lossy(&output.stdout)
    );
}
