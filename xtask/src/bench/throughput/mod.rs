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

mod framed;
mod hvbench;
mod input;
mod procs;
mod routes;
mod tools;
mod window;

use std::collections::BTreeMap;
use std::io::Read;
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver};
use std::thread;
use std::time::{Duration, Instant};

use crate::ensure;
use crate::lab::harness::guest::parse_kv;
use crate::lab::harness::{hybrid, Ctx};
use crate::lab::Lab;
use crate::util::{self, Context, Result, TempDir};
use procs::{received_by_hvraw, write_payload};
use tools::{Route, Tool, GDIR, MARK, MEASURE_SH, ROUTES, TOOLS};

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
    /// Also compare hvbench framed and plain.
    pub framed: bool,
    /// Only the framed/plain comparison.
    pub framed_only: bool,
    /// Also sweep the vsock credit window.
    pub windows: bool,
    /// Only the window sweep.
    pub windows_only: bool,
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
        Plan {
            mib: 64,
            host_mib: 4096,
            runs: 3,
            hvbench: true,
            framed: true,
            framed_only: false,
            windows: true,
            windows_only: false,
            routes: Vec::new(),
            tools: Vec::new(),
        }
    }
}

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

/// `cargo xtask bench lab`: prepares the lab and boots a guest of its own.
pub fn run(plan: &Plan) -> Result<()> {
    ensure!(plan.runs > 0 && plan.mib > 0 && plan.host_mib > 0, "nothing to measure");
    let lab = Lab::prepare()?;
    let mut ctx = Ctx::new(&lab)?;
    run_in(&mut ctx, plan)
}

/// `bench lab` in a guest that is already up (`cargo xtask bench` goes on to the latency
/// bench in the same guest).
pub fn run_in(ctx: &mut Ctx, plan: &Plan) -> Result<()> {
    ensure!(plan.runs > 0 && plan.mib > 0 && plan.host_mib > 0, "nothing to measure");
    let mut bench = Bench::new(ctx, plan)?;
    if plan.framed_only {
        return bench.framed_vs_plain(plan.runs);
    }
    if plan.windows_only {
        return bench.window_sweep(plan.runs);
    }
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
    let mut reads: BTreeMap<usize, Vec<f64>> = BTreeMap::new();
    for round in 0..plan.runs {
        for route in ROUTES {
            if results.iter().any(|(r, t, _)| *r == route && *t == Tool::Raw) {
                let secs = bench
                    .read_cost(route)
                    .with_context(|| format!("reading the input for {}", route.name()))?;
                reads.entry(route as usize).or_default().push(secs);
            }
        }
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
    let rates = print_table(&results, bench.bytes, bench.host_bytes);
    input::print_input_costs(&rates, &reads, bench.bytes, bench.host_bytes);
    if plan.hvbench {
        bench.hvbench()?;
    }
    if plan.windows {
        bench.window_sweep(plan.runs)?;
    }
    if plan.framed {
        bench.framed_vs_plain(plan.runs)?;
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

/// Prints each route's and tool's median, and the targets; returns the medians by
/// (route, tool).
fn print_table(
    results: &[(Route, Tool, Vec<Sample>)],
    bytes: usize,
    host_bytes: usize,
) -> BTreeMap<(usize, usize), f64> {
    println!();
    println!("{:<24} {:<14} {:>9} {:>19} {:>10}", "route", "tool", "MB/s", "min..max", "B/write");
    let mut rates = BTreeMap::new();
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
    rates
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
}
