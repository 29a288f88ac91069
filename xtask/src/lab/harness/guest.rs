//! Guest-side helpers for scenarios: the vsock programs in the image,
//! background jobs (see `guest/functions.sh`), shell quoting and the
//! parsing of what guest scripts print.

use std::collections::BTreeMap;
use std::time::Duration;

use super::{Ctx, Exit};
use crate::lab::vm::Vm;
use crate::util::{Context, Result};
use crate::{bail, ensure};

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

/// How long a guest job may run before the guest kills it.
pub const JOB_SECS: u64 = 120;

/// A vsock program in the guest image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tool {
    Hvcat,
    /// Debian's socat; `-t 30` so it waits for the other direction after an EOF.
    Socat,
    /// Debian's ncat (nmap).
    Ncat,
}

impl Tool {
    pub fn name(self) -> &'static str {
        match self {
            Tool::Hvcat => "hvcat",
            Tool::Socat => "socat",
            Tool::Ncat => "ncat",
        }
    }

    /// A command that accepts one connection on vsock `port`, sends its stdin
    /// and writes what it receives to stdout.
    pub fn listen(self, port: u32) -> String {
        match self {
            Tool::Hvcat => format!("hvcat -v -l vsock://:{port}"),
            Tool::Socat => format!("socat -d -d -t 30 VSOCK-LISTEN:{port} STDIO"),
            Tool::Ncat => format!("ncat -v --vsock -l {port}"),
        }
    }

    /// A regex the listener's stderr matches once it listens.
    pub fn ready(self) -> &'static str {
        match self {
            Tool::Hvcat => "listening on",
            Tool::Socat => "listening on",
            Tool::Ncat => "Listening on",
        }
    }

    /// A command that connects to `cid:port` and copies like [`Tool::listen`].
    pub fn connect(self, cid: u32, port: u32) -> String {
        match self {
            Tool::Hvcat => format!("hvcat -v vsock://{cid}:{port}"),
            Tool::Socat => format!("socat -t 30 STDIO VSOCK-CONNECT:{cid}:{port}"),
            Tool::Ncat => format!("ncat --vsock {cid} {port}"),
        }
    }

    /// Fails unless this tool is in the image.
    pub fn available(self, ctx: &Ctx) -> Result<()> {
        match self {
            Tool::Hvcat => ctx.need_guest_hvcat(),
            _ => Ok(()),
        }
    }
}

/// Starts `cmd` as background job `name` (killed after [`JOB_SECS`]).
pub fn start(vm: &mut Vm, name: &str, cmd: &str) -> Result<()> {
    vm.sh_ok(&format!("bg {name} {JOB_SECS} {}", sq(cmd))).map(drop)
}

/// Waits until job `name`'s stderr matches `regex` (e.g. a listener is up).
pub fn wait_ready(vm: &mut Vm, name: &str, regex: &str) -> Result<()> {
    vm.sh_ok(&format!("wait_text {name} {} 30", sq(regex)))
        .map(drop)
        .with_context(|| format!("guest job {name} never became ready"))
}

/// Waits for job `name` to end; returns its exit status, stderr and run time.
pub fn wait(vm: &mut Vm, name: &str, secs: u64) -> Result<Exit> {
    let out = vm.sh_timeout(&format!("bg_wait {name} {secs}"), Duration::from_secs(secs + 10))?;
    ensure!(out.status == 0, "guest job {name}: {}", out.output.trim_end());
    exit_from(&out.output)
}

/// Parses a status line `CODE T0 T1` (T0, T1 from `/proc/uptime`) followed by stderr.
fn exit_from(output: &str) -> Result<Exit> {
    let (first, stderr) = output.split_once('\n').unwrap_or((output, ""));
    let fields: Vec<f64> = first
        .split_whitespace()
        .map(|f| f.parse::<f64>())
        .collect::<Result<_, _>>()
        .with_context(|| format!("bad job status line {first:?}"))?;
    let [code, t0, t1] = fields[..] else { bail!("bad job status line {first:?}") };
    Ok(Exit {
        code: code as i32,
        stderr: stderr.to_string(),
        elapsed: Duration::from_secs_f64((t1 - t0).max(0.0)),
    })
}

/// Runs `cmd` (stdin and stdout /dev/null) in the foreground of a guest script,
/// timed with `/proc/uptime` read right before and after it (10 ms steps;
/// starting and ending the process count too).
pub fn timed(vm: &mut Vm, cmd: &str) -> Result<Exit> {
    let out = vm.sh(&format!(
        "s=$(cut -d' ' -f1 /proc/uptime); {cmd} </dev/null >/dev/null 2>/tmp/timed.err; r=$?
         e=$(cut -d' ' -f1 /proc/uptime); echo \"$r $s $e\"; cat /tmp/timed.err"
    ))?;
    ensure!(out.status == 0, "timing {cmd:?} in the guest: {}", out.output.trim_end());
    exit_from(&out.output)
}

/// Checks that guest `hvcat -w SECS ADDRESS` gives up after SECS, within 10%,
/// with exit 1 and exactly `hvcat: connect ADDRESS: timed out`. The time is
/// counted from that of an hvcat refused at once (`vsock://1:FREE_PORT`,
/// nothing listening), which includes the same start-up and exit (~40 ms
/// under TCG). Returns the (measured, counted) seconds.
pub fn ensure_connect_timeout(vm: &mut Vm, address: &str, secs: f64, free_port: u32) -> Result<(f64, f64)> {
    let base = timed(vm, &format!("hvcat vsock://1:{free_port}"))?;
    ensure!(base.code == 1, "hvcat to vsock://1:{free_port} (nothing listens) should fail at once: {base:?}");
    let exit = timed(vm, &format!("hvcat -w {secs} {address}"))?;
    let want = format!("hvcat: connect {address}: timed out\n");
    ensure!(
        exit.code == 1 && exit.stderr == want,
        "hvcat -w {secs} {address}: expected exit 1 and {want:?}; got exit {} and {:?}",
        exit.code,
        exit.stderr
    );
    let measured = exit.elapsed.as_secs_f64();
    let counted = measured - base.elapsed.as_secs_f64();
    ensure!(
        (..=secs / 10.0).contains(&(counted - secs).abs()),
        "hvcat -w {secs} {address} gave up after {counted:.3} s (measured {measured:.2} s, minus {:.2} s for an hvcat that fails at once); expected {secs} s +-10%",
        base.elapsed.as_secs_f64()
    );
    Ok((measured, counted))
}

/// Kills job `name` and everything it started.
pub fn kill(vm: &mut Vm, name: &str) -> Result<()> {
    vm.sh_ok(&format!("bg_kill {name}")).map(drop)
}

/// Size and SHA-256 of guest files, keyed by the names given.
pub struct Digests(BTreeMap<String, String>);

impl Digests {
    /// Hashes each guest file in `files` (name, path).
    pub fn of(vm: &mut Vm, files: &[(&str, &str)]) -> Result<Self> {
        let mut script = String::new();
        for (name, path) in files {
            script.push_str(&format!("echo {name}.sha=$(sha {path}); echo {name}.size=$(size {path})\n"));
        }
        Ok(Digests(parse_kv(&vm.sh_ok(&script)?)))
    }

    pub fn sha(&self, name: &str) -> Result<&str> {
        kv(&self.0, &format!("{name}.sha"))
    }

    pub fn size(&self, name: &str) -> Result<usize> {
        kv(&self.0, &format!("{name}.size"))?.parse().with_context(|| format!("size of {name}"))
    }
}

/// Creates guest file `path` with `len` random bytes.
pub fn random_file(vm: &mut Vm, path: &str, len: usize) -> Result<()> {
    vm.sh_ok(&format!("mkdir -p $(dirname {path}) && head -c {len} /dev/urandom > {path}")).map(drop)
}
