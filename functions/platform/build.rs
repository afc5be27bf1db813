//! Embeds the sample events of `events/` (their request bodies become the examples of the OpenAPI
//! document).

use std::{env, fmt::Write as _, fs, io, path::PathBuf};

fn main() -> io::Result<()> {
    let manifest = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let events = manifest.join("../../events");
    println!("cargo:rerun-if-changed={}", events.display());
    let mut names = Vec::new();
    for entry in fs::read_dir(&events)? {
        if let Ok(name) = entry?.file_name().into_string()
            && name.ends_with(".json")
        {
            names.push(name);
        }
    }
    names.sort();
    let mut code = String::from("/// Every sample event: its file name and text.\n");
    code.push_str("pub const SAMPLE_EVENTS: &[(&str, &str)] = &[\n");
    for name in &names {
        let path = events.join(name);
        println!("cargo:rerun-if-changed={}", path.display());
        let _ = writeln!(
            code,
            "    ({name:?}, include_str!({:?})),",
            path.display().to_string()
        );
    }
    code.push_str("];\n");
    let out = PathBuf::from(env::var_os("OUT_DIR").unwrap_or_default()).join("sample_events.rs");
    fs::write(out, code)
}
