//! Checks of the lab itself, independent of hvcat: the control channel, the
//! guest's kernel vsock, and the vhost-device-vsock hybrid socket, using only
//! busybox, socat and the lab's own Unix-socket code. When these pass and an
//! hvcat scenario fails, the fault is hvcat's.

use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::time::Duration;

use crate::ensure;
use crate::lab::harness::guest::{self, kv, parse_kv};
use crate::lab::harness::transfer::{self, Side};
use crate::lab::harness::{ensure_ok, hybrid, Ctx, Digests, Scenario, Tool};
use crate::util::{self, Result};

pub const SCENARIOS: &[Scenario] = &[
    Scenario { name: "lab/control", run: control },
    Scenario { name: "lab/socat-loopback", run: socat_loopback },
    Scenario { name: "lab/hybrid-socat", run: hybrid_socat },
];

/// The control channel carries output and exit status, survives a full
/// `/tmp`, fails a script that fills its own tmpfs (status 125), background jobs
/// work, and the guest has the vsock transports loaded.
fn control(ctx: &mut Ctx) -> Result<()> {
    let out = ctx.vm.sh("echo out; echo err >&2; exit 3")?;
    ensure!(out.status == 3, "exit status 3 came back as {}", out.status);
    ensure!(out.output == "out\nerr\n", "output came back as {:?}", out.output);

    guest::start(&mut ctx.vm, "ctl", "sleep 0.2; echo done > /tmp/ctl.txt; exit 5")?;
    let exit = guest::wait(&mut ctx.vm, "ctl", 10)?;
    ensure!(exit.code == 5, "background job status 5 came back as {}", exit.code);
    ensure!(ctx.vm.sh_ok("cat /tmp/ctl.txt")? == "done\n", "background job output missing");

    // A full /tmp leaves the channel working; a script that fills /run
    // (the agent's own tmpfs) fails with status 125, never quietly.
    let t = std::time::Instant::now();
    ctx.vm.sh_ok("dd if=/dev/zero of=/tmp/ctl.fill bs=1M count=300 2>/dev/null; true")?;
    let works = ctx.vm.sh_ok("echo works")? == "works\n";
    ctx.vm.sh_ok("rm -f /tmp/ctl.fill")?;
    ensure!(works, "a full /tmp broke the control channel");
    eprintln!("  /tmp filled and emptied in {:.1} s", t.elapsed().as_secs_f64());
    let full =
        ctx.vm.sh("echo before; dd if=/dev/zero of=/run/ctl.fill bs=1M count=40 2>/dev/null; echo after")?;
    ctx.vm.sh_ok("rm -f /run/ctl.fill")?;
    ensure!(
        full.status == 125 && full.output.contains("/run filled up"),
        "a script that filled /run came back as status {}, output {:?}",
        full.status,
        full.output
    );

    let facts = parse_kv(&ctx.vm.sh_ok(
        "echo loopback=$([ -d /sys/module/vsock_loopback ] && echo y)
         echo virtio=$([ -d /sys/module/vmw_vsock_virtio_transport ] && echo y)
         echo dev=$([ -c /dev/vsock ] && echo y)",
    )?);
    for key in ["loopback", "virtio", "dev"] {
        ensure!(kv(&facts, key)? == "y", "guest lacks {key} (modules or /dev/vsock): {facts:?}");
    }
    Ok(())
}

/// Kernel AF_VSOCK over vsock_loopback (CID 1) in the guest, socat to socat.
fn socat_loopback(ctx: &mut Ctx) -> Result<()> {
    let port = ctx.port();
    let server = Side::Guest { cmd: Tool::Socat.listen(port), ready: Tool::Socat.ready(), hold_stdin: false };
    let client = Side::Guest { cmd: Tool::Socat.connect(1, port), ready: "", hold_stdin: false };
    let outcome = transfer::run(ctx, server, client, 4 << 20, 3 << 20)?;
    outcome.ensure_all_ok()?;
    eprintln!("  socat<->socat over CID 1: {}", outcome.summary());
    Ok(())
}

/// The device's hybrid socket both ways, with the lab's own Unix-socket
/// code on the host and socat in the guest: 2 MiB each way at once. The
/// host ends its side only after it has received everything and the guest
/// has read everything (see `host-guest/half-close-limit` and docs/lab.md
/// for why).
fn hybrid_socat(ctx: &mut Ctx) -> Result<()> {
    const LEN: usize = 2 << 20;
    let uds = ctx.vm.uds_path();
    let payload = util::payload(42, LEN);

    let port = ctx.port();
    let dir = format!("/tmp/hs{port}");
    guest::random_file(&mut ctx.vm, &format!("{dir}/in"), LEN)?;
    let listen = format!("{} < {dir}/in > {dir}/out", Tool::Socat.listen(port));
    guest::start(&mut ctx.vm, "hs-l", &listen)?;
    guest::wait_ready(&mut ctx.vm, "hs-l", Tool::Socat.ready())?;
    let stream = hybrid::connect(&uds, port, Duration::from_secs(10))?;
    let got = exchange(stream, &payload, LEN, || guest_has(ctx, &dir, LEN))?;
    check_exchange(ctx, "hs-l", &dir, &payload, &got, "host -> guest socat")?;

    let port = ctx.port();
    let listener = UnixListener::bind(hybrid::listen_path(&uds, port))?;
    let connect = format!("{} < {dir}/in > {dir}/out", Tool::Socat.connect(2, port));
    guest::start(&mut ctx.vm, "hs-c", &connect)?;
    let (stream, _) = listener.accept()?;
    let got = exchange(stream, &payload, LEN, || guest_has(ctx, &dir, LEN))?;
    check_exchange(ctx, "hs-c", &dir, &payload, &got, "guest socat -> host")
}

/// Waits until the guest's `out` file has `len` bytes.
fn guest_has(ctx: &mut Ctx, dir: &str, len: usize) -> Result<()> {
    ctx.vm.sh_ok(&format!("wait_size {dir}/out {len} 30")).map(drop)
}

/// Sends `data` while reading `expect` bytes; once `ready_to_close` is
/// done, shuts down its write side (which this device turns into a full
/// close) and reads to the end.
fn exchange(
    stream: UnixStream,
    data: &[u8],
    expect: usize,
    ready_to_close: impl FnOnce() -> Result<()>,
) -> Result<Vec<u8>> {
    stream.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut writer = stream.try_clone()?;
    let data = data.to_vec();
    let sender = std::thread::spawn(move || writer.write_all(&data));
    let mut got = vec![0u8; expect];
    (&stream).read_exact(&mut got)?;
    sender.join().map_err(|_| util::Error::msg("sender panicked"))??;
    ready_to_close()?;
    stream.shutdown(std::net::Shutdown::Write)?;
    (&stream).read_to_end(&mut got)?;
    Ok(got)
}

/// Checks both directions of a host <-> guest socat exchange.
fn check_exchange(ctx: &mut Ctx, job: &str, dir: &str, sent: &[u8], got: &[u8], what: &str) -> Result<()> {
    let exit = guest::wait(&mut ctx.vm, job, 30)?;
    ensure_ok(&format!("{what}: socat"), &exit)?;
    let d = Digests::of(&mut ctx.vm, &[("in", &format!("{dir}/in")), ("out", &format!("{dir}/out"))])?;
    ensure!(
        d.size("out")? == sent.len() && d.sha("out")? == util::sha256_hex(sent),
        "{what}: guest received {} bytes (sha256 {}), host sent {} (sha256 {})",
        d.size("out")?,
        d.sha("out")?,
        sent.len(),
        util::sha256_hex(sent)
    );
    ensure!(
        util::sha256_hex(got) == d.sha("in")?,
        "{what}: host received sha256 {}, guest sent {}",
        util::sha256_hex(got),
        d.sha("in")?
    );
    Ok(())
}
