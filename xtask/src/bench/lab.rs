//! `cargo xtask bench lab`: throughput of hvcat, socat and `hvraw` (the plainest
//! sender/receiver: `crates/hvsock/examples/hvraw.rs`) over real vsock, in one boot of
//! the lab guest (QEMU TCG, vhost-device-vsock): inside the guest over vsock_loopback
//! (CID 1), host -> guest and guest -> host through the device's hybrid Unix socket,
//! and, for comparison, host-only over a Unix socket in a temp dir. Then `hvbench`
//! inside the guest and from the host; its JSON and SVG go to `docs/bench/`.
//!
//! Each run moves one payload one way between a sender and a receiver of the same tool
//! (host-side socat cannot do the hybrid `CONNECT` handshake, so for host -> guest this
//! process does it and hands socat the connected socket as its standard output).
//! Senders read the payload file, except `raw`, which sends from memory; receivers
//! write to /dev/null (hvraw discards), except host receivers of guest -> host
//! traffic, which write to a file whose size is watched: their connection never ends
//! by itself there (a guest half-close does not reach the host), and hvcat's output
//! into a pipe stalled (docs/performance.md).
//!
//! Timing is end to end, on this host's clock: from starting the sender until the
//! receiver has every byte and has exited (loopback, host -> guest) or has the last
//! byte in its file (guest -> host). A guest-side moment reaches the host as a timing
//! mark: one byte written into a FIFO that a guest hvcat forwards over a connection
//! kept open to the host, stamped when it arrives (just before a guest sender starts,
//! just after a guest receiver is reaped). A guest receiver's byte count comes from
//! its parent shell's `/proc/PID/io` (a reaped child's `wchar` is added to it): bytes
//! written minus its stderr; hvraw reports its own.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

use crate::lab::harness::guest::{parse_kv, sq};
use crate::lab::harness::Ctx;
use crate::lab::{hybrid, Lab};
use crate::util::{self, Context, Guarded, Result, TempDir};
use crate::{bail, ensure};

/// What to measure.
#[derive(Clone, Debug)]
pub struct Plan {
    /// MiB per run through the guest (TCG: tens of MB/s).
    pub mib: usize,
    /// MiB per run over the host-only Unix socket.
    pub host_mib: usize,
    /// Runs of each (path, tool); the median is reported.
    pub runs: usize,
    /// Also run hvbench and write docs/bench/.
    pub hvbench: bool,
    /// Only these routes (by [`ROUTE_KEYS`]); all if empty.
    pub routes: Vec<String>,
    /// Only these tools (by [`TOOL_KEYS`]); all if empty.
    pub tools: Vec<String>,
}

/// The name of a tool on the command line.
pub const TOOL_KEYS: &[&str] = &["hvcat", "socat", "socat-big", "raw", "raw-file"];

/// The name of a route on the command line.
pub const ROUTE_KEYS: &[&str] = &["loopback", "host-to-guest", "guest-to-host", "host-unix"];

impl Default for Plan {
    fn default() -> Self {
        Plan { mib: 64, host_mib: 4096, runs: 3, hvbench: true, routes: Vec::new(), tools: Vec::new() }
    }
}

/// The senders and receivers compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tool {
    Hvcat,
    /// Debian's socat with its defaults (8 KiB buffer).
    Socat,
    /// socat with `-b 262144`, hvcat's read size.
    SocatBig,
    /// hvraw: 1 MiB `send(2)`s from memory, 1 MiB `recv(2)`s thrown away.
    Raw,
    /// hvraw sending the payload file (1 MiB `read(2)` + `send(2)`), to the same receiver.
    RawFile,
}

const TOOLS: [Tool; 5] = [Tool::Hvcat, Tool::Socat, Tool::SocatBig, Tool::Raw, Tool::RawFile];

impl Tool {
    fn name(self) -> &'static str {
        match self {
            Tool::Hvcat => "hvcat",
            Tool::Socat => "socat",
            Tool::SocatBig => "socat -b 256K",
            Tool::Raw => "raw",
            Tool::RawFile => "raw from file",
        }
    }

    /// socat and its options (`-u`: one direction; it is a one-way transfer).
    fn socat(self) -> &'static str {
        if self == Tool::SocatBig {
            "socat -b 262144 -u"
        } else {
            "socat -u"
        }
    }

    /// A host socat command with `args` after the options.
    fn socat_command(self, args: &[&str]) -> Command {
        let mut words = self.socat().split_whitespace();
        let mut cmd = Command::new(words.next().unwrap_or("socat"));
        cmd.args(words).args(args);
        cmd
    }

    fn is_raw(self) -> bool {
        matches!(self, Tool::Raw | Tool::RawFile)
    }

    /// A guest receiver listening on vsock `port`; its stderr says `listening on`.
    fn guest_receiver(self, port: u32) -> String {
        match self {
            Tool::Hvcat => format!("hvcat -v -l vsock://:{port}"),
            Tool::Socat | Tool::SocatBig => format!("{} -d -d VSOCK-LISTEN:{port} STDOUT", self.socat()),
            Tool::Raw | Tool::RawFile => format!("hvraw recv vsock://:{port}"),
        }
    }

    /// A guest sender to `cid:port` (standard input: the payload file).
    fn guest_sender(self, cid: u32, port: u32, bytes: usize) -> String {
        match self {
            Tool::Hvcat => format!("hvcat -v vsock://{cid}:{port}"),
            Tool::Socat | Tool::SocatBig => format!("{} STDIN VSOCK-CONNECT:{cid}:{port}", self.socat()),
            Tool::Raw => format!("hvraw send vsock://{cid}:{port} {bytes}"),
            Tool::RawFile => format!("hvraw send vsock://{cid}:{port} -"),
        }
    }
}

/// Where the bytes go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    Loopback,
    HostToGuest,
    GuestToHost,
    HostUnix,
}

const ROUTES: [Route; 4] = [Route::Loopback, Route::HostToGuest, Route::GuestToHost, Route::HostUnix];

impl Route {
    fn name(self) -> &'static str {
        match self {
            Route::Loopback => "guest loopback (CID 1)",
            Route::HostToGuest => "host -> guest (hybrid)",
            Route::GuestToHost => "guest -> host (hybrid)",
            Route::HostUnix => "host only (Unix socket)",
        }
    }
}

/// Runs `sh measure.sh OUT CMD...`: CMD with standard input and output /dev/null and
/// standard error OUT.err; then, if MARK is set, sends the host a timing mark; then
/// writes OUT: CMD's exit status and how much it wrote
/// (`wchar`) and in how many calls (`syscw`), from this shell's /proc/PID/io, to which
/// the counts of a reaped child are added.
const MEASURE_SH: &str = r#"out=$1; shift
snap() { while read -r k v; do eval "$1_${k%:}=\$v"; done < /proc/$$/io; }
snap a
"$@" </dev/null >/dev/null 2>"$out.err" &
wait $!
rc=$?
snap b
[ -n "$MARK" ] && printf x > "$MARK"
printf 'rc=%s\nwchar=%s\nsyscw=%s\nerr=%s\n' "$rc" "$((b_wchar - a_wchar))" "$((b_syscw - a_syscw))" \
    "$(wc -c < "$out.err" | tr -d ' ')" > "$out.tmp"
mv "$out.tmp" "$out"
"#;

/// Where guest files live.
const GDIR: &str = "/tmp/bench";

/// The guest FIFO a timing mark is written to.
const MARK: &str = "/tmp/bench/mark";

/// One run's figures.
#[derive(Clone, Debug)]
struct Sample {
    secs: f64,
    /// Write calls of the receiver into /dev/null (hvcat, socat: one per `recv`), if known.
    writes: Option<u64>,
}

/// Everything a run needs.
struct Bench<'c, 'l> {
    ctx: &'c mut Ctx<'l>,
    /// Timing marks from the guest: when each arrived.
    events: Receiver<Instant>,
    bytes: usize,
    host_bytes: usize,
    hvcat: PathBuf,
    hvraw: PathBuf,
    /// Host payloads: `bytes` and `host_bytes` long.
    payload: PathBuf,
    host_payload: PathBuf,
    dir: TempDir,
}

/// `cargo xtask bench lab`.
pub fn run(plan: &Plan) -> Result<()> {
    ensure!(plan.runs > 0 && plan.mib > 0 && plan.host_mib > 0, "nothing to measure");
    let lab = Lab::prepare()?;
    let mut ctx = Ctx::new(&lab)?;
    let mut bench = Bench::new(&mut ctx, plan)?;
    let mark_cost = bench.mark_cost()?;
    println!(
        "payload {} MiB through the guest, {} MiB host-only; {} runs each, median reported",
        plan.mib, plan.host_mib, plan.runs
    );
    println!("a timing mark costs the guest {:.2} ms (200 marks, /proc/uptime)", mark_cost * 1e3);

    let mut results: Vec<(Route, Tool, Vec<Sample>)> = Vec::new();
    for route in ROUTES {
        if !plan.routes.is_empty() && !plan.routes.iter().any(|r| r == ROUTE_KEYS[route as usize]) {
            continue;
        }
        for tool in TOOLS {
            if !plan.tools.is_empty() && !plan.tools.iter().any(|t| t == TOOL_KEYS[tool as usize]) {
                continue;
            }
            results.push((route, tool, Vec::new()));
        }
    }
    for round in 0..plan.runs {
        for entry in results.iter_mut() {
            let (route, tool) = (entry.0, entry.1);
            let sample = bench
                .one(route, tool)
                .with_context(|| format!("{} with {} (run {})", route.name(), tool.name(), round + 1))?;
            let bytes = if route == Route::HostUnix { bench.host_bytes } else { bench.bytes };
            eprintln!(
                "  run {}: {:<24} {:<14} {:>8.1} MB/s{}",
                round + 1,
                route.name(),
                tool.name(),
                bytes as f64 / 1e6 / sample.secs,
                sample
                    .writes
                    .map(|w| format!(" ({:.0} B per write)", bytes as f64 / w as f64))
                    .unwrap_or_default()
            );
            entry.2.push(sample);
        }
    }
    print_table(&results, bench.bytes, bench.host_bytes);
    if plan.hvbench {
        bench.hvbench()?;
    }
    Ok(())
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn print_table(results: &[(Route, Tool, Vec<Sample>)], bytes: usize, host_bytes: usize) {
    println!();
    println!("{:<24} {:<14} {:>9} {:>19} {:>10}", "route", "tool", "MB/s", "min..max", "B/write");
    let mut rates = std::collections::BTreeMap::new();
    for (route, tool, samples) in results {
        let n = if *route == Route::HostUnix { host_bytes } else { bytes } as f64;
        let mbs: Vec<f64> = samples.iter().map(|s| n / 1e6 / s.secs).collect();
        let (lo, hi) = mbs.iter().fold((f64::MAX, 0f64), |(lo, hi), &x| (lo.min(x), hi.max(x)));
        let m = median(mbs);
        rates.insert((*route as usize, *tool as usize), m);
        let writes =
            median(samples.iter().filter_map(|s| s.writes).map(|w| n / w as f64).collect::<Vec<_>>());
        let per_write =
            if samples.iter().any(|s| s.writes.is_some()) { format!("{writes:.0}") } else { "-".into() };
        println!(
            "{:<24} {:<14} {:>9.1} {:>19} {:>10}",
            route.name(),
            tool.name(),
            m,
            format!("{lo:.1}..{hi:.1}"),
            per_write
        );
    }
    println!();
    println!("targets: hvcat >= 1.3x socat (default options) and >= 0.9x raw");
    for route in ROUTES {
        let all = TOOLS.iter().all(|t| rates.contains_key(&(route as usize, *t as usize)));
        if !all {
            continue;
        }
        let rate = |t: Tool| rates[&(route as usize, t as usize)];
        let hv = rate(Tool::Hvcat);
        let (socat, raw) = (hv / rate(Tool::Socat), hv / rate(Tool::Raw));
        println!(
            "{:<24} hvcat/socat {socat:.2}x ({}), hvcat/raw {raw:.2}x ({}); hvcat/socat -b 256K {:.2}x, hvcat/raw from file {:.2}x",
            route.name(),
            if socat >= 1.3 { "met" } else { "MISSED" },
            if raw >= 0.9 { "met" } else { "MISSED" },
            hv / rate(Tool::SocatBig),
            hv / rate(Tool::RawFile),
        );
    }
}

impl<'c, 'l> Bench<'c, 'l> {
    fn new(ctx: &'c mut Ctx<'l>, plan: &Plan) -> Result<Self> {
        let hvcat = ctx.host_hvcat()?;
        let hvraw = ctx.lab.binaries.host("hvraw").map_err(util::Error::msg)?;
        ctx.need_guest_hvcat()?;
        let dir = TempDir::new("hvsock-bench-lab")?;
        let (bytes, host_bytes) = (plan.mib << 20, plan.host_mib << 20);
        let payload = dir.path().join("payload");
        let host_payload = dir.path().join("host-payload");
        write_payload(&payload, bytes)?;
        write_payload(&host_payload, host_bytes)?;
        std::fs::write(dir.path().join("measure.sh"), MEASURE_SH)?;

        // Timing marks: a guest hvcat keeps one connection to the host open and
        // forwards what is written into a FIFO; every byte is one mark.
        let mark_port = ctx.port();
        let listener = UnixListener::bind(hybrid::listen_path(&ctx.vm.uds_path(), mark_port))?;
        let (tx, events) = mpsc::channel();
        thread::spawn(move || {
            let Ok((mut conn, _)) = listener.accept() else { return };
            let mut buf = [0u8; 64];
            while let Ok(n @ 1..) = conn.read(&mut buf) {
                let at = Instant::now();
                for _ in 0..n {
                    if tx.send(at).is_err() {
                        return;
                    }
                }
            }
        });
        let t = Instant::now();
        ctx.vm.sh_timeout(
            &format!(
                "mkdir -p {GDIR} && head -c {bytes} /dev/urandom > {GDIR}/payload && cat > {GDIR}/measure.sh <<'EOF'\n{MEASURE_SH}EOF"
            ),
            Duration::from_secs(300),
        )?;
        eprintln!("bench: {} MiB guest payload in {}", plan.mib, util::secs(t.elapsed()));
        ctx.vm.sh_ok(&format!(
            "mkfifo {MARK}; bg markhold 86400 'sleep 86400 > {MARK}'; bg marker 86400 'hvcat vsock://2:{mark_port} < {MARK} > /dev/null'"
        ))?;
        Ok(Bench { ctx, events, bytes, host_bytes, hvcat, hvraw, payload, host_payload, dir })
    }

    /// What one timing mark costs the guest, in seconds (200 marks, timed by the guest).
    fn mark_cost(&mut self) -> Result<f64> {
        let n = 200;
        let out = self.ctx.vm.sh_ok(&format!(
            "read a _ < /proc/uptime; i=0; while [ $i -lt {n} ]; do printf x > {MARK}; i=$((i+1)); done; read b _ < /proc/uptime; echo $a $b"
        ))?;
        let v: Vec<f64> = out.split_whitespace().filter_map(|w| w.parse().ok()).collect();
        ensure!(v.len() == 2, "bad uptime output {out:?}");
        for _ in 0..n {
            self.event(Duration::from_secs(10))?;
        }
        Ok((v[1] - v[0]) / n as f64)
    }

    /// How long one transfer through the guest may take: 30 s plus 1 s per MB.
    fn limit(&self) -> Duration {
        Duration::from_secs(30 + self.bytes as u64 / 1_000_000)
    }

    /// Drops notifications left from earlier runs.
    fn drain(&self) {
        while self.events.try_recv().is_ok() {}
    }

    fn event(&self, timeout: Duration) -> Result<Instant> {
        self.events.recv_timeout(timeout).context("no notification from the guest in time")
    }

    fn one(&mut self, route: Route, tool: Tool) -> Result<Sample> {
        match route {
            Route::Loopback => self.loopback(tool),
            Route::HostToGuest => self.host_to_guest(tool),
            Route::GuestToHost => self.guest_to_host(tool),
            Route::HostUnix => self.host_unix(tool),
        }
    }

    /// Checks a guest receiver's OUT file (from measure.sh) and returns its write count.
    fn check_receiver(&self, tool: Tool, out: &str, err: &str, bytes: usize) -> Result<Option<u64>> {
        let kv = parse_kv(out);
        let num = |k: &str| kv.get(k).and_then(|v| v.parse::<u64>().ok());
        let rc = num("rc").with_context(|| format!("receiver gave no status: {out:?}"))?;
        ensure!(rc == 0, "receiver exited {rc}: {err}");
        let got = match tool {
            Tool::Raw | Tool::RawFile => received_by_hvraw(err)?,
            _ => num("wchar").zip(num("err")).map(|(w, e)| w - e).context("no wchar")?,
        };
        ensure!(got == bytes as u64, "receiver got {got} of {bytes} bytes: {err}");
        Ok(if tool.is_raw() { None } else { num("syscw") })
    }

    fn loopback(&mut self, tool: Tool) -> Result<Sample> {
        let port = self.ctx.port();
        let d = format!("{GDIR}/l{port}");
        let script = format!(
            "MARK={MARK} sh {GDIR}/measure.sh {d}.r {recv} &
wait_for \"grep -qi 'listening on' {d}.r.err\" 30 || {{ echo not listening; cat {d}.r.err; exit 1; }}
printf x > {MARK}
{send} < {GDIR}/payload > /dev/null 2> {d}.s.err
echo src=$?
wait
cat {d}.r; echo ---; cat {d}.r.err; echo ---; cat {d}.s.err",
            recv = tool.guest_receiver(port),
            send = tool.guest_sender(1, port, self.bytes),
        );
        self.drain();
        let out = self.ctx.vm.sh_timeout(&script, self.limit())?;
        ensure!(out.status == 0, "guest script failed:\n{}", out.output);
        let t0 = self.event(Duration::from_secs(5))?;
        let t1 = self.event(Duration::from_secs(5))?;
        let mut parts = out.output.split("---\n");
        let (head, rerr, serr) =
            (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        ensure!(head.contains("src=0"), "sender failed: {serr}");
        let writes = self.check_receiver(tool, head, rerr, self.bytes)?;
        Ok(Sample { secs: (t1 - t0).as_secs_f64(), writes })
    }

    fn host_to_guest(&mut self, tool: Tool) -> Result<Sample> {
        let port = self.ctx.port();
        let d = format!("{GDIR}/h{port}");
        let job = format!("h{port}");
        let cmd = format!("MARK={MARK} sh {GDIR}/measure.sh {d}.r {}", tool.guest_receiver(port));
        self.ctx.vm.sh_ok(&format!("bg {job} 600 {}", sq(&cmd)))?;
        self.ctx.vm.sh_ok(&format!(
            "wait_for \"grep -qi 'listening on' {d}.r.err\" 30 || {{ cat {d}.r.err; exit 1; }}"
        ))?;
        let uds = self.ctx.vm.uds_path();
        let uri = format!("hybrid://:{port}{}", uds.display());
        let err = self.dir.path().join(format!("{job}.err"));
        self.drain();
        let t0 = Instant::now();
        let mut sender = match tool {
            Tool::Socat | Tool::SocatBig => {
                let stream = hybrid::connect(&uds, port, Duration::from_secs(10))?;
                spawn(
                    &mut tool.socat_command(&["STDIN", "STDOUT"]),
                    Stdio::from(File::open(&self.payload)?),
                    Stdio::from(OwnedFd::from(stream)),
                    &err,
                )?
            }
            _ => self.uri_sender(tool, &["-v"], &uri, &self.payload, self.bytes, &err)?,
        };
        let t1 = self.event(self.limit());
        let status = sender.wait_timeout(Duration::from_secs(60));
        let sender_err = std::fs::read_to_string(&err).unwrap_or_default();
        let t1 = t1.with_context(|| format!("sender: {sender_err}"))?;
        ensure!(status?.success(), "host sender failed: {sender_err}");
        let out = self.ctx.vm.sh_ok(&format!(
            "wait_for '[ -f {d}.r ]' 30; cat {d}.r; echo ---; cat {d}.r.err; bg_wait {job} 30 >/dev/null"
        ))?;
        let (head, rerr) = out.split_once("---\n").unwrap_or((&out, ""));
        let writes = self.check_receiver(tool, head, rerr, self.bytes)?;
        Ok(Sample { secs: (t1 - t0).as_secs_f64(), writes })
    }

    /// A host sender that takes a URI: hvcat (with `hvcat_flags`) or hvraw reading
    /// `payload`, or hvraw sending `bytes` from memory. (socat's address depends on
    /// the route, so callers start it themselves.)
    fn uri_sender(
        &self,
        tool: Tool,
        hvcat_flags: &[&str],
        uri: &str,
        payload: &Path,
        bytes: usize,
        err: &Path,
    ) -> Result<Guarded> {
        let input = || -> Result<Stdio> { Ok(Stdio::from(File::open(payload)?)) };
        match tool {
            Tool::Hvcat => {
                spawn(Command::new(&self.hvcat).args(hvcat_flags).arg(uri), input()?, Stdio::null(), err)
            }
            Tool::Raw => spawn(
                Command::new(&self.hvraw).arg("send").arg(uri).arg(bytes.to_string()),
                Stdio::null(),
                Stdio::null(),
                err,
            ),
            Tool::RawFile => {
                spawn(Command::new(&self.hvraw).arg("send").arg(uri).arg("-"), input()?, Stdio::null(), err)
            }
            Tool::Socat | Tool::SocatBig => crate::bail!("socat takes no URI"),
        }
    }

    fn guest_to_host(&mut self, tool: Tool) -> Result<Sample> {
        let port = self.ctx.port();
        let uds = self.ctx.vm.uds_path();
        let path = hybrid::listen_path(&uds, port);
        let uri = format!("hybrid://:{port}{}", uds.display());
        let job = format!("g{port}");
        let err = self.dir.path().join(format!("{job}.err"));
        let bytes = self.bytes;
        // Output goes to a file whose size is watched: hvcat's output into a pipe
        // stalled here (docs/performance.md). hvcat's standard input stays open until
        // it has everything: its end-of-file would close the connection.
        let output = self.dir.path().join(format!("{job}.out"));
        let mut held_stdin = None;
        let mut receiver = match tool {
            Tool::Raw | Tool::RawFile => spawn(
                Command::new(&self.hvraw).arg("recv").arg(&uri).arg(bytes.to_string()),
                Stdio::null(),
                Stdio::null(),
                &err,
            )?,
            Tool::Hvcat => {
                let (stdin_read, stdin_write) = pipe()?;
                held_stdin = Some(stdin_write);
                let out = Stdio::from(File::create(&output)?);
                spawn(
                    Command::new(&self.hvcat).arg("-v").arg("-l").arg(&uri),
                    Stdio::from(stdin_read),
                    out,
                    &err,
                )?
            }
            Tool::Socat | Tool::SocatBig => {
                let out = Stdio::from(File::create(&output)?);
                let listen = format!("UNIX-LISTEN:{}", path.display());
                spawn(&mut tool.socat_command(&[&listen, "STDOUT"]), Stdio::null(), out, &err)?
            }
        };
        wait_for_path(&path)?;
        self.drain();
        let send = tool.guest_sender(2, port, bytes);
        let cmd = format!("printf x > {MARK}; exec {send} < {GDIR}/payload > /dev/null 2> {GDIR}/{job}.err");
        self.ctx.vm.sh_ok(&format!("bg {job} 600 {}", sq(&cmd)))?;
        let t0 = self.event(Duration::from_secs(30))?;
        let (t1, status) = if tool.is_raw() {
            let (status, t1) = exit_time(receiver, self.limit())?;
            (t1, status)
        } else {
            let t1 = size_reached(&output, bytes, self.limit());
            drop(held_stdin.take());
            let t1 = match t1 {
                Ok(t1) => t1,
                Err(e) => {
                    let guest = self.ctx.vm.sh(&format!("cat {GDIR}/{job}.err; bg_wait {job} 1"));
                    bail!("{e}; receiver: {}; guest sender: {guest:?}", read(&err));
                }
            };
            (t1, receiver.wait_timeout(Duration::from_secs(60))?)
        };
        let rerr = read(&err);
        ensure!(status.success(), "host receiver failed: {rerr}");
        let got = match tool {
            Tool::Raw | Tool::RawFile => received_by_hvraw(&rerr)?,
            _ => std::fs::metadata(&output)?.len(),
        };
        ensure!(got == bytes as u64, "the host received {got} of {bytes} bytes");
        let out = self.ctx.vm.sh_ok(&format!("bg_wait {job} 60; cat {GDIR}/{job}.err"))?;
        ensure!(out.starts_with("0 "), "guest sender failed: {out}");
        Ok(Sample { secs: (t1 - t0).as_secs_f64(), writes: None })
    }

    fn host_unix(&mut self, tool: Tool) -> Result<Sample> {
        let port = self.ctx.port();
        let sock = self.dir.path().join(format!("u{port}.sock"));
        let out = self.dir.path().join(format!("u{port}.r"));
        let measure = self.dir.path().join("measure.sh");
        let uri = format!("unix://{}", sock.display());
        let bytes = self.host_bytes;
        let recv: Vec<String> = match tool {
            Tool::Hvcat => vec![self.hvcat.display().to_string(), "-v".into(), "-l".into(), uri.clone()],
            Tool::Socat | Tool::SocatBig => tool
                .socat()
                .split_whitespace()
                .map(String::from)
                .chain([format!("UNIX-LISTEN:{}", sock.display()), "STDOUT".into()])
                .collect(),
            Tool::Raw | Tool::RawFile => vec![self.hvraw.display().to_string(), "recv".into(), uri.clone()],
        };
        let receiver = Guarded::spawn(
            "receiver",
            Command::new("sh").arg(&measure).arg(&out).args(&recv).stdin(Stdio::null()),
        )?;
        wait_for_path(&sock)?;
        let err = self.dir.path().join(format!("u{port}.s.err"));
        let t0 = Instant::now();
        let mut sender = match tool {
            Tool::Socat | Tool::SocatBig => spawn(
                &mut tool.socat_command(&["STDIN", &format!("UNIX-CONNECT:{}", sock.display())]),
                Stdio::from(File::open(&self.host_payload)?),
                Stdio::null(),
                &err,
            )?,
            _ => self.uri_sender(tool, &[], &uri, &self.host_payload, bytes, &err)?,
        };
        let (status, t1) = exit_time(receiver, Duration::from_secs(120))?;
        ensure!(status.success(), "receiver wrapper exited {status}");
        let sstatus = sender.wait_timeout(Duration::from_secs(60))?;
        ensure!(sstatus.success(), "sender failed: {}", read(&err));
        let kv = std::fs::read_to_string(&out)?;
        let rerr = read(&out.with_extension("r.err"));
        let writes = self.check_receiver(tool, &kv, &rerr, bytes)?;
        Ok(Sample { secs: (t1 - t0).as_secs_f64(), writes })
    }

    /// hvbench inside the guest (both directions) and from the host (guest -> host
    /// only: its `send` test half-closes and waits for an answer, which this device
    /// cannot carry); JSON and SVG into docs/bench/.
    fn hvbench(&mut self) -> Result<()> {
        let docs = crate::lab::binaries::workspace_root().join("docs/bench");
        std::fs::create_dir_all(&docs)?;
        let port = self.ctx.port();
        self.ctx.vm.sh_ok(&format!("bg hvbench 3600 {}", sq(&format!("hvbench -v -s vsock://:{port}"))))?;
        self.ctx.vm.sh_ok("wait_text hvbench 'serving benchmarks on' 30")?;
        let args = "--bytes 32M --latency 500";
        println!("\nhvbench {args}, guest over vsock_loopback:");
        let t = Instant::now();
        let out = self.ctx.vm.sh_timeout(
            &format!("hvbench vsock://1:{port} {args} --json --svg {GDIR}/hvbench.svg > {GDIR}/hvbench.json 2> {GDIR}/hvbench.err; rc=$?; cat {GDIR}/hvbench.err; exit $rc"),
            Duration::from_secs(1800),
        )?;
        ensure!(out.status == 0, "guest hvbench failed: {}", out.output);
        let json = self.ctx.vm.sh_ok(&format!("cat {GDIR}/hvbench.json"))?;
        let svg = self.ctx.vm.sh_ok(&format!("cat {GDIR}/hvbench.svg"))?;
        std::fs::write(docs.join("hvbench-guest-loopback.json"), &json)?;
        std::fs::write(docs.join("hvbench-guest-loopback.svg"), &svg)?;
        println!("{}(in {})", json, util::secs(t.elapsed()));

        let hvbench = self.ctx.lab.binaries.host("hvbench").map_err(util::Error::msg)?;
        let uri = format!("hybrid://:{port}{}", self.ctx.vm.uds_path().display());
        let send = Command::new(&hvbench)
            .args([uri.as_str(), "--direction", "send", "--sizes", "64K", "--bytes", "1M", "--latency", "0"])
            .output()?;
        println!(
            "host hvbench --direction send (expected to fail: the device turns its half-close into a close): exit {}, {}",
            send.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&send.stderr).trim()
        );
        println!("\nhvbench {args} --direction recv, host through the hybrid socket (guest -> host):");
        let t = Instant::now();
        let svg = docs.join("hvbench-guest-to-host.svg");
        let out = Command::new(&hvbench)
            .arg(&uri)
            .args(args.split_whitespace())
            .args(["--direction", "recv", "--json", "--svg"])
            .arg(&svg)
            .output()?;
        ensure!(out.status.success(), "host hvbench failed: {}", String::from_utf8_lossy(&out.stderr));
        std::fs::write(docs.join("hvbench-guest-to-host.json"), &out.stdout)?;
        println!("{}(in {})", String::from_utf8_lossy(&out.stdout), util::secs(t.elapsed()));
        println!("written: {}/hvbench-{{guest-loopback,guest-to-host}}.{{json,svg}}", docs.display());
        Ok(())
    }
}

/// `received N bytes` from hvraw's last line.
fn received_by_hvraw(err: &str) -> Result<u64> {
    err.lines()
        .find_map(|l| l.strip_prefix("hvraw: received "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("hvraw reported no byte count: {err:?}"))
}

fn spawn(cmd: &mut Command, stdin: Stdio, stdout: Stdio, stderr: &Path) -> Result<Guarded> {
    cmd.stdin(stdin).stdout(stdout).stderr(File::create(stderr)?);
    let g = Guarded::spawn("sender", cmd)?;
    Ok(g)
}

/// A pipe (read end, write end), close-on-exec.
fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two descriptors into the array.
    ensure!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } == 0, "pipe2 failed");
    // SAFETY: both descriptors are new and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Polls (every 0.5 ms) until `path` holds `want` bytes; returns when it first did.
fn size_reached(path: &Path, want: usize, timeout: Duration) -> Result<Instant> {
    let deadline = Instant::now() + timeout;
    loop {
        let size = std::fs::metadata(path).map(|m| m.len() as usize).unwrap_or(0);
        if size >= want {
            return Ok(Instant::now());
        }
        ensure!(Instant::now() < deadline, "only {size} of {want} bytes arrived within {timeout:?}");
        thread::sleep(Duration::from_micros(500));
    }
}

/// Waits (on a thread, so the moment is exact) for a process to exit; returns its exit
/// status and when it ended. Kills it after `timeout`.
fn exit_time(mut process: Guarded, timeout: Duration) -> Result<(std::process::ExitStatus, Instant)> {
    let pid = process.id();
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let status = process.wait();
        let _ = tx.send(status.map(|s| (s, Instant::now())));
    });
    match rx.recv_timeout(timeout) {
        Ok(r) => r,
        Err(_) => {
            // SAFETY: signals our own child, which the thread has not reaped yet.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            bail!("process {pid} did not exit within {timeout:?}")
        }
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// Waits (up to 30 s) for a listener's socket to appear.
fn wait_for_path(path: &Path) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !path.exists() {
        ensure!(Instant::now() < deadline, "{} did not appear within 30 s", path.display());
        thread::sleep(Duration::from_millis(2));
    }
    // bind() creates the path just before listen().
    thread::sleep(Duration::from_millis(20));
    Ok(())
}

/// A payload file of `len` bytes (pseudo-random, written a MiB at a time).
fn write_payload(path: &Path, len: usize) -> Result<()> {
    let chunk = util::payload(7, 1 << 20);
    let mut file = std::io::BufWriter::new(File::create(path)?);
    let mut left = len;
    while left > 0 {
        let n = left.min(chunk.len());
        file.write_all(&chunk[..n])?;
        left -= n;
    }
    file.flush()?;
    Ok(())
}
