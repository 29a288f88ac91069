//! `faults/retry-while-booting`: `--retry` against a guest that is still booting.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::ensure;
use crate::lab::harness::{ensure_ok, guest, Ctx, Digests, HostProc, HostStdin, Mode, Vm};
use crate::util::{self, Result};

/// `--retry` while the guest boots: the host starts `hvcat -v --retry=30 -w 1
/// hybrid://:P/<dir>/vm.vsock` before the device exists (a symlink to its
/// socket appears once the device is up), the guest is started 1 s later,
/// and its `hvcat -l` comes 1 s after it booted. The host connects, the
/// guest receives 2 MiB intact, both exit 0, and `-v` shows the retries:
/// "no socket at PATH" before the device, then "connection refused".
/// This scenario replaces the lab's guest with the one it boots.
pub fn retry_while_booting(ctx: &mut Ctx) -> Result<()> {
    ctx.need_guest_hvcat()?;
    let hvcat = ctx.host_hvcat()?;
    let port = ctx.port();
    let dir = ctx.host_path(&format!("boot{port}"));
    std::fs::create_dir_all(&dir)?;
    let link: PathBuf = dir.join("vm.vsock");
    let uri = format!("hybrid://:{port}{}", link.display());
    let len = 2 << 20;
    let (input, sha) = ctx.host_payload("boot.in", 5, len)?;
    let out = ctx.host_path("boot.out");
    let args =
        vec!["-v".to_string(), "--retry=30".to_string(), "-w".to_string(), "1".to_string(), uri.clone()];
    let started = Instant::now();
    let host = HostProc::spawn(ctx, "boot-c", &hvcat, &args, HostStdin::File(&input), &out)?;

    std::thread::sleep(Duration::from_millis(300));
    let mut vm = Vm::launch(&ctx.lab.tools, &ctx.lab.initrd, Mode::Agent)?;
    std::os::unix::fs::symlink(vm.uds_path(), &link)?;
    std::thread::sleep(Duration::from_secs(1));
    let boot = Instant::now();
    vm.run_agent()?;
    let booted = boot.elapsed();
    ctx.vm = vm;
    std::thread::sleep(Duration::from_secs(1));
    let d = format!("/tmp/boot{port}");
    ctx.vm.sh_ok(&format!("mkdir -p {d}"))?;
    guest::start(&mut ctx.vm, "boot-s", &format!("hvcat -v -l vsock://:{port} < /dev/null > {d}/out"))?;
    guest::wait_ready(&mut ctx.vm, "boot-s", "listening on")?;
    let listening = started.elapsed();

    let host = host.finish(Duration::from_secs(30))?;
    let guest = guest::wait(&mut ctx.vm, "boot-s", 30)?;
    ensure_ok("retrying host hvcat", &host)?;
    ensure_ok("late guest listener", &guest)?;
    let got = Digests::of(&mut ctx.vm, &[("out", &format!("{d}/out"))])?;
    ensure!(
        got.size("out")? == len && got.sha("out")? == sha,
        "the guest received {} bytes (sha256 {}), the host sent {len} (sha256 {sha})",
        got.size("out")?,
        got.sha("out")?
    );
    let retries: Vec<&str> = host.stderr.lines().filter(|l| l.contains("trying again in")).collect();
    let missing = retries.iter().filter(|l| l.contains(&format!("no socket at {}", link.display()))).count();
    let refused = retries.iter().filter(|l| l.contains("connection refused")).count();
    ensure!(
        missing >= 1 && refused >= 1 && missing + refused == retries.len() && retries.len() <= 30,
        "expected retries for the missing socket, then for refusals, and no others; stderr:\n{}",
        host.stderr
    );
    ensure!(
        host.stderr.lines().any(|l| l == format!("hvcat: connected to {uri}")),
        "no `connected to {uri}` line; stderr:\n{}",
        host.stderr
    );
    eprintln!(
        "  {} retries ({missing} no socket, {refused} refused); guest booted in {}, listener up at {}, host done at {}; 2 MiB intact",
        retries.len(),
        util::secs(booted),
        util::secs(listening),
        util::secs(host.elapsed)
    );
    Ok(())
}
