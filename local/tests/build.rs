//! One compiled set of dependencies: whatever is built — the local stack alone (`cargo run -p
//! local`), one service's functions (what the stack builds, what `sam build` builds), or the whole
//! workspace with its tests — every dependency resolves to the same features, so cargo compiles it
//! once and reuses it. The `workspace-hack` crate (cargo hakari) makes it so; this test fails when
//! a dependency change needs `cargo hakari generate` (see the README).

// Helpers outside the test functions fail the test on a setup error too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use local::paths::repo_root;

/// Every third-party package of a selection, with the feature sets it is built with (a crate may
/// be built twice: as a normal and as a build dependency).
fn features(selection: &[&str], edges: &str) -> BTreeMap<String, BTreeSet<String>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(repo_root())
        .arg("tree")
        .args(selection)
        .args(["-e", edges, "--prefix", "none", "--format", "{p}|{f}"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let mut packages: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in String::from_utf8(output.stdout).unwrap().lines() {
        let line = line
            .trim_end_matches(" (*)")
            .trim_end_matches(" (proc-macro)");
        let Some((package, features)) = line.split_once('|') else {
            continue;
        };
        // Workspace members show their path; their own features do not matter here.
        if package.contains(" (/") || package.is_empty() {
            continue;
        }
        let features = features.trim_end_matches(" (*)").to_owned();
        packages
            .entry(package.to_owned())
            .or_default()
            .insert(features);
    }
    packages
}

fn members() -> Vec<String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(repo_root())
        .args(["metadata", "--no-deps", "--format-version", "1"])
        .output()
        .unwrap();
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_owned())
        .filter(|name| name != "workspace-hack")
        .collect()
}

#[test]
fn every_dependency_is_built_with_one_set_of_features_whatever_is_built() {
    let everything = features(&["--workspace"], "normal,build,dev");
    assert!(everything.len() > 100, "cargo tree listed the dependencies");
    let mut differences = Vec::new();
    for member in members() {
        for (package, sets) in features(&["-p", &member], "normal,build") {
            match everything.get(&package) {
                Some(all) if all == &sets => {}
                Some(all) => differences.push(format!(
                    "{package}: `-p {member}` builds it with {sets:?}, the workspace with {all:?}"
                )),
                None => differences.push(format!("{package}: only in `-p {member}`")),
            }
        }
    }
    assert!(
        differences.is_empty(),
        "dependencies built with other features than the workspace's (run `cargo hakari generate && cargo hakari manage-deps`):\n{}",
        differences.join("\n")
    );
}
