//! Peers killed, stopped or paused in the middle of a transfer, and how the
//! hvcat on the other side ended (the `faults/` scenarios; issue #7).
//!
//! Kill-to-exit times are upper bounds: the clock starts before the kill is
//! asked for. Guest times come from `/proc/uptime` (10 ms steps); a kill on
//! the host is placed on the guest's clock by reading that clock just before.

use std::path::Path;
use std::time::{Duration, Instant};

use super::guest;
use super::uri::hybrid_uri;
use super::wait::wait_for_size;
use super::{Ctx, HostProc, HostStdin};
use crate::lab::vm::Vm;
use crate::util::{Context, Result};
use crate::{bail, ensure};

/// How soon after its peer is killed hvcat must have exited.
pub const KILL_LIMIT: f64 = 1.0;
/// Bytes that must have arrived before the kill, so that it is mid-transfer.
pub const UNDER_WAY: usize = 1 << 20;
/// What a receiver is told to expect of a sender of /dev/zero (`--expect-bytes`):
/// more than it can get before the kill.
pub const EXPECTED: &str = "1G";
/// The guest's clock, in seconds.
pub const UPTIME: &str = "cut -d' ' -f1 /proc/uptime";

/// How an hvcat ended after its peer was killed.
#[derive(Debug)]
pub struct AfterKill {
    pub code: i32,
    pub stderr: String,
    /// Seconds from (before) the kill to its exit.
    pub secs: f64,
}

impl AfterKill {
    /// Exit 1 within [`KILL_LIMIT`], with one line on stderr naming `address`
    /// and saying why (EPIPE or reset).
    pub fn ensure_failed(&self, what: &str, address: &str) -> Result<()> {
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
    pub fn ensure_closed(&self, what: &str, address: &str) -> Result<()> {
        let line = format!("hvcat: {address}: the peer has closed; not waiting for standard input");
        ensure!(
            self.code == 0 && self.stderr.lines().any(|l| l == line),
            "{what}: expected exit 0 and {line:?} on stderr; got {self:?}"
        );
        self.ensure_soon(what)
    }

    /// Exit 1 within [`KILL_LIMIT`], the last line on stderr saying that the
    /// peer at `address` closed short of the `--expect-bytes` it was given.
    pub fn ensure_cut_short(&self, what: &str, address: &str) -> Result<()> {
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
    pub fn ensure_idled_out(&self, what: &str, address: &str, limit: f64, slack: f64) -> Result<()> {
        let line = format!(
            "hvcat: {address}: nothing moved either way for {limit} s; closed the connection (--idle-timeout)"
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

pub fn last_line(text: &str) -> &str {
    text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("")
}

pub fn parse_f64(text: &str, what: &str) -> Result<f64> {
    text.trim().parse().with_context(|| format!("{what}: not a number: {text:?}"))
}

/// A guest job running `hvcat` that records its own exit status and end
/// time in DIR/rc and DIR/t; what it receives goes to DIR/got (the first
/// [`UNDER_WAY`] bytes) and then to /dev/null.
pub fn measured(dir: &str, hvcat: &str) -> String {
    format!(
        "{{ {hvcat}; echo $? > {dir}/rc; {UPTIME} > {dir}/t; }} | {{ head -c {UNDER_WAY} > {dir}/got; cat > /dev/null; }}"
    )
}

/// A guest job that receives into DIR/got (then /dev/null), as [`measured`]
/// but without recording anything.
pub fn receiving(dir: &str, hvcat: &str) -> String {
    format!("{hvcat} | {{ head -c {UNDER_WAY} > {dir}/got; cat > /dev/null; }}")
}

/// Waits until guest file DIR/got is full: the transfer is under way.
pub fn guest_under_way(vm: &mut Vm, dir: &str) -> Result<()> {
    vm.sh_ok(&format!("wait_size {dir}/got {UNDER_WAY} 30")).map(drop).context("the transfer never got going")
}

/// Waits until host file `path` has [`UNDER_WAY`] bytes.
pub fn host_under_way(path: &Path) -> Result<()> {
    wait_for_size(path, UNDER_WAY as u64).context("the transfer never got going")
}

/// Kills guest job `name` (its process group); returns the guest's clock just before.
pub fn kill_guest_job(vm: &mut Vm, name: &str) -> Result<f64> {
    signal_guest_job(vm, name, "KILL")
}

/// Sends `signal` to guest job `name` (its process group); returns the guest's
/// clock just before.
pub fn signal_guest_job(vm: &mut Vm, name: &str, signal: &str) -> Result<f64> {
    let out = vm.sh_ok(&format!("t=$({UPTIME}); kill -{signal} -$(cat $B/{name}.pid) && echo $t"))?;
    parse_f64(&out, "guest clock")
}

/// The guest's clock and the host instants just before and after reading it.
pub fn guest_clock(vm: &mut Vm) -> Result<(f64, Instant, Instant)> {
    let before = Instant::now();
    let out = vm.sh_ok(UPTIME)?;
    Ok((parse_f64(&out, "guest clock")?, before, Instant::now()))
}

/// How a guest hvcat took its peer's death.
#[derive(Debug)]
pub enum Outcome {
    /// It exited.
    Ended(AfterKill),
    /// It was still running 3 s after the kill (and has been killed since): what the
    /// guest kernel said each hvcat thread was waiting in (`/proc/PID/task/*/stack`).
    Stuck(String),
}

impl Outcome {
    /// Whether some hvcat thread was blocked sending on vsock and another receiving:
    /// the guest kernel still held the connection open, so no reset or shutdown had
    /// reached it — the device never told the guest.
    pub fn never_told(&self) -> bool {
        matches!(self, Outcome::Stuck(stacks)
            if stacks.contains("vsock_connectible_sendmsg") && stacks.contains("vsock_connectible_recvmsg"))
    }
}

/// How the [`measured`] job `name` in `dir` ended, `killed_at` (guest clock)
/// being when its peer was killed; fails if it runs 3 s after that.
pub fn guest_after_kill(vm: &mut Vm, name: &str, dir: &str, killed_at: f64) -> Result<AfterKill> {
    match guest_outcome(vm, name, dir, killed_at)? {
        Outcome::Ended(after) => Ok(after),
        Outcome::Stuck(stacks) => {
            bail!(
                "guest hvcat still running 3 s after its peer was killed (killed now); waiting in:\n{stacks}"
            )
        }
    }
}

/// As [`guest_after_kill`], but a job still running 3 s after the kill is an
/// [`Outcome::Stuck`] with its kernel stacks, not an error.
pub fn guest_outcome(vm: &mut Vm, name: &str, dir: &str, killed_at: f64) -> Result<Outcome> {
    let out = vm.sh(&format!("wait_for '[ -s {dir}/t ]' 2 && cat {dir}/rc {dir}/t && cat $B/{name}.err"))?;
    if out.status != 0 {
        let stacks = vm.sh(STACKS).map(|o| o.output).unwrap_or_else(|e| format!("(no stacks: {e})"));
        let _ = guest::kill(vm, name);
        return Ok(Outcome::Stuck(stacks));
    }
    let mut lines = out.output.splitn(3, '\n');
    let code = parse_f64(lines.next().unwrap_or(""), "exit status")? as i32;
    let ended = parse_f64(lines.next().unwrap_or(""), "end time")?;
    let stderr = lines.next().unwrap_or("").to_string();
    Ok(Outcome::Ended(AfterKill { code, stderr, secs: ended - killed_at }))
}

/// Prints the command line and each thread's kernel stack of every hvcat in the guest.
const STACKS: &str = "for p in $(pidof hvcat); do tr '\\0' ' ' < /proc/$p/cmdline; echo; \
     for t in /proc/$p/task/*; do echo \"  ${t##*/}:\"; sed 's/^/    /' $t/stack; done; done";

/// How host process `proc` ended, counting from `from`; kills it and fails
/// if it runs 3 s after that.
pub fn host_after_kill(mut proc: HostProc, from: Instant) -> Result<AfterKill> {
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

/// Starts guest job `name`, `hvcat -v -l vsock://:PORT < /dev/zero`, and waits
/// until it listens.
pub fn start_zero_sender(vm: &mut Vm, name: &str, port: u32) -> Result<()> {
    guest::start(vm, name, &format!("hvcat -v -l vsock://:{port} < /dev/zero"))?;
    guest::wait_ready(vm, name, "listening on")
}

/// A guest sender of /dev/zero (job `NAME`, see [`start_zero_sender`]) and a
/// host `hvcat OPTIONS URI` receiving it through the hybrid socket, its stdin
/// open and silent, the transfer under way; the job name, the URI, the host
/// process.
pub fn host_receives_zero(ctx: &mut Ctx, name: &str, options: &[&str]) -> Result<(String, String, HostProc)> {
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
pub struct ZeroOverLoopback {
    pub dir: String,
    pub sender: String,
    pub receiver: String,
    pub address: String,
}

impl ZeroOverLoopback {
    /// Job names and the directory start with `prefix`.
    pub fn start(ctx: &mut Ctx, prefix: &str, options: &str) -> Result<Self> {
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

/// Sends SIGCONT to a process stopped with SIGSTOP when dropped.
pub struct Paused(libc::pid_t);

impl Paused {
    pub fn new(pid: u32) -> Result<Self> {
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
