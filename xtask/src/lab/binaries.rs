//! Building the project's `hvcat` for the host (normal release build) and
//! for the guest (static, in its own target dir so it does not contend with
//! other builds for cargo's lock).

use std::path::{Path, PathBuf};
use std::process::Command;

use super::initramfs;
use crate::util::{self, Result};

const GUEST_TARGET: &str = "x86_64-unknown-linux-gnu";

/// The built binaries, or why each could not be built. A missing binary
/// fails only the scenarios that need it.
pub struct Binaries {
    pub host_hvcat: Result<PathBuf, String>,
    pub guest_hvcat: Result<PathBuf, String>,
}

/// The workspace root (the parent of the xtask crate).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_path_buf()
}

fn cargo() -> Command {
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.current_dir(workspace_root());
    cmd
}

/// Builds both flavours of hvcat.
pub fn build() -> Binaries {
    let root = workspace_root();
    let host_dir =
        std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target"));
    let host_hvcat = util::run(cargo().args(["build", "--quiet", "--release", "-p", "hvcat"]))
        .map(|()| host_dir.join("release/hvcat"))
        .map_err(|e| e.to_string());

    let lab_dir = root.join("target/lab");
    let guest_hvcat = util::run(
        cargo()
            .args(["build", "--quiet", "--release", "-p", "hvcat", "--target", GUEST_TARGET])
            .arg("--target-dir")
            .arg(&lab_dir)
            .env("RUSTFLAGS", "-C target-feature=+crt-static"),
    )
    .map(|()| lab_dir.join(GUEST_TARGET).join("release/hvcat"))
    .and_then(|p| initramfs::ensure_static(&p).map(|()| p))
    .map_err(|e| e.to_string());
    Binaries { host_hvcat, guest_hvcat }
}
