//! `faults/bad-clients`: an echo listener that outlives bad clients.

use std::io::Read;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use crate::ensure;
use crate::lab::harness::guest::{self, kv, parse_kv};
use crate::lab::harness::uri::hybrid_uri;
use crate::lab::harness::wait::wait_for_size;
use crate::lab::harness::{hybrid, Ctx, HostProc, HostStdin};
use crate::util::{self, Result};

/// An echo listener (`hvcat -v -l -k --echo`) in the guest outlives bad
/// clients, in the guest and through the hybrid socket: one that connects
/// and vanishes, one that connects and never sends (kept open to the end),
/// one killed in the middle of a request (streaming /dev/zero, after 64 KiB
/// came back); then 16 guest clients at once and 3 host clients at the same
/// time get their bytes back intact (SHA-256), and the listener still runs.
///
/// Each connection's end is one line in the listener's log (a byte count or
/// an error), except for the silent two and, sometimes, the host client
/// killed mid-request: vhost-device-vsock 0.3.0 then never tells the guest
/// (6 of 12 tries), and that echo stays blocked in send(2) for good; the
/// rest of the time it fails with EPIPE. Over vsock_loopback the guest's own
/// client killed mid-request always ends the echo with EPIPE.
pub fn bad_clients(ctx: &mut Ctx) -> Result<()> {
    ctx.need_guest_hvcat()?;
    let hvcat = ctx.host_hvcat()?;
    let port = ctx.port();
    let d = format!("/tmp/bc{port}");
    let address = format!("vsock://1:{port}");
    ctx.vm.sh_ok(&format!("mkdir -p {d} && mkfifo {d}/idle"))?;
    guest::start(&mut ctx.vm, "bc-srv", &format!("hvcat -v -l -k --echo vsock://:{port}"))?;
    guest::wait_ready(&mut ctx.vm, "bc-srv", "listening on")?;
    let uds = ctx.vm.uds_path();

    // Guest: vanishes once connected; silent (kept); killed mid-request.
    ctx.vm.sh_ok(&format!(
        "hvcat -v {address} 0<>{d}/idle >/dev/null 2>{d}/vanish.err & p=$!
         wait_for 'grep -q \"connected to\" {d}/vanish.err' 10 && kill -KILL $p"
    ))?;
    guest::start(&mut ctx.vm, "bc-silent", &format!("hvcat -v {address} 0<>{d}/idle > /dev/null"))?;
    guest::wait_ready(&mut ctx.vm, "bc-silent", "connected to")?;
    let half = format!("hvcat {address} < /dev/zero | {{ head -c 65536 > {d}/half.out; cat > /dev/null; }}");
    guest::start(&mut ctx.vm, "bc-half", &half)?;
    ctx.vm.sh_ok(&format!("wait_size {d}/half.out 65536 30"))?;
    guest::kill(&mut ctx.vm, "bc-half")?;

    // Host, through the device: vanishes; silent (kept); killed mid-request.
    drop(hybrid::connect(&uds, port, Duration::from_secs(10))?);
    let silent: UnixStream = hybrid::connect(&uds, port, Duration::from_secs(10))?;
    let uri = hybrid_uri(ctx, port);
    let half_out = ctx.host_path("bc-half.out");
    let zero = Path::new("/dev/zero");
    let mut half = HostProc::spawn(
        ctx,
        "bc-half",
        &hvcat,
        std::slice::from_ref(&uri),
        HostStdin::File(zero),
        &half_out,
    )?;
    wait_for_size(&half_out, 65536)?;
    half.kill();

    // 3 host clients and 16 guest clients at once.
    let mut hosts = Vec::new();
    for i in 0..3u64 {
        let len = (1 << 20) + 4099 * i as usize;
        let (input, sha) = ctx.host_payload(&format!("bc-h{i}.in"), 100 + i, len)?;
        let output = ctx.host_path(&format!("bc-h{i}.out"));
        let stdin = HostStdin::Held(&input);
        let proc =
            HostProc::spawn(ctx, &format!("bc-h{i}"), &hvcat, std::slice::from_ref(&uri), stdin, &output)?;
        hosts.push((proc, output, len, sha));
    }
    const GUESTS: usize = 16;
    ctx.vm.sh_ok(&format!(
        "for i in $(seq 0 {last}); do
             head -c $((131072 + 4099 * i)) /dev/urandom > {d}/in$i
             bg bc-c$i {secs} \"hvcat {address} < {d}/in$i > {d}/out$i\"
         done",
        last = GUESTS - 1,
        secs = guest::JOB_SECS
    ))?;
    let mut failures = Vec::new();
    for (i, (mut proc, output, len, sha)) in hosts.into_iter().enumerate() {
        // Held stdin: this device turns the host's EOF into a full close, so
        // the client ends its side only once the whole echo is back.
        let _ = wait_for_size(&output, len as u64);
        proc.release_stdin();
        let exit = proc.finish(Duration::from_secs(30))?;
        let got = std::fs::read(&output)?;
        if exit.code != 0 || got.len() != len || util::sha256_hex(&got) != sha {
            failures.push(format!(
                "host client {i}: exit {}, echoed {} of {len} bytes (sha256 {}, sent {sha}); {}",
                exit.code,
                got.len(),
                util::sha256_hex(&got),
                exit.stderr.trim()
            ));
        }
    }
    let report = ctx.vm.sh_timeout(
        &format!(
            "for i in $(seq 0 {last}); do
                 wait_for \"[ -f $B/bc-c$i.rc ]\" 60
                 echo c$i.rc=$(cat $B/bc-c$i.rc 2>/dev/null)
                 echo c$i.err=$(tr '\n' ' ' < $B/bc-c$i.err)
                 echo c$i.in=$(sha {d}/in$i) $(size {d}/in$i)
                 echo c$i.out=$(sha {d}/out$i) $(size {d}/out$i)
             done
             echo srv.running=$([ -e $B/bc-srv.rc ] && echo no || echo yes)
             echo silent.running=$([ -e $B/bc-silent.rc ] && echo no || echo yes)",
            last = GUESTS - 1
        ),
        Duration::from_secs(120),
    )?;
    ensure!(report.status == 0, "collecting the guest clients' results failed:\n{}", report.output);
    let facts = parse_kv(&report.output);
    for i in 0..GUESTS {
        let rc = kv(&facts, &format!("c{i}.rc"))?;
        let (input, output) = (kv(&facts, &format!("c{i}.in"))?, kv(&facts, &format!("c{i}.out"))?);
        if rc != "0" || input != output {
            let err = kv(&facts, &format!("c{i}.err"))?;
            failures.push(format!("guest client {i}: exit {rc:?}, sent {input}, echoed {output}; {err}"));
        }
    }
    ensure!(
        failures.is_empty(),
        "{} of {} clients failed:\n{}",
        failures.len(),
        GUESTS + 3,
        failures.join("\n")
    );
    ensure!(kv(&facts, "srv.running")? == "yes", "the echo listener has exited");
    ensure!(kv(&facts, "silent.running")? == "yes", "the listener dropped the silent guest client");
    silent.set_nonblocking(true)?;
    let mut byte = [0u8; 1];
    let open = matches!((&silent).read(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock);
    ensure!(open, "the listener dropped the silent host client");

    // Connections in accept order: guest vanish, silent, half; host vanish,
    // silent, half; then the 19 good ones. Each end is a line naming the peer.
    let log = ctx.vm.sh_ok("cat $B/bc-srv.err")?;
    // "connection from PEER, vsock buffer SIZE": the peer is the first word.
    let peers: Vec<&str> = log
        .lines()
        .filter_map(|l| l.strip_prefix("hvcat: connection from ")?.split([',', ' ']).next())
        .collect();
    let want = 3 + 3 + 3 + GUESTS;
    ensure!(peers.len() == want, "the listener logged {} connections, expected {want}:\n{log}", peers.len());
    let ended = |peer: &str| {
        let name = format!("{peer}:");
        log.lines().any(|l| !l.contains("connection from") && l.contains(&name))
    };
    let open: Vec<usize> = (0..want).filter(|&i| !ended(peers[i])).collect();
    // The silent two are open; the host client killed mid-request may be too.
    ensure!(
        open == [1, 4] || open == [1, 4, 5],
        "connections still open (by accept order): {open:?}; expected [1, 4] (the silent ones), or [1, 4, 5] (and the host client killed mid-request); listener log:\n{log}"
    );
    let stuck = if open.len() == 3 { "still open (the device never told the guest)" } else { "ended" };
    eprintln!("  the echo of the host client killed mid-request: {stuck}");
    let errors: Vec<&str> = log
        .lines()
        .filter(|l| {
            !l.contains("connection from") && !l.contains("listening on") && !l.contains(" bytes, received ")
        })
        .collect();
    eprintln!("  {want} connections, 19 echoes intact, listener up; its errors: {errors:?}");
    ctx.vm.sh_ok("bg_kill bc-silent; bg_kill bc-srv")?;
    Ok(())
}
