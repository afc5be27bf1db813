//! The repository's `template.yaml` is valid, lints clean, and lines up with the code:
//! every function resource names a binary that exists and has a sample event in `events/`,
//! and every function binary has its resource.

// Helpers outside the test functions fail the test on a setup error too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use local::paths::repo_root;
use local_template::{LoadOptions, Template};

/// The binaries of the service crates under `functions/`, from `cargo metadata`.
fn function_binaries(root: &Path) -> BTreeSet<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(root)
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let functions = root.join("functions");
    metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| Path::new(p["manifest_path"].as_str().unwrap()).starts_with(&functions))
        .flat_map(|p| p["targets"].as_array().unwrap().iter())
        .filter(|t| t["kind"].as_array().unwrap().iter().any(|k| k == "bin"))
        .map(|t| t["name"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn every_function_has_its_binary_and_sample_event_and_every_binary_its_function() {
    let root = repo_root();
    let template = Template::from_file(root.join("template.yaml")).unwrap();
    let model = template
        .resolve(&LoadOptions::default(), &Default::default())
        .unwrap();
    let in_template: BTreeSet<String> = model.functions.iter().map(|f| f.binary.clone()).collect();
    let in_code = function_binaries(&root);
    assert!(!in_code.is_empty());
    assert_eq!(
        in_template, in_code,
        "template binaries vs. function crates' binaries"
    );
    for binary in &in_code {
        let event = root.join("events").join(format!("{binary}.json"));
        let text = std::fs::read_to_string(&event)
            .unwrap_or_else(|e| panic!("{} is missing: {e}", event.display()));
        serde_json::from_str::<serde_json::Value>(&text)
            .unwrap_or_else(|e| panic!("{} is not JSON: {e}", event.display()));
    }
}

#[test]
fn every_function_is_built_by_cargo_lambda_with_its_binary_named() {
    let root = repo_root();
    let template = Template::from_file(root.join("template.yaml")).unwrap();
    let raw = template.raw();
    for (id, resource) in raw["Resources"].as_object().unwrap() {
        if resource["Type"] != "AWS::Serverless::Function" {
            continue;
        }
        assert_eq!(
            resource["Metadata"]["BuildMethod"], "rust-cargolambda",
            "{id}"
        );
        let code_uri = resource["Properties"]["CodeUri"]
            .as_str()
            .unwrap_or_default();
        let crate_dir = root.join(code_uri);
        assert!(
            crate_dir.join("Cargo.toml").is_file(),
            "{id}: CodeUri {code_uri} is a crate"
        );
        assert!(
            !crate_dir.join("target").exists(),
            "{id}: no Cargo target dir inside CodeUri"
        );
    }
}

/// Runs a tool from the pinned template-checks environment.
fn tool(name: &str, args: &[&str]) -> std::process::Output {
    let root = repo_root();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let venv = runtime
        .block_on(local::emulator::install_tools(&root, "tools"))
        .unwrap();
    Command::new(venv.join("bin").join(name))
        .current_dir(&root)
        .args(args)
        .env("SAM_CLI_TELEMETRY", "0")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .output()
        .unwrap()
}

#[test]
fn cfn_lint_passes() {
    let output = tool(
        "cfn-lint",
        &[
            "template.yaml",
            "local/tests/fixtures/template.yaml",
            "local/tests/fixtures/custom-resources.yaml",
            "local/tests/fixtures/streams.yaml",
        ],
    );
    assert!(
        output.status.success(),
        "cfn-lint:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn sam_validate_lint_passes() {
    let output = tool(
        "sam",
        &[
            "validate",
            "--lint",
            "--template",
            "template.yaml",
            "--region",
            "us-east-1",
        ],
    );
    assert!(
        output.status.success(),
        "sam validate --lint:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
