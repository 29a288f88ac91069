//! `framed/*`: the framed protocol (`--framed`) across vhost-device-vsock 0.3.0, the
//! backend that turns a half-close into a full close (docs/lab.md). Each scenario is one
//! that fails on this device without the protocol, passing with it:
//!
//! - `request-reply`: `printf 'req\n' | hvcat --framed hybrid://...` against a guest
//!   framed listener whose command reads to end of input, then replies, ten times;
//! - `stress`: `hvstress --framed`, host to guest echo, with half-close: 100 of 100;
//! - `sender-killed`: a guest sender killed mid-transfer; the framed host receiver
//!   exits 1 naming the early end, with no `--expect-bytes` (and one that finishes: 0);
//! - `relay`: 20 concurrent plain Unix clients on the host, each sending a request,
//!   half-closing and reading the full echo, through `hvcat -l -k --relay
//!   --relay-framed` to a framed echo in the guest.

use std::io::{Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::lab::harness::kill::{host_after_kill, host_under_way, kill_guest_job, last_line, KILL_LIMIT};
use crate::lab::harness::uri::hybrid_uri;
use crate::lab::harness::wait::wait_for_path;
use crate::lab::harness::{ensure_ok, guest, hvstress_summary, Ctx, HostProc, HostStdin, Scenario};
use crate::util::{Error, Result};
use crate::{bail, ensure};

pub const SCENARIOS: &[Scenario] = &[
    Scenario { name: "framed/request-reply", run: request_reply },
    Scenario { name: "framed/stress", run: stress },
    Scenario { name: "framed/sender-killed", run: sender_killed },
    Scenario { name: "framed/relay", run: relay },
];

/// Starts `cmd` in the guest as job `name` and waits until it listens.
fn guest_listener(ctx: &mut Ctx, name: &str, cmd: &str, ready: &str) -> Result<()> {
    ctx.need_guest_hvcat()?;
    guest::start(&mut ctx.vm, name, cmd)?;
    guest::wait_ready(&mut ctx.vm, name, ready)
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// Ten requests, each ended by a half-close, each answered in full.
fn request_reply(ctx: &mut Ctx) -> Result<()> {
    let port = ctx.port();
    let server = format!("fr{port}");
    let cmd = format!("hvcat -v -l -k --framed -c 'wc -c; echo replied' vsock://:{port}");
    guest_listener(ctx, &server, &cmd, "listening on")?;
    let hvcat = ctx.host_hvcat()?;
    let uri = hybrid_uri(ctx, port);
    let request = ctx.host_path("fr-request");
    std::fs::write(&request, b"req\n")?;
    for i in 0..10 {
        let out = ctx.host_path(&format!("fr{i}.out"));
        let exit = HostProc::spawn(
            ctx,
            &format!("fr{i}"),
            &hvcat,
            &strings(&["--framed", &uri]),
            HostStdin::File(&request),
            &out,
        )?
        .finish(Duration::from_secs(30))?;
        ensure_ok(&format!("request {i}: hvcat --framed {uri}"), &exit)?;
        let reply = std::fs::read_to_string(&out)?;
        ensure!(
            reply.split_whitespace().collect::<Vec<_>>() == ["4", "replied"],
            "request {i}: expected the reply \"4\\nreplied\\n\", got {reply:?}; stderr:\n{}",
            exit.stderr
        );
    }
    guest::kill(&mut ctx.vm, &server)?;
    eprintln!("  10 of 10 requests answered in full after a framed half-close");
    Ok(())
}

/// hvstress with half-close, framed on both ends: every echo intact.
fn stress(ctx: &mut Ctx) -> Result<()> {
    let port = ctx.port();
    let server = format!("fs{port}");
    guest_listener(ctx, &server, &format!("hvstress -v -s vsock://:{port} --framed"), "echoing on")?;
    let hvstress = ctx.lab.binaries.host("hvstress").map_err(Error::msg)?;
    let uri = hybrid_uri(ctx, port);
    let out = ctx.host_path("fs.out");
    let args = strings(&["-c", &uri, "--framed", "-p", "4", "-i", "100", "-l", "256K", "--seed", "14"]);
    let exit = HostProc::spawn(ctx, "fs", &hvstress, &args, HostStdin::Null, &out)?
        .finish(Duration::from_secs(600))?;
    guest::kill(&mut ctx.vm, &server)?;
    let stdout = std::fs::read_to_string(&out)?;
    ensure!(
        exit.code == 0 && hvstress_summary(&stdout) == Some((100, 0, 0)),
        "expected 100 intact echoes; exit {}; stdout:\n{stdout}stderr:\n{}",
        exit.code,
        exit.stderr
    );
    eprintln!("  {}", last_line(&stdout));
    Ok(())
}

/// A framed guest sender killed mid-transfer: the host receiver (no `--expect-bytes`)
/// exits 1 naming the early end, within [`KILL_LIMIT`]. A framed sender that finishes: exit 0
/// with every byte.
fn sender_killed(ctx: &mut Ctx) -> Result<()> {
    let hvcat = ctx.host_hvcat()?;
    let port = ctx.port();
    let sender = format!("fk{port}");
    guest_listener(
        ctx,
        &sender,
        &format!("hvcat -v -l --framed vsock://:{port} < /dev/zero"),
        "listening on",
    )?;
    let uri = hybrid_uri(ctx, port);
    let out = ctx.host_path("fk.out");
    let host =
        HostProc::spawn(ctx, "fk", &hvcat, &strings(&["-v", "--framed", &uri]), HostStdin::Null, &out)?;
    host_under_way(&out)?;
    let from = Instant::now();
    kill_guest_job(&mut ctx.vm, &sender)?;
    let after = host_after_kill(host, from)?;
    ensure!(
        // "without finishing", or "in the middle of a frame" if cut inside one.
        after.code == 1 && after.stderr.contains("the peer went away"),
        "killed sender: expected exit 1 naming the early end, got exit {} after {:.2} s:\n{}",
        after.code,
        after.secs,
        after.stderr
    );
    let quick = after.secs < KILL_LIMIT;
    ensure!(quick, "killed sender: the receiver took {:.2} s to end (limit {KILL_LIMIT} s)", after.secs);
    eprintln!("  killed sender: exit 1 within {:.2} s: {}", after.secs, last_line(&after.stderr));

    // The same, with a sender that finishes: 4 MiB, exit 0.
    let port = ctx.port();
    let sender = format!("fk{port}");
    ctx.vm.sh_ok("head -c 4194304 /dev/zero > /tmp/fk-4m")?;
    guest_listener(
        ctx,
        &sender,
        &format!("hvcat -v -l --framed vsock://:{port} < /tmp/fk-4m"),
        "listening on",
    )?;
    let uri = hybrid_uri(ctx, port);
    let out = ctx.host_path("fk-done.out");
    let exit = HostProc::spawn(ctx, "fk-done", &hvcat, &strings(&["--framed", &uri]), HostStdin::Null, &out)?
        .finish(Duration::from_secs(60))?;
    ensure_ok("finished sender: the host receiver", &exit)?;
    let got = std::fs::metadata(&out)?.len();
    ensure!(got == 4 << 20, "finished sender: {got} of 4194304 bytes arrived");
    let guest_exit = guest::wait(&mut ctx.vm, &sender, 30)?;
    ensure!(guest_exit.code == 0, "the guest sender exited {}:\n{}", guest_exit.code, guest_exit.stderr);
    eprintln!("  finished sender: 4194304 bytes, exit 0 on both ends");
    Ok(())
}

/// One plain client of the relay: request, half-close, the whole echo back.
fn relay_client(front: &Path, i: usize) -> Result<()> {
    let mut stream = UnixStream::connect(front)?;
    stream.set_read_timeout(Some(Duration::from_secs(120)))?;
    let request: Vec<u8> = (0..100_000 + 997 * i).map(|n| (n * 31 + i) as u8).collect();
    stream.write_all(&request)?;
    stream.shutdown(Shutdown::Write)?;
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply)?;
    ensure!(reply == request, "client {i}: {} bytes back of the {} sent", reply.len(), request.len());
    Ok(())
}

/// 20 concurrent plain clients → host relay (framed upstream) → guest framed echo.
fn relay(ctx: &mut Ctx) -> Result<()> {
    let port = ctx.port();
    let echo = format!("fe{port}");
    guest_listener(ctx, &echo, &format!("hvcat -v -l --echo --framed vsock://:{port}"), "listening on")?;
    let hvcat = ctx.host_hvcat()?;
    let front = ctx.host_path("framed-front.sock");
    let _ = std::fs::remove_file(&front);
    let args = strings(&[
        "-l",
        "-k",
        &format!("unix://{}", front.display()),
        "--relay",
        &hybrid_uri(ctx, port),
        "--relay-framed",
    ]);
    let relay = HostProc::spawn(
        ctx,
        "framed-relay",
        &hvcat,
        &args,
        HostStdin::Null,
        &ctx.host_path("framed-relay.out"),
    )?;
    wait_for_path(&front)?;
    let started = Instant::now();
    let results: Vec<Result<()>> = std::thread::scope(|scope| {
        let clients: Vec<_> = (0..20)
            .map(|i| {
                scope.spawn({
                    let front = front.clone();
                    move || relay_client(&front, i)
                })
            })
            .collect();
        clients
            .into_iter()
            .map(|c| c.join().unwrap_or_else(|_| Err(Error::msg("a client panicked"))))
            .collect()
    });
    let took = started.elapsed().as_secs_f64();
    let mut relay = relay;
    relay.kill();
    let relay_exit = relay.finish(Duration::ZERO)?;
    guest::kill(&mut ctx.vm, &echo)?;
    let failed: Vec<String> = results.into_iter().filter_map(|r| r.err().map(|e| e.to_string())).collect();
    if !failed.is_empty() {
        bail!(
            "{} of 20 relayed clients failed: {}\nrelay stderr:\n{}",
            failed.len(),
            failed.join("; "),
            relay_exit.stderr
        );
    }
    eprintln!(
        "  20 of 20 plain clients: request, half-close, full echo, through the framed relay in {took:.1} s"
    );
    Ok(())
}
