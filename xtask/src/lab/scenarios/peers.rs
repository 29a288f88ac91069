//! hvcat against vsock programs no one here wrote: Debian's socat and ncat,
//! in the guest, both inside the guest (CID 1) and across to the host
//! hvcat on the hybrid socket. Each direction carries data both ways with a
//! half-close, and each side of a request/reply-after-EOF exchange is
//! played once by hvcat and once by the other program.
//!
//! ncat 7.93 in listen mode ends the connection when its client
//! half-closes (seen here with socat as the client too): unsent stdin is
//! dropped and a `-c` command's answer never leaves. So against `ncat -l`
//! the client holds its stdin open until it has everything, and ncat only
//! plays the client in the reply-after-EOF exchange.

use crate::lab::harness::exchange::{
    ensure_reply_after_eof, guest_to_host_with, host_to_guest_with, loopback_pair,
};
use crate::lab::harness::uri::{hybrid_listener, hybrid_uri};
use crate::lab::harness::{Ctx, Scenario, Tool};
use crate::util::Result;

pub const SCENARIOS: &[Scenario] = &[
    Scenario { name: "peers/socat-loopback", run: |ctx| loopback(ctx, Tool::Socat) },
    Scenario { name: "peers/ncat-loopback", run: |ctx| loopback(ctx, Tool::Ncat) },
    Scenario { name: "peers/socat-host-guest", run: |ctx| host_guest(ctx, Tool::Socat) },
    Scenario { name: "peers/ncat-host-guest", run: |ctx| host_guest(ctx, Tool::Ncat) },
];

/// A `peer` server on `port` that answers sha256sum of what it received
/// after EOF, and the regex that tells it listens; none for ncat (above).
fn sha_server(peer: Tool, port: u32) -> Option<(String, &'static str)> {
    let cmd = match peer {
        Tool::Hvcat => format!("{} -c sha256sum", peer.listen(port)),
        Tool::Socat => format!("socat -d -d -t 30 VSOCK-LISTEN:{port} SYSTEM:sha256sum"),
        Tool::Ncat => return None,
    };
    Some((cmd, peer.ready()))
}

fn loopback(ctx: &mut Ctx, peer: Tool) -> Result<()> {
    let o = loopback_pair(ctx, Tool::Hvcat, peer, 3 << 20, 1 << 20)?;
    eprintln!("  hvcat listens, {} connects: {}", peer.name(), o.summary());
    let o = loopback_pair(ctx, peer, Tool::Hvcat, 1 << 20, 3 << 20)?;
    eprintln!("  {} listens, hvcat connects: {}", peer.name(), o.summary());
    for (server, client) in [(Tool::Hvcat, peer), (peer, Tool::Hvcat)] {
        let port = ctx.port();
        let Some((cmd, ready)) = sha_server(server, port) else {
            eprintln!("  {} cannot answer after its client's EOF (see above); not tried", server.name());
            continue;
        };
        ensure_reply_after_eof(ctx, port, &cmd, ready, client)?;
        eprintln!("  {} answers after {}'s EOF: ok", server.name(), client.name());
    }
    Ok(())
}

fn host_guest(ctx: &mut Ctx, peer: Tool) -> Result<()> {
    let port = ctx.port();
    let o = host_to_guest_with(ctx, peer, port, hybrid_uri)?;
    eprintln!("  host hvcat -> guest {}: {}", peer.name(), o.summary());
    let port = ctx.port();
    let o = guest_to_host_with(ctx, peer, port, hybrid_listener)?;
    eprintln!("  guest {} -> host hvcat: {}", peer.name(), o.summary());
    Ok(())
}
