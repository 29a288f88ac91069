//! `cargo xtask dist`: the release archives, in `target/dist`:
//!
//! ```text
//! hvcat-VERSION-x86_64-linux.tar.gz
//! hvcat-VERSION-aarch64-linux.tar.gz
//! SHA256SUMS                            (sha256sum -c SHA256SUMS checks both)
//! ```
//!
//! Each archive holds one directory laid out as an installation prefix, so that
//! `tar -xzf ARCHIVE -C /usr/local --strip-components=1` installs it:
//! `bin/{hvcat,hvstress,hvbench}` (fully static: they run in a bare initramfs),
//! `share/man/man1/*.1`, the completions where bash-completion, zsh and fish look for
//! them (`share/bash-completion/completions/`, `share/zsh/site-functions/`,
//! `share/fish/vendor_completions.d/`), `LICENSE` and `README.md`.
//!
//! x86_64 is built with the rustup toolchain, static glibc (`+crt-static`), with the
//! lab's guest build (same command, same target dir: one build serves both). aarch64 is
//! built here as [`crate::cross`] builds Windows: Debian's compiler compiles the
//! standard library (`-Zbuild-std`), Debian's `aarch64-linux-gnu-gcc` links against
//! `libc6-dev-arm64-cross`. Man pages and completions come from the tools themselves
//! (`--generate-docs DIR`, from their clap definitions). [`crate::dist_check`] proves
//! the archives.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::lab::binaries::{self, workspace_root};
use crate::util::{self, Context, Result};
use crate::{bail, ensure};

/// The tools each archive ships.
pub const TOOLS: [&str; 3] = ["hvcat", "hvstress", "hvbench"];

/// A platform the archives are built for.
pub struct Arch {
    /// As in the archive's name.
    pub name: &'static str,
    pub target: &'static str,
    /// The ELF `e_machine` of its binaries.
    pub elf_machine: u16,
    /// binutils' `strip` for its binaries.
    pub strip: &'static str,
}

pub const X86_64: Arch =
    Arch { name: "x86_64", target: "x86_64-unknown-linux-gnu", elf_machine: 62, strip: "strip" };
pub const AARCH64: Arch = Arch {
    name: "aarch64",
    target: "aarch64-unknown-linux-gnu",
    elf_machine: 183,
    strip: "aarch64-linux-gnu-strip",
};

const AARCH64_GCC: &str = "/usr/bin/aarch64-linux-gnu-gcc";

/// The Debian packages the aarch64 build needs, by a file each installs.
pub const AARCH64_TOOLS: [(&str, &str); 4] = [
    (crate::cross::RUSTC, "rustc-web"),
    (crate::cross::STD_SOURCE, "rust-web-src"),
    (AARCH64_GCC, "gcc-aarch64-linux-gnu"),
    ("/usr/aarch64-linux-gnu/lib/libc.a", "libc6-dev-arm64-cross"),
];

/// Where each file of the staged tree comes from: (path in the archive, generated file
/// name) for one tool; `{}` is the tool's name.
pub const DOC_FILES: [(&str, &str); 4] = [
    ("share/man/man1/{}.1", "{}.1"),
    ("share/bash-completion/completions/{}", "{}.bash"),
    ("share/zsh/site-functions/_{}", "_{}"),
    ("share/fish/vendor_completions.d/{}.fish", "{}.fish"),
];

/// What `cargo xtask dist` made.
pub struct Dist {
    pub version: String,
    pub dir: PathBuf,
    /// (arch, archive path), x86_64 first.
    pub archives: Vec<(&'static Arch, PathBuf)>,
}

impl Dist {
    /// The archive's name without `.tar.gz`: also its top directory.
    pub fn stem(&self, arch: &Arch) -> String {
        format!("hvcat-{}-{}-linux", self.version, arch.name)
    }
}

pub fn main(args: &[String]) -> Result<()> {
    ensure!(args.is_empty(), "usage: cargo xtask dist   (builds target/dist; `dist check` also proves it)");
    let dist = build()?;
    println!("{}", fs::read_to_string(dist.dir.join("SHA256SUMS"))?.trim_end());
    Ok(())
}

/// Builds both archives and SHA256SUMS.
pub fn build() -> Result<Dist> {
    let root = workspace_root();
    let version = workspace_version(&fs::read_to_string(root.join("Cargo.toml"))?)?;
    let dir = root.join("target/dist");
    fs::create_dir_all(&dir)?;
    let x86 = build_x86_64()?;
    let arm = build_aarch64()?;
    let docs = dir.join("docs");
    for tool in TOOLS {
        util::run(Command::new(x86.join(tool)).arg("--generate-docs").arg(&docs))?;
    }
    let mut dist = Dist { version, dir: dir.clone(), archives: Vec::new() };
    let mut sums = String::new();
    for (arch, bins) in [(&X86_64, &x86), (&AARCH64, &arm)] {
        let archive = package(&dist, arch, bins, &docs)?;
        let name = archive.file_name().and_then(|n| n.to_str()).context("archive name")?.to_string();
        sums.push_str(&format!("{}  {name}\n", util::sha256_file(&archive)?));
        dist.archives.push((arch, archive));
    }
    fs::write(dir.join("SHA256SUMS"), sums)?;
    Ok(dist)
}

/// `version = "..."` of `[workspace.package]`.
pub fn workspace_version(manifest: &str) -> Result<String> {
    let section = manifest.split("[workspace.package]").nth(1).context("no [workspace.package]")?;
    let line = section.lines().find(|l| l.trim_start().starts_with("version")).context("no version")?;
    let version = line.split('"').nth(1).context("version is not a string")?;
    Ok(version.to_string())
}

/// The lab's static guest build: same arguments, same target dir, so either build
/// serves the other. Returns the release directory.
fn build_x86_64() -> Result<PathBuf> {
    let lab_dir = workspace_root().join("target/lab");
    eprintln!("dist: building the static x86_64 binaries");
    util::run(
        Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
            .current_dir(workspace_root())
            .args(binaries::BUILD)
            .args(["--target", X86_64.target])
            .arg("--target-dir")
            .arg(&lab_dir)
            .env("RUSTFLAGS", "-C target-feature=+crt-static"),
    )?;
    Ok(lab_dir.join(X86_64.target).join("release"))
}

/// Debian's compiler with `-Zbuild-std` and the aarch64 cross linker, static glibc.
fn build_aarch64() -> Result<PathBuf> {
    crate::cross::ensure(&AARCH64_TOOLS).map_err(util::Error::msg)?;
    eprintln!("dist: building the static aarch64 binaries (the standard library too)");
    let mut cargo = crate::cross::cross_cargo("build", AARCH64.target);
    cargo.args(["--release", "--quiet", "-p", "hvcat", "--bins"]);
    cargo.env("RUSTFLAGS", "-C target-feature=+crt-static");
    cargo.env("CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER", AARCH64_GCC);
    util::run(&mut cargo)?;
    Ok(workspace_root().join("target/cross").join(AARCH64.target).join("release"))
}

/// Stages the tree for `arch` and packs it; returns the archive's path.
fn package(dist: &Dist, arch: &Arch, bins: &Path, docs: &Path) -> Result<PathBuf> {
    let stem = dist.stem(arch);
    let stage = dist.dir.join("stage");
    let top = stage.join(&stem);
    if top.exists() {
        fs::remove_dir_all(&top).with_context(|| format!("rm -r {}", top.display()))?;
    }
    let root = workspace_root();
    for tool in TOOLS {
        let binary = bins.join(tool);
        ensure_static_elf(&binary, arch)?;
        let installed = top.join("bin").join(tool);
        copy(&binary, &installed)?;
        // The line tables of the release profile are for debugging here, not for users.
        util::run(Command::new(arch.strip).arg("--strip-debug").arg(&installed))?;
        for (to, from) in DOC_FILES {
            copy(&docs.join(from.replace("{}", tool)), &top.join(to.replace("{}", tool)))?;
        }
    }
    copy(&root.join("LICENSE"), &top.join("LICENSE"))?;
    copy(&root.join("README.md"), &top.join("README.md"))?;
    let archive = dist.dir.join(format!("{stem}.tar.gz"));
    eprintln!("dist: {}", archive.display());
    // Reproducible: sorted names, no owners, one fixed time.
    util::run(
        Command::new("tar")
            .args(["--sort=name", "--owner=0", "--group=0", "--numeric-owner", "--mtime=@0"])
            .args(["--use-compress-program=gzip -n -9", "-cf"])
            .arg(&archive)
            .arg("-C")
            .arg(&stage)
            .arg(&stem),
    )?;
    Ok(archive)
}

fn copy(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to.parent().context("no parent")?)?;
    fs::copy(from, to).with_context(|| format!("cp {} {}", from.display(), to.display()))?;
    Ok(())
}

/// Fails unless `path` is an ELF executable for `arch` with no program interpreter
/// (`PT_INTERP`) and no dynamic libraries: the kernel runs it as it is, in an empty
/// initramfs. `ldd` cannot tell for another architecture, so the headers are read.
pub fn ensure_static_elf(path: &Path, arch: &Arch) -> Result<()> {
    let elf = fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let facts =
        elf_facts(&elf).with_context(|| format!("{} is not a 64-bit little-endian ELF", path.display()))?;
    ensure!(
        facts.machine == arch.elf_machine,
        "{}: ELF machine {} where {} has {}",
        path.display(),
        facts.machine,
        arch.name,
        arch.elf_machine
    );
    if facts.interpreter || facts.needs_libraries {
        bail!("{} is dynamically linked (PT_INTERP or DT_NEEDED)", path.display());
    }
    Ok(())
}

/// What [`ensure_static_elf`] reads from an ELF file.
#[derive(Debug, PartialEq)]
pub struct ElfFacts {
    pub machine: u16,
    pub interpreter: bool,
    pub needs_libraries: bool,
}

/// Reads the header, the program headers and the dynamic section (`DT_NEEDED`) of a
/// 64-bit little-endian ELF file; `None` if it is not one or is cut short.
pub fn elf_facts(elf: &[u8]) -> Option<ElfFacts> {
    let u16_at = |at: usize| Some(u16::from_le_bytes(elf.get(at..at + 2)?.try_into().ok()?));
    let u32_at = |at: usize| Some(u32::from_le_bytes(elf.get(at..at + 4)?.try_into().ok()?));
    let u64_at = |at: usize| Some(u64::from_le_bytes(elf.get(at..at + 8)?.try_into().ok()?));
    if elf.get(..6)? != b"\x7fELF\x02\x01" {
        return None;
    }
    let machine = u16_at(18)?;
    let (phoff, phentsize, phnum) = (u64_at(32)? as usize, u16_at(54)? as usize, u16_at(56)? as usize);
    let mut facts = ElfFacts { machine, interpreter: false, needs_libraries: false };
    for i in 0..phnum {
        let ph = phoff.checked_add(i.checked_mul(phentsize)?)?;
        match u32_at(ph)? {
            3 => facts.interpreter = true, // PT_INTERP
            2 => {
                // PT_DYNAMIC: 16-byte (tag, value) entries; tag 1 is DT_NEEDED, 0 ends it.
                let (offset, size) = (u64_at(ph + 8)? as usize, u64_at(ph + 32)? as usize);
                facts.needs_libraries = (0..size / 16)
                    .map_while(|n| u64_at(offset + n * 16).filter(|tag| *tag != 0))
                    .any(|tag| tag == 1);
            }
            _ => {}
        }
    }
    Some(facts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_workspace_version() {
        let manifest =
            "[workspace]\nmembers = []\n\n[workspace.package]\nedition = \"2021\"\nversion = \"1.2.3\"\n";
        assert_eq!(workspace_version(manifest).unwrap(), "1.2.3");
        assert!(workspace_version("[package]\nversion = \"1\"").is_err());
    }

    #[test]
    fn tells_static_from_dynamic_executables() {
        // This test binary is dynamic (the normal build); a static one is built by dist.
        let me = fs::read(std::env::current_exe().unwrap()).unwrap();
        let facts = elf_facts(&me).unwrap();
        assert_eq!(facts.machine, X86_64.elf_machine);
        assert!(facts.interpreter && facts.needs_libraries, "{facts:?}");
        assert!(ensure_static_elf(&std::env::current_exe().unwrap(), &X86_64).is_err());
        assert!(ensure_static_elf(&std::env::current_exe().unwrap(), &AARCH64).is_err());
        assert_eq!(elf_facts(b"#!/bin/sh\n"), None);
        assert_eq!(elf_facts(&me[..40]), None, "cut short");
    }
}
