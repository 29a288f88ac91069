//! `hvstress` against real vsock: a guest echo server (`hvstress -s`) and
//! short client runs, each connection checked with SHA-256.
//!
//! Only the run inside the guest (vsock_loopback, CID 1) can pass. An
//! hvstress client sends, half-closes and then reads the echo to its end,
//! and vhost-device-vsock 0.3.0 has no half-close (docs/lab.md): a host
//! client's `shutdown(SHUT_WR)` becomes a full close, so the guest's echo is
//! cut off; a guest client's `shutdown(SHUT_WR)` never reaches the host, so
//! the host server never ends its echo and the client waits for ever. The
//! two cross-boundary scenarios pin exactly that, and fail if it changes.
//!
//! `HVSOCK_LAB_STRESS="-p 8 -i 100 -l 10M"` replaces the loopback client's
//! load (the full-size run: about half a minute under TCG; docs/lab.md).

use std::time::Duration;

use crate::lab::harness::uri::{hybrid_listener, hybrid_uri};
use crate::lab::harness::wait::wait_for_path;
use crate::lab::harness::{guest, hvstress_summary, Ctx, HostProc, HostStdin, Scenario};
use crate::util::Result;
use crate::{bail, ensure};

pub const SCENARIOS: &[Scenario] = &[
    Scenario { name: "stress/loopback", run: loopback },
    Scenario { name: "stress/host-to-guest", run: host_to_guest },
    Scenario { name: "stress/host-to-guest-no-half-close", run: host_to_guest_no_half_close },
    Scenario { name: "stress/guest-to-host", run: guest_to_host },
];

/// The loopback client's load unless `HVSOCK_LAB_STRESS` says otherwise.
const LOOPBACK_LOAD: &str = "-p 4 -i 40 -l 256K";

/// Starts `hvstress -s` in the guest on a fresh port (for up to an hour, as
/// long as a full-size run may take); returns the port and the job's name.
fn guest_server(ctx: &mut Ctx) -> Result<(u32, String)> {
    ctx.need_guest_hvcat()?;
    let port = ctx.port();
    let job = format!("hvstress{port}");
    ctx.vm.sh_ok(&format!("bg {job} 3600 'hvstress -v -s vsock://:{port}'"))?;
    guest::wait_ready(&mut ctx.vm, &job, "echoing on")?;
    Ok((port, job))
}

/// Client and server in the guest over vsock_loopback: every echo intact.
fn loopback(ctx: &mut Ctx) -> Result<()> {
    let (port, server) = guest_server(ctx)?;
    let load = std::env::var("HVSOCK_LAB_STRESS").unwrap_or_else(|_| LOOPBACK_LOAD.to_string());
    let connections: u64 =
        load.split_whitespace().skip_while(|w| *w != "-i").nth(1).and_then(|n| n.parse().ok()).unwrap_or(100);
    let cmd = format!("hvstress -c vsock://1:{port} {load}");
    let out = ctx.vm.sh_timeout(&cmd, Duration::from_secs(3600))?;
    guest::kill(&mut ctx.vm, &server)?;
    let text = out.output.trim_end();
    ensure!(out.status == 0, "`{cmd}` exited {} (expected 0):\n{text}", out.status);
    ensure!(
        hvstress_summary(text) == Some((connections, 0, 0)),
        "`{cmd}`: expected {connections} connections, 0 mismatches, 0 errors:\n{text}"
    );
    eprintln!("  {}", text.lines().last().unwrap_or(""));
    Ok(())
}

/// A host client through the hybrid socket. Its half-close after sending
/// reaches the guest as a full close: the guest server reads everything,
/// then its echo fails, so every connection gets back less than it sent
/// (most get nothing) and the client exits 1 with mismatches, no errors.
/// The same run with `--no-half-close` (read back exactly what was sent, then close):
/// every echo intact through the backend that cannot half-close.
fn host_to_guest_no_half_close(ctx: &mut Ctx) -> Result<()> {
    let (port, server) = guest_server(ctx)?;
    let hvstress = ctx.lab.binaries.host("hvstress").map_err(crate::util::Error::msg)?;
    let uri = hybrid_uri(ctx, port);
    let out = ctx.host_path("stress-h2g-nhc.out");
    let args: Vec<String> =
        ["-c", &uri, "-p", "4", "-i", "20", "-l", "256K", "--seed", "2", "--no-half-close"]
            .iter()
            .map(|s| s.to_string())
            .collect();
    let exit = HostProc::spawn(ctx, "stress-h2g-nhc", &hvstress, &args, HostStdin::Null, &out)?
        .finish(Duration::from_secs(60))?;
    guest::kill(&mut ctx.vm, &server)?;
    let stdout = std::fs::read_to_string(&out)?;
    ensure!(
        exit.code == 0 && hvstress_summary(&stdout) == Some((20, 0, 0)),
        "expected 20 intact echoes; exit {}; stdout:\n{stdout}stderr:\n{}",
        exit.code,
        exit.stderr
    );
    eprintln!("  host client --no-half-close: 20 of 20 echoes intact");
    Ok(())
}

fn host_to_guest(ctx: &mut Ctx) -> Result<()> {
    let (port, server) = guest_server(ctx)?;
    let hvstress = ctx.lab.binaries.host("hvstress").map_err(crate::util::Error::msg)?;
    let uri = hybrid_uri(ctx, port);
    let out = ctx.host_path("stress-h2g.out");
    let args: Vec<String> = ["-c", &uri, "-p", "4", "-i", "20", "-l", "256K", "--seed", "1"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let exit = HostProc::spawn(ctx, "stress-h2g", &hvstress, &args, HostStdin::Null, &out)?
        .finish(Duration::from_secs(60))?;
    guest::kill(&mut ctx.vm, &server)?;
    let stdout = std::fs::read_to_string(&out)?;
    let detail = || format!("exit {}; stdout:\n{}stderr:\n{}", exit.code, stdout, exit.stderr);
    let Some((connections, mismatches, errors)) = hvstress_summary(&stdout) else {
        bail!("no hvstress summary; {}", detail());
    };
    ensure!(
        exit.code == 1 && connections == 20 && errors == 0,
        "expected exit 1 after 20 connections with no errors; {}",
        detail()
    );
    ensure!(
        mismatches > 0,
        "every echo came back whole: has the backend learnt half-close? Update this scenario and docs/lab.md; {}",
        detail()
    );
    // Each reported mismatch: `sent N bytes (sha256 ..), got M back (...)`, M < N.
    let mut named = 0;
    for line in exit.stderr.lines().filter(|l| l.contains(" got ")) {
        match (number_after(line, "sent "), number_after(line, " got ")) {
            (Some(sent), Some(got)) if got < sent => named += 1,
            _ => bail!("a mismatch that is not a cut-off echo: {line}; {}", detail()),
        }
    }
    ensure!(named > 0, "hvstress named no mismatch; {}", detail());
    eprintln!(
        "  host client: exit 1, {mismatches} of {connections} echoes cut off (each shorter than sent), 0 errors"
    );
    Ok(())
}

fn number_after(line: &str, word: &str) -> Option<u64> {
    line.split(word).nth(1)?.split_whitespace().next()?.parse().ok()
}

/// A guest client against a host server listening on `vm.vsock_P`. The
/// client's half-close never reaches the host, so the host server keeps
/// waiting for the rest and never ends its echo; the client waits for that
/// end for ever (here: until `timeout` kills it after 3 s; one 64 KiB echo
/// takes milliseconds otherwise).
fn guest_to_host(ctx: &mut Ctx) -> Result<()> {
    ctx.need_guest_hvcat()?;
    let hvstress = ctx.lab.binaries.host("hvstress").map_err(crate::util::Error::msg)?;
    let port = ctx.port();
    let (uri, path) = hybrid_listener(ctx, port);
    let out = ctx.host_path("stress-g2h.out");
    let args = vec!["-v".to_string(), "-s".to_string(), uri];
    let mut server = HostProc::spawn(ctx, "stress-g2h", &hvstress, &args, HostStdin::Null, &out)?;
    wait_for_path(&path)?;
    let cmd = format!("timeout 3 hvstress -c vsock://2:{port} -p 1 -i 1 -l 64K --seed 1");
    let guest = ctx.vm.sh_timeout(&format!("{cmd}; echo status=$?"), Duration::from_secs(30))?;
    let server_running = server.try_wait()?.is_none();
    drop(server);
    let server_log = std::fs::read_to_string(ctx.host_path("stress-g2h.err"))?;
    let text = guest.output.trim_end();
    ensure!(
        text.ends_with("status=143") && hvstress_summary(text).is_none(),
        "expected the guest client to hang until `timeout` ended it (status 143, no summary): has the backend learnt half-close? Update this scenario and docs/lab.md; guest:\n{text}"
    );
    ensure!(
        server_running && server_log.lines().count() == 1 && server_log.contains("echoing on"),
        "the host server should be up and quiet; its stderr:\n{server_log}"
    );
    eprintln!(
        "  guest client: no end of the echo within 3 s (killed, status 143); host server still waiting"
    );
    Ok(())
}
