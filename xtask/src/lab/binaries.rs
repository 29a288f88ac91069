//! Building the project's `hvcat`, `hvstress`, `hvbench`, the `hvraw` and
//! `spawn-latency` examples, and the `grpc-health` and `http-hello` examples, for the host (normal release build) and for
//! the guest (static, in its own target dir so it does not contend with other builds for
//! cargo's lock). Two cargo runs per flavour: the tools, then the adapters' examples.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::initramfs;
use crate::util::{self, Result};

const GUEST_TARGET: &str = "x86_64-unknown-linux-gnu";

/// The programs built next to hvcat, as paths below the release dir.
pub const PROGRAMS: &[&str] = &[
    "hvcat",
    "hvstress",
    "hvbench",
    "examples/hvraw",
    "examples/spawn-latency",
    "examples/grpc-health",
    "examples/http-hello",
];

/// The built binaries, or why each could not be built. A missing binary
/// fails only the scenarios that need it.
pub struct Binaries {
    pub host_hvcat: Result<PathBuf, String>,
    pub guest_hvcat: Result<PathBuf, String>,
}

impl Binaries {
    /// A host program of the same build as hvcat (one of [`PROGRAMS`], by file name).
    pub fn host(&self, name: &str) -> Result<PathBuf, String> {
        sibling(&self.host_hvcat, name)
    }

    /// The static guest programs, for the image: every one of [`PROGRAMS`].
    pub fn guest_programs(&self) -> Result<Vec<PathBuf>, String> {
        PROGRAMS.iter().map(|p| sibling(&self.guest_hvcat, p)).collect()
    }
}

/// `name` (a file name or `examples/NAME`) in the release dir that holds `hvcat`.
fn sibling(hvcat: &Result<PathBuf, String>, name: &str) -> Result<PathBuf, String> {
    let hvcat = hvcat.as_ref().map_err(Clone::clone)?;
    let dir = hvcat.parent().unwrap_or(hvcat);
    let path = dir.join(PROGRAMS.iter().find(|p| p.rsplit('/').next() == Some(name)).unwrap_or(&name));
    if path.exists() {
        Ok(path)
    } else {
        Err(format!("{} was not built", path.display()))
    }
}

/// `cargo build` arguments that build every one of [`PROGRAMS`].
pub const BUILD: &[&str] = &[
    "build",
    "--quiet",
    "--release",
    "-p",
    "hvcat",
    "-p",
    "hvsock",
    "--bins",
    "--example",
    "hvraw",
    "--example",
    "spawn-latency",
];

/// The gRPC and HTTP examples (#16), which need the adapters' features: a second cargo
/// run after [`BUILD`], so that the tools (and `cargo xtask dist`) are built without them.
const EXAMPLES: &[&str] = &[
    "build",
    "--quiet",
    "--release",
    "-p",
    "hvsock",
    "--features",
    "tonic,axum,hyper",
    "--example",
    "grpc-health",
    "--example",
    "http-hello",
];

/// The workspace root (the parent of the xtask crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_path_buf()
}

fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(workspace_root());
    cmd
}

/// Runs [`BUILD`], then [`EXAMPLES`], each with what `flavour` adds.
fn build_all(flavour: impl Fn(&mut Command)) -> Result<()> {
    for args in [BUILD, EXAMPLES] {
        let mut command = cargo();
        command.args(args);
        flavour(&mut command);
        util::run(&mut command)?;
    }
    Ok(())
}

/// Builds the host flavour of hvcat and its sibling programs only (a normal release
/// build): what the benchmarks that run on this machine alone need.
pub fn build_host() -> Result<PathBuf, String> {
    let host_dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    build_all(|_| {}).map(|()| host_dir.join("release/hvcat")).map_err(|e| e.to_string())
}

/// Builds both flavours of hvcat and its sibling programs.
pub fn build() -> Binaries {
    let root = workspace_root();
    let host_hvcat = build_host();

    let lab_dir = root.join("target/lab");
    let guest_hvcat = build_all(|cargo| {
        cargo
            .args(["--target", GUEST_TARGET])
            .arg("--target-dir")
            .arg(&lab_dir)
            .env("RUSTFLAGS", "-C target-feature=+crt-static");
    })
    .map(|()| lab_dir.join(GUEST_TARGET).join("release/hvcat"))
    .and_then(|p| {
        let dir = p.parent().unwrap_or(&p);
        PROGRAMS.iter().try_for_each(|name| initramfs::ensure_static(&dir.join(name)))?;
        Ok(p)
    })
    .map_err(|e| e.to_string());
    Binaries { host_hvcat, guest_hvcat }
}
