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
    let server = Side::Guest { cmd: Tool::Socat.listen(port), ready: Tool::Socat.ready(), hold_stdin: false };
    let client = Side::Guest { cmd: Tool::Socat.connect(1, port), ready: "", hold_stdin: false };
    let outcome = transfer::run(ctx, server, client, 4 << 20, 3 << 20)?;
    outcome.ensure_all_ok()?;
    eprintln!("  socat<->socat over CID 1: {}", outcome.summary());
    Ok(())
}
