//! `cargo xtask bench relay`: hvcat's relay, socat's and the least a relay can do
//! ([`floor`]), side by side, over Unix sockets on this machine, and the same transfers
//! straight to the backend:
//!
//! 1. memory per idle relayed connection (`--idle`, `--idle-socat` connections held);
//! 2. bulk throughput: `--active` connections carrying `--mib` MiB each at once, through
//!    each relay and directly, each relay's as a ratio to the direct transfer's;
//! 3. scaling: the throughput of 1, 8, 64, 512 (`--scaling`) concurrent connections
//!    moving `--scaling-mib` MiB in all, printed as a table and drawn as an SVG plot
//!    (`--svg`, by default `docs/bench/relay-scaling.svg`).
//!
//! Before the throughput runs the idle connections are closed: at the machine's limit
//! of open files, a relay holding 10,000 idle connections has no descriptor left for a
//! splice pipe, and would copy (which the hvsock tests cover).

mod floor;
mod load;
mod svg;

pub use floor::main as floor_main;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::util::{self, Guarded, Result, TempDir};
use load::{transfer, Backend};

/// What to measure.
#[derive(Clone)]
pub struct Plan {
    /// Idle connections held through the relay at once.
    pub idle: usize,
    /// Idle connections for socat, which forks a process for each.
    pub idle_socat: usize,
    /// Connections that carry bulk traffic at the same time.
    pub active: usize,
    /// Bytes each active connection carries.
    pub bytes_each: usize,
    /// Concurrent connections of each scaling run.
    pub scaling: Vec<usize>,
    /// Bytes each scaling run moves in all, shared among its connections.
    pub scaling_bytes: usize,
    /// Where the scaling plot is written.
    pub svg: PathBuf,
    /// The paths to measure, of [`PATHS`]; all if empty (and only then is the plot
    /// written).
    pub paths: Vec<String>,
}

/// The paths a transfer can take: straight to the backend, through hvcat, through socat,
/// through the least a relay can do ([`floor`]).
pub const PATHS: &[&str] = &["direct", "hvcat", "socat", "floor"];

impl Default for Plan {
    fn default() -> Self {
        Plan {
            idle: 10_000,
            idle_socat: 1_000,
            active: 100,
            bytes_each: 32 << 20,
            scaling: vec![1, 8, 64, 512],
            scaling_bytes: 1 << 30,
            svg: crate::lab::binaries::workspace_root().join("docs/bench/relay-scaling.svg"),
            paths: Vec::new(),
        }
    }
}

/// One path's figures: a relay's, or the direct transfer's.
struct Figures {
    name: &'static str,
    /// Whether the path goes through a relay.
    relayed: bool,
    /// Idle connections held, their PSS each (KiB), and how long opening them took.
    memory: Option<(usize, f64, Duration)>,
    /// The bulk transfer.
    bulk: Bulk,
    /// MB/s at each of the plan's scaling points.
    scaling: Vec<f64>,
}

/// Runs the benchmark for hvcat (at `hvcat`), socat if installed, the floor and the
/// direct path (or those of `plan.paths`); prints the tables and writes the plot.
pub fn run(hvcat: &Path, plan: &Plan) -> Result<()> {
    let limit = load::raise_open_file_limit()?;
    // The relay holds two descriptors per connection, and so does this process.
    let most = (limit.saturating_sub(32) / 2) as usize;
    let mut plan = Plan { idle: plan.idle.min(most), idle_socat: plan.idle_socat.min(most), ..plan.clone() };
    if plan.idle < Plan::default().idle {
        println!(
            "the open-file limit here is {limit} (and cannot be raised): {} idle connections at most",
            plan.idle
        );
    }
    plan.active = plan.active.min(most);
    plan.scaling.retain(|&n| n > 0 && n <= most);
    let plan = &plan;
    let dir = TempDir::new("hvsock-bench-relay")?;
    let (front, back) = (dir.path().join("front.sock"), dir.path().join("back.sock"));
    let wanted = |path: &str| plan.paths.is_empty() || plan.paths.iter().any(|p| p == path);
    let mut rows = Vec::new();
    if wanted("hvcat") {
        let mut hvcat_cmd = Command::new(hvcat);
        hvcat_cmd.arg("-l").arg("-k").arg(format!("unix://{}", front.display()));
        hvcat_cmd.arg("--relay").arg(format!("unix://{}", back.display()));
        rows.push(measure("hvcat", hvcat_cmd, &front, &back, plan.idle, plan)?);
    }
    if wanted("socat") {
        let installed = Command::new("socat").arg("-V").stdout(Stdio::null()).status();
        if installed.is_ok_and(|s| s.success()) {
            let mut socat = Command::new("socat");
            socat.arg(format!("UNIX-LISTEN:{},fork,backlog=1024", front.display()));
            socat.arg(format!("UNIX-CONNECT:{}", back.display()));
            rows.push(measure("socat", socat, &front, &back, plan.idle_socat, plan)?);
        } else {
            println!("socat is not installed: it is left out");
        }
    }
    if wanted("floor") {
        let mut floor = Command::new(std::env::current_exe()?);
        floor.args(["bench", "relay-floor"]).arg(&front).arg(&back);
        rows.push(measure("floor", floor, &front, &back, 0, plan)?);
    }
    if wanted("direct") {
        rows.insert(0, direct(&back, plan)?);
    }
    print_tables(&rows, plan);
    if !plan.paths.is_empty() {
        return Ok(());
    }
    let series: Vec<svg::Series<'_>> = rows
        .iter()
        .map(|r| svg::Series {
            name: r.name,
            points: plan.scaling.iter().copied().zip(r.scaling.iter().copied()).collect(),
        })
        .collect();
    let title =
        format!("relay over Unix sockets: {} MiB by concurrent connections", plan.scaling_bytes >> 20);
    if let Some(parent) = plan.svg.parent() {
        std::fs::create_dir_all(parent)?;
    }
    std::fs::write(&plan.svg, svg::plot(&title, &series))?;
    println!("wrote {}", plan.svg.display());
    Ok(())
}

/// A relay's figures: memory with `idle` connections held, then the bulk and scaling
/// transfers through it.
fn measure(
    name: &'static str,
    mut cmd: Command,
    front: &Path,
    back: &Path,
    idle: usize,
    plan: &Plan,
) -> Result<Figures> {
    let _ = std::fs::remove_file(front);
    let backend = Backend::start(back)?;
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::inherit());
    let mut relay = Guarded::spawn(name, &mut cmd)?;
    load::wait_for(front)?;
    let pid = relay.id();
    let memory = if idle > 0 { Some(memory(name, pid, front, &backend, idle)?) } else { None };
    let (bulk, scaling) = throughput(name, front, &backend, plan, Some(pid))?;
    relay.kill();
    Ok(Figures { name, relayed: true, memory, bulk, scaling })
}

/// The PSS per connection of the relay `pid` while `idle` connections are held through
/// it (and how long opening them took); then closes them.
fn memory(
    name: &str,
    pid: u32,
    front: &Path,
    backend: &Backend,
    idle: usize,
) -> Result<(usize, f64, Duration)> {
    let before = load::pss_kib(pid)?;
    println!("{name}: opening {idle} idle connections ...");
    let started = Instant::now();
    let clients = backend.open(front, idle)?;
    let setup = started.elapsed();
    thread::sleep(Duration::from_millis(500));
    let after = load::pss_kib(pid)?;
    let pss_per_conn = after.saturating_sub(before) as f64 / idle as f64;
    println!("{name}: {idle} connections in {}; PSS {before} KiB -> {after} KiB", util::secs(setup));
    drop(clients);
    backend.close_all();
    settle(pid); // the relay closes its ends, which the throughput runs must not count
    Ok((idle, pss_per_conn, setup))
}

/// Waits (at most 30 s) until `pid` and its children use no more CPU time for 300 ms.
fn settle(pid: u32) {
    let started = Instant::now();
    let mut last = load::cpu(pid);
    while started.elapsed() < Duration::from_secs(30) {
        thread::sleep(Duration::from_millis(300));
        let now = load::cpu(pid);
        if now == last {
            return;
        }
        last = now;
    }
}

/// The same transfers straight to the backend.
fn direct(back: &Path, plan: &Plan) -> Result<Figures> {
    let backend = Backend::start(back)?;
    let (bulk, scaling) = throughput("direct", back, &backend, plan, None)?;
    Ok(Figures { name: "direct", relayed: false, memory: None, bulk, scaling })
}

/// A bulk transfer's rate and what it cost.
struct Bulk {
    /// MB/s.
    rate: f64,
    /// The relay's CPU time (user and system) per GB, in seconds.
    relay_cpu_per_gb: Option<f64>,
    /// The whole machine's CPU time per GB (clients, relay, backend, kernel), in seconds.
    machine_cpu_per_gb: f64,
    /// The share of the machine's CPU time that was busy meanwhile.
    busy: f64,
}

/// The bulk transfer (its rate, the CPU time per GB of `relay`, the process that
/// relays, and of the whole machine), then MB/s at each scaling point, to `target`.
fn throughput(
    name: &str,
    target: &Path,
    backend: &Backend,
    plan: &Plan,
    relay: Option<u32>,
) -> Result<(Bulk, Vec<f64>)> {
    println!("{name}: {} connections carry {} MiB each ...", plan.active, plan.bytes_each >> 20);
    let cpu_before = relay.map(load::cpu);
    let (rate, (busy, idle)) = transfer(target, backend, plan.active, plan.bytes_each)?;
    thread::sleep(Duration::from_millis(300)); // socat's children finish and are reaped
    let gb = (plan.active * plan.bytes_each) as f64 / 1e9;
    let relay_cpu_per_gb =
        relay.zip(cpu_before).map(|(pid, before)| (load::cpu(pid) - before).as_secs_f64() / gb);
    let (busy, idle) = (busy.as_secs_f64(), idle.as_secs_f64());
    let bulk =
        Bulk { rate, relay_cpu_per_gb, machine_cpu_per_gb: busy / gb, busy: busy / (busy + idle).max(1e-9) };
    let mut scaling = Vec::new();
    for &n in &plan.scaling {
        let each = (plan.scaling_bytes / n).max(64 * 1024);
        println!("{name}: {n} connections carry {} KiB each ...", each >> 10);
        scaling.push(transfer(target, backend, n, each)?.0);
    }
    Ok((bulk, scaling))
}

fn print_tables(rows: &[Figures], plan: &Plan) {
    println!("\nrelay over Unix sockets: memory per idle relayed connection");
    println!("{:<8} {:>8} {:>16} {:>12}", "relay", "idle", "PSS/conn (KiB)", "setup");
    let relays: Vec<_> = rows.iter().filter_map(|r| r.memory.map(|m| (r.name, m))).collect();
    for (name, (idle, pss, setup)) in &relays {
        println!("{name:<8} {idle:>8} {pss:>16.2} {:>12}", util::secs(*setup));
    }
    if let [(_, hv), (_, socat)] = relays[..] {
        println!("hvcat/socat: memory per connection {:.3}x", hv.1 / socat.1);
    }
    let direct = rows.iter().find(|r| !r.relayed);
    println!("\nbulk: {} connections carrying {} MiB each at once", plan.active, plan.bytes_each >> 20);
    println!(
        "{:<8} {:>10} {:>10} {:>16} {:>18} {:>10}",
        "path", "MB/s", "x direct", "relay CPU s/GB", "machine CPU s/GB", "CPU busy"
    );
    for r in rows {
        let b = &r.bulk;
        let ratio = direct.map_or(f64::NAN, |d| b.rate / d.bulk.rate);
        let cpu = b.relay_cpu_per_gb.map_or("-".to_string(), |c| format!("{c:.3}"));
        println!(
            "{:<8} {:>10.0} {:>10.2} {cpu:>16} {:>18.3} {:>9.0}%",
            r.name,
            b.rate,
            ratio,
            b.machine_cpu_per_gb,
            b.busy * 100.0
        );
    }
    if let Some(d) = direct {
        for r in rows.iter().filter(|r| r.relayed) {
            println!(
                "{}: the machine spends {:.2}x the CPU time per GB of the direct transfer",
                r.name,
                r.bulk.machine_cpu_per_gb / d.bulk.machine_cpu_per_gb
            );
        }
    }
    println!("\nscaling: MB/s by concurrent connections, {} MiB in all each", plan.scaling_bytes >> 20);
    let mut head = format!("{:>6}", "conns");
    for r in rows {
        head += &format!(" {:>9}", r.name);
    }
    for r in rows.iter().filter(|r| r.relayed) {
        head += &format!(" {:>14}", format!("{}/direct", r.name));
    }
    println!("{head}");
    for (i, n) in plan.scaling.iter().enumerate() {
        let mut line = format!("{n:>6}");
        for r in rows {
            line += &format!(" {:>9.0}", r.scaling[i]);
        }
        for r in rows.iter().filter(|r| r.relayed) {
            line += &format!(" {:>14.2}", direct.map_or(f64::NAN, |d| r.scaling[i] / d.scaling[i]));
        }
        println!("{line}");
    }
}
