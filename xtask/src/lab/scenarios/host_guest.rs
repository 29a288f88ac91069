//! Host <-> guest through vhost-device-vsock: the host hvcat on the device's
//! hybrid Unix socket, the guest hvcat on kernel AF_VSOCK.
//!
//! This backend (0.3.0) does not do half-close: a host-side
//! `shutdown(SHUT_WR)` reaches the guest as a full close, and a guest-side
//! `shutdown(SHUT_WR)` never reaches the host. The transfer scenarios
//! therefore keep the host's stdin open until the host has received
//! everything ([`HostStdin::Held`]); `host-guest/half-close-limit` shows the
//! exact behaviour without that.

use std::path::Path;
use std::time::Duration;

use crate::ensure;
use crate::lab::harness::exchange::{guest_to_host_with, host_to_guest_with};
use crate::lab::harness::uri::{hybrid_listener, hybrid_uri};
use crate::lab::harness::wait::{wait_for_path, wait_until};
use crate::lab::harness::{ensure_ok, guest, Ctx, Digests, Exit, HostProc, HostStdin, Scenario, Tool};
use crate::util::{self, Result};

pub const SCENARIOS: &[Scenario] = &[
    Scenario { name: "host-guest/hybrid-to-guest", run: host_to_guest },
    Scenario { name: "host-guest/guest-to-hybrid", run: guest_to_host },
    Scenario { name: "host-guest/half-close-limit", run: half_close_limit },
    Scenario { name: "host-guest/no-listener", run: no_listener },
    Scenario { name: "host-guest/guest-to-host-pipe", run: guest_to_host_pipe },
];

fn host_to_guest(ctx: &mut Ctx) -> Result<()> {
    let port = ctx.port();
    let o = host_to_guest_with(ctx, Tool::Hvcat, port, hybrid_uri)?;
    eprintln!("  host -> guest: {}", o.summary());
    Ok(())
}

fn guest_to_host(ctx: &mut Ctx) -> Result<()> {
    let port = ctx.port();
    let o = guest_to_host_with(ctx, Tool::Hvcat, port, hybrid_listener)?;
    eprintln!("  guest -> host: {}", o.summary());
    Ok(())
}

/// Guest hvcat sends 16 MiB to a host `hvcat -l` whose standard output is a pipe: every
/// byte must come out of the pipe while the connection is still open (when hvcat
/// spliced from the socket into the pipe, the last 128 KiB stayed behind until close).
/// Both sides keep their input open: a host end of input would be a full close here.
fn guest_to_host_pipe(ctx: &mut Ctx) -> Result<()> {
    ctx.need_guest_hvcat()?;
    let hvcat = ctx.host_hvcat()?;
    let port = ctx.port();
    let (uri, path) = hybrid_listener(ctx, port);
    let out = ctx.host_path("pipe.out");
    let script = format!("sleep 60 | {} -l {uri} | cat > {}", hvcat.display(), out.display());
    let args = vec!["-c".to_string(), script];
    let host = HostProc::spawn(
        ctx,
        "pipe-s",
        Path::new("/bin/sh"),
        &args,
        HostStdin::Null,
        &ctx.host_path("pipe.sh.out"),
    )?;
    wait_for_path(&path)?;
    let len = 16 << 20;
    let dir = format!("/tmp/pipe{port}");
    guest::random_file(&mut ctx.vm, &format!("{dir}/in"), len)?;
    // The guest keeps its connection open (its stdin never ends) so that only a
    // stall, not a close, can hold data back.
    let sender = format!("{{ cat {dir}/in; sleep 60; }} | hvcat vsock://2:{port}");
    guest::start(&mut ctx.vm, "pipe-c", &sender)?;
    let sent = Digests::of(&mut ctx.vm, &[("in", &format!("{dir}/in"))])?;
    let arrived = wait_until(|| std::fs::metadata(&out).map(|m| m.len() as usize >= len).unwrap_or(false));
    let got = std::fs::read(&out).unwrap_or_default();
    guest::kill(&mut ctx.vm, "pipe-c")?;
    drop(host);
    ensure!(
        arrived.is_ok() && got.len() == len && util::sha256_hex(&got) == sent.sha("in")?,
        "{} of {len} bytes came out of the host's pipe while the connection was open",
        got.len()
    );
    eprintln!("  16 MiB through host hvcat into a pipe, connection still open: intact");
    Ok(())
}

/// What the backend does with half-closes, pinned down:
/// 1. host -> guest: the host sends 1 MiB and hits EOF; the guest server
///    answers only after its EOF. The guest gets all 1 MiB intact, but the
///    host's EOF was a full close, so the answer is lost (EPIPE in the guest)
///    and the host receives nothing. (Over vsock_loopback the same exchange
///    works: `loopback/reply-after-eof`.)
/// 2. guest -> host: the guest sends 64 KiB and half-closes; the host gets
///    every byte but no EOF while the guest waits for the host, so both stay
///    up until the host ends its side.
fn half_close_limit(ctx: &mut Ctx) -> Result<()> {
    ctx.need_guest_hvcat()?;
    let hvcat = ctx.host_hvcat()?;

    // 1. Host EOF becomes a full close.
    let port = ctx.port();
    let dir = format!("/tmp/hc{port}");
    let server = format!("{} -c 'cat > {dir}/got; echo reply'", Tool::Hvcat.listen(port));
    ctx.vm.sh_ok(&format!("mkdir -p {dir}"))?;
    guest::start(&mut ctx.vm, "hc-s", &server)?;
    guest::wait_ready(&mut ctx.vm, "hc-s", Tool::Hvcat.ready())?;
    let (input, sha) = ctx.host_payload("hc.in", 1, 1 << 20)?;
    let out = ctx.host_path("hc.out");
    let args = vec!["-v".to_string(), hybrid_uri(ctx, port)];
    let host = HostProc::spawn(ctx, "hc-c", &hvcat, &args, HostStdin::File(&input), &out)?
        .finish(Duration::from_secs(60))?;
    let guest_exit = guest::wait(&mut ctx.vm, "hc-s", 30)?;
    let got = Digests::of(&mut ctx.vm, &[("got", &format!("{dir}/got"))])?;
    let reply = std::fs::read(&out)?;
    let detail = || format!("host {host:?}, host received {reply:?}; guest {guest_exit:?}");
    ensure!(
        got.size("got")? == 1 << 20 && got.sha("got")? == sha,
        "the guest did not receive the host's 1 MiB intact (got {} bytes, sha256 {}); {}",
        got.size("got")?,
        got.sha("got")?,
        detail()
    );
    ensure!(
        reply.is_empty(),
        "the answer sent after the host's EOF arrived ({reply:?}): has the backend learnt half-close? Update this scenario and docs/lab.md; {}",
        detail()
    );
    ensure!(host.code == 0, "the host hvcat should see a plain EOF and exit 0; {}", detail());
    eprintln!(
        "  host EOF: guest got 1 MiB intact; answer lost; guest hvcat exit {} ({})",
        guest_exit.code,
        first_line(&guest_exit)
    );

    // 2. Guest EOF never reaches the host.
    let port = ctx.port();
    let (uri, path) = hybrid_listener(ctx, port);
    let (empty, _) = ctx.host_payload("hc2.in", 2, 0)?;
    let out = ctx.host_path("hc2.out");
    let args = vec!["-v".to_string(), "-l".to_string(), uri];
    let mut host = HostProc::spawn(ctx, "hc2-s", &hvcat, &args, HostStdin::Held(&empty), &out)?;
    wait_for_path(&path)?;
    let len = 64 << 10;
    guest::random_file(&mut ctx.vm, &format!("{dir}/in2"), len)?;
    guest::start(&mut ctx.vm, "hc2-c", &format!("hvcat -v vsock://2:{port} < {dir}/in2 > {dir}/out2"))?;
    let sent = Digests::of(&mut ctx.vm, &[("in", &format!("{dir}/in2"))])?;
    wait_until(|| std::fs::metadata(&out).map(|m| m.len() as usize >= len).unwrap_or(false))?;
    std::thread::sleep(Duration::from_secs(2));
    let still_running = host.try_wait()?.is_none();
    let received = std::fs::read(&out)?;
    host.release_stdin();
    let host_exit = host.finish(Duration::from_secs(30))?;
    let guest_exit = guest::wait(&mut ctx.vm, "hc2-c", 30)?;
    ensure!(
        received.len() == len && util::sha256_hex(&received) == sent.sha("in")?,
        "the host did not receive the guest's {len} bytes intact (got {})",
        received.len()
    );
    ensure!(
        still_running,
        "the host saw EOF from the guest's half-close: has the backend learnt half-close? Update this scenario and docs/lab.md (host {host_exit:?})"
    );
    ensure_ok("host hvcat after its stdin ended", &host_exit)?;
    ensure_ok("guest hvcat after the host closed", &guest_exit)?;
    eprintln!(
        "  guest EOF: host got {len} B intact but no EOF for 2 s; both exit 0 once the host's stdin ends"
    );
    Ok(())
}

fn first_line(exit: &Exit) -> &str {
    exit.stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("")
}

/// Nobody listens on the other side:
/// - host -> guest port with no listener: the device closes the hybrid
///   connection without `OK`; hvcat exits 1 naming the address and saying
///   connection refused;
/// - guest -> host port with no Unix listener: vhost-device-vsock drops the
///   request, so the guest's connect runs into the kernel's 2 s connect
///   timeout instead of being refused; hvcat exits 1 saying it timed out
///   after 2.0-2.3 s (start-up included; `-w` sets that time, see
///   `faults/connect-timeout`).
fn no_listener(ctx: &mut Ctx) -> Result<()> {
    ctx.need_guest_hvcat()?;
    let port = ctx.port();
    let uri = hybrid_uri(ctx, port);
    let out = ctx.host_path("nl.out");
    let host =
        HostProc::spawn(ctx, "nl", &ctx.host_hvcat()?, std::slice::from_ref(&uri), HostStdin::Null, &out)?
            .finish(Duration::from_secs(30))?;
    let want = format!(
        "hvcat: connect {uri}: connection refused: no listener on guest port {port}, or the VM is not running\n"
    );
    ensure!(
        host.code == 1 && host.stderr == want,
        "host hvcat to a guest port with no listener: expected exit 1 and {want:?}; got {host:?}"
    );
    eprintln!("  host -> guest, no listener: {}", host.stderr.trim());

    let address = format!("vsock://2:{port}");
    let g = guest::timed(&mut ctx.vm, &format!("hvcat {address}"))?;
    let want = format!("hvcat: connect {address}: timed out\n");
    let took = g.elapsed.as_secs_f64();
    ensure!(
        g.code == 1 && g.stderr == want && (2.0..=2.3).contains(&took),
        "guest hvcat to a host port with no listener: expected exit 1 and {want:?} after the kernel's 2 s (this backend drops the request); got {g:?}"
    );
    eprintln!("  guest -> host, no listener: {} after {}", g.stderr.trim(), util::secs(g.elapsed));
    Ok(())
}
