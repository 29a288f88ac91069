//! One run of each route: a sender and a receiver of one tool, timed end to end.

use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::procs::{exit_time, pipe, read, received_by_hvraw, size_reached, spawn};
use super::tools::{Tool, GDIR, MARK};
use super::{Bench, Sample};
use crate::lab::harness::guest::sq;
use crate::lab::harness::hybrid;
use crate::lab::harness::uri::{hybrid_listener, hybrid_uri};
use crate::lab::harness::wait::wait_for_path;
use crate::util::{Context, Guarded, Result};
use crate::{bail, ensure};

impl<'c, 'l> Bench<'c, 'l> {
    pub(super) fn loopback(&mut self, tool: Tool) -> Result<Sample> {
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

    pub(super) fn host_to_guest(&mut self, tool: Tool) -> Result<Sample> {
        let port = self.ctx.port();
        let d = format!("{GDIR}/h{port}");
        let job = format!("h{port}");
        let cmd = format!("MARK={MARK} sh {GDIR}/measure.sh {d}.r {}", tool.guest_receiver(port));
        self.ctx.vm.sh_ok(&format!("bg {job} 600 {}", sq(&cmd)))?;
        self.ctx.vm.sh_ok(&format!(
            "wait_for \"grep -qi 'listening on' {d}.r.err\" 30 || {{ cat {d}.r.err; exit 1; }}"
        ))?;
        let uds = self.ctx.vm.uds_path();
        let uri = hybrid_uri(self.ctx, port);
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

    pub(super) fn guest_to_host(&mut self, tool: Tool) -> Result<Sample> {
        let port = self.ctx.port();
        let (uri, path) = hybrid_listener(self.ctx, port);
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

    pub(super) fn host_unix(&mut self, tool: Tool) -> Result<Sample> {
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
}
