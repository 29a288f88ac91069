//! Puts the commit the tools are built from into `HVTOOLS_COMMIT`, for `--version`:
//! `HVSOCK_BUILD_COMMIT` if set; else, in a crate unpacked from crates.io, the commit that
//! `cargo package` recorded in `.cargo_vcs_info.json`; else `git rev-parse HEAD`; else
//! `unknown`. Twelve hex digits at most.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=HVSOCK_BUILD_COMMIT");
    let dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let commit = std::env::var("HVSOCK_BUILD_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| vcs_info(&dir))
        .or_else(|| git_head(&dir))
        .unwrap_or_else(|| "unknown".into());
    let short: String = commit.chars().take(12).collect();
    println!("cargo:rustc-env=HVTOOLS_COMMIT={short}");
}

/// `"sha1": "..."` of `.cargo_vcs_info.json`, which `cargo package` writes.
fn vcs_info(dir: &Path) -> Option<String> {
    let path = dir.join(".cargo_vcs_info.json");
    println!("cargo:rerun-if-changed={}", path.display());
    let text = std::fs::read_to_string(path).ok()?;
    let start = text.find("\"sha1\"")? + "\"sha1\"".len();
    let rest = text[start..].trim_start().strip_prefix(':')?.trim_start().strip_prefix('"')?;
    let sha = &rest[..rest.find('"')?];
    sha.bytes().all(|b| b.is_ascii_hexdigit()).then(|| sha.to_string()).filter(|s| !s.is_empty())
}

/// `git rev-parse HEAD`, rebuilding when HEAD or the branch it names moves.
fn git_head(dir: &Path) -> Option<String> {
    let git = |args: &[&str]| -> Option<String> {
        let out = Command::new("git").args(args).current_dir(dir).output().ok()?;
        out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let head = git(&["rev-parse", "HEAD"])?;
    let mut watched = vec!["HEAD".to_string(), "packed-refs".to_string()];
    watched.extend(git(&["symbolic-ref", "-q", "HEAD"]));
    for name in watched {
        if let Some(path) = git(&["rev-parse", "--git-path", &name]) {
            println!("cargo:rerun-if-changed={}", dir.join(path).display());
        }
    }
    Some(head)
}
