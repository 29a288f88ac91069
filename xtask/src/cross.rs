//! Checks the Windows and macOS code on Linux: a clippy type-check of every crate but
//! xtask for `x86_64-pc-windows-gnu` and `x86_64-apple-darwin`, then the hvsock unit tests
//! built for Windows and run under Wine (where Hyper-V sockets do not exist, so those tests
//! prove that the Windows build runs and fails cleanly).
//!
//! rustup here has only the Linux standard library, so the checks use Debian's compiler,
//! which ships the standard library's source: `cargo -Zbuild-std` compiles it for each
//! target. The tools, and the packages that bring them:
//!
//! | tool | package |
//! |---|---|
//! | `/usr/bin/rustc` and `/usr/lib/rustlib/src/rust/library` | `rustc-web`, `rust-web-src` |
//! | `/usr/bin/clippy-driver` (the same release as that rustc) | `rust-web-clippy` |
//! | `x86_64-w64-mingw32-gcc` (links the Windows test binary) | `gcc-mingw-w64-x86-64` |
//! | `/usr/lib/wine/wine64` | `wine64` |
//!
//! Missing ones are installed with `apt-get` when running as root; otherwise the error
//! says which command to run. Builds go to `target/cross`, apart from the normal build.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The targets whose code is type-checked.
const TARGETS: [&str; 2] = ["x86_64-pc-windows-gnu", "x86_64-apple-darwin"];
/// The target whose unit tests run under Wine.
pub(crate) const WINDOWS: &str = "x86_64-pc-windows-gnu";
/// Debian's compiler, the one whose standard-library source is installed.
pub(crate) const RUSTC: &str = "/usr/bin/rustc";
/// Debian's clippy for that compiler.
const CLIPPY_DRIVER: &str = "/usr/bin/clippy-driver";
pub(crate) const STD_SOURCE: &str = "/usr/lib/rustlib/src/rust/library";
pub(crate) const MINGW_GCC: &str = "/usr/bin/x86_64-w64-mingw32-gcc";
const WINE: &str = "/usr/lib/wine/wine64";

/// Each tool the checks need, and the Debian package that has it.
const TOOLS: [(&str, &str); 6] = [
    (RUSTC, "rustc-web"),
    (STD_SOURCE, "rust-web-src"),
    (CLIPPY_DRIVER, "rust-web-clippy"),
    ("/usr/bin/x86_64-w64-mingw32-ld", "binutils-mingw-w64-x86-64"),
    (MINGW_GCC, "gcc-mingw-w64-x86-64"),
    (WINE, "wine64"),
];

/// Runs the cross checks of the code: [`type_check`], then [`wine_tests`]. (hvcat.exe
/// under Wine, `crate::wine_hvcat`, builds on these helpers and runs after them.)
pub fn cross_check() -> Result<(), String> {
    type_check()?;
    wine_tests()
}

/// Type-checks, with clippy and warnings denied, every crate of the workspace but xtask
/// (library with all features, hvcat, unit and integration tests, examples) for Windows
/// and macOS. The command, for each target `T`, from the workspace root:
///
/// ```text
/// RUSTC_BOOTSTRAP=1 RUSTC=/usr/bin/rustc RUSTC_WORKSPACE_WRAPPER=/usr/bin/clippy-driver \
/// RUSTFLAGS=-Dwarnings cargo check -Zbuild-std=std,panic_abort --target T \
///   --workspace --exclude xtask --all-targets --all-features --target-dir target/cross
/// ```
pub fn type_check() -> Result<(), String> {
    ensure_tools()?;
    for target in TARGETS {
        eprintln!("cross: clippy for {target}");
        let mut cargo = cross_cargo("check", target);
        cargo.args(["--workspace", "--exclude", "xtask", "--all-targets", "--all-features"]);
        cargo.env("RUSTC_WORKSPACE_WRAPPER", CLIPPY_DRIVER);
        run(&mut cargo, &format!("the type-check for {target}"))?;
    }
    Ok(())
}

/// Builds the hvsock unit tests and the async TCP tests (`tokio_tcp`: the thread-driven
/// Windows stream over real Winsock) for Windows, linked by MinGW, and runs them under
/// Wine in a Wine prefix of its own (`target/cross/wine`).
///
/// Wine 8 lacks `bcryptprimitives.dll`, whose `ProcessPrng` the Rust standard library
/// imports, so a small stand-in built from [`PROCESS_PRNG`] is put beside the test binary.
pub fn wine_tests() -> Result<(), String> {
    ensure_tools()?;
    let mut cargo = cross_cargo("test", WINDOWS);
    cargo.args(["-p", "hvsock", "--features", "tokio", "--lib", "--test", "tokio_tcp", "--no-run"]);
    cargo.arg("--message-format=json");
    cargo.env("CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER", MINGW_GCC);
    let startup = rtstartup_objects(&root().join("target/cross/rtstartup"))?;
    cargo.env("RUSTFLAGS", format!("-Dwarnings -L native={}", startup.display()));
    eprintln!("cross: building the hvsock unit tests for {WINDOWS}");
    let json = output(&mut cargo, "the Windows test build")?;
    let exes: Vec<PathBuf> = executables(&json).into_iter().map(PathBuf::from).collect();
    let exe = exes.first().ok_or("cargo built no Windows test binary")?;

    let wine_dir = root().join("target/cross/wine");
    fs::create_dir_all(&wine_dir).map_err(|e| format!("creating {}: {e}", wine_dir.display()))?;
    let dir = exe.parent().ok_or("the test binary has no directory")?;
    build_process_prng(&wine_dir, &dir.join("bcryptprimitives.dll"))?;

    let prefix = wine_dir.join("prefix");
    if !prefix.join("system.reg").exists() {
        eprintln!("cross: creating the Wine prefix {}", prefix.display());
        run(wine(&prefix).args(["wineboot", "--init"]), "wineboot --init")?;
    }
    for exe in &exes {
        eprintln!("cross: running {} under Wine", exe.display());
        run(wine(&prefix).arg(exe), "the hvsock tests under Wine")?;
    }
    Ok(())
}

/// Builds `rsbegin.o` and `rsend.o` for Windows into `dir`, from the standard library's
/// source (`library/rtstartup`), and returns `dir` for `-L native=`. Rust releases before
/// 1.87 link every `windows-gnu` executable with them, and Debian's compiler ships them
/// only in its prebuilt Windows library (`libstd-rust-dev-windows`), not for
/// `-Zbuild-std`; later releases need neither, and there the two objects go unused.
pub(crate) fn rtstartup_objects(dir: &Path) -> Result<PathBuf, String> {
    fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    for name in ["rsbegin", "rsend"] {
        let source = Path::new(STD_SOURCE).join("rtstartup").join(format!("{name}.rs"));
        let object = dir.join(format!("{name}.o"));
        if !source.exists() || object.exists() {
            continue;
        }
        let mut rustc = Command::new(RUSTC);
        rustc.env("RUSTC_BOOTSTRAP", "1").args(["--target", WINDOWS, "--emit=obj", "-C", "panic=abort"]);
        rustc.args(["-C", "opt-level=3", "-o"]).arg(&object).arg(&source);
        run(&mut rustc, &format!("building {name}.o"))?;
    }
    Ok(dir.to_path_buf())
}

/// A C stand-in for `bcryptprimitives.dll`: `ProcessPrng` through `RtlGenRandom`.
pub const PROCESS_PRNG: &str = "\
#include <windows.h>
#include <ntsecapi.h>

/* ProcessPrng fills data with len random bytes; it always succeeds on Windows. */
BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    while (len > 0) {
        ULONG chunk = len > 0x10000000 ? 0x10000000 : (ULONG)len;
        if (!RtlGenRandom(data, chunk)) return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
";

/// Compiles [`PROCESS_PRNG`] in `dir` into the DLL `out`.
pub(crate) fn build_process_prng(dir: &Path, out: &Path) -> Result<(), String> {
    let source = dir.join("bcryptprimitives.c");
    let exports = dir.join("bcryptprimitives.def");
    let write =
        |path: &Path, text: &str| fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()));
    write(&source, PROCESS_PRNG)?;
    write(&exports, "LIBRARY bcryptprimitives\nEXPORTS\nProcessPrng\n")?;
    let mut gcc = Command::new(MINGW_GCC);
    gcc.args(["-shared", "-O2", "-o"]).arg(out).arg(&source).arg(&exports).arg("-ladvapi32");
    run(&mut gcc, "building bcryptprimitives.dll")
}

/// `wine64` with its own prefix and without Wine's debug chatter.
pub(crate) fn wine(prefix: &Path) -> Command {
    let mut wine = Command::new(WINE);
    wine.env("WINEPREFIX", prefix).env("WINEDEBUG", "-all").stdin(Stdio::null());
    wine
}

/// `cargo SUBCOMMAND` with Debian's compiler building the standard library for `target`.
pub(crate) fn cross_cargo(subcommand: &str, target: &str) -> Command {
    let mut cargo = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cargo
        .current_dir(root())
        .args([subcommand, "-Zbuild-std=std,panic_abort", "--target", target, "--target-dir", "target/cross"])
        .env("RUSTC_BOOTSTRAP", "1")
        .env("RUSTC", RUSTC)
        .env("RUSTFLAGS", "-Dwarnings")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("RUSTC_WORKSPACE_WRAPPER");
    cargo
}

/// The workspace root.
pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_path_buf()
}

/// The packages of the `tools` (path, package) that are missing.
fn missing_packages(tools: &[(&str, &'static str)]) -> Vec<&'static str> {
    tools.iter().filter(|(path, _)| !Path::new(path).exists()).map(|(_, package)| *package).collect()
}

/// Installs the missing tools of the cross checks with `apt-get` as root, or says how to.
pub(crate) fn ensure_tools() -> Result<(), String> {
    ensure(&TOOLS)
}

/// Installs those of `tools` (path, Debian package) that are missing with `apt-get` as
/// root, or says how to.
pub(crate) fn ensure(tools: &[(&str, &'static str)]) -> Result<(), String> {
    let missing = missing_packages(tools);
    if missing.is_empty() {
        return Ok(());
    }
    let command = format!("apt-get install -y --no-install-recommends {}", missing.join(" "));
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Err(format!("the cross checks need {}: run `{command}` as root", missing.join(", ")));
    }
    eprintln!("cross: {command}");
    let install = || {
        let mut apt = Command::new("apt-get");
        apt.args(["install", "-y", "--no-install-recommends"]).args(&missing);
        apt.env("DEBIAN_FRONTEND", "noninteractive");
        run(&mut apt, "apt-get install")
    };
    if install().is_err() {
        run(Command::new("apt-get").arg("update"), "apt-get update")?;
        install()?;
    }
    match missing_packages(tools)[..] {
        [] => Ok(()),
        ref still => Err(format!("still missing after installing: {}", still.join(", "))),
    }
}

/// The test executables in cargo's JSON messages (the `"executable"` of each artifact).
pub(crate) fn executables(json: &str) -> Vec<String> {
    const KEY: &str = "\"executable\":\"";
    json.lines()
        .filter_map(|line| {
            let start = line.find(KEY)? + KEY.len();
            let end = line[start..].find('"')?;
            Some(line[start..start + end].to_string())
        })
        .collect()
}

/// Runs `command`, its output going to ours; an error unless it exits with 0.
pub(crate) fn run(command: &mut Command, what: &str) -> Result<(), String> {
    let status =
        command.status().map_err(|e| format!("{what}: cannot start {:?}: {e}", command.get_program()))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{what} failed ({status})"))
    }
}

/// Runs `command` and returns its standard output (its standard error goes to ours).
pub(crate) fn output(command: &mut Command, what: &str) -> Result<String, String> {
    let out = command
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("{what}: cannot start {:?}: {e}", command.get_program()))?;
    if !out.status.success() {
        return Err(format!("{what} failed ({})", out.status));
    }
    String::from_utf8(out.stdout).map_err(|e| format!("{what}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_test_executables_in_cargo_json() {
        let json = concat!(
            r#"{"reason":"compiler-artifact","target":{"name":"hvsock"},"executable":null}"#,
            "\n",
            r#"{"reason":"compiler-artifact","executable":"/w/target/cross/x86_64-pc-windows-gnu/debug/deps/hvsock-1.exe","fresh":true}"#,
            "\n",
            r#"{"reason":"build-finished","success":true}"#,
        );
        assert_eq!(executables(json), ["/w/target/cross/x86_64-pc-windows-gnu/debug/deps/hvsock-1.exe"]);
    }

    #[test]
    fn every_tool_has_a_package() {
        assert!(TOOLS.iter().all(|(path, package)| path.starts_with('/') && !package.is_empty()));
        assert!(root().join("Cargo.toml").exists());
    }
}
