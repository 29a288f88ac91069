//! The VM lab: boots a throw-away QEMU guest with a real vsock device and
//! runs end-to-end scenarios against `hvcat` inside it and across the
//! host <-> guest boundary. The machine's own AF_VSOCK is never used: guest
//! traffic stays in the guest kernel, and host-side traffic uses only Unix
//! sockets in temp dirs (vhost-device-vsock's hybrid socket).

pub mod binaries;
pub mod control;
pub mod demo;
pub mod harness;
pub mod hybrid;
pub mod hyperkit_shim;
pub mod initramfs;
pub mod scenarios;
pub mod setup;
pub mod vm;

use std::path::PathBuf;
use std::time::Instant;

use crate::bail;
use crate::util::{self, Result, TempDir};
use binaries::Binaries;
use setup::Tools;
use vm::{Mode, Vm};

const USAGE: &str = "\
usage: cargo xtask lab <command>
  setup                 install/cache what the lab needs
  run [--list] [NAME..] boot a guest and run scenarios (all by default; a NAME
                        may be a group such as `loopback`)
  shell                 boot a guest with an interactive shell on this terminal
environment: HVSOCK_LAB_CACHE (cache dir), HVSOCK_LAB_KEEP=1 (keep run dirs)";

/// `${HVSOCK_LAB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/hvsock-lab}`
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("HVSOCK_LAB_CACHE").filter(|d| !d.is_empty()) {
        return dir.into();
    }
    let base =
        std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()).map(PathBuf::from).unwrap_or_else(
            || PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into())).join(".cache"),
        );
    base.join("hvsock-lab")
}

/// Everything needed to boot guests: host tools, binaries and the image.
pub struct Lab {
    pub tools: Tools,
    pub binaries: Binaries,
    pub initrd: PathBuf,
    _work: TempDir,
}

impl Lab {
    /// Runs setup, builds hvcat (host and static guest flavours) and the initramfs.
    pub fn prepare() -> Result<Lab> {
        let t = Instant::now();
        let tools = setup::ensure_all(&cache_dir())?;
        eprintln!("lab: setup checked in {}", util::secs(t.elapsed()));

        let t = Instant::now();
        let binaries = binaries::build();
        for (what, r) in [("host", &binaries.host_hvcat), ("guest", &binaries.guest_hvcat)] {
            if let Err(e) = r {
                eprintln!(
                    "lab: WARNING: cannot build the {what} hvcat; scenarios that need it will fail:\n{e}"
                );
            }
        }
        eprintln!("lab: hvcat built in {}", util::secs(t.elapsed()));

        let t = Instant::now();
        let work = TempDir::new("hvsock-lab-image")?;
        let initrd = work.path().join("initrd.gz");
        initramfs::build(&tools.kernel_root, &binaries.guest_programs().unwrap_or_default(), &initrd)?;
        let size = std::fs::metadata(&initrd)?.len();
        eprintln!(
            "lab: initramfs ({:.1} MiB) built in {}",
            size as f64 / (1 << 20) as f64,
            util::secs(t.elapsed())
        );
        Ok(Lab { tools, binaries, initrd, _work: work })
    }

    /// Boots a guest running the control agent.
    pub fn boot(&self) -> Result<Vm> {
        let vm = Vm::boot(&self.tools, &self.initrd, Mode::Agent)?;
        eprintln!("lab: guest booted in {}", util::secs(vm.boot_time));
        Ok(vm)
    }
}

/// Entry point of `cargo xtask lab ...`.
pub fn main(args: &[String]) -> Result<()> {
    match args.first().map(String::as_str) {
        Some("setup") => {
            let t = Instant::now();
            let tools = setup::ensure_all(&cache_dir())?;
            println!("lab setup: ok in {} (cache {})", util::secs(t.elapsed()), cache_dir().display());
            println!("  kernel: {}", tools.vmlinuz.display());
            println!("  device: {}", tools.vhost_device_vsock.display());
            Ok(())
        }
        Some("run") => scenarios::run_command(&args[1..]),
        Some("shell") => {
            let lab = Lab::prepare()?;
            let mut vm = Vm::boot(&lab.tools, &lab.initrd, Mode::Shell)?;
            eprintln!("lab: host side of the guest's vsock: hybrid socket {}", vm.uds_path().display());
            vm.wait()
        }
        _ => bail!("{USAGE}"),
    }
}
