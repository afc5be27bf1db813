//! Writes the API's OpenAPI document to `openapi.json` at the repository root:
//! `cargo run -p platform --example openapi`. With `--check`, only says whether the file is current.

use std::{fs, path::Path, process::ExitCode};

fn main() -> ExitCode {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../openapi.json");
    let text = platform::openapi::document_text();
    let check = std::env::args().any(|arg| arg == "--check");
    let current = fs::read_to_string(&path).is_ok_and(|old| old == text);
    if check {
        if current {
            println!("openapi.json is current");
            return ExitCode::SUCCESS;
        }
        eprintln!(
            "openapi.json differs from the code: run `cargo run -p platform --example openapi`"
        );
        return ExitCode::FAILURE;
    }
    match fs::write(&path, &text) {
        Ok(()) => {
            println!("wrote openapi.json ({} bytes)", text.len());
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("cannot write {}: {error}", path.display());
            ExitCode::FAILURE
        }
    }
}
