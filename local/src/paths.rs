//! Where the local stack finds the project: the repository root, its tools and its template.

use std::path::{Path, PathBuf};

/// The repository root: `$LOCAL_STACK_ROOT` if set, else the directory this crate was built from.
pub fn repo_root() -> PathBuf {
    match std::env::var_os("LOCAL_STACK_ROOT") {
        Some(root) => PathBuf::from(root),
        None => Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from(".")),
    }
}

/// Where pinned tool environments are installed: `$LOCAL_TOOLS_DIR` or `<root>/.local`.
pub fn tools_dir(root: &Path) -> PathBuf {
    match std::env::var_os("LOCAL_TOOLS_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => root.join(".local"),
    }
}
