//! Faults against the real vsock stack (issue #7): a peer killed in the middle
//! of a transfer (each direction; over vsock_loopback and across the hybrid
//! socket), a peer that stops without closing (`-i`), nobody listening
//! behind a hyperkit socket, connect timeouts through vhost-device-vsock,
//! `--retry` against a guest that is still booting, and an echo listener
//! that outlives bad clients. The same faults
//! over plain Unix sockets are `crates/hvcat/tests/faults.rs`.
//!
//! Kill-to-exit times are upper bounds: the clock starts before the kill is
//! asked for. Guest times come from `/proc/uptime` (10 ms steps); a kill on
//! the host is placed on the guest's clock by reading that clock just before.

use std::io::Read;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::cross::{hybrid_listener, hybrid_uri};
use super::guest::{self, Digests};
use super::{kv, parse_kv, Ctx, Exit, HostProc, HostStdin, Scenario};
use crate::lab::hybrid;
use crate::lab::hyperkit::HyperkitShim;
use crate::lab::vm::{Mode, Vm};
use crate::util::{self, Context, Result};
use crate::{bail, ensure};

pub const SCENARIOS: &[Scenario] = &[
    Scenario { name: "faults/peer-killed-loopback", run: killed_loopback },
    Scenario { name: "faults/peer-killed-host-guest", run: killed_host_guest },
    Scenario { name: "faults/idle-timeout", run: idle_timeout },
    Scenario { name: "faults/no-listener-hyperkit", run: no_listener_hyperkit },
    Scenario { name: "faults/probe", run: probe },
    Scenario { name: "faults/connect-timeout", run: connect_timeout },
    Scenario { name: "faults/bad-clients", run: bad_clients },
    Scenario { name: "faults/retry-while-booting", run: retry_while_booting },
];

/// How soon after its peer is killed hvcat must have exited.
const KILL_LIMIT: f64 = 1.0;
/// Bytes that must have arrived before the kill, so that it is mid-transfer.
const UNDER_WAY: usize = 1 << 20;
/// What a receiver is told to expect of a sender of /dev/zero (`--expect-bytes`):
/// more than it can get before the kill.
const EXPECTED: &str = "1G";
/// The guest's clock, in seconds.
const UPTIME: &str = "cut -d' ' -f1 /proc/uptime";

/// How an hvcat ended after its peer was killed.
#[derive(Debug)]
struct AfterKill {
    code: i32,
    stderr: String,
    /// Seconds from (before) the kill to its exit.
    secs: f64,
}

impl AfterKill {
    /// Exit 1 within [`KILL_LIMIT`], with one line on stderr naming `address`
    /// and saying why (EPIPE or reset).
    fn ensure_failed(&self, what: &str, address: &str) -> Result<()> {
        let err = &self.stderr;
        let reason = err.contains("Broken pipe") || err.contains("reset");
        ensure!(
            self.code == 1 && err.starts_with("hvcat: ") && err.lines().count() == 1 && err.contains(address) && reason,
            "{what}: expected exit 1 and one line naming {address} and saying Broken pipe or reset; got {self:?}"
        );
        self.ensure_soon(what)
    }

    /// Exit 0 within [`KILL_LIMIT`], having seen that the peer closed both
    /// directions (`-v` says so).
    fn ensure_closed(&self, what: &str, address: &str) -> Result<()> {
        let line = format!("hvcat: {address}: the peer has closed; not waiting for standard input");
        ensure!(
            self.code == 0 && self.stderr.lines().any(|l| l == line),
            "{what}: expected exit 0 and {line:?} on stderr; got {self:?}"
        );
        self.ensure_soon(what)
    }

    /// Exit 1 within [`KILL_LIMIT`], the last line on stderr saying that the
    /// peer at `address` closed short of the `--expect-bytes` it was given.
    fn ensure_cut_short(&self, what: &str, address: &str) -> Result<()> {
        let start = format!("hvcat: {address}: the peer closed after ");
        let end = "of the 1073741824 expected bytes (--expect-bytes): the transfer was cut short";
        let line = last_line(&self.stderr);
        ensure!(
            self.code == 1 && line.starts_with(&start) && line.ends_with(end),
            "{what}: expected exit 1 and a last line {start:?}...{end:?}; got {self:?}"
        );
        self.ensure_soon(what)
    }

    /// Exit 1 with the idle-timeout message for `address` as the last line,
    /// `limit` seconds after the peer stopped (within `slack` seconds more).
    fn ensure_idled_out(&self, what: &str, address: &str, limit: f64, slack: f64) -> Result<()> {
        let line = format!(
            "hvcat: {address}: nothing moved either way for {limit} s (--idle-timeout); closed the connection"
        );
        ensure!(
            self.code == 1 && last_line(&self.stderr) == line,
            "{what}: expected exit 1 and {line:?} last on stderr; got {self:?}"
        );
        ensure!(
            (limit * 0.95..=limit + slack).contains(&self.secs),
            "{what}: gave up {:.3} s after the peer stopped (-i {limit}, allowed {:.2}..{:.2})",
            self.secs,
            limit * 0.95,
            limit + slack
        );
        eprintln!("  {what}: exit 1 {:.3} s after the peer stopped: {line}", self.secs);
        Ok(())
    }

    fn ensure_soon(&self, what: &str) -> Result<()> {
        ensure!(
            (..=KILL_LIMIT).contains(&self.secs),
            "{what}: exited {:.2} s after the kill (limit {KILL_LIMIT} s)",
            self.secs
        );
        eprintln!("  {what}: exit {} within {:.2} s: {}", self.code, self.secs, last_line(&self.stderr));
        Ok(())
    }
}

fn last_line(text: &str) -> &str {
    text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("")
}

fn parse_f64(text: &str, what: &str) -> Result<f64> {
    text.trim().parse().with_context(|| format!("{what}: not a number: {text:?}"))
}

/// A guest job running `hvcat` that records its own exit status and end
/// time in DIR/rc and DIR/t; what it receives goes to DIR/got (the first
/// [`UNDER_WAY`] bytes) and then to /dev/null.
fn measured(dir: &str, hvcat: &str) -> String {
    format!(
        "{{ {hvcat}; echo $? > {dir}/rc; {UPTIME} > {dir}/t; }} | {{ head -c {UNDER_WAY} > {dir}/got; cat > /dev/null; }}"
    )
}

/// A guest job that receives into DIR/got (then /dev/null), as [`measured`]
/// but without recording anything.
fn receiving(dir: &str, hvcat: &str) -> String {
    format!("{hvcat} | {{ head -c {UNDER_WAY} > {dir}/got; cat > /dev/null; }}")
}

/// Waits until guest file DIR/got is full: the transfer is under way.
fn guest_under_way(vm: &mut Vm, dir: &str) -> Result<()> {
    vm.sh_ok(&format!("wait_size {dir}/got {UNDER_WAY} 30")).map(drop).context("the transfer never got going")
}

/// Waits until host file `path` has [`UNDER_WAY`] bytes.
fn host_under_way(path: &Path) -> Result<()> {
    host_under(path, UNDER_WAY as u64).context("the transfer never got going")
}

/// Kills guest job `name` (its process group); returns the guest's clock just before.
fn kill_guest_job(vm: &mut Vm, name: &str) -> Result<f64> {
    signal_guest_job(vm, name, "KILL")
}

/// Sends `signal` to guest job `name` (its process group); returns the guest's
/// clock just before.
fn signal_guest_job(vm: &mut Vm, name: &str, signal: &str) -> Result<f64> {
    let out = vm.sh_ok(&format!("t=$({UPTIME}); kill -{signal} -$(cat $B/{name}.pid) && echo $t"))?;
    parse_f64(&out, "guest clock")
}

/// The guest's clock and the host instants just before and after reading it.
fn guest_clock(vm: &mut Vm) -> Result<(f64, Instant, Instant)> {
    let before = Instant::now();
    let out = vm.sh_ok(UPTIME)?;
    Ok((parse_f64(&out, "guest clock")?, before, Instant::now()))
}

/// How the [`measured`] job `name` in `dir` ended, `killed_at` (guest clock)
/// being when its peer was killed; fails if it runs 3 s after that.
fn guest_after_kill(vm: &mut Vm, name: &str, dir: &str, killed_at: f64) -> Result<AfterKill> {
    let out = vm.sh(&format!("wait_for '[ -s {dir}/t ]' 2 && cat {dir}/rc {dir}/t && cat $B/{name}.err"))?;
    if out.status != 0 {
        let _ = guest::kill(vm, name);
        bail!("guest hvcat still running 3 s after its peer was killed (killed now)");
    }
    let mut lines = out.output.splitn(3, '\n');
    let code = parse_f64(lines.next().unwrap_or(""), "exit status")? as i32;
    let ended = parse_f64(lines.next().unwrap_or(""), "end time")?;
    let stderr = lines.next().unwrap_or("").to_string();
    Ok(AfterKill { code, stderr, secs: ended - killed_at })
}

/// How host process `proc` ended, counting from `from`; kills it and fails
/// if it runs 3 s after that.
fn host_after_kill(mut proc: HostProc, from: Instant) -> Result<AfterKill> {
    loop {
        if proc.try_wait()?.is_some() {
            let secs = from.elapsed().as_secs_f64();
            let exit = proc.finish(Duration::ZERO)?;
            return Ok(AfterKill { code: exit.code, stderr: exit.stderr, secs });
        }
        if from.elapsed() > Duration::from_secs(3) {
            let stderr = proc.finish(Duration::ZERO).err().map(|e| e.to_string()).unwrap_or_default();
            bail!("host hvcat still running 3 s after its peer was killed (killed now): {stderr}");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Over vsock_loopback (CID 1), in the guest:
/// 1. the receiver (`hvcat -l`) is killed while the sender sends /dev/zero:
///    the sender exits 1 (EPIPE, naming the address) within 1 s;
/// 2. the sender (`hvcat -l < /dev/zero`) is killed while hvcat receives
///    with its stdin open and idle: the receiver sees the full close and
///    exits 0 within 1 s.
fn killed_loopback(ctx: &mut Ctx) -> Result<()> {
    ctx.need_guest_hvcat()?;
    let port = ctx.port();
    let d = format!("/tmp/fk{port}");
    ctx.vm.sh_ok(&format!("mkdir -p {d} && mkfifo {d}/idle"))?;
    let receiver = format!("fk{port}r");
    guest::start(&mut ctx.vm, &receiver, &receiving(&d, &format!("hvcat -v -l vsock://:{port}")))?;
    guest::wait_ready(&mut ctx.vm, &receiver, "listening on")?;
    let sender = format!("fk{port}s");
    guest::start(&mut ctx.vm, &sender, &measured(&d, &format!("hvcat vsock://1:{port} < /dev/zero")))?;
    guest_under_way(&mut ctx.vm, &d)?;
    let killed = kill_guest_job(&mut ctx.vm, &receiver)?;
    guest_after_kill(&mut ctx.vm, &sender, &d, killed)?
        .ensure_failed("receiver killed, sender", &format!("vsock://1:{port}"))?;

    let zero = ZeroOverLoopback::start(ctx, "fk", "-v")?;
    let killed = kill_guest_job(&mut ctx.vm, &zero.sender)?;
    guest_after_kill(&mut ctx.vm, &zero.receiver, &zero.dir, killed)?
        .ensure_closed("sender killed, receiver", &zero.address)
}

/// Starts guest job `name`, `hvcat -v -l vsock://:PORT < /dev/zero`, and waits
/// until it listens.
fn start_zero_sender(vm: &mut Vm, name: &str, port: u32) -> Result<()> {
    guest::start(vm, name, &format!("hvcat -v -l vsock://:{port} < /dev/zero"))?;
    guest::wait_ready(vm, name, "listening on")
}

/// A guest sender of /dev/zero (job `NAME`, see [`start_zero_sender`]) and a
/// host `hvcat OPTIONS URI` receiving it through the hybrid socket, its stdin
/// open and silent, the transfer under way; the job name, the URI, the host
/// process.
fn host_receives_zero(ctx: &mut Ctx, name: &str, options: &[&str]) -> Result<(String, String, HostProc)> {
    let hvcat = ctx.host_hvcat()?;
    let port = ctx.port();
    let sender = format!("{name}s");
    start_zero_sender(&mut ctx.vm, &sender, port)?;
    let uri = hybrid_uri(ctx, port);
    let out = ctx.host_path(&format!("{name}.out"));
    let empty = ctx.host_path(&format!("{name}.in"));
    std::fs::write(&empty, b"")?;
    let args: Vec<String> = options.iter().map(|o| o.to_string()).chain([uri.clone()]).collect();
    let host = HostProc::spawn(ctx, name, &hvcat, &args, HostStdin::Held(&empty), &out)?;
    host_under_way(&out)?;
    Ok((sender, uri, host))
}

/// In the guest over vsock_loopback: a sender `hvcat -l < /dev/zero` and a
/// [`measured`] receiver `hvcat OPTIONS vsock://1:P` whose stdin stays open
/// and silent, the transfer under way.
struct ZeroOverLoopback {
    dir: String,
    sender: String,
    receiver: String,
    address: String,
}

impl ZeroOverLoopback {
    /// Job names and the directory start with `prefix`.
    fn start(ctx: &mut Ctx, prefix: &str, options: &str) -> Result<Self> {
        let port = ctx.port();
        let dir = format!("/tmp/{prefix}{port}");
        ctx.vm.sh_ok(&format!("mkdir -p {dir} && mkfifo {dir}/idle"))?;
        let sender = format!("{prefix}{port}s");
        start_zero_sender(&mut ctx.vm, &sender, port)?;
        // `0<>` opens the fifo for reading and writing: stdin stays open, and silent.
        let receiver = format!("{prefix}{port}r");
        let address = format!("vsock://1:{port}");
        let receive = format!("hvcat {options} {address} 0<>{dir}/idle");
        guest::start(&mut ctx.vm, &receiver, &measured(&dir, &receive))?;
        guest_under_way(&mut ctx.vm, &dir)?;
        Ok(ZeroOverLoopback { dir, sender, receiver, address })
    }
}

/// Across the hybrid socket, each side killed while sending and while
/// receiving:
/// 3. guest receiver killed: the host sender exits 1 (reset/EPIPE);
/// 4. host receiver killed: the guest sender exits 1 (EPIPE);
/// 5. guest sender killed: the host receiver (stdin idle, `--expect-bytes`)
///    exits 1, the transfer cut short;
/// 6. host sender killed: the guest receiver (stdin idle, `--expect-bytes`)
///    exits 1, the transfer cut short;
///
/// each within 1 s of the kill. (A killed sender closes just as one that has
/// finished: without `--expect-bytes` the receiver exits 0, case 2.)
fn killed_host_guest(ctx: &mut Ctx) -> Result<()> {
    ctx.need_guest_hvcat()?;
    let hvcat = ctx.host_hvcat()?;
    let zero = Path::new("/dev/zero");
    let empty = ctx.host_path("fk-empty");
    std::fs::write(&empty, b"")?;

    // 3. host hvcat -> guest `hvcat -l`, which is killed.
    let port = ctx.port();
    let d = format!("/tmp/fk{port}");
    ctx.vm.sh_ok(&format!("mkdir -p {d}"))?;
    let receiver = format!("fk{port}r");
    guest::start(&mut ctx.vm, &receiver, &receiving(&d, &format!("hvcat -v -l vsock://:{port}")))?;
    guest::wait_ready(&mut ctx.vm, &receiver, "listening on")?;
    let uri = hybrid_uri(ctx, port);
    let host = HostProc::spawn(
        ctx,
        "fk3",
        &hvcat,
        std::slice::from_ref(&uri),
        HostStdin::File(zero),
        Path::new("/dev/null"),
    )?;
    guest_under_way(&mut ctx.vm, &d)?;
    let from = Instant::now();
    kill_guest_job(&mut ctx.vm, &receiver)?;
    host_after_kill(host, from)?.ensure_failed("guest receiver killed, host sender", &uri)?;

    // 4. guest hvcat -> host `hvcat -l`, which is killed. The host's stdin
    // stays open: its EOF would be a full close on this device.
    let port = ctx.port();
    let d = format!("/tmp/fk{port}");
    ctx.vm.sh_ok(&format!("mkdir -p {d}"))?;
    let (uri, path) = hybrid_listener(ctx, port);
    let out = ctx.host_path("fk4.out");
    let args = vec!["-v".to_string(), "-l".to_string(), uri];
    let mut host = HostProc::spawn(ctx, "fk4", &hvcat, &args, HostStdin::Held(&empty), &out)?;
    super::transfer::wait_for_path(&path)?;
    let sender = format!("fk{port}s");
    let address = format!("vsock://2:{port}");
    guest::start(&mut ctx.vm, &sender, &measured(&d, &format!("hvcat {address} < /dev/zero")))?;
    host_under_way(&out)?;
    let (clock, _, read) = guest_clock(&mut ctx.vm)?;
    let kill = Instant::now();
    host.guard.kill();
    let killed = clock + (kill - read).as_secs_f64();
    guest_after_kill(&mut ctx.vm, &sender, &d, killed)?
        .ensure_failed("host receiver killed, guest sender", &address)?;

    // 5. host hvcat (stdin idle) <- guest `hvcat -l < /dev/zero`, which is killed.
    let (sender, uri, host) = host_receives_zero(ctx, "fk5", &["-v", "--expect-bytes", EXPECTED])?;
    let from = Instant::now();
    kill_guest_job(&mut ctx.vm, &sender)?;
    host_after_kill(host, from)?.ensure_cut_short("guest sender killed, host receiver", &uri)?;

    // 6. guest hvcat (stdin idle) <- host `hvcat -l < /dev/zero`, which is killed.
    let port = ctx.port();
    let d = format!("/tmp/fk{port}");
    ctx.vm.sh_ok(&format!("mkdir -p {d} && mkfifo {d}/idle"))?;
    let (uri, path) = hybrid_listener(ctx, port);
    let args = vec!["-l".to_string(), uri];
    let mut host = HostProc::spawn(ctx, "fk6", &hvcat, &args, HostStdin::File(zero), Path::new("/dev/null"))?;
    super::transfer::wait_for_path(&path)?;
    let receiver = format!("fk{port}r");
    let address = format!("vsock://2:{port}");
    let receive = format!("hvcat -v --expect-bytes {EXPECTED} {address} 0<>{d}/idle");
    guest::start(&mut ctx.vm, &receiver, &measured(&d, &receive))?;
    guest_under_way(&mut ctx.vm, &d)?;
    let (clock, _, read) = guest_clock(&mut ctx.vm)?;
    let kill = Instant::now();
    host.guard.kill();
    let killed = clock + (kill - read).as_secs_f64();
    guest_after_kill(&mut ctx.vm, &receiver, &d, killed)?
        .ensure_cut_short("host sender killed, guest receiver", &address)
}

/// A peer that stops in the middle of a transfer without closing: nothing
/// tells the receiver, which without `-i` would wait for ever.
/// 1. In the guest over vsock_loopback: the sender (`hvcat -l < /dev/zero`)
///    is stopped with SIGSTOP; the receiver's `-i 1` shuts its AF_VSOCK
///    socket down, which wakes its blocked recv(2): exit 1, 1 s later.
/// 2. Across the hybrid socket: the guest itself is paused (QEMU stopped)
///    while the host receives with `-i 1`: exit 1, 1 s after the pause
///    (plus what vhost-device-vsock still had queued).
fn idle_timeout(ctx: &mut Ctx) -> Result<()> {
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

/// `hyperkit://` to a guest port nobody listens on, through the lab's
/// hyperkit shim: like hyperkit, the shim accepts the Unix connection, reads
/// the header and just closes it (the device refused `CONNECT`). hvcat cannot
/// tell that from a peer that answers nothing and closes:
/// - stdin empty: exit 0, nothing on stdout or stderr;
/// - stdin open and idle (`-v`): exit 0 at once, "the peer has closed";
/// - 1 MiB on stdin: exit 1, EPIPE or reset naming the URI.
fn no_listener_hyperkit(ctx: &mut Ctx) -> Result<()> {
    let hvcat = ctx.host_hvcat()?;
    let port = ctx.port();
    let dir = ctx.host_path(&format!("hk{port}"));
    std::fs::create_dir_all(&dir)?;
    let shim = HyperkitShim::start(&dir, &ctx.vm.uds_path(), 3, &[])?;
    let uri = format!("hyperkit://:{port}{}", dir.display());
    let empty = ctx.host_path("hk-empty");
    std::fs::write(&empty, b"")?;
    let (data, _) = ctx.host_payload("hk-data", 7, 1 << 20)?;
    let run = |ctx: &Ctx, name: &str, verbose: bool, stdin: HostStdin| -> Result<(Exit, u64)> {
        let out = ctx.host_path(&format!("{name}.out"));
        let mut args = vec![uri.clone()];
        if verbose {
            args.insert(0, "-v".into());
        }
        let exit = HostProc::spawn(ctx, name, &hvcat, &args, stdin, &out)?.finish(Duration::from_secs(10))?;
        Ok((exit, std::fs::metadata(&out)?.len()))
    };

    let (exit, got) = run(ctx, "hk-null", false, HostStdin::Null)?;
    ensure!(
        exit.code == 0 && exit.stderr.is_empty() && got == 0,
        "empty stdin: expected exit 0, no output, no message; got {exit:?} and {got} bytes"
    );
    eprintln!("  stdin empty: exit 0, 0 bytes, no message, after {}", util::secs(exit.elapsed));

    let (exit, got) = run(ctx, "hk-idle", true, HostStdin::Held(&empty))?;
    let want = [
        format!("hvcat: connected to {uri}"),
        format!("hvcat: {uri}: the peer has closed; not waiting for standard input"),
        format!("hvcat: {uri}: sent 0 bytes, received 0 bytes"),
    ];
    let lines: Vec<&str> = exit.stderr.lines().collect();
    ensure!(
        exit.code == 0
            && got == 0
            && lines.len() == 3
            && lines.iter().zip(&want).all(|(line, start)| line.starts_with(start.as_str())),
        "stdin idle: expected exit 0, no output, and lines starting {want:?}; got {exit:?} and {got} bytes"
    );
    ensure!(exit.elapsed < Duration::from_secs(1), "stdin idle: took {:?}", exit.elapsed);
    eprintln!("  stdin idle: exit 0 after {}: {}", util::secs(exit.elapsed), lines[1]);

    let (exit, got) = run(ctx, "hk-data", false, HostStdin::File(&data))?;
    let reason = exit.stderr.contains("Broken pipe") || exit.stderr.contains("reset");
    ensure!(
        exit.code == 1 && got == 0 && exit.stderr.lines().count() == 1 && exit.stderr.starts_with("hvcat: ") && exit.stderr.contains(&uri) && reason,
        "1 MiB on stdin: expected exit 1 and one line naming {uri}, Broken pipe or reset; got {exit:?} and {got} bytes"
    );
    eprintln!("  1 MiB on stdin: exit 1: {}", exit.stderr.trim());

    let events = shim.events();
    let refused = events.iter().filter(|e| e.contains("closed before answering CONNECT")).count();
    ensure!(refused == 3, "the shim should have seen the device refuse 3 CONNECTs: {events:?}");
    Ok(())
}

/// `hvcat -z` against a guest port with no listener, then with one: in the
/// guest over CID 1, from the host through the hybrid socket, and through the
/// hyperkit shim (where hyperkit's close of a refused connection is the only
/// answer). Each probe with no listener exits 1 saying refused and naming the
/// address; each with one exits 0, and the listener sees a connection that
/// sent nothing and ended at once.
fn probe(ctx: &mut Ctx) -> Result<()> {
    ctx.need_guest_hvcat()?;
    let hvcat = ctx.host_hvcat()?;
    let port = ctx.port();
    let hk_dir = ctx.host_path(&format!("zp{port}"));
    std::fs::create_dir_all(&hk_dir)?;
    let _shim = HyperkitShim::start(&hk_dir, &ctx.vm.uds_path(), 3, &[])?;
    let host_probe = |ctx: &Ctx, uri: &str| -> Result<Exit> {
        let args = ["-z".to_string(), "-v".to_string(), uri.to_string()];
        HostProc::spawn(ctx, "zp", &hvcat, &args, HostStdin::Null, Path::new("/dev/null"))?
            .finish(Duration::from_secs(10))
    };
    let uris = [
        format!("vsock://1:{port}"),
        hybrid_uri(ctx, port),
        format!("hyperkit://:{port}{}", hk_dir.display()),
    ];
    let probe_all = |ctx: &mut Ctx| -> Result<Vec<Exit>> {
        let guest = guest::timed(&mut ctx.vm, &format!("hvcat -z -v {}", uris[0]))?;
        Ok(vec![guest, host_probe(ctx, &uris[1])?, host_probe(ctx, &uris[2])?])
    };

    for (uri, exit) in uris.iter().zip(probe_all(ctx)?) {
        let first = exit.stderr.lines().next().unwrap_or("");
        ensure!(
            exit.code == 1 && first.starts_with(&format!("hvcat: connect {uri}: connection refused")),
            "-z {uri}, no listener: expected exit 1 and `hvcat: connect {uri}: connection refused...`; got {exit:?}"
        );
        eprintln!("  no listener: exit 1 after {}: {first}", util::secs(exit.elapsed));
    }

    // One listener, `-k`: each probe is one connection that sends nothing.
    let listener = format!("zp{port}");
    guest::start(&mut ctx.vm, &listener, &format!("hvcat -v -l -k vsock://:{port} < /dev/null"))?;
    guest::wait_ready(&mut ctx.vm, &listener, "listening on")?;
    for (uri, exit) in uris.iter().zip(probe_all(ctx)?) {
        let said = format!("hvcat: {uri} accepts connections");
        ensure!(
            exit.code == 0 && exit.stderr.lines().any(|l| l == said),
            "-z {uri}, listener up: expected exit 0 and {said:?}; got {exit:?}"
        );
        eprintln!("  listener up: exit 0 after {}", util::secs(exit.elapsed));
    }
    // Each probe's connection ends with a line: no bytes either way, or, when
    // vhost-device-vsock resets the guest's side because the host closed
    // straight after `OK`, "not connected" (ENOTCONN; seen 1 of 2 runs).
    let log = ctx.vm.sh_ok(&format!(
        "wait_for '[ $(grep -vc -e \"listening on\" -e \"connection from\" $B/{listener}.err) -ge 3 ]' 10; cat $B/{listener}.err"
    ))?;
    let ends: Vec<&str> =
        log.lines().filter(|l| !l.contains("listening on") && !l.contains("connection from")).collect();
    let quiet = |l: &&str| l.contains(": sent 0 bytes, received 0 bytes") || l.contains("not connected");
    ensure!(
        ends.len() == 3 && ends.iter().all(quiet),
        "the listener should have seen 3 connections end with no data; its log:\n{log}"
    );
    eprintln!("  the listener saw: {ends:?}");
    guest::kill(&mut ctx.vm, &listener)
}

/// Sends SIGCONT to a process stopped with SIGSTOP when dropped.
struct Paused(libc::pid_t);

impl Paused {
    fn new(pid: u32) -> Result<Self> {
        let pid = pid as libc::pid_t;
        // SAFETY: a signal to a child process this lab owns.
        ensure!(
            unsafe { libc::kill(pid, libc::SIGSTOP) } == 0,
            "cannot stop QEMU: {}",
            std::io::Error::last_os_error()
        );
        Ok(Paused(pid))
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        // SAFETY: as in `new`.
        unsafe { libc::kill(self.0, libc::SIGCONT) };
    }
}

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
fn connect_timeout(ctx: &mut Ctx) -> Result<()> {
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
                proc.started.elapsed() < Duration::from_secs(10),
                "hvcat -w {secs} {uri} still running after 10 s"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        let took = proc.started.elapsed().as_secs_f64();
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
fn bad_clients(ctx: &mut Ctx) -> Result<()> {
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
    host_under(&half_out, 65536)?;
    half.guard.kill();

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
        let _ = host_under(&output, len as u64);
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
    let peers: Vec<&str> = log.lines().filter_map(|l| l.strip_prefix("hvcat: connection from ")).collect();
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

/// Waits up to 60 s until host file `path` has `len` bytes.
fn host_under(path: &Path, len: u64) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::fs::metadata(path).map(|m| m.len()).unwrap_or(0) < len {
        ensure!(Instant::now() < deadline, "{} never reached {len} bytes", path.display());
        std::thread::sleep(Duration::from_millis(2));
    }
    Ok(())
}

/// `--retry` while the guest boots: the host starts `hvcat -v --retry=30 -w 1
/// hybrid://:P/<dir>/vm.vsock` before the device exists (a symlink to its
/// socket appears once the device is up), the guest is started 1 s later,
/// and its `hvcat -l` comes 1 s after it booted. The host connects, the
/// guest receives 2 MiB intact, both exit 0, and `-v` shows the retries:
/// "no socket at PATH" before the device, then "connection refused".
/// This scenario replaces the lab's guest with the one it boots.
fn retry_while_booting(ctx: &mut Ctx) -> Result<()> {
    ctx.need_guest_hvcat()?;
    let hvcat = ctx.host_hvcat()?;
    let port = ctx.port();
    let dir = ctx.host_path(&format!("boot{port}"));
    std::fs::create_dir_all(&dir)?;
    let link: PathBuf = dir.join("vm.vsock");
    let uri = format!("hybrid://:{port}{}", link.display());
    let len = 2 << 20;
    let (input, sha) = ctx.host_payload("boot.in", 5, len)?;
    let out = ctx.host_path("boot.out");
    let args =
        vec!["-v".to_string(), "--retry=30".to_string(), "-w".to_string(), "1".to_string(), uri.clone()];
    let started = Instant::now();
    let host = HostProc::spawn(ctx, "boot-c", &hvcat, &args, HostStdin::File(&input), &out)?;

    std::thread::sleep(Duration::from_millis(300));
    let mut vm = Vm::launch(&ctx.lab.tools, &ctx.lab.initrd, Mode::Agent)?;
    std::os::unix::fs::symlink(vm.uds_path(), &link)?;
    std::thread::sleep(Duration::from_secs(1));
    let boot = Instant::now();
    vm.run_agent()?;
    let booted = boot.elapsed();
    ctx.vm = vm;
    std::thread::sleep(Duration::from_secs(1));
    let d = format!("/tmp/boot{port}");
    ctx.vm.sh_ok(&format!("mkdir -p {d}"))?;
    guest::start(&mut ctx.vm, "boot-s", &format!("hvcat -v -l vsock://:{port} < /dev/null > {d}/out"))?;
    guest::wait_ready(&mut ctx.vm, "boot-s", "listening on")?;
    let listening = started.elapsed();

    let host = host.finish(Duration::from_secs(30))?;
    let guest = guest::wait(&mut ctx.vm, "boot-s", 30)?;
    super::ensure_ok("retrying host hvcat", &host)?;
    super::ensure_ok("late guest listener", &guest)?;
    let got = Digests::of(&mut ctx.vm, &[("out", &format!("{d}/out"))])?;
    ensure!(
        got.size("out")? == len && got.sha("out")? == sha,
        "the guest received {} bytes (sha256 {}), the host sent {len} (sha256 {sha})",
        got.size("out")?,
        got.sha("out")?
    );
    let retries: Vec<&str> = host.stderr.lines().filter(|l| l.contains("trying again in")).collect();
    let missing = retries.iter().filter(|l| l.contains(&format!("no socket at {}", link.display()))).count();
    let refused = retries.iter().filter(|l| l.contains("connection refused")).count();
    ensure!(
        missing >= 1 && refused >= 1 && missing + refused == retries.len() && retries.len() <= 30,
        "expected retries for the missing socket, then for refusals, and no others; stderr:\n{}",
        host.stderr
    );
    ensure!(
        host.stderr.lines().any(|l| l == format!("hvcat: connected to {uri}")),
        "no `connected to {uri}` line; stderr:\n{}",
        host.stderr
    );
    eprintln!(
        "  {} retries ({missing} no socket, {refused} refused); guest booted in {}, listener up at {}, host done at {}; 2 MiB intact",
        retries.len(),
        util::secs(booted),
        util::secs(listening),
        util::secs(host.elapsed)
    );
    Ok(())
}
