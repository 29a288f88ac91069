//! `cargo xtask bench relay`: hvcat's relay and socat's, side by side, over Unix
//! sockets on this machine: memory per idle relayed connection, then throughput.
//!
//! A backend in this process accepts what the relay forwards. Each client first sends
//! an 8-byte id, so the backend can pair its accepted connections with the clients.
//! Memory is the relay's proportional set size (PSS, from `/proc/PID/smaps_rollup`,
//! summed over socat's forked children), so shared libraries are counted fairly.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::util::{self, Context, Guarded, Result, TempDir};
use crate::{bail, ensure};

/// What to measure.
#[derive(Clone, Copy)]
pub struct Plan {
    /// Idle connections held through the relay at once.
    pub idle: usize,
    /// Idle connections for socat, which forks a process for each.
    pub idle_socat: usize,
    /// Connections that then carry bulk traffic at the same time.
    pub active: usize,
    /// Bytes each active connection carries.
    pub bytes_each: usize,
}

impl Default for Plan {
    fn default() -> Self {
        Plan { idle: 10_000, idle_socat: 1_000, active: 100, bytes_each: 32 << 20 }
    }
}

/// One relay's figures.
struct Figures {
    name: &'static str,
    idle: usize,
    pss_per_conn: f64,
    setup: Duration,
    mb_per_s: f64,
}

/// Runs the benchmark for hvcat (at `hvcat`) and, if installed, socat; prints a table.
pub fn run(hvcat: &Path, plan: &Plan) -> Result<()> {
    let limit = raise_open_file_limit()?;
    // The relay holds two descriptors per connection, and so does this process.
    let most = (limit.saturating_sub(32) / 2) as usize;
    let mut plan = Plan { idle: plan.idle.min(most), idle_socat: plan.idle_socat.min(most), ..*plan };
    if plan.idle < Plan::default().idle {
        println!(
            "the open-file limit here is {limit} (and cannot be raised): {} idle connections at most",
            plan.idle
        );
    }
    plan.active = plan.active.min(plan.idle).min(plan.idle_socat);
    let plan = &plan;
    let mut rows = Vec::new();
    let dir = TempDir::new("hvsock-bench-relay")?;
    let front = dir.path().join("front.sock");
    let back = dir.path().join("back.sock");
    let hvcat_cmd = |front: &Path, back: &Path| {
        let mut cmd = Command::new(hvcat);
        cmd.arg("-l").arg("-k").arg(format!("unix://{}", front.display()));
        cmd.arg("--relay").arg(format!("unix://{}", back.display()));
        cmd
    };
    rows.push(measure("hvcat", hvcat_cmd(&front, &back), &front, &back, plan.idle, plan)?);
    if Command::new("socat").arg("-V").stdout(Stdio::null()).status().is_ok_and(|s| s.success()) {
        let mut socat = Command::new("socat");
        socat.arg(format!("UNIX-LISTEN:{},fork,backlog=1024", front.display()));
        socat.arg(format!("UNIX-CONNECT:{}", back.display()));
        rows.push(measure("socat", socat, &front, &back, plan.idle_socat, plan)?);
    } else {
        println!("socat is not installed: only hvcat is measured");
    }
    print_table(&rows, plan);
    Ok(())
}

fn measure(
    name: &'static str,
    mut cmd: Command,
    front: &Path,
    back: &Path,
    idle: usize,
    plan: &Plan,
) -> Result<Figures> {
    let _ = std::fs::remove_file(front);
    let _ = std::fs::remove_file(back);
    let backend = Backend::start(back)?;
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::inherit());
    let mut relay = Guarded::spawn(name, &mut cmd)?;
    wait_for(front)?;
    let pid = relay.id();
    let before = pss_kib(pid)?;
    println!("{name}: opening {idle} idle connections ...");
    let started = Instant::now();
    let mut clients = Vec::with_capacity(idle);
    for id in 0..idle as u64 {
        let mut conn = UnixStream::connect(front).with_context(|| format!("{name}: connection {id}"))?;
        conn.write_all(&id.to_le_bytes())?;
        clients.push(conn);
    }
    backend.wait_for(idle, Duration::from_secs(120)).with_context(|| format!("{name}: backend"))?;
    let setup = started.elapsed();
    thread::sleep(Duration::from_millis(500));
    let after = pss_kib(pid)?;
    let pss_per_conn = (after - before) as f64 / idle as f64;
    println!("{name}: {idle} connections in {}; PSS {before} KiB -> {after} KiB", util::secs(setup));

    println!("{name}: {} connections carry {} MiB each ...", plan.active, plan.bytes_each >> 20);
    let mb_per_s = bulk(&clients[..plan.active.min(idle)], &backend, plan.bytes_each)?;
    drop(clients);
    relay.kill();
    Ok(Figures { name, idle, pss_per_conn, setup, mb_per_s })
}

/// Sends `bytes_each` through each of `clients` at once and waits until the backend has
/// read all of it; returns the aggregate rate.
fn bulk(clients: &[UnixStream], backend: &Backend, bytes_each: usize) -> Result<f64> {
    let chunk = vec![0x5au8; 256 * 1024];
    let started = Instant::now();
    let outcome = thread::scope(|scope| -> Result<()> {
        let readers: Vec<_> = (0..clients.len() as u64)
            .map(|id| {
                let mut conn = backend.take(id)?;
                Ok(scope.spawn(move || -> Result<usize> {
                    let mut buf = vec![0u8; 256 * 1024];
                    let mut got = 0;
                    while got < bytes_each {
                        let n = conn.read(&mut buf)?;
                        ensure!(n > 0, "connection {id} ended after {got} bytes");
                        got += n;
                    }
                    Ok(got)
                }))
            })
            .collect::<Result<_>>()?;
        for client in clients {
            let chunk = &chunk;
            scope.spawn(move || -> Result<()> {
                let mut left = bytes_each;
                let mut conn = client;
                while left > 0 {
                    let n = left.min(chunk.len());
                    conn.write_all(&chunk[..n])?;
                    left -= n;
                }
                Ok(())
            });
        }
        for reader in readers {
            let got = reader.join().map_err(|_| util::Error::msg("a reader panicked"))??;
            ensure!(got == bytes_each, "read {got} of {bytes_each} bytes");
        }
        Ok(())
    });
    outcome?;
    Ok(util::mb_per_s(clients.len() * bytes_each, started.elapsed()))
}

fn print_table(rows: &[Figures], plan: &Plan) {
    println!();
    println!(
        "relay over Unix sockets: idle connections, then {} x {} MiB at once",
        plan.active,
        plan.bytes_each >> 20
    );
    println!("{:<8} {:>8} {:>16} {:>12} {:>12}", "relay", "idle", "PSS/conn (KiB)", "setup", "MB/s");
    for r in rows {
        println!(
            "{:<8} {:>8} {:>16.2} {:>12} {:>12.0}",
            r.name,
            r.idle,
            r.pss_per_conn,
            util::secs(r.setup),
            r.mb_per_s
        );
    }
    if let [hv, socat] = rows {
        println!(
            "hvcat/socat: memory per connection {:.3}x, throughput {:.2}x",
            hv.pss_per_conn / socat.pss_per_conn,
            hv.mb_per_s / socat.mb_per_s
        );
    }
}

/// Accepts the relay's connections and files them by the id their client sent first.
struct Backend {
    conns: Arc<Mutex<HashMap<u64, UnixStream>>>,
}

impl Backend {
    fn start(path: &Path) -> Result<Backend> {
        let listener = UnixListener::bind(path).with_context(|| format!("bind {}", path.display()))?;
        let conns = Arc::new(Mutex::new(HashMap::new()));
        let shared = Arc::clone(&conns);
        thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { return };
                let mut id = [0u8; 8];
                if conn.read_exact(&mut id).is_ok() {
                    shared.lock().unwrap().insert(u64::from_le_bytes(id), conn);
                }
            }
        });
        Ok(Backend { conns })
    }

    fn wait_for(&self, count: usize, timeout: Duration) -> Result<()> {
        let started = Instant::now();
        loop {
            let have = self.conns.lock().unwrap().len();
            if have >= count {
                return Ok(());
            }
            ensure!(started.elapsed() < timeout, "only {have} of {count} connections arrived");
            thread::sleep(Duration::from_millis(20));
        }
    }

    fn take(&self, id: u64) -> Result<UnixStream> {
        self.conns.lock().unwrap().remove(&id).with_context(|| format!("no backend connection {id}"))
    }
}

/// The proportional set size of `pid` and all its descendants, in KiB.
fn pss_kib(pid: u32) -> Result<u64> {
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .with_context(|| format!("read /proc/{pid}/smaps_rollup"))?;
    let own = rollup
        .lines()
        .find_map(|l| l.strip_prefix("Pss:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .context("no Pss line in smaps_rollup")?;
    let mut total = own;
    for child in children(pid) {
        total += pss_kib(child).unwrap_or(0);
    }
    Ok(total)
}

fn children(pid: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return Vec::new() };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|s| s.split_whitespace().filter_map(|p| p.parse().ok()).collect::<Vec<_>>())
        .collect()
}

fn wait_for(path: &Path) -> Result<()> {
    let started = Instant::now();
    while !path.exists() {
        if started.elapsed() > Duration::from_secs(10) {
            bail!("{} did not appear", path.display());
        }
        thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

/// Lifts the open-file limit (inherited by the relays) as far as allowed: to 65536 where
/// the hard limit may rise (root outside a container), else to the hard limit. Returns
/// the limit in force.
fn raise_open_file_limit() -> Result<u64> {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit and setrlimit read and write one valid rlimit struct.
    unsafe {
        ensure!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0, "getrlimit failed");
        let wanted = libc::rlimit { rlim_cur: 65536, rlim_max: limit.rlim_max.max(65536) };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) == 0 {
            return Ok(65536);
        }
        limit.rlim_cur = limit.rlim_max;
        ensure!(libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0, "setrlimit failed");
    }
    Ok(limit.rlim_cur)
}
