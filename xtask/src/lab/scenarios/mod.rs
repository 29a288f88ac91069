//! The lab's scenarios, their runner, and the helpers they share.
//!
//! One guest is booted per run and every scenario uses it through the
//! control channel; if a scenario leaves the guest dead, the next one boots
//! a fresh guest. Each scenario asserts real outcomes (exit codes, SHA-256 of
//! what was sent and received, messages) and returns an error otherwise.

mod cross;
pub mod demo;
mod faults;
mod guest;
mod hyperkit;
mod loopback;
mod peers;
mod plumbing;
mod relay;
mod server;
mod stress;
mod transfer;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::vm::Vm;
use super::Lab;
use crate::util::{self, Context, Guarded, Result, TempDir};
use crate::{bail, ensure};

/// A named end-to-end check.
#[derive(Clone, Copy)]
pub struct Scenario {
    /// `group/name`; `cargo xtask lab run group` runs a whole group.
    pub name: &'static str,
    pub run: fn(&mut Ctx) -> Result<()>,
}

/// Every scenario, in run order.
pub fn all() -> Vec<Scenario> {
    [
        plumbing::SCENARIOS,
        loopback::SCENARIOS,
        cross::SCENARIOS,
        hyperkit::SCENARIOS,
        peers::SCENARIOS,
        faults::SCENARIOS,
        relay::SCENARIOS,
        server::SCENARIOS,
        stress::SCENARIOS,
    ]
    .concat()
}

/// What a scenario works with.
pub struct Ctx<'a> {
    pub lab: &'a Lab,
    pub vm: Vm,
    /// Host-side files of this run (payloads, outputs, hyperkit dirs).
    host: TempDir,
    next_port: u32,
}

impl<'a> Ctx<'a> {
    /// Boots a guest for scenarios.
    pub fn new(lab: &'a Lab) -> Result<Self> {
        Ok(Ctx { lab, vm: lab.boot()?, host: TempDir::new("hvsock-lab-host")?, next_port: 5000 })
    }

    /// A vsock port no other scenario of this run uses.
    pub fn port(&mut self) -> u32 {
        self.next_port += 1;
        self.next_port
    }

    /// A path in the host-side scratch dir.
    pub fn host_path(&self, name: &str) -> PathBuf {
        self.host.path().join(name)
    }

    /// The host hvcat, or the reason it could not be built.
    pub fn host_hvcat(&self) -> Result<PathBuf> {
        match &self.lab.binaries.host_hvcat {
            Ok(p) => Ok(p.clone()),
            Err(_) => bail!("no host hvcat (its build failed; see the warning before the first scenario)"),
        }
    }

    /// Fails unless the guest image has hvcat.
    pub fn need_guest_hvcat(&self) -> Result<()> {
        match &self.lab.binaries.guest_hvcat {
            Ok(_) => Ok(()),
            Err(_) => bail!("no guest hvcat (its build failed; see the warning before the first scenario)"),
        }
    }

    /// Writes a deterministic payload to a host file; returns (path, sha256).
    pub fn host_payload(&self, name: &str, seed: u64, len: usize) -> Result<(PathBuf, String)> {
        let data = util::payload(seed, len);
        let path = self.host_path(name);
        std::fs::write(&path, &data)?;
        Ok((path, util::sha256_hex(&data)))
    }
}

/// Quotes `s` as one shell word.
pub fn sq(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Parses `key=value` lines (other lines are ignored).
pub fn parse_kv(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// Looks up `key` in parsed guest output, failing with the whole output.
pub fn kv<'m>(map: &'m BTreeMap<String, String>, key: &str) -> Result<&'m str> {
    map.get(key)
        .map(String::as_str)
        .with_context(|| format!("guest did not report {key}; it reported {map:?}"))
}

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

/// `cargo xtask lab run [--list] [NAME...]`.
pub fn run_command(args: &[String]) -> Result<()> {
    let scenarios = all();
    if args.iter().any(|a| a == "--list") {
        for s in &scenarios {
            println!("{}", s.name);
        }
        return Ok(());
    }
    let selected = select(&scenarios, args)?;
    let lab = Lab::prepare()?;
    let (passed, failed) = run_scenarios(&lab, &selected)?;
    println!("{passed} passed, {failed} failed");
    ensure!(failed == 0, "lab: {failed} scenario(s) failed");
    Ok(())
}

/// The scenarios named (exactly, or by group prefix) in `names`; all if none.
fn select<'s>(scenarios: &'s [Scenario], names: &[String]) -> Result<Vec<&'s Scenario>> {
    if names.is_empty() {
        return Ok(scenarios.iter().collect());
    }
    let mut out = Vec::new();
    for name in names {
        let before = out.len();
        for s in scenarios {
            let matches = s.name == name || s.name.starts_with(&format!("{name}/"));
            if matches && !out.iter().any(|o: &&Scenario| o.name == s.name) {
                out.push(s);
            }
        }
        if out.len() == before {
            bail!("no scenario matches {name:?}; see `cargo xtask lab run --list`");
        }
    }
    Ok(out)
}

/// Runs scenarios on one guest (rebooting if one kills it); prints a PASS or
/// FAIL line each. Returns (passed, failed).
fn run_scenarios(lab: &Lab, selected: &[&Scenario]) -> Result<(usize, usize)> {
    let mut ctx = Ctx { lab, vm: lab.boot()?, host: TempDir::new("hvsock-lab-host")?, next_port: 5000 };
    let (mut passed, mut failed) = (0, 0);
    for s in selected {
        if !ctx.vm.is_running() || ctx.vm.sh("true").is_err() {
            eprintln!("lab: the guest is gone; booting a new one\n{}", ctx.vm.diagnostics());
            ctx.vm = lab.boot()?;
        }
        let t = Instant::now();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (s.run)(&mut ctx)))
            .unwrap_or_else(|_| Err(util::Error::msg("scenario panicked")));
        let took = util::secs(t.elapsed());
        match result {
            Ok(()) => {
                passed += 1;
                println!("PASS {} ({took})", s.name);
            }
            Err(e) => {
                failed += 1;
                println!("FAIL {} ({took}): {e}", s.name);
                println!("{}", ctx.vm.diagnostics());
            }
        }
    }
    Ok((passed, failed))
}
