//! Checks of the lab itself, independent of hvcat: the control channel, the
//! guest's kernel vsock, and the vhost-device-vsock hybrid socket, using only
//! busybox, socat and the lab's own Unix-socket code. When these pass and an
//! hvcat scenario fails, the fault is hvcat's.

use super::guest::Tool;
use super::transfer::{self, Side};
use super::{kv, parse_kv, Ctx, Scenario};
use crate::ensure;
use crate::lab::vm::GUEST_CID;
use crate::util::Result;

pub const SCENARIOS: &[Scenario] = &[
    Scenario { name: "lab/control", run: control },
    Scenario { name: "lab/socat-loopback", run: socat_loopback },
    Scenario { name: "lab/experiment", run: experiment },
];

/// The control channel carries output and exit status, background jobs
/// work, and the guest has the vsock transports loaded.
fn control(ctx: &mut Ctx) -> Result<()> {
    let out = ctx.vm.sh("echo out; echo err >&2; exit 3")?;
    ensure!(out.status == 3, "exit status 3 came back as {}", out.status);
    ensure!(out.output == "out\nerr\n", "output came back as {:?}", out.output);

    super::guest::start(&mut ctx.vm, "ctl", "sleep 0.2; echo done > /tmp/ctl.txt; exit 5")?;
    let exit = super::guest::wait(&mut ctx.vm, "ctl", 10)?;
    ensure!(exit.code == 5, "background job status 5 came back as {}", exit.code);
    ensure!(ctx.vm.sh_ok("cat /tmp/ctl.txt")? == "done\n", "background job output missing");

    let facts = parse_kv(&ctx.vm.sh_ok(
        "echo loopback=$([ -d /sys/module/vsock_loopback ] && echo y)
         echo virtio=$([ -d /sys/module/vmw_vsock_virtio_transport ] && echo y)
         echo dev=$([ -c /dev/vsock ] && echo y)",
    )?);
    for key in ["loopback", "virtio", "dev"] {
        ensure!(kv(&facts, key)? == "y", "guest lacks {key} (modules or /dev/vsock): {facts:?}");
    }
    let _ = GUEST_CID;
    Ok(())
}

/// Kernel AF_VSOCK over vsock_loopback (CID 1) in the guest, socat to socat.
fn socat_loopback(ctx: &mut Ctx) -> Result<()> {
    let port = ctx.port();
    let server = Side::Guest { cmd: Tool::Socat.listen(port), ready: Tool::Socat.ready() };
    let client = Side::Guest { cmd: Tool::Socat.connect(1, port), ready: "" };
    let outcome = transfer::run(ctx, server, client, 4 << 20, 3 << 20)?;
    outcome.ensure_all_ok()?;
    eprintln!("  socat<->socat over CID 1: {}", outcome.summary());
    Ok(())
}

pub fn experiment(ctx: &mut Ctx) -> Result<()> {
    use crate::lab::hybrid;
    use std::io::{Read, Write};
    use std::time::{Duration, Instant};
    let uds = ctx.vm.uds_path();
    let filt = |s: &str| s.lines().filter(|l| !l.contains("GET_LOCAL_CID")).collect::<Vec<_>>().join(" | ");
    // E1/E2: host -> guest
    for (name, guest_cmd, host_delay_ms) in [
        ("E1 guest replies after EOF", "socat -d -d -t 30 VSOCK-LISTEN:PORT SYSTEM:'cat > /tmp/e/s.out; echo reply-$(wc -c < /tmp/e/s.out)'", 0u64),
        ("E2 guest half-closes first", "socat -d -d -t 30 VSOCK-LISTEN:PORT STDIO < /dev/null > /tmp/e/s.out", 1000),
    ] {
        let port = ctx.port();
        ctx.vm.sh_ok("mkdir -p /tmp/e; rm -f /tmp/e/*")?;
        super::guest::start(&mut ctx.vm, "e", &guest_cmd.replace("PORT", &port.to_string()))?;
        super::guest::wait_ready(&mut ctx.vm, "e", "listening")?;
        let t0 = Instant::now();
        let mut s = hybrid::connect(&uds, port, Duration::from_secs(10))?;
        let mut w = s.try_clone()?;
        let t = std::thread::spawn(move || { std::thread::sleep(Duration::from_millis(host_delay_ms)); let r = w.write_all(&[b'x'; 1000]); let r2 = w.shutdown(std::net::Shutdown::Write); (r.map_err(|e| e.to_string()), r2.map_err(|e| e.to_string()), t0.elapsed()) });
        let mut got = Vec::new();
        let r = s.read_to_end(&mut got);
        let read_done = t0.elapsed();
        let wr = t.join().unwrap();
        let exit = super::guest::wait(&mut ctx.vm, "e", 60)?;
        let d = super::guest::Digests::of(&mut ctx.vm, &[("out", "/tmp/e/s.out")])?;
        eprintln!("{name}: host write/shutdown {wr:?}; host read {:?} {:?} at {read_done:?}; guest rc {} after {:?}, got {} bytes; guest stderr: {}", r.map_err(|e|e.to_string()), String::from_utf8_lossy(&got), exit.code, exit.elapsed, d.size("out")?, filt(&exit.stderr));
    }
    // E3/E4: guest -> host
    for (name, guest_cmd, host_first) in [
        (
            "E3 guest half-closes, host replies after EOF",
            "socat -d -d -t 30 STDIO VSOCK-CONNECT:2:PORT < /tmp/f/c.in > /tmp/f/c.out",
            false,
        ),
        (
            "E4 host half-closes first, guest sends 1s later",
            "(sleep 1; cat /tmp/f/c.in) | socat -d -d -t 30 STDIO VSOCK-CONNECT:2:PORT > /tmp/f/c.out",
            true,
        ),
    ] {
        let port = ctx.port();
        let l = std::os::unix::net::UnixListener::bind(hybrid::listen_path(&uds, port))?;
        super::guest::random_file(&mut ctx.vm, "/tmp/f/c.in", 1000)?;
        super::guest::start(&mut ctx.vm, "f", &guest_cmd.replace("PORT", &port.to_string()))?;
        let (mut s, _) = l.accept()?;
        let t0 = Instant::now();
        let mut got = Vec::new();
        let (r, wr);
        if host_first {
            wr = (s.shutdown(std::net::Shutdown::Write).map_err(|e| e.to_string()), t0.elapsed());
            r = s.read_to_end(&mut got);
        } else {
            r = s.read_to_end(&mut got);
            let w1 = s.write_all(b"reply\n").map_err(|e| e.to_string());
            wr = (w1.and(s.shutdown(std::net::Shutdown::Write).map_err(|e| e.to_string())), t0.elapsed());
        }
        let read_done = t0.elapsed();
        let exit = super::guest::wait(&mut ctx.vm, "f", 60)?;
        let d = super::guest::Digests::of(&mut ctx.vm, &[("out", "/tmp/f/c.out")])?;
        let reply = ctx.vm.sh_ok("cat /tmp/f/c.out")?;
        eprintln!("{name}: host read {:?} {} bytes at {read_done:?}; host write {wr:?}; guest rc {} after {:?} got {} bytes {reply:?}; guest stderr: {}", r.map_err(|e|e.to_string()), got.len(), exit.code, exit.elapsed, d.size("out")?, filt(&exit.stderr));
    }
    Ok(())
}
