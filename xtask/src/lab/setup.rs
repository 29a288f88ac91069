//! `cargo xtask lab setup`: makes sure the host has everything the lab needs
//! and caches the downloaded and built pieces so later runs start at once.
//!
//! Cache layout (see [`super::cache_dir`]):
//! - `kernel/<package>/` — the unpacked Debian cloud kernel package,
//!   complete once `kernel/<package>/.complete` exists;
//! - `vhost-device-vsock/bin/vhost-device-vsock` — `cargo install --root` output.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use crate::util::{self, Context, Result};
use crate::{bail, ensure};

/// Debian packages the lab uses on the host, and why.
pub const PACKAGES: &[(&str, &str)] = &[
    ("qemu-system-x86", "boots the guest"),
    ("cpio", "packs the initramfs"),
    ("busybox-static", "the guest's userland"),
    ("socat", "third-party vsock peer copied into the guest"),
    ("ncat", "third-party vsock peer copied into the guest"),
    ("libc6-dev", "static glibc for the guest's static hvcat"),
    ("strace", "host tests that give hvcat vsock URIs run it with socket(2) failing"),
];

/// The metapackage whose dependency names the current cloud kernel package.
const KERNEL_META: &str = "linux-image-cloud-amd64";
const VHOST_DEVICE_VSOCK: &str = "vhost-device-vsock";
const VHOST_DEVICE_VSOCK_VERSION: &str = "0.3.0";

/// What setup provides to the rest of the lab.
pub struct Tools {
    /// The guest kernel image.
    pub vmlinuz: PathBuf,
    /// Root of the unpacked kernel package (modules live below it).
    pub kernel_root: PathBuf,
    /// The vhost-user vsock device binary.
    pub vhost_device_vsock: PathBuf,
}

/// Installs or locates everything; idempotent and quick when the cache is warm.
pub fn ensure_all(cache: &Path) -> Result<Tools> {
    std::fs::create_dir_all(cache).with_context(|| format!("mkdir {}", cache.display()))?;
    let mut apt = Apt::default();
    apt.ensure_packages()?;
    let (vmlinuz, kernel_root) = ensure_kernel(cache, &mut apt)?;
    let vhost_device_vsock = ensure_vhost_device_vsock(cache)?;
    Ok(Tools { vmlinuz, kernel_root, vhost_device_vsock })
}

/// Tracks whether `apt-get update` already ran in this process.
#[derive(Default)]
struct Apt {
    updated: bool,
}

impl Apt {
    fn is_root() -> bool {
        // SAFETY: geteuid has no preconditions.
        unsafe { libc::geteuid() == 0 }
    }

    fn update(&mut self) -> Result<()> {
        if !self.updated {
            eprintln!("lab setup: apt-get update");
            util::run(Command::new("apt-get").args(["update", "-qq"]))?;
            self.updated = true;
        }
        Ok(())
    }

    fn ensure_packages(&mut self) -> Result<()> {
        let missing: Vec<&str> = PACKAGES.iter().map(|(p, _)| *p).filter(|p| !is_installed(p)).collect();
        if missing.is_empty() {
            return Ok(());
        }
        let cmd = format!("apt-get install -y --no-install-recommends {}", missing.join(" "));
        if !Self::is_root() {
            bail!("missing packages: {}; as root, run:\n  apt-get update && {cmd}", missing.join(" "));
        }
        self.update()?;
        eprintln!("lab setup: {cmd}");
        util::run(
            Command::new("apt-get")
                .args(["install", "-y", "-qq", "--no-install-recommends"])
                .args(&missing)
                .env("DEBIAN_FRONTEND", "noninteractive"),
        )
    }

    /// The package that the kernel metapackage currently depends on.
    fn kernel_package(&mut self) -> Result<String> {
        let query = || -> Option<String> {
            let out = util::output(Command::new("apt-cache").args(["depends", KERNEL_META])).ok()?;
            out.lines()
                .filter_map(|l| l.trim().strip_prefix("Depends:"))
                .map(str::trim)
                .find(|p| p.starts_with("linux-image-"))
                .map(str::to_string)
        };
        if let Some(p) = query() {
            return Ok(p);
        }
        if Self::is_root() {
            self.update()?;
            if let Some(p) = query() {
                return Ok(p);
            }
        }
        bail!("cannot find the package that {KERNEL_META} depends on (apt-cache depends {KERNEL_META}); run apt-get update as root")
    }
}

fn is_installed(package: &str) -> bool {
    util::output(Command::new("dpkg-query").args(["-W", "-f", "${db:Status-Abbrev}", package]))
        .map(|s| s.starts_with("ii"))
        .unwrap_or(false)
}

/// Downloads and unpacks the cloud kernel package unless it is cached.
/// Falls back to any cached kernel when apt cannot name one (offline).
fn ensure_kernel(cache: &Path, apt: &mut Apt) -> Result<(PathBuf, PathBuf)> {
    let kernels = cache.join("kernel");
    let package = match apt.kernel_package() {
        Ok(p) => p,
        Err(e) => match newest_cached_kernel(&kernels) {
            Some(p) => {
                eprintln!("lab setup: {e}; using cached {p}");
                p
            }
            None => return Err(e),
        },
    };
    let root = kernels.join(&package);
    if !root.join(".complete").exists() {
        eprintln!("lab setup: downloading {package}");
        let _ = std::fs::remove_dir_all(&root);
        let download = kernels.join(".download");
        let _ = std::fs::remove_dir_all(&download);
        std::fs::create_dir_all(&download)?;
        let mut cmd = Command::new("apt-get");
        if Apt::is_root() {
            // Root's cache dir is not readable by apt's sandbox user.
            cmd.args(["-o", "APT::Sandbox::User=root"]);
        }
        util::run(cmd.args(["download", "-qq", &package]).current_dir(&download))?;
        let deb = std::fs::read_dir(&download)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.extension().is_some_and(|x| x == "deb"))
            .context("apt-get download produced no .deb")?;
        util::run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&root))?;
        std::fs::remove_dir_all(&download)?;
        std::fs::write(root.join(".complete"), &package)?;
    }
    let vmlinuz = std::fs::read_dir(root.join("boot"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-")))
        .with_context(|| format!("no boot/vmlinuz-* in {}", root.display()))?;
    Ok((vmlinuz, root))
}

fn newest_cached_kernel(kernels: &Path) -> Option<String> {
    let mut names: Vec<String> = std::fs::read_dir(kernels)
        .ok()?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join(".complete").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names.pop()
}

/// Builds vhost-device-vsock with `cargo install --root` unless the cached
/// binary already reports the pinned version.
fn ensure_vhost_device_vsock(cache: &Path) -> Result<PathBuf> {
    let root = cache.join(VHOST_DEVICE_VSOCK);
    let bin = root.join("bin").join(VHOST_DEVICE_VSOCK);
    let version_ok = || {
        util::output(Command::new(&bin).arg("--version"))
            .map(|v| v.contains(VHOST_DEVICE_VSOCK_VERSION))
            .unwrap_or(false)
    };
    if version_ok() {
        return Ok(bin);
    }
    eprintln!(
        "lab setup: cargo install {VHOST_DEVICE_VSOCK} {VHOST_DEVICE_VSOCK_VERSION} (takes a few minutes)"
    );
    let started = Instant::now();
    let install = |locked: bool| {
        let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        cmd.args(["install", "--quiet", "--root"])
            .arg(&root)
            .args([VHOST_DEVICE_VSOCK, "--version", VHOST_DEVICE_VSOCK_VERSION])
            // Build outside the workspace so its target dir and lock are not ours.
            .current_dir(cache);
        if locked {
            cmd.arg("--locked");
        }
        util::run(&mut cmd)
    };
    if let Err(e) = install(true) {
        eprintln!("lab setup: {e}; retrying without --locked");
        install(false)?;
    }
    ensure!(version_ok(), "{} does not report version {VHOST_DEVICE_VSOCK_VERSION}", bin.display());
    eprintln!("lab setup: built {VHOST_DEVICE_VSOCK} in {}", util::secs(started.elapsed()));
    Ok(bin)
}

#[cfg(test)]
mod tests {
    use super::PACKAGES;

    /// `.ci/run` installs the packages before any cargo command; its list
    /// must match [`PACKAGES`].
    #[test]
    fn ci_script_installs_the_same_packages() {
        let script = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../.ci/run")).unwrap();
        let install = script
            .replace("\\\n", " ")
            .lines()
            .find(|l| l.contains("apt-get install"))
            .expect("an apt-get install line")
            .to_string();
        let listed: Vec<&str> = install.split_whitespace().filter(|w| !w.starts_with('-')).skip(2).collect();
        let expected: Vec<&str> = PACKAGES.iter().map(|(p, _)| *p).collect();
        assert_eq!(listed, expected, ".ci/run and setup::PACKAGES disagree");
    }
}
