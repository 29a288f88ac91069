//! `cargo xtask dist check` (a CI step): builds the archives with [`crate::dist`] and
//! proves them, as a user would find them:
//!
//! - `sha256sum -c SHA256SUMS` passes;
//! - each archive installs with README's own command (into a temporary prefix instead
//!   of `/usr/local`), with every binary, man page and completion in place;
//! - every tool prints `NAME VERSION (commit ...)` for `--version`: the x86_64 ones
//!   natively, the aarch64 ones under `qemu-aarch64-static` (user-mode emulation);
//! - as root, both run in a directory holding nothing but the archive's files
//!   (`chroot`), as in a bare guest initramfs;
//! - an aarch64 `hvcat -l unix://...` receives what an aarch64 `hvcat unix://...`
//!   sends, 4 MiB with the same SHA-256;
//! - each man page renders with `man` from where it was installed, and groff finds
//!   nothing to warn about (`-ww`);
//! - bash loads each completion and completes an option (`hvcat --ver` gives
//!   `--verbose` and `--version`); fish does the same; zsh parses its scripts.

use std::fs::{self, File};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::dist::{self, Arch, Dist, AARCH64, DOC_FILES, TOOLS};
use crate::ensure;
use crate::util::{self, Guarded, Result, TempDir};

const QEMU_AARCH64: &str = "/usr/bin/qemu-aarch64-static";

/// The Debian packages the checks use, by a file each installs.
const CHECK_TOOLS: [(&str, &str); 5] = [
    (QEMU_AARCH64, "qemu-user-static"),
    ("/usr/bin/man", "man-db"),
    ("/usr/bin/groff", "groff-base"),
    ("/usr/bin/zsh", "zsh"),
    ("/usr/bin/fish", "fish"),
];

/// README's install step; `{version}` and `{arch}` are filled in. README must contain
/// it for every archive (checked), and the check runs it.
pub const INSTALL: &str = "tar -xzf hvcat-{version}-{arch}-linux.tar.gz -C /usr/local --strip-components=1";

pub fn run() -> Result<()> {
    let dist = dist::build()?;
    crate::cross::ensure(&CHECK_TOOLS).map_err(util::Error::msg)?;
    let sums = util::output(Command::new("sha256sum").arg("-c").arg("SHA256SUMS").current_dir(&dist.dir))?;
    ensure!(sums.lines().filter(|l| l.ends_with(": OK")).count() == 2, "sha256sum -c: {sums}");
    let readme = fs::read_to_string(crate::lab::binaries::workspace_root().join("README.md"))?;
    let tmp = TempDir::new("hvsock-dist")?;
    for (arch, _) in &dist.archives {
        let prefix = tmp.path().join(arch.name);
        install(&dist, arch, &readme, &prefix)?;
        for tool in TOOLS {
            let version = util::output(runner(arch, &prefix.join("bin").join(tool)).arg("--version"))?;
            let wanted = format!("{tool} {} (commit ", dist.version);
            ensure!(version.starts_with(&wanted), "{} {tool} --version: {version:?}", arch.name);
            eprintln!("dist check: {} {}", arch.name, version.trim_end());
        }
        bare_root(arch, &prefix)?;
    }
    let arm = tmp.path().join(AARCH64.name);
    transfer(&arm.join("bin/hvcat"), tmp.path())?;
    let x86 = tmp.path().join(dist::X86_64.name);
    for tool in TOOLS {
        man_page(&x86, tool)?;
        completions(&x86, tool)?;
    }
    Ok(())
}

/// Runs README's install command for `arch`, with `prefix` for `/usr/local`, in the
/// directory of the archives; then checks that every file is there.
fn install(dist: &Dist, arch: &Arch, readme: &str, prefix: &Path) -> Result<()> {
    let command = INSTALL.replace("{version}", &dist.version).replace("{arch}", arch.name);
    ensure!(readme.contains(&command), "README.md lacks the install step `{command}`");
    fs::create_dir_all(prefix)?;
    let local = command.replace("/usr/local", &prefix.to_string_lossy());
    util::run(Command::new("sh").arg("-c").arg(&local).current_dir(&dist.dir))?;
    for tool in TOOLS {
        let bin = prefix.join("bin").join(tool);
        dist::ensure_static_elf(&bin, arch)?;
        for (path, _) in DOC_FILES {
            let path = prefix.join(path.replace("{}", tool));
            ensure!(path.is_file(), "{} installs no {}", dist.stem(arch), path.display());
        }
    }
    ensure!(prefix.join("LICENSE").is_file() && prefix.join("README.md").is_file(), "no LICENSE or README");
    Ok(())
}

/// A command that runs `binary` of `arch` here: itself, or under qemu-user.
fn runner(arch: &Arch, binary: &Path) -> Command {
    if arch.name == AARCH64.name {
        let mut command = Command::new(QEMU_AARCH64);
        command.arg(binary);
        command
    } else {
        Command::new(binary)
    }
}

/// As root: `hvcat --version` in a root directory holding only the archive's files
/// (and, for aarch64, the static qemu that runs it): no libraries, no loader.
fn bare_root(arch: &Arch, prefix: &Path) -> Result<()> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("dist check: not root, so no chroot run for {}", arch.name);
        return Ok(());
    }
    let mut command = Command::new("chroot");
    command.arg(prefix);
    if arch.name == AARCH64.name {
        fs::copy(QEMU_AARCH64, prefix.join("qemu-aarch64-static"))?;
        command.arg("/qemu-aarch64-static");
    }
    let out = util::output(command.args(["/bin/hvcat", "--version"]))?;
    ensure!(out.starts_with("hvcat "), "{} hvcat in an empty root: {out:?}", arch.name);
    ensure!(
        !prefix.join("lib").exists() && !prefix.join("lib64").exists(),
        "the archive has a lib directory"
    );
    eprintln!("dist check: {} hvcat runs in a root with nothing else: {}", arch.name, out.trim_end());
    Ok(())
}

/// aarch64 `hvcat -l unix://DIR/s > out` and aarch64 `hvcat unix://DIR/s < in`, both
/// under qemu-user: `out` must have the SHA-256 of `in`.
fn transfer(hvcat: &Path, tmp: &Path) -> Result<()> {
    let (input, output, socket) = (tmp.join("in"), tmp.join("out"), tmp.join("s"));
    fs::write(&input, util::payload(0xa64, 4 << 20))?;
    let uri = format!("unix://{}", socket.display());
    let mut server = Guarded::spawn(
        "aarch64 hvcat -l",
        runner(&AARCH64, hvcat).args(["-l", &uri]).stdin(Stdio::null()).stdout(File::create(&output)?),
    )?;
    let listening = util::poll(Duration::from_secs(30), Duration::from_millis(20), || Ok(socket.exists()))?;
    ensure!(listening.is_some(), "aarch64 hvcat -l made no socket within 30 s");
    let sent = runner(&AARCH64, hvcat).arg(&uri).stdin(File::open(&input)?).status()?;
    ensure!(sent.success(), "aarch64 hvcat {uri} < in: {sent}");
    let served = server.wait_timeout(Duration::from_secs(30))?;
    ensure!(served.success(), "aarch64 hvcat -l: {served}");
    let (want, got) = (util::sha256_file(&input)?, util::sha256_file(&output)?);
    ensure!(want == got, "aarch64 transfer: sent SHA-256 {want}, received {got}");
    eprintln!("dist check: aarch64 hvcat -> aarch64 hvcat -l over {uri}: 4 MiB, SHA-256 {got} both sides");
    Ok(())
}

/// The installed man page renders through `man`, names the tool and its options, and
/// groff has no warning about it.
fn man_page(prefix: &Path, tool: &str) -> Result<()> {
    let manpath = prefix.join("share/man");
    let page = util::output(
        Command::new("man").arg(tool).env("MANPATH", &manpath).env("MANWIDTH", "80").env("MANPAGER", "cat"),
    )?;
    for needle in ["NAME", "SYNOPSIS", "OPTIONS", "--help", "--version"] {
        ensure!(page.contains(needle), "man {tool} lacks {needle}:\n{page}");
    }
    let name_line = format!("{tool} - ");
    let words = |l: &str| l.split_whitespace().collect::<Vec<_>>().join(" ");
    ensure!(
        page.lines().any(|l| words(l).starts_with(&name_line)),
        "man {tool}: no `{name_line}...` line:\n{page}"
    );
    let file = manpath.join(format!("man1/{tool}.1"));
    let groff = Command::new("groff").args(["-man", "-Tutf8", "-ww", "-z"]).arg(&file).output()?;
    let warnings = String::from_utf8_lossy(&groff.stderr);
    ensure!(groff.status.success() && warnings.is_empty(), "groff -ww {}: {warnings}", file.display());
    Ok(())
}

/// bash and fish load the installed completion and complete `--` (every option, help
/// and version among them) and, for hvcat, `--ver` (exactly `--verbose --version`);
/// zsh parses its script.
fn completions(prefix: &Path, tool: &str) -> Result<()> {
    let bash = prefix.join("share/bash-completion/completions").join(tool);
    let fish = prefix.join("share/fish/vendor_completions.d").join(format!("{tool}.fish"));
    let zsh = prefix.join("share/zsh/site-functions").join(format!("_{tool}"));
    let all = bash_complete(&bash, tool, "--")?;
    ensure!(
        all.len() > 4 && all.iter().any(|w| w == "--help") && all.iter().any(|w| w == "--version"),
        "bash: {tool} -- gives {all:?}"
    );
    let fish_all = util::output(
        Command::new("fish")
            .args(["--no-config", "-c", "source $argv[1]; complete -C \"$argv[2] --\""])
            .arg(&fish)
            .arg(tool),
    )?;
    ensure!(fish_all.lines().any(|l| l.starts_with("--version")), "fish: {tool} -- gives {fish_all}");
    if tool == "hvcat" {
        let ver = bash_complete(&bash, tool, "--ver")?;
        ensure!(ver == ["--verbose", "--version"], "bash: hvcat --ver gives {ver:?}");
    }
    util::run(Command::new("zsh").arg("-n").arg(&zsh))?;
    eprintln!(
        "dist check: {tool}: man page renders; bash completes {} options, fish {}",
        all.len(),
        fish_all.lines().count()
    );
    Ok(())
}

/// What bash's completion for `tool`, loaded from `script`, offers for `tool WORD`.
fn bash_complete(script: &Path, tool: &str, word: &str) -> Result<Vec<String>> {
    const COMPLETE: &str = r#"source "$1" || exit 1
spec=$(complete -p "$2") || exit 1
fn=${spec##*-F }; fn=${fn%% *}
COMP_WORDS=("$2" "$3"); COMP_CWORD=1; COMP_LINE="$2 $3"; COMP_POINT=${#COMP_LINE}
"$fn" "$2" "$3" "$2"
printf '%s\n' "${COMPREPLY[@]}""#;
    let out = util::output(
        Command::new("bash")
            .args(["--norc", "--noprofile", "-c", COMPLETE, "bash"])
            .arg(script)
            .args([tool, word]),
    )?;
    Ok(out.lines().map(str::to_string).filter(|l| !l.is_empty()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readme_gives_the_install_step_of_each_archive() {
        let root = crate::lab::binaries::workspace_root();
        let readme = fs::read_to_string(root.join("README.md")).unwrap();
        let version = dist::workspace_version(&fs::read_to_string(root.join("Cargo.toml")).unwrap()).unwrap();
        for arch in ["x86_64", "aarch64"] {
            let step = INSTALL.replace("{version}", &version).replace("{arch}", arch);
            assert!(readme.contains(&step), "README lacks `{step}`");
        }
    }
}
