//! Whole, checked exchanges built on [`transfer`] and guest jobs, shared by
//! several scenario groups: host <-> guest with any guest tool, a pair of
//! guest tools over vsock_loopback, and a guest server with several clients.

use std::path::PathBuf;

use super::guest::{self, Digests, Tool};
use super::transfer::{self, guest_connector, guest_listener, host_connector, host_listener};
use super::{ensure_ok, Ctx};
use crate::ensure;
use crate::util::Result;

/// The bytes each way in the host <-> guest transfers.
pub const C2S: usize = 6 << 20;
pub const S2C: usize = 2 << 20;

/// Host hvcat -> guest `tool` listener on `port`; data both ways; checked.
pub fn host_to_guest_with(
    ctx: &mut Ctx,
    tool: Tool,
    port: u32,
    uri: impl Fn(&Ctx, u32) -> String,
) -> Result<transfer::Outcome> {
    tool.available(ctx)?;
    let client = host_connector(ctx, uri(ctx, port))?;
    let outcome = transfer::run(ctx, guest_listener(tool, port), client, C2S, S2C)?;
    outcome.ensure_all_ok()?;
    Ok(outcome)
}

/// Guest `tool` connector -> host hvcat listener on `port`; data both
/// ways; checked. `listener` gives the URI and the path it binds.
pub fn guest_to_host_with(
    ctx: &mut Ctx,
    tool: Tool,
    port: u32,
    listener: impl Fn(&Ctx, u32) -> (String, PathBuf),
) -> Result<transfer::Outcome> {
    tool.available(ctx)?;
    let (uri, path) = listener(ctx, port);
    let server = host_listener(ctx, uri, path)?;
    let outcome = transfer::run(ctx, server, guest_connector(tool, 2, port, false), C2S, S2C)?;
    outcome.ensure_all_ok()?;
    Ok(outcome)
}

/// Runs a both-ways transfer between two guest tools over CID 1 and checks it.
pub fn loopback_pair(
    ctx: &mut Ctx,
    server: Tool,
    client: Tool,
    c2s: usize,
    s2c: usize,
) -> Result<transfer::Outcome> {
    server.available(ctx)?;
    client.available(ctx)?;
    let port = ctx.port();
    // `ncat -l` ends the connection as soon as the client half-closes,
    // dropping what it had not sent yet; so against it the client keeps its
    // stdin open until it has received everything.
    let hold = server == Tool::Ncat;
    let client = guest_connector(client, 1, port, hold);
    let outcome = transfer::run(ctx, guest_listener(server, port), client, c2s, s2c)?;
    outcome.ensure_all_ok()?;
    Ok(outcome)
}

/// Sends 3 MiB with `client` to `server` (a guest command on `port` that
/// answers with sha256sum of what it got, after EOF) and checks the answer.
pub fn ensure_reply_after_eof(
    ctx: &mut Ctx,
    port: u32,
    server: &str,
    ready: &str,
    client: Tool,
) -> Result<()> {
    let d = serve_clients(ctx, port, server, ready, client, &[3 << 20], false)?;
    let want = format!("{}  -\n", d.sha("in0")?);
    let got = ctx.vm.sh_ok(&format!("cat /tmp/x{port}/out0"))?;
    ensure!(got == want, "{} client received {got:?}, expected {want:?}", client.name());
    Ok(())
}

/// Starts guest `server` (ready when its stderr matches `ready`), runs one
/// `client` per entry of `lens` at the same time (each sending that many
/// random bytes over CID 1), checks that all exit 0, then waits for the
/// server to exit 0 (or kills it if `keeps_serving`). Returns digests of the
/// clients' `in<i>` and `out<i>`.
pub fn serve_clients(
    ctx: &mut Ctx,
    port: u32,
    server: &str,
    ready: &str,
    client: Tool,
    lens: &[usize],
    keeps_serving: bool,
) -> Result<Digests> {
    client.available(ctx)?;
    let dir = format!("/tmp/x{port}");
    let srv = format!("x{port}s");
    guest::start(&mut ctx.vm, &srv, server)?;
    guest::wait_ready(&mut ctx.vm, &srv, ready)?;
    let mut files = Vec::new();
    for (i, &len) in lens.iter().enumerate() {
        guest::random_file(&mut ctx.vm, &format!("{dir}/in{i}"), len)?;
        let cmd = format!("{} < {dir}/in{i} > {dir}/out{i}", client.connect(1, port));
        guest::start(&mut ctx.vm, &format!("x{port}c{i}"), &cmd)?;
        files.push((format!("in{i}"), format!("{dir}/in{i}")));
        files.push((format!("out{i}"), format!("{dir}/out{i}")));
    }
    for i in 0..lens.len() {
        let exit = guest::wait(&mut ctx.vm, &format!("x{port}c{i}"), guest::JOB_SECS)?;
        ensure_ok(&format!("{} client {i}", client.name()), &exit)?;
    }
    if keeps_serving {
        guest::kill(&mut ctx.vm, &srv)?;
    } else {
        let server_exit = guest::wait(&mut ctx.vm, &srv, 30)?;
        ensure_ok("server", &server_exit)?;
    }
    let files: Vec<(&str, &str)> = files.iter().map(|(k, p)| (k.as_str(), p.as_str())).collect();
    Digests::of(&mut ctx.vm, &files)
}
