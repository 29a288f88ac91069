//! hvcat against hvcat inside the guest, over the kernel's vsock_loopback
//! transport (CID 1): transfer sizes, half-close, exec/echo servers, errors,
//! timeouts, retries and the local CID.

use std::time::Duration;

use crate::lab::harness::exchange::{ensure_reply_after_eof, loopback_pair, serve_clients};
use crate::lab::harness::guest::{kv, parse_kv};
use crate::lab::harness::{ensure_ok, guest, Ctx, Digests, Exit, Scenario, Tool, GUEST_CID};
use crate::util::Result;
use crate::{bail, ensure};

pub const SCENARIOS: &[Scenario] = &[
    Scenario { name: "loopback/matrix", run: matrix },
    Scenario { name: "loopback/reply-after-eof", run: reply_after_eof },
    Scenario { name: "loopback/exec", run: exec },
    Scenario { name: "loopback/echo", run: echo },
    Scenario { name: "loopback/refused", run: refused },
    Scenario { name: "loopback/connect-timeout", run: connect_timeout },
    Scenario { name: "loopback/retry", run: retry },
    Scenario { name: "loopback/local-cid", run: local_cid },
    Scenario { name: "loopback/vsock-buffer", run: vsock_buffer },
];

/// Transfer sizes around page and buffer boundaries, up to several MiB.
const SIZES: &[usize] = &[0, 1, 4095, 4096, 4097, 65536, 65537, 1 << 20, 4 << 20];

/// Every size in [`SIZES`] each way (paired with a different size the
/// other way), data flowing both ways at once, then half-close each side.
fn matrix(ctx: &mut Ctx) -> Result<()> {
    let mut failures = Vec::new();
    for (i, &c2s) in SIZES.iter().enumerate() {
        let s2c = SIZES[SIZES.len() - 1 - i];
        match loopback_pair(ctx, Tool::Hvcat, Tool::Hvcat, c2s, s2c) {
            Ok(o) => eprintln!("  {}", o.summary()),
            Err(e) => failures.push(format!("{c2s} B -> / {s2c} B <-: {e}")),
        }
    }
    if !failures.is_empty() {
        bail!("{} of {} cases failed:\n{}", failures.len(), SIZES.len(), failures.join("\n"));
    }
    Ok(())
}

/// The server answers only after the client's EOF (`-c sha256sum`), so the
/// answer arrives only if the client half-closes and keeps reading.
fn reply_after_eof(ctx: &mut Ctx) -> Result<()> {
    ctx.need_guest_hvcat()?;
    let port = ctx.port();
    let server = format!("{} -c sha256sum", Tool::Hvcat.listen(port));
    ensure_reply_after_eof(ctx, port, &server, Tool::Hvcat.ready(), Tool::Hvcat)
}

/// `-e` runs a program without a shell (`wc -c`, split at white space) per
/// connection; its answer after the client's EOF is the byte count.
fn exec(ctx: &mut Ctx) -> Result<()> {
    ctx.need_guest_hvcat()?;
    let port = ctx.port();
    let len = (1 << 20) + 3;
    let server = format!("{} -e 'wc -c'", Tool::Hvcat.listen(port));
    serve_clients(ctx, port, &server, Tool::Hvcat.ready(), Tool::Hvcat, &[len], false)?;
    let got = ctx.vm.sh_ok(&format!("cat /tmp/x{port}/out0"))?;
    ensure!(got.trim() == len.to_string(), "client received {got:?}, expected the count {len}");
    Ok(())
}

/// `--echo` (which keeps serving) returns everything to two clients at once,
/// while they are still sending.
fn echo(ctx: &mut Ctx) -> Result<()> {
    ctx.need_guest_hvcat()?;
    let port = ctx.port();
    let server = format!("hvcat -v -l --echo vsock://:{port}");
    let lens = [2 << 20, (2 << 20) + 1];
    let d = serve_clients(ctx, port, &server, Tool::Hvcat.ready(), Tool::Hvcat, &lens, true)?;
    for (i, len) in lens.iter().enumerate() {
        let (inp, out) = (format!("in{i}"), format!("out{i}"));
        ensure!(
            d.size(&out)? == *len && d.sha(&out)? == d.sha(&inp)?,
            "client {i} got back {} bytes (sha256 {}), sent {len} (sha256 {})",
            d.size(&out)?,
            d.sha(&out)?,
            d.sha(&inp)?
        );
    }
    Ok(())
}

/// Runs a one-off guest hvcat command; returns its exit.
fn one_shot(ctx: &mut Ctx, name: &str, cmd: &str) -> Result<Exit> {
    ctx.need_guest_hvcat()?;
    guest::start(&mut ctx.vm, name, cmd)?;
    guest::wait(&mut ctx.vm, name, 30)
}

/// Checks a failed hvcat: exit 1, and stderr naming `address` and containing `what`.
fn ensure_failure(exit: &Exit, address: &str, what: &str) -> Result<()> {
    let err = exit.stderr.to_lowercase();
    ensure!(
        exit.code == 1 && err.starts_with("hvcat:") && err.contains(address) && err.contains(what),
        "expected exit 1 and a message starting `hvcat:` naming {address} and saying {what:?}; got exit {} with stderr {:?}",
        exit.code,
        exit.stderr
    );
    Ok(())
}

/// Nothing listens: hvcat exits 1 and says refused, naming the address.
fn refused(ctx: &mut Ctx) -> Result<()> {
    let port = ctx.port();
    let exit = one_shot(ctx, "refused", &format!("hvcat vsock://1:{port} < /dev/null"))?;
    ensure_failure(&exit, &format!("vsock://1:{port}"), "refused")
}

/// A CID nobody answers for swallows the request (the kernel's own
/// connect timeout is 2 s); `-w 0.5` must give up after 0.5 s and `-w 3`
/// after 3 s, each within 10% ([`guest::ensure_connect_timeout`]).
fn connect_timeout(ctx: &mut Ctx) -> Result<()> {
    ctx.need_guest_hvcat()?;
    let port = ctx.port();
    let free = ctx.port();
    for secs in [0.5, 3.0] {
        let address = format!("vsock://7:{port}");
        let (measured, counted) = guest::ensure_connect_timeout(&mut ctx.vm, &address, secs, free)?;
        eprintln!("  -w {secs}: timed out after {counted:.2} s ({measured:.2} s with start-up)");
    }
    Ok(())
}

/// `--retry` keeps trying while the listener is not up yet.
fn retry(ctx: &mut Ctx) -> Result<()> {
    ctx.need_guest_hvcat()?;
    let port = ctx.port();
    let dir = format!("/tmp/r{port}");
    let len = 1 << 20;
    guest::random_file(&mut ctx.vm, &format!("{dir}/in"), len)?;
    guest::start(
        &mut ctx.vm,
        "retry-c",
        &format!("hvcat -v --retry vsock://1:{port} < {dir}/in > /dev/null"),
    )?;
    std::thread::sleep(Duration::from_millis(1500));
    guest::start(&mut ctx.vm, "retry-s", &format!("{} < /dev/null > {dir}/out", Tool::Hvcat.listen(port)))?;
    let client = guest::wait(&mut ctx.vm, "retry-c", 60)?;
    let server = guest::wait(&mut ctx.vm, "retry-s", 60)?;
    ensure_ok("retrying client", &client)?;
    ensure_ok("late server", &server)?;
    let d = Digests::of(&mut ctx.vm, &[("in", &format!("{dir}/in")), ("out", &format!("{dir}/out"))])?;
    ensure!(
        d.sha("in")? == d.sha("out")? && d.size("out")? == len,
        "server received {} bytes (sha256 {}), client sent {len} (sha256 {})",
        d.size("out")?,
        d.sha("out")?,
        d.sha("in")?
    );
    ensure!(
        client.elapsed >= Duration::from_secs(1),
        "client finished before the server started: {client:?}"
    );
    Ok(())
}

/// `hvcat --local-cid` prints the guest's CID.
fn local_cid(ctx: &mut Ctx) -> Result<()> {
    ctx.need_guest_hvcat()?;
    let out = ctx.vm.sh("hvcat --local-cid")?;
    ensure!(
        out.status == 0 && out.output.trim() == GUEST_CID.to_string(),
        "hvcat --local-cid: exit {}, output {:?} (expected {GUEST_CID})",
        out.status,
        out.output
    );
    Ok(())
}

/// `--vsock-buffer` sets the credit window where it is given, and only there: an echo
/// listener given 2M hands it to each connection it accepts, a client given 512K has
/// 512 KiB, one given nothing hvcat's default of 1 MiB (as `-v` reads them back with
/// `getsockopt(2)`); 4 MiB echoes intact through the changed windows.
fn vsock_buffer(ctx: &mut Ctx) -> Result<()> {
    ctx.need_guest_hvcat()?;
    let port = ctx.port();
    guest::start(&mut ctx.vm, "vb-srv", &format!("hvcat -v -l -k --echo --vsock-buffer 2M vsock://:{port}"))?;
    guest::wait_ready(&mut ctx.vm, "vb-srv", "listening on")?;
    let facts = parse_kv(&ctx.vm.sh_ok(&format!(
        "head -c 4194304 /dev/urandom > /tmp/vb.in
         hvcat -v --vsock-buffer 512K vsock://1:{port} < /tmp/vb.in > /tmp/vb.out 2> /tmp/vb.err
         echo rc=$?
         echo same=$([ \"$(sha /tmp/vb.in)\" = \"$(sha /tmp/vb.out)\" ] && echo yes)
         echo client=$(grep 'connected to' /tmp/vb.err)
         hvcat -v vsock://1:{port} < /dev/null 2> /tmp/vb.plain > /dev/null
         echo plain=$(grep 'connected to' /tmp/vb.plain)
         sleep 0.2
         echo server=$(grep 'connection from' $B/vb-srv.err | tr '\\n' '|')"
    ))?);
    ctx.vm.sh_ok("bg_kill vb-srv")?;
    let (client, plain, server) = (kv(&facts, "client")?, kv(&facts, "plain")?, kv(&facts, "server")?);
    ensure!(
        kv(&facts, "rc")? == "0" && kv(&facts, "same")? == "yes",
        "4 MiB echo through the windows: {facts:?}"
    );
    ensure!(client.contains("vsock buffer 512.0 KiB"), "the client given 512K reported: {client}");
    ensure!(
        plain.contains("vsock buffer 1.0 MiB"),
        "a client given nothing (hvcat's default 1M) reported: {plain}"
    );
    ensure!(
        server.matches("vsock buffer 2.0 MiB").count() == 2,
        "the listener given 2M reported, for its two connections: {server}"
    );
    eprintln!("  client: {client}\n  default: {plain}\n  listener: {server}");
    Ok(())
}
