//! `cargo xtask fuzz [SECONDS]`: runs every `cargo fuzz` target for a while (briefly in
//! `cargo xtask test`), starting from the corpus kept in `fuzz/corpus`, so every input
//! that once found a bug is replayed too.

use std::process::Command;

use crate::lab::binaries::workspace_root;
use crate::util::{self, Result};

/// The fuzz targets in `fuzz/fuzz_targets`.
pub const TARGETS: [&str; 4] = ["uri", "hybrid_reply", "sockaddr", "framed"];

/// How long each target runs in `cargo xtask test`.
pub const BRIEF_SECS: u32 = 15;

/// Runs each target for `secs` seconds; fails on any crash (libFuzzer exits non-zero and
/// leaves the input in `fuzz/artifacts`).
pub fn run(secs: u32) -> Result<()> {
    ensure_cargo_fuzz()?;
    for target in TARGETS {
        println!("fuzz: {target} for {secs} s");
        util::run(
            cargo()
                .args(["fuzz", "run", "--sanitizer", "none", target, "--"])
                .arg(format!("-max_total_time={secs}"))
                .arg("-print_final_stats=1"),
        )?;
    }
    Ok(())
}

/// Parses `[SECONDS]` and runs.
pub fn main(args: &[String]) -> Result<()> {
    let secs = match args.first() {
        None => 60,
        Some(text) => text
            .parse()
            .map_err(|_| util::Error::msg(format!("usage: cargo xtask fuzz [SECONDS], not {text}")))?,
    };
    run(secs)
}

/// Installs cargo-fuzz unless it is there (cargo keeps it in ~/.cargo/bin for reruns).
fn ensure_cargo_fuzz() -> Result<()> {
    let present = cargo().args(["fuzz", "--version"]).output().is_ok_and(|o| o.status.success());
    if !present {
        println!("fuzz: installing cargo-fuzz");
        util::run(cargo().args(["install", "--locked", "cargo-fuzz", "--version", "0.13.2"]))?;
    }
    Ok(())
}

/// `cargo` in the fuzz crate's directory (it is not part of the workspace).
fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(workspace_root().join("fuzz"));
    cmd
}
