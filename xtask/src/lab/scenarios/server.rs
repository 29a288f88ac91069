//! A server in the guest that admits only some peers (`--allow`), against a real guest
//! kernel: peers are told apart by the CID the kernel gives them.

use std::time::Duration;

use crate::ensure;
use crate::lab::harness::uri::hybrid_uri;
use crate::lab::harness::{guest, Ctx, HostProc, HostStdin, Scenario};
use crate::util::Result;

pub const SCENARIOS: &[Scenario] = &[Scenario { name: "server/allow-cid", run: allow_cid }];

/// A guest echo server with `--allow`: first the host alone (CID 2), then the guest's
/// own CIDs alone. Each time the allowed client gets its echo, the other is closed at
/// once with nothing echoed, and the server logs the refusal with the peer's address.
fn allow_cid(ctx: &mut Ctx) -> Result<()> {
    ctx.need_guest_hvcat()?;
    let local_cid = ctx.vm.sh_ok("hvcat --local-cid")?.trim().to_string();
    for (round, allow, host_allowed) in
        [(1, "host".to_string(), true), (2, format!("local,{local_cid}"), false)]
    {
        let port = ctx.port();
        let job = format!("allow{port}");
        guest::start(&mut ctx.vm, &job, &format!("hvcat -v -l --echo --allow {allow} vsock://:{port}"))?;
        guest::wait_ready(&mut ctx.vm, &job, "listening on")?;

        // From inside the guest, over vsock_loopback.
        let inside =
            ctx.vm.sh_ok(&format!("echo from-guest | hvcat -w 5 vsock://1:{port}; echo status=$?"))?;
        let echoed_inside = inside.lines().any(|l| l == "from-guest");
        // From the host, through the hybrid socket. vhost-device-vsock turns a half-close
        // into a full close, so the host keeps its side open and gives up after 2 s idle.
        let echoed_host = host_echo(ctx, port)?;
        ensure!(
            echoed_host == host_allowed && echoed_inside != host_allowed,
            "round {round} (--allow {allow}): host echoed {echoed_host}, guest echoed {echoed_inside}; guest client said {inside:?}"
        );
        let refused = if host_allowed { "vsock://[0-9]+" } else { "vsock://2" };
        guest::wait_ready(
            &mut ctx.vm,
            &job,
            &format!("refused a connection from {refused}:[0-9]+: not an allowed peer"),
        )?;
        guest::kill(&mut ctx.vm, &job)?;
        eprintln!(
            "  --allow {allow}: the host {}, the guest {}",
            verdict(echoed_host),
            verdict(echoed_inside)
        );
    }
    Ok(())
}

fn verdict(echoed: bool) -> &'static str {
    if echoed {
        "echoed"
    } else {
        "closed at once, logged"
    }
}

/// Sends a line from the host to the guest's `port` and says whether it came back.
fn host_echo(ctx: &Ctx, port: u32) -> Result<bool> {
    let hvcat = ctx.host_hvcat()?;
    let (input, output) =
        (ctx.host_path(&format!("allow{port}.in")), ctx.host_path(&format!("allow{port}.out")));
    std::fs::write(&input, b"from-host\n")?;
    let uri = hybrid_uri(ctx, port);
    let args = ["--no-shutdown", "-i", "2", &uri].map(String::from);
    HostProc::spawn(ctx, &format!("allow{port}"), &hvcat, &args, HostStdin::File(&input), &output)?
        .finish(Duration::from_secs(15))?;
    Ok(std::fs::read_to_string(&output)?.lines().any(|l| l == "from-host"))
}
