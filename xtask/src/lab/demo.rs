//! `cargo xtask demo`: boots a throw-away guest and pipes a payload through
//! real vsock with hvcat, host -> guest and guest -> host, printing what
//! ran, the byte counts, whether the SHA-256 matches, and the throughput.

use super::harness::transfer::{
    self, guest_connector, guest_listener, host_connector, host_listener, Outcome,
};
use super::harness::uri::{hybrid_listener, hybrid_uri};
use super::harness::{Ctx, Tool, GUEST_CID};
use super::Lab;
use crate::util::{self, Result};

/// Bytes sent each way.
const LEN: usize = 16 << 20;

pub fn run() -> Result<()> {
    let lab = Lab::prepare()?;
    let mut ctx = Ctx::new(&lab)?;
    println!(
        "guest booted in {} (QEMU TCG + vhost-device-vsock; guest CID {GUEST_CID}, host CID 2)",
        util::secs(ctx.vm.boot_time)
    );

    let port = ctx.port();
    let uri = hybrid_uri(&ctx, port);
    println!("\nhost -> guest");
    println!("  guest$ {} > recv", Tool::Hvcat.listen(port));
    println!("  host$  hvcat -v {uri} < payload");
    let client = host_connector(&ctx, uri)?;
    let o = transfer::run(&mut ctx, guest_listener(Tool::Hvcat, port), client, LEN, 0)?;
    report(&o, "host", "guest", &o.client.stderr, &o.server.stderr)?;

    let port = ctx.port();
    let (uri, path) = hybrid_listener(&ctx, port);
    println!("\nguest -> host");
    println!("  host$  hvcat -v -l {uri} > recv");
    println!("  guest$ {} < payload", Tool::Hvcat.connect(2, port));
    let server = host_listener(&ctx, uri, path)?;
    let o = transfer::run(&mut ctx, server, guest_connector(Tool::Hvcat, 2, port, false), LEN, 0)?;
    report(&o, "guest", "host", &o.client.stderr, &o.server.stderr)
}

/// Prints one direction's transcript and fails unless it went through intact.
fn report(o: &Outcome, from: &str, to: &str, sender_log: &str, receiver_log: &str) -> Result<()> {
    for line in sender_log.lines().chain(receiver_log.lines()) {
        println!("  | {line}");
    }
    let f = &o.c2s;
    println!("  sent     {:>9} bytes, sha256 {} ({from})", f.sent_len, f.sent_sha);
    println!("  received {:>9} bytes, sha256 {} ({to})", f.got_len, f.got_sha);
    println!(
        "  {} in {} = {:.1} MB/s (sender's wall time)",
        if f.intact() { "MATCH" } else { "MISMATCH" },
        util::secs(o.elapsed),
        util::mb_per_s(f.sent_len, o.elapsed)
    );
    o.ensure_all_ok()
}
