//! `cargo xtask test`: everything CI checks, as a list of steps. Each step
//! runs even if an earlier one failed; the names and durations are printed
//! and the command fails if any step did. Adding a check is adding a line
//! to [`STEPS`].

use std::process::Command;
use std::time::Instant;

use crate::lab;
use crate::util::{self, Result};

struct Step {
    name: &'static str,
    run: fn() -> Result<()>,
}

const STEPS: &[Step] = &[
    Step { name: "cargo fmt --all --check", run: || cargo(&["fmt", "--all", "--check"]) },
    Step {
        name: "cargo clippy --workspace --all-targets -- -D warnings",
        run: || cargo(&["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]),
    },
    Step { name: "cargo test --workspace", run: || cargo(&["test", "--workspace"]) },
    Step { name: "default builds pull in no adapter dependency (#16)", run: no_adapter_dependency },
    Step {
        name: "adapters (features tonic, axum, hyper): clippy, tests, examples",
        run: || {
            let features = ["-p", "hvsock", "--features", ADAPTER_FEATURES];
            cargo(&[&["clippy", "--all-targets"][..], &features, &["--", "-D", "warnings"]].concat())?;
            cargo(&[&["test"][..], &features, &["--test", "grpc", "--test", "http"]].concat())?;
            cargo(&[&["test"][..], &features, &["--doc"]].concat())
        },
    },
    Step {
        name: "cross: Windows and macOS type-check, Windows tests and hvcat.exe --register under Wine",
        run: || crate::cross::cross_check().and_then(|()| crate::wine_hvcat::run()).map_err(util::Error::msg),
    },
    Step { name: "cargo doc as docs.rs builds it, warnings denied", run: crate::docs_check::doc },
    Step { name: "cargo publish --dry-run -p hvsock -p hvcat", run: crate::docs_check::publish_dry_run },
    Step {
        name: "dist: static x86_64 + aarch64 archives, installed as README says; man pages, completions; aarch64 under qemu-user",
        run: crate::dist_check::run,
    },
    Step { name: "fuzz every target briefly", run: || crate::fuzz::run(crate::fuzz::BRIEF_SECS) },
    Step { name: "cargo xtask lab run", run: || lab::scenarios::run_command(&[]) },
];

/// Runs `cargo ARGS` in the workspace root.
fn cargo(args: &[&str]) -> Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    util::run(Command::new(cargo).args(args).current_dir(lab::binaries::workspace_root()))
}

/// The features of `hvsock` that bring in tonic, axum and hyper.
const ADAPTER_FEATURES: &str = "tonic,axum,hyper";

/// What those features bring in: no build that does not ask for them may have any.
const ADAPTER_CRATES: &[&str] =
    &["tonic", "axum", "hyper", "hyper-util", "http", "tower", "tower-service", "futures-core", "h2"];

/// Checks the normal dependencies of `hvsock` with its default features and with
/// `tokio` alone, and of `hvcat`, for [`ADAPTER_CRATES`].
fn no_adapter_dependency() -> Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    for build in [&["-p", "hvsock"][..], &["-p", "hvsock", "--features", "tokio"], &["-p", "hvcat"]] {
        let mut cmd = Command::new(&cargo);
        cmd.args(["tree", "-e", "normal", "--prefix", "none"]).args(build);
        let tree = util::output(cmd.current_dir(lab::binaries::workspace_root()))?;
        let found = adapter_crates_in(&tree);
        if !found.is_empty() {
            crate::bail!("`cargo tree {}` has {}", build.join(" "), found.join(", "));
        }
        println!("cargo tree {}: {} crates, none of the adapters'", build.join(" "), tree.lines().count());
    }
    Ok(())
}

/// The [`ADAPTER_CRATES`] in `cargo tree --prefix none` output (`NAME vVERSION ...`).
fn adapter_crates_in(tree: &str) -> Vec<String> {
    let mut found: Vec<String> = tree
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| ADAPTER_CRATES.contains(name))
        .map(String::from)
        .collect();
    found.sort();
    found.dedup();
    found
}

pub fn main() -> Result<()> {
    let started = Instant::now();
    let mut results = Vec::new();
    for step in STEPS {
        println!("==> {}", step.name);
        let t = Instant::now();
        let result = (step.run)();
        let took = util::secs(t.elapsed());
        match &result {
            Ok(()) => println!("<== {}: ok ({took})", step.name),
            Err(e) => println!("<== {}: FAILED ({took}): {e}", step.name),
        }
        results.push((step.name, took, result.is_ok()));
    }
    println!("\nxtask test summary ({} in all):", util::secs(started.elapsed()));
    for (name, took, ok) in &results {
        println!("  {:<6} {took:>8}  {name}", if *ok { "ok" } else { "FAILED" });
    }
    let failed = results.iter().filter(|r| !r.2).count();
    if failed > 0 {
        crate::bail!("{failed} of {} steps failed", results.len());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_adapter_check_finds_what_it_looks_for_and_nothing_else() {
        let tree = "hvsock v0.1.0 (/w/crates/hvsock)\nhyper-util v0.1.21\nhyper v1.8.1\nhttparse v1.10.1\nhyper v1.8.1 (*)\ntokio v1.48.0\n";
        assert_eq!(adapter_crates_in(tree), ["hyper", "hyper-util"]);
        assert!(adapter_crates_in("hvsock v0.1.0 (/w)\ntokio v1.48.0\nhttparse v1.10.1\n").is_empty());
    }
}
