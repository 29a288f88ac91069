//! The async API against a real guest kernel: `hvcat --relay` accepts and connects with
//! `hvsock::tokio` (readiness-driven `AF_VSOCK` in the guest; the async hybrid handshake
//! against vhost-device-vsock on the host) and bridges with `hvsock::tokio::bridge`.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use crate::lab::harness::exchange::serve_clients;
use crate::lab::harness::uri::hybrid_uri;
use crate::lab::harness::wait::wait_for_path;
use crate::lab::harness::{guest, Ctx, HostProc, HostStdin, Scenario, Tool};
use crate::util::{self, Context, Result};
use crate::{bail, ensure};

pub const SCENARIOS: &[Scenario] = &[
    Scenario { name: "relay/async-loopback", run: async_loopback },
    Scenario { name: "relay/async-host-guest", run: async_host_guest },
];

/// In the guest: clients -> `hvcat -l -k vsock://:P --relay vsock://1:Q` -> an echo
/// server on Q, three clients at once; every echo intact (SHA-256).
fn async_loopback(ctx: &mut Ctx) -> Result<()> {
    ctx.need_guest_hvcat()?;
    let (front, back) = (ctx.port(), ctx.port());
    guest::start(&mut ctx.vm, &format!("echo{back}"), &format!("hvcat -v -l --echo vsock://:{back}"))?;
    guest::wait_ready(&mut ctx.vm, &format!("echo{back}"), Tool::Hvcat.ready())?;
    let relay = format!("hvcat -v -l -k vsock://:{front} --relay vsock://1:{back}");
    let lens = [1 << 20, (3 << 20) + 7, 0];
    let d = serve_clients(ctx, front, &relay, "relaying", Tool::Hvcat, &lens, true)?;
    guest::kill(&mut ctx.vm, &format!("echo{back}"))?;
    for (i, len) in lens.iter().enumerate() {
        let (inp, out) = (format!("in{i}"), format!("out{i}"));
        ensure!(
            d.size(&out)? == *len && d.sha(&out)? == d.sha(&inp)?,
            "client {i} got back {} bytes (sha256 {}) through the relay, sent {len} (sha256 {})",
            d.size(&out)?,
            d.sha(&out)?,
            d.sha(&inp)?
        );
    }
    eprintln!("  3 clients through the async vsock relay: echoes intact");
    Ok(())
}

/// Host Unix socket -> host `hvcat --relay hybrid://...` -> guest: each connection
/// sends 1 MiB, and the guest answers the SHA-256 of exactly 1 MiB without waiting for
/// end-of-file (a host-side half-close would be a full close through this backend).
fn async_host_guest(ctx: &mut Ctx) -> Result<()> {
    ctx.need_guest_hvcat()?;
    let hvcat = ctx.host_hvcat()?;
    let port = ctx.port();
    let job = format!("sum{port}");
    let service = format!("hvcat -v -l -k -c 'head -c 1048576 | sha256sum' vsock://:{port}");
    guest::start(&mut ctx.vm, &job, &service)?;
    guest::wait_ready(&mut ctx.vm, &job, Tool::Hvcat.ready())?;
    let front = ctx.host_path("relay-front.sock");
    let args = vec![
        "-v".to_string(),
        "-l".into(),
        "-k".into(),
        format!("unix://{}", front.display()),
        "--relay".into(),
        hybrid_uri(ctx, port),
    ];
    let relay = HostProc::spawn(ctx, "relay", &hvcat, &args, HostStdin::Null, &ctx.host_path("relay.out"))?;
    wait_for_path(&front)?;
    let clients: Vec<_> = (0..3u64)
        .map(|seed| {
            let front = front.clone();
            std::thread::spawn(move || ask_sum(&front, seed))
        })
        .collect();
    let answers: Vec<Result<()>> =
        clients.into_iter().map(|c| c.join().unwrap_or_else(|_| bail!("a client panicked"))).collect();
    drop(relay); // a -k relay serves until killed
    let log = std::fs::read_to_string(ctx.host_path("relay.err")).unwrap_or_default();
    guest::kill(&mut ctx.vm, &job)?;
    for (i, answer) in answers.into_iter().enumerate() {
        answer.with_context(|| format!("client {i}; relay stderr:\n{log}"))?;
    }
    ensure!(log.contains("relaying unix://"), "the relay did not report starting: {log}");
    eprintln!("  3 host clients through the async hybrid relay: sums match");
    Ok(())
}

/// Sends 1 MiB through the relay and checks the guest's SHA-256 of it.
fn ask_sum(front: &std::path::Path, seed: u64) -> Result<()> {
    let payload = util::payload(seed, 1 << 20);
    let mut conn = UnixStream::connect(front)?;
    conn.set_read_timeout(Some(Duration::from_secs(60)))?;
    conn.write_all(&payload)?;
    let mut line = String::new();
    BufReader::new(&conn).read_line(&mut line)?;
    let want = util::sha256_hex(&payload);
    ensure!(line.starts_with(&want), "the guest summed {line:?}, expected {want}");
    Ok(())
}
