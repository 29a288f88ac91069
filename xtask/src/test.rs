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
