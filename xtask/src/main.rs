//! Fjord's developer tasks.
//!
//! `cargo xtask codegen [--check] [SPEC_DIR]` generates the message types of
//! `fjord-protocol` from Kafka's JSON message specs (default: `../shared/kafka-message-specs`
//! next to the workspace). With `--check` it writes nothing and fails when the committed
//! code differs from what the specs generate, which is how CI catches stale code.
//!
//! Specs in `crates/protocol/spec-overrides/` replace the spec of the same file name: they
//! carry newer versions of a message than the shared spec set has (see ADR 0005).

mod emit;
mod spec;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("codegen") => codegen(&args[1..]),
        _ => Err("usage: cargo xtask codegen [--check] [SPEC_DIR]".to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

fn workspace_root() -> PathBuf {
    // xtask lives one level below the workspace root.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn codegen(args: &[String]) -> Result<(), String> {
    let check = args.iter().any(|a| a == "--check");
    let root = workspace_root();
    let spec_dir = args
        .iter()
        .find(|a| !a.starts_with("--"))
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("../shared/kafka-message-specs"));
    let out_dir = root.join("crates/protocol/src/messages");

    let mut paths = spec_files(&spec_dir)?;
    let override_dir = root.join("crates/protocol/spec-overrides");
    for path in spec_files(&override_dir)? {
        paths.retain(|p| p.file_name() != path.file_name());
        paths.push(path);
    }
    // Sorting makes the output independent of the directory's order.
    paths.sort();
    let mut specs = Vec::new();
    for path in &paths {
        specs.push(spec::parse_file(path)?);
    }
    specs.sort_by(|a, b| a.name.cmp(&b.name));

    let mut files: Vec<(PathBuf, String)> = Vec::new();
    for spec in &specs {
        files.push((
            out_dir.join(format!("{}.rs", emit::snake(&spec.name))),
            emit::emit_spec(spec)?,
        ));
    }
    files.push((out_dir.join("mod.rs"), emit::emit_index(&specs)?));

    let mut stale = Vec::new();
    for (path, source) in &files {
        let formatted = rustfmt(source).map_err(|e| format!("{}: {e}", path.display()))?;
        let current = std::fs::read_to_string(path).unwrap_or_default();
        if current != formatted {
            stale.push(path.clone());
            if !check {
                std::fs::create_dir_all(&out_dir)
                    .map_err(|e| format!("{}: {e}", out_dir.display()))?;
                std::fs::write(path, formatted).map_err(|e| format!("{}: {e}", path.display()))?;
            }
        }
    }
    // Files for specs that no longer exist are stale too.
    if let Ok(entries) = std::fs::read_dir(&out_dir) {
        for entry in entries.flatten() {
            let path = entry.path();
            if !files.iter().any(|(p, _)| *p == path) {
                stale.push(path.clone());
                if !check {
                    std::fs::remove_file(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                }
            }
        }
    }
    if check && !stale.is_empty() {
        let names: Vec<String> = stale.iter().map(|p| p.display().to_string()).collect();
        return Err(format!(
            "generated code is stale; run `cargo xtask codegen`:\n  {}",
            names.join("\n  ")
        ));
    }
    println!(
        "{} {} specs; {} file(s) {}",
        if check { "checked" } else { "generated" },
        specs.len(),
        stale.len(),
        if check { "stale" } else { "written" }
    );
    Ok(())
}

/// The JSON specs in `dir`.
fn spec_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    Ok(std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect())
}

/// Formats Rust source with the toolchain's rustfmt, so the output passes `cargo fmt`.
fn rustfmt(source: &str) -> Result<String, String> {
    let root = workspace_root();
    let mut child = Command::new("rustfmt")
        .args(["--edition", "2024", "--emit", "stdout", "--quiet"])
        .arg("--config-path")
        .arg(&root)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run rustfmt: {e}"))?;
    let mut stdin = child.stdin.take().ok_or("rustfmt has no stdin")?;
    let input = source.to_owned();
    // Write from another thread so a large output cannot deadlock on full pipes.
    let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
    let output = child
        .wait_with_output()
        .map_err(|e| format!("rustfmt: {e}"))?;
    writer
        .join()
        .map_err(|_| "rustfmt writer panicked")?
        .map_err(|e| format!("rustfmt: {e}"))?;
    if !output.status.success() {
        let _ = std::fs::write("/tmp/xtask-unformatted.rs", source);
        return Err(format!(
            "rustfmt failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    String::from_utf8(output.stdout).map_err(|e| format!("rustfmt output: {e}"))
}
