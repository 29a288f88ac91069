//! Host processes started by scenarios, and how a host or guest process ended.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::Ctx;
use crate::ensure;
use crate::util::{self, Context, Guarded, Result};

/// Where a host process's stdin comes from.
pub enum HostStdin<'a> {
    Null,
    File(&'a Path),
    /// The file's bytes through a pipe that stays open (no EOF) until
    /// [`HostProc::release_stdin`] or until the process is finished.
    /// Needed because vhost-device-vsock turns a host-side EOF
    /// (`shutdown(SHUT_WR)`) into a full close.
    Held(&'a Path),
}

/// A host process started by a scenario; killed if not finished.
pub struct HostProc {
    guard: Guarded,
    stderr: PathBuf,
    started: Instant,
    release: Option<mpsc::Sender<()>>,
}

/// How a host or guest process ended.
#[derive(Debug)]
pub struct Exit {
    pub code: i32,
    pub stderr: String,
    pub elapsed: Duration,
}

impl HostProc {
    /// Starts `program args` with the given stdin and stdout to `stdout`;
    /// stderr is kept for messages.
    pub fn spawn(
        ctx: &Ctx,
        name: &str,
        program: &Path,
        args: &[String],
        stdin: HostStdin,
        stdout: &Path,
    ) -> Result<Self> {
        let stderr = ctx.host_path(&format!("{name}.err"));
        let mut cmd = Command::new(program);
        cmd.args(args)
            .stdin(match stdin {
                HostStdin::Null => Stdio::null(),
                HostStdin::File(p) => Stdio::from(std::fs::File::open(p)?),
                HostStdin::Held(_) => Stdio::piped(),
            })
            .stdout(std::fs::File::create(stdout)?)
            .stderr(std::fs::File::create(&stderr)?);
        let mut guard = Guarded::spawn(name, &mut cmd)?;
        let mut release = None;
        if let HostStdin::Held(input) = stdin {
            let mut pipe = guard.take_stdin().context("no stdin pipe")?;
            let mut file = std::fs::File::open(input)?;
            let (tx, rx) = mpsc::channel::<()>();
            release = Some(tx);
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut file, &mut pipe);
                // Until released (or every sender is gone); then EOF.
                let _ = rx.recv();
            });
        }
        Ok(HostProc { guard, stderr, started: Instant::now(), release })
    }

    /// When the process was started.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// Kills the process now (SIGKILL) and reaps it.
    pub fn kill(&mut self) {
        self.guard.kill();
    }

    /// A handle that ends a held stdin when sent to (or dropped).
    pub fn stdin_release(&self) -> Option<mpsc::Sender<()>> {
        self.release.clone()
    }

    /// Ends a held stdin now.
    pub fn release_stdin(&mut self) {
        if let Some(tx) = self.release.take() {
            let _ = tx.send(());
        }
    }

    /// Returns the exit code if the process has ended.
    pub fn try_wait(&mut self) -> Result<Option<i32>> {
        Ok(self.guard.try_wait()?.map(|s| s.code().unwrap_or(-1)))
    }

    /// Waits for the process (killing it after `timeout`).
    pub fn finish(mut self, timeout: Duration) -> Result<Exit> {
        let status = self.guard.wait_timeout(timeout);
        self.release_stdin();
        let stderr = std::fs::read_to_string(&self.stderr).unwrap_or_default();
        let status = status.map_err(|e| util::Error::msg(format!("{e}; its stderr:\n{stderr}")))?;
        Ok(Exit { code: status.code().unwrap_or(-1), stderr, elapsed: self.started.elapsed() })
    }
}

/// Fails unless the process exited 0.
pub fn ensure_ok(who: &str, exit: &Exit) -> Result<()> {
    ensure!(exit.code == 0, "{who} exited {} (expected 0); stderr:\n{}", exit.code, exit.stderr.trim_end());
    Ok(())
}

/// The summary line of an `hvstress -c` run: (connections, mismatches, errors).
pub fn hvstress_summary(output: &str) -> Option<(u64, u64, u64)> {
    // Not the progress lines (`hvstress: 15/100 0 mismatches, 0 errors (7 s)`).
    let line = output.lines().find(|l| l.starts_with("hvstress: ") && l.contains(" connections to "))?;
    let number_before = |word: &str| -> Option<u64> {
        let at = line.find(word)?;
        line[..at].split_whitespace().last()?.parse().ok()
    };
    Some((number_before(" connections")?, number_before(" mismatches")?, number_before(" errors")?))
}
