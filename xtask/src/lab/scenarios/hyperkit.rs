//! `hyperkit://` URIs against the real guest, through the lab's hyperkit
//! shim ([`crate::lab::hyperkit_shim`]) in front of vhost-device-vsock. The shim
//! plays a hyperkit VM started with `guest_cid=3` (what Docker Desktop and
//! LinuxKit use, and hvcat's default for `hyperkit://:PORT/DIR`).

use crate::ensure;
use crate::lab::harness::exchange::{guest_to_host_with, host_to_guest_with};
use crate::lab::harness::{host_socket_name, Ctx, HyperkitShim, Scenario, Tool};
use crate::util::Result;

pub const SCENARIOS: &[Scenario] = &[
    Scenario { name: "hyperkit/host-to-guest", run: host_to_guest },
    Scenario { name: "hyperkit/guest-to-host", run: guest_to_host },
];

/// The guest CID the shim's clients must name.
const HYPERKIT_CID: u32 = 3;

/// Starts a shim in a fresh host directory for the transfer on `port`;
/// `forward` lists the ports forwarded guest -> host.
fn shim(ctx: &Ctx, port: u32, forward: &[u32]) -> Result<(HyperkitShim, String)> {
    let dir = ctx.host_path(&format!("hk{port}"));
    std::fs::create_dir_all(&dir)?;
    let shim = HyperkitShim::start(&dir, &ctx.vm.uds_path(), HYPERKIT_CID, forward)?;
    Ok((shim, dir.display().to_string()))
}

fn host_to_guest(ctx: &mut Ctx) -> Result<()> {
    let port = ctx.port();
    let (shim, dir) = shim(ctx, port, &[])?;
    let outcome = host_to_guest_with(ctx, Tool::Hvcat, port, |_, p| format!("hyperkit://:{p}{dir}"));
    let events = shim.events();
    let o = outcome.map_err(|e| crate::util::Error::msg(format!("{e}\nshim: {events:?}")))?;
    ensure!(
        events.iter().any(|e| e.starts_with(&format!("connect: header cid {HYPERKIT_CID} "))),
        "the shim saw no valid header: {events:?}"
    );
    eprintln!("  host -> guest via hyperkit shim: {}; shim: {events:?}", o.summary());
    Ok(())
}

fn guest_to_host(ctx: &mut Ctx) -> Result<()> {
    let port = ctx.port();
    let (shim, dir) = shim(ctx, port, &[port])?;
    let outcome = guest_to_host_with(ctx, Tool::Hvcat, port, |_, p| {
        let listen = std::path::Path::new(&dir).join(host_socket_name(p));
        (format!("hyperkit://:{p}{dir}"), listen)
    });
    let events = shim.events();
    let o = outcome.map_err(|e| crate::util::Error::msg(format!("{e}\nshim: {events:?}")))?;
    eprintln!("  guest -> host via hyperkit shim: {}; shim: {events:?}", o.summary());
    Ok(())
}
