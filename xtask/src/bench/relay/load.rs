//! The load of `cargo xtask bench relay`: a backend in this process, idle connections,
//! bulk transfers, and the relay's memory.
//!
//! Each client first sends an 8-byte id, so the backend can pair its accepted
//! connections with the clients. Memory is the relay's proportional set size (PSS, from
//! `/proc/PID/smaps_rollup`, summed over socat's forked children), so shared libraries
//! are counted fairly.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use crate::util::{self, Context, Result};
use crate::{bail, ensure};

/// Accepts the connections that reach it (through a relay or directly) and files them
/// by the id their client sent first.
pub struct Backend {
    conns: Arc<Mutex<HashMap<u64, UnixStream>>>,
    next_id: AtomicU64,
}

impl Backend {
    pub fn start(path: &Path) -> Result<Backend> {
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path).with_context(|| format!("bind {}", path.display()))?;
        let conns = Arc::new(Mutex::new(HashMap::new()));
        let shared = Arc::clone(&conns);
        // Accepting never waits for an id to arrive: a backend whose backlog fills holds
        // the relay's connects pending, each with its descriptors, and a relay at its
        // limit of open files then fails some.
        let (accepted, to_read) = std::sync::mpsc::channel::<UnixStream>();
        thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { return };
                if accepted.send(conn).is_err() {
                    return;
                }
            }
        });
        thread::spawn(move || {
            for mut conn in to_read {
                let mut id = [0u8; 8];
                if conn.read_exact(&mut id).is_ok() {
                    shared.lock().unwrap().insert(u64::from_le_bytes(id), conn);
                }
            }
        });
        Ok(Backend { conns, next_id: AtomicU64::new(0) })
    }

    /// Opens `count` connections to `target` (the relay, or this backend itself), each
    /// announced by a fresh id, and waits until the backend has them all.
    pub fn open(&self, target: &Path, count: usize) -> Result<Vec<(u64, UnixStream)>> {
        let mut clients = Vec::with_capacity(count);
        for _ in 0..count {
            let id = self.next_id.fetch_add(1, Ordering::Relaxed);
            let mut conn = UnixStream::connect(target)
                .with_context(|| format!("connection {id} to {}", target.display()))?;
            conn.write_all(&id.to_le_bytes())?;
            clients.push((id, conn));
        }
        let started = Instant::now();
        loop {
            let have = {
                let conns = self.conns.lock().unwrap();
                clients.iter().filter(|(id, _)| conns.contains_key(id)).count()
            };
            if have == count {
                return Ok(clients);
            }
            ensure!(
                started.elapsed() < Duration::from_secs(120),
                "only {have} of {count} connections arrived"
            );
            thread::sleep(Duration::from_millis(5));
        }
    }

    /// Closes the backend's ends of every connection.
    pub fn close_all(&self) {
        self.conns.lock().unwrap().clear();
    }

    fn take(&self, id: u64) -> Result<UnixStream> {
        self.conns.lock().unwrap().remove(&id).with_context(|| format!("no backend connection {id}"))
    }
}

/// Opens `count` connections to `target`, sends `bytes_each` through each at once and
/// waits until the backend has read all of it; returns the aggregate rate in MB/s
/// (connecting not included) and the machine's busy and idle CPU time meanwhile
/// ([`machine_cpu`]). The connections are closed at the end.
pub fn transfer(
    target: &Path,
    backend: &Backend,
    count: usize,
    bytes_each: usize,
) -> Result<(f64, (Duration, Duration))> {
    let clients = backend.open(target, count)?;
    let chunk = vec![0x5au8; 256 * 1024];
    let cpu_before = machine_cpu();
    let started = Instant::now();
    thread::scope(|scope| -> Result<()> {
        let readers: Vec<_> = clients
            .iter()
            .map(|(id, _)| {
                let (id, mut conn) = (*id, backend.take(*id)?);
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
        for (_, client) in &clients {
            let chunk = &chunk;
            scope.spawn(move || -> Result<()> {
                let (mut left, mut conn) = (bytes_each, client);
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
    })?;
    let elapsed = started.elapsed();
    let cpu_after = machine_cpu();
    Ok((
        util::mb_per_s(count * bytes_each, elapsed),
        (cpu_after.0.saturating_sub(cpu_before.0), cpu_after.1.saturating_sub(cpu_before.1)),
    ))
}

/// The proportional set size of `pid` and all its descendants, in KiB.
pub fn pss_kib(pid: u32) -> Result<u64> {
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

/// CPU time (user and system) of `pid`, its children that it has waited for, and its
/// live descendants, from `/proc/PID/stat`.
pub fn cpu(pid: u32) -> Duration {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return Duration::ZERO };
    // The fields after the command's name (which may hold spaces) in parentheses:
    // utime, stime, cutime and cstime are the 14th to 17th of the line.
    let fields: Vec<&str> = stat.rsplit_once(')').map_or("", |(_, rest)| rest).split_whitespace().collect();
    let ticks: u64 = fields.get(11..15).map_or(0, |f| f.iter().filter_map(|v| v.parse::<u64>().ok()).sum());
    let own = clock_ticks(ticks);
    children(pid).into_iter().map(cpu).fold(own, |sum, c| sum + c)
}

/// The whole machine's CPU time since boot, from the first line of `/proc/stat`: busy
/// (user, nice, system, irq, softirq, steal) and idle (idle, iowait), over all CPUs.
pub fn machine_cpu() -> (Duration, Duration) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: Vec<u64> = stat
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("cpu "))
        .map_or(Vec::new(), |l| l.split_whitespace().filter_map(|v| v.parse().ok()).collect());
    let at = |i: usize| ticks.get(i).copied().unwrap_or(0);
    (clock_ticks(at(0) + at(1) + at(2) + at(5) + at(6) + at(7)), clock_ticks(at(3) + at(4)))
}

/// `ticks` of the clock `/proc` counts CPU time in (`sysconf(_SC_CLK_TCK)`) as a duration.
fn clock_ticks(ticks: u64) -> Duration {
    // SAFETY: sysconf only reads a configuration value.
    let per_sec = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Duration::from_secs_f64(ticks as f64 / per_sec)
}

fn children(pid: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return Vec::new() };
    tasks
        .flatten()
        .filter_map(|t| std::fs::read_to_string(t.path().join("children")).ok())
        .flat_map(|s| s.split_whitespace().filter_map(|p| p.parse().ok()).collect::<Vec<_>>())
        .collect()
}

pub fn wait_for(path: &Path) -> Result<()> {
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
pub fn raise_open_file_limit() -> Result<u64> {
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
