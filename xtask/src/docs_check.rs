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
    // --allow-dirty: earlier steps may leave files behind (fuzz corpora); the packages
    // list only their own files, which `cargo package --list` shows.
    util::run(cargo().args(["publish", "--dry-run", "--allow-dirty", "-p", "hvsock", "-p", "hvcat"]))
}
