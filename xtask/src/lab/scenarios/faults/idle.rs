//! `faults/idle-timeout`: a peer that stops without closing, and `-i`.

use std::time::Instant;

use crate::lab::harness::kill::{
    guest_after_kill, host_after_kill, host_receives_zero, kill_guest_job, signal_guest_job, Paused,
    ZeroOverLoopback,
};
use crate::lab::harness::{guest, Ctx};
use crate::util::Result;

/// A peer that stops in the middle of a transfer without closing: nothing
/// tells the receiver, which without `-i` would wait for ever.
/// 1. In the guest over vsock_loopback: the sender (`hvcat -l < /dev/zero`)
///    is stopped with SIGSTOP; the receiver's `-i 1` shuts its AF_VSOCK
///    socket down, which wakes its blocked recv(2): exit 1, 1 s later.
/// 2. Across the hybrid socket: the guest itself is paused (QEMU stopped)
///    while the host receives with `-i 1`: exit 1, 1 s after the pause
///    (plus what vhost-device-vsock still had queued).
pub fn idle_timeout(ctx: &mut Ctx) -> Result<()> {
    ctx.need_guest_hvcat()?;
    ctx.host_hvcat()?;

    let zero = ZeroOverLoopback::start(ctx, "it", "-i 1")?;
    let stopped = signal_guest_job(&mut ctx.vm, &zero.sender, "STOP")?;
    let after = guest_after_kill(&mut ctx.vm, &zero.receiver, &zero.dir, stopped);
    kill_guest_job(&mut ctx.vm, &zero.sender)?;
    // The end time is taken by the shell after hvcat exits, on a TCG guest
    // with a 10 ms clock: 0.13 s after the deadline was seen.
    after?.ensure_idled_out("guest sender stopped, guest receiver", &zero.address, 1.0, 0.25)?;

    let (sender, uri, host) = host_receives_zero(ctx, "it2", &["-i", "1"])?;
    let paused = Paused::new(ctx.vm.qemu_pid())?;
    let from = Instant::now();
    let after = host_after_kill(host, from);
    drop(paused);
    after?.ensure_idled_out("guest paused, host receiver", &uri, 1.0, 0.3)?;
    guest::kill(&mut ctx.vm, &sender)
}
