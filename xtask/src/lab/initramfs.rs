//! The guest image: an initramfs holding busybox, the vsock kernel modules,
//! the lab's init and control agent, the static `hvcat` (with `hvstress`,
//! `hvbench` and `hvraw`), and Debian's
//! `socat` and `ncat` with the shared libraries they need.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{self, Context, Result, TempDir};
use crate::{bail, ensure};

/// Kernel modules to load, in this order (dependencies first).
pub const MODULES: &[&str] = &[
    "virtio_ring",
    "virtio",
    "virtio_pci_legacy_dev",
    "virtio_pci_modern_dev",
    "virtio_pci",
    "vsock",
    "vmw_vsock_virtio_transport_common",
    "vsock_loopback",
    "vmw_vsock_virtio_transport",
];

/// Dynamic host programs copied into the guest (with their libraries).
pub const DYNAMIC_PROGRAMS: &[&str] = &["/usr/bin/socat", "/usr/bin/ncat"];

const INIT: &str = include_str!("../../guest/init.sh");
const AGENT: &str = include_str!("../../guest/agent.sh");
const FUNCTIONS: &str = include_str!("../../guest/functions.sh");

/// Builds `out` (a gzip-compressed newc cpio archive).
///
/// `programs` are the static guest binaries (hvcat and its siblings), copied
/// to `/bin` under their file names; without them (their build failed) the
/// image is still usable for the scenarios that do not need them.
pub fn build(kernel_root: &Path, programs: &[PathBuf], out: &Path) -> Result<()> {
    let staging = TempDir::new("hvsock-lab-initramfs")?;
    let root = staging.path();
    for dir in ["bin", "sbin", "usr/bin", "proc", "sys", "dev", "tmp", "run", "lib/lab/modules"] {
        std::fs::create_dir_all(root.join(dir))?;
    }
    copy(Path::new("/bin/busybox"), &root.join("bin/busybox"))?;
    write_exec(&root.join("init"), INIT)?;
    write_exec(&root.join("lib/lab/agent.sh"), AGENT)?;
    std::fs::write(root.join("lib/lab/functions.sh"), FUNCTIONS)?;

    let mut order = String::new();
    for name in MODULES {
        let ko = find_module(kernel_root, name)?;
        copy(&ko, &root.join(format!("lib/lab/modules/{name}.ko")))?;
        order.push_str(name);
        order.push('\n');
    }
    std::fs::write(root.join("lib/lab/modules.order"), order)?;

    for program in programs {
        ensure_static(program)?;
        let name = program.file_name().with_context(|| format!("{} has no file name", program.display()))?;
        let to = root.join("bin").join(name);
        copy(program, &to)?;
        // The release profile keeps line tables: 8-15 MB a program. Without
        // them the image stays small (and boots as fast) with four programs.
        let _ = Command::new("objcopy").arg("--strip-debug").arg(&to).status();
    }
    for program in DYNAMIC_PROGRAMS {
        copy_with_libraries(Path::new(program), root)?;
    }

    let script = format!(
        "find . -print0 | cpio --null --create --format=newc --owner=0:0 --quiet | gzip -1 > '{}'",
        out.display()
    );
    util::run(Command::new("sh").arg("-c").arg(script).current_dir(root)).context("packing the initramfs")
}

fn write_exec(path: &Path, text: &str) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))?;
    Ok(())
}

/// Copies a file (following symlinks), creating parent directories.
fn copy(from: &Path, to: &Path) -> Result<()> {
    if let Some(parent) = to.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::copy(from, to).with_context(|| format!("copy {} to {}", from.display(), to.display()))?;
    Ok(())
}

/// Finds `<name>.ko` anywhere below the unpacked kernel package's modules.
fn find_module(kernel_root: &Path, name: &str) -> Result<PathBuf> {
    let file = format!("{name}.ko");
    let mut stack = vec![kernel_root.join("lib/modules")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).with_context(|| format!("read {}", dir.display()))? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.file_name().is_some_and(|n| n == file.as_str()) {
                return Ok(path);
            }
        }
    }
    bail!("module {file} not found under {}", kernel_root.display())
}

/// Fails unless `ldd` reports `binary` as statically linked.
pub fn ensure_static(binary: &Path) -> Result<()> {
    let out = Command::new("ldd").arg(binary).output().context("running ldd")?;
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    ensure!(
        text.contains("not a dynamic executable") || text.contains("statically linked"),
        "{} is not static; ldd says:\n{text}",
        binary.display()
    );
    Ok(())
}

/// Copies a dynamic program and every library `ldd` lists (including the
/// dynamic loader) to the same paths under `root`.
fn copy_with_libraries(program: &Path, root: &Path) -> Result<()> {
    let ldd = util::output(Command::new("ldd").arg(program))?;
    copy(program, &root.join(program.strip_prefix("/").unwrap_or(program)))?;
    for line in ldd.lines() {
        // Lines look like "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)"
        // or "/lib64/ld-linux-x86-64.so.2 (0x...)"; the vDSO has no path.
        let path = match line.split_once("=>") {
            Some((_, rest)) => rest.split_whitespace().next(),
            None => line.split_whitespace().next(),
        };
        if let Some(lib) = path.filter(|p| p.starts_with('/')) {
            copy(Path::new(lib), &root.join(&lib[1..]))?;
        }
    }
    Ok(())
}
