//! hvcat.exe under Wine: what the Windows build of the tool itself does where no
//! Hyper-V exists. `--register` alone writes the service's key and exits 0 without
//! connecting (Wine's registry is real; Hyper-V sockets are not), and `--register -l`
//! registers, then goes on to listen (which fails under Wine, after the key is written).
//!
//! Built like the Windows tests of [`crate::cross`]: Debian's compiler, `-Zbuild-std`,
//! linked by MinGW, in `target/cross`.

use std::path::{Path, PathBuf};

use crate::cross::{self, WINDOWS};

/// The registry key `hvcat --register hvsock:///5000` writes (port 5000 = 0x1388).
const KEY: &str = r"HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion\Virtualization\GuestCommunicationServices\00001388-facb-11e6-bd58-64006a7986d3";
/// The same for `hvsock:///5001`, registered by `--register -l`.
const KEY_LISTEN: &str = r"HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion\Virtualization\GuestCommunicationServices\00001389-facb-11e6-bd58-64006a7986d3";

/// Never registered: `--doctor` finds it missing.
const KEY_DOCTOR: &str = r"HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion\Virtualization\GuestCommunicationServices\0000138a-facb-11e6-bd58-64006a7986d3";

/// Builds hvcat.exe and checks `--register` and `--doctor` under Wine.
pub fn run() -> Result<(), String> {
    let exe = build()?;
    let prefix = cross::root().join("target/cross/wine/prefix");
    let _ = reg(&prefix, &["delete", KEY, "/f"]); // a rerun starts unregistered
    let _ = reg(&prefix, &["delete", KEY_LISTEN, "/f"]);

    eprintln!("cross: hvcat.exe --register hvsock:///5000 under Wine");
    let alone = cross::wine(&prefix).arg(&exe).args(["--register", "-v", "hvsock:///5000"]).output();
    let alone = alone.map_err(|e| format!("cannot start Wine: {e}"))?;
    let said = String::from_utf8_lossy(&alone.stderr);
    if !alone.status.success() || !said.contains("registered service 00001388-facb-11e6-bd58-64006a7986d3") {
        return Err(format!(
            "hvcat --register alone: {} (wanted exit 0, `registered service`): {said}",
            alone.status
        ));
    }
    if said.contains("connect") {
        return Err(format!("hvcat --register alone tried to connect: {said}"));
    }
    let query = reg(&prefix, &["query", KEY, "/v", "ElementName"])?;
    if !query
        .contains("ElementName    REG_SZ    hvsock hvsock://wildcard/00001388-facb-11e6-bd58-64006a7986d3")
    {
        return Err(format!("the key has no ElementName after --register: {query}"));
    }

    eprintln!("cross: hvcat.exe --register -l hvsock:///5001 under Wine (registers, then listens)");
    let listen = cross::wine(&prefix).arg(&exe).args(["--register", "-l", "hvsock:///5001"]).output();
    let listen = listen.map_err(|e| format!("cannot start Wine: {e}"))?;
    let said = String::from_utf8_lossy(&listen.stderr);
    // No AF_HYPERV under Wine: the listen that follows the registration fails.
    if listen.status.code() != Some(1) || !said.contains("00001389-facb-11e6-bd58-64006a7986d3") {
        return Err(format!(
            "hvcat --register -l: {} (wanted exit 1 from the listen): {said}",
            listen.status
        ));
    }
    reg(&prefix, &["query", KEY_LISTEN, "/v", "ElementName"])?;
    doctor(&prefix, &exe)
}

/// `hvcat.exe --doctor`: an unregistered service and a VM name that cannot be found are
/// failures with the step to take; a registered service is ok.
fn doctor(prefix: &Path, exe: &Path) -> Result<(), String> {
    let _ = reg(prefix, &["delete", KEY_DOCTOR, "/f"]);
    for (uri, wanted) in [
        (
            "hvsock:///5002",
            "FAIL: service 0000138a-facb-11e6-bd58-64006a7986d3 is not registered: VMs cannot connect to it on this host; next: as Administrator, once: hvcat --register hvsock://wildcard/0000138a-facb-11e6-bd58-64006a7986d3",
        ),
        ("hvsock:///5000", "ok: service 00001388-facb-11e6-bd58-64006a7986d3 is registered"),
        ("hvsock://NoSuchVM/5000", "FAIL: VM NoSuchVM not found: "),
    ] {
        eprintln!("cross: hvcat.exe --doctor {uri} under Wine");
        let out = cross::wine(prefix).arg(exe).args(["--doctor", "-w", "0.5", uri]).output();
        let out = out.map_err(|e| format!("cannot start Wine: {e}"))?;
        let report = String::from_utf8_lossy(&out.stdout).replace('\r', "");
        // Every run fails in the end: Wine has no Hyper-V sockets to connect with.
        if out.status.code() != Some(1) || !report.lines().any(|l| l.starts_with(wanted)) {
            return Err(format!("hvcat --doctor {uri}: {}, no line `{wanted}...` in:\n{report}", out.status));
        }
    }
    Ok(())
}

/// `wine reg ARGS`, its standard output.
fn reg(prefix: &Path, args: &[&str]) -> Result<String, String> {
    cross::output(cross::wine(prefix).arg("reg").args(args), &format!("wine reg {}", args.join(" ")))
}

/// hvcat.exe, built for Windows.
fn build() -> Result<PathBuf, String> {
    let mut cargo = cross::cross_cargo("build", WINDOWS);
    cargo.args(["-p", "hvcat", "--bin", "hvcat", "--message-format=json"]);
    cargo.env("CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER", cross::MINGW_GCC);
    let startup = cross::rtstartup_objects(&cross::root().join("target/cross/rtstartup"))?;
    cargo.env("RUSTFLAGS", format!("-Dwarnings -L native={}", startup.display()));
    eprintln!("cross: building hvcat.exe");
    let json = cross::output(&mut cargo, "the hvcat.exe build")?;
    let exe = cross::executables(&json).into_iter().find(|e| e.ends_with("hvcat.exe"));
    let exe = PathBuf::from(exe.ok_or("cargo built no hvcat.exe")?);
    // Wine 8 lacks bcryptprimitives.dll: the same stand-in as the tests', beside the exe.
    let wine_dir = cross::root().join("target/cross/wine");
    let dir = exe.parent().ok_or("hvcat.exe has no directory")?;
    cross::build_process_prng(&wine_dir, &dir.join("bcryptprimitives.dll"))?;
    Ok(exe)
}
