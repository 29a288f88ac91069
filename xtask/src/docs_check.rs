//! The crates as crates.io and docs.rs will see them (CI steps):
//!
//! - [`doc`]: `cargo doc` of hvsock (every feature) and hvcat's library as docs.rs
//!   builds them (`--cfg docsrs`, so `doc(cfg)` badges are rendered), warnings denied
//!   (broken links, missing docs: the library denies `missing_docs`). docs.rs uses a
//!   nightly compiler for `doc(cfg)`; here `RUSTC_BOOTSTRAP=1` lets stable do the same.
//! - [`publish_dry_run`]: `cargo publish --dry-run -p hvsock -p hvcat`: both packages
//!   are made as they would be uploaded, and each is built from its packaged sources
//!   alone, hvcat against the packaged hvsock (cargo publishes the two in order, so
//!   hvcat's check needs no hvsock on crates.io). What it cannot show: that the names
//!   are free on crates.io, and the upload itself.

use std::process::Command;

use crate::lab::binaries::workspace_root;
use crate::util::{self, Result};

fn cargo() -> Command {
    let mut cargo = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cargo.current_dir(workspace_root());
    cargo
}

pub fn doc() -> Result<()> {
    util::run(
        cargo()
            .args(["doc", "--no-deps", "-p", "hvsock", "-p", "hvcat", "--all-features"])
            .args(["--target-dir", "target/doc-check"])
            .env("RUSTDOCFLAGS", "--cfg docsrs -D warnings")
            .env("RUSTC_BOOTSTRAP", "1"),
    )
}

pub fn publish_dry_run() -> Result<()> {
    forget_packaged_copies()?;
    // --allow-dirty: earlier steps may leave files behind (fuzz corpora); the packages
    // list only their own files, which `cargo package --list` shows.
    util::run(
        cargo()
            .args(["publish", "--dry-run", "--allow-dirty", "-p", "hvsock", "-p", "hvcat"])
            .env("CARGO_TARGET_DIR", workspace_root().join(PUBLISH_TARGET)),
    )
}

/// The dry-run's own target dir, so that [`forget_packaged_copies`] can clear it.
const PUBLISH_TARGET: &str = "target/publish-check";

/// Removes what earlier dry-runs left of the packages. cargo unpacks the packaged
/// hvsock into `$CARGO_HOME/registry/src/*/hvsock-VERSION` to build hvcat against it,
/// and unpacks it again only if that directory is missing; and it takes a registry
/// crate's build to be fresh whatever its contents, as a published version never
/// changes. Without this, hvcat would be checked against the hvsock of an older dry-run
/// (seen here: `cannot find function local_cid_at` after an API was added). Neither
/// name has this version on crates.io, so every such copy is a dry-run's.
fn forget_packaged_copies() -> Result<()> {
    let target = workspace_root().join(PUBLISH_TARGET);
    if target.exists() {
        for dir in ["debug/deps", "debug/.fingerprint", "debug/build"] {
            let Ok(entries) = std::fs::read_dir(target.join(dir)) else { continue };
            for entry in entries.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if ["hvsock-", "libhvsock-", "hvcat-", "libhvtools-", "hvtools-"]
                    .iter()
                    .any(|p| name.starts_with(p))
                {
                    let path = entry.path();
                    if path.is_dir() {
                        std::fs::remove_dir_all(&path)?
                    } else {
                        std::fs::remove_file(&path)?
                    }
                }
            }
        }
    }
    let home = std::env::var_os("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".cargo")))
        .ok_or_else(|| util::Error::msg("neither CARGO_HOME nor HOME is set"))?;
    let version =
        crate::dist::workspace_version(&std::fs::read_to_string(workspace_root().join("Cargo.toml"))?)?;
    for (kind, suffix) in [("src", ""), ("cache", ".crate")] {
        let Ok(registries) = std::fs::read_dir(home.join("registry").join(kind)) else { continue };
        for registry in registries.flatten() {
            for name in ["hvsock", "hvcat"] {
                let copy = registry.path().join(format!("{name}-{version}{suffix}"));
                if copy.is_dir() {
                    std::fs::remove_dir_all(&copy)?;
                } else if copy.is_file() {
                    std::fs::remove_file(&copy)?;
                }
            }
        }
    }
    Ok(())
}
