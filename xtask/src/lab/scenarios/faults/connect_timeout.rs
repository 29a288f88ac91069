//! `faults/connect-timeout`: `-w` through vhost-device-vsock.

use std::time::Duration;

use crate::ensure;
use crate::lab::harness::kill::Paused;
use crate::lab::harness::uri::hybrid_uri;
use crate::lab::harness::{guest, Ctx, HostProc, HostStdin};
use crate::util::Result;

/// `-w` holds to 10% where a timeout can be provoked through the real device:
/// - guest `hvcat -w S vsock://2:P` to a host port nobody listens on
///   (vhost-device-vsock drops the request; without `-w` the kernel gives up
///   after 2 s, see `host-guest/no-listener`);
/// - host `hvcat -w S hybrid://...` while the guest is paused (QEMU stopped
///   with SIGSTOP): the device takes the connection and `CONNECT` but nobody
///   answers; hvcat says "no reply to CONNECT P in time". (A running guest
///   with no listener, or a guest not started yet, resets at once: refused.)
///   The guest then runs on.
///
/// The vsock-in-the-guest case (a CID nobody answers) is `loopback/connect-timeout`.
pub fn connect_timeout(ctx: &mut Ctx) -> Result<()> {
    ctx.need_guest_hvcat()?;
    let hvcat = ctx.host_hvcat()?;
    for secs in [0.5, 1.0] {
        let address = format!("vsock://2:{}", ctx.port());
        let free = ctx.port();
        let (measured, counted) = guest::ensure_connect_timeout(&mut ctx.vm, &address, secs, free)?;
        eprintln!("  guest -> host, no listener, -w {secs}: timed out after {counted:.2} s ({measured:.2} s with start-up)");
    }

    let paused = Paused::new(ctx.vm.qemu_pid())?;
    for secs in [0.5, 2.0] {
        let port = ctx.port();
        let uri = hybrid_uri(ctx, port);
        let out = ctx.host_path(&format!("wt{port}.out"));
        let args = vec!["-w".to_string(), secs.to_string(), uri.clone()];
        let mut proc = HostProc::spawn(ctx, "wt", &hvcat, &args, HostStdin::Null, &out)?;
        while proc.try_wait()?.is_none() {
            ensure!(
                proc.started().elapsed() < Duration::from_secs(10),
                "hvcat -w {secs} {uri} still running after 10 s"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        let took = proc.started().elapsed().as_secs_f64();
        let exit = proc.finish(Duration::ZERO)?;
        let want = format!("hvcat: connect {uri}: no reply to CONNECT {port} in time; is the guest up?\n");
        ensure!(
            exit.code == 1 && exit.stderr == want,
            "paused guest: expected exit 1 and {want:?}; got {exit:?}"
        );
        ensure!(
            (..=secs / 10.0).contains(&(took - secs).abs()),
            "paused guest: -w {secs} gave up after {took:.3} s (expected +-10%)"
        );
        eprintln!("  host -> paused guest, -w {secs}: no reply after {took:.3} s");
    }
    drop(paused);
    let out = ctx.vm.sh("echo alive")?;
    ensure!(out.output == "alive\n", "the guest did not come back after SIGCONT: {out:?}");
    Ok(())
}
