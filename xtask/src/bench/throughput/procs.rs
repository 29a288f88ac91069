//! Host processes and files for `bench lab`: spawning, exit times, pipes,
//! payload files, sizes.

use std::fs::File;
use std::io::Write;
use std::os::fd::{FromRawFd, OwnedFd};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::lab::harness::wait::file_size;
use crate::util::{self, Context, Guarded, Result};
use crate::{bail, ensure};

/// `received N bytes` from hvraw's last line.
pub(super) fn received_by_hvraw(err: &str) -> Result<u64> {
    err.lines()
        .find_map(|l| l.strip_prefix("hvraw: received "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .with_context(|| format!("hvraw reported no byte count: {err:?}"))
}

pub(super) fn spawn(cmd: &mut Command, stdin: Stdio, stdout: Stdio, stderr: &Path) -> Result<Guarded> {
    cmd.stdin(stdin).stdout(stdout).stderr(File::create(stderr)?);
    let g = Guarded::spawn("sender", cmd)?;
    Ok(g)
}

/// A pipe (read end, write end), close-on-exec.
pub(super) fn pipe() -> Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 writes two descriptors into the array.
    ensure!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } == 0, "pipe2 failed");
    // SAFETY: both descriptors are new and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Polls (every 0.5 ms) until `path` holds `want` bytes; returns when it first did.
pub(super) fn size_reached(path: &Path, want: usize, timeout: Duration) -> Result<Instant> {
    let mut size = 0;
    let reached = util::poll(timeout, Duration::from_micros(500), || {
        size = file_size(path) as usize;
        Ok(size >= want)
    })?;
    reached.with_context(|| format!("only {size} of {want} bytes arrived within {timeout:?}"))
}

/// Waits (on a thread, so the moment is exact) for a process to exit; returns its exit
/// status and when it ended. Kills it after `timeout`.
pub(super) fn exit_time(
    mut process: Guarded,
    timeout: Duration,
) -> Result<(std::process::ExitStatus, Instant)> {
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

pub(super) fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

/// A payload file of `len` bytes (pseudo-random, written a MiB at a time).
pub(super) fn write_payload(path: &Path, len: usize) -> Result<()> {
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
