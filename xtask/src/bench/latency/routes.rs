//! Each route of `bench latency`: its server, and its three clients run where they
//! would be used (guest or host).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::stats::{self, Pct, Spawned};
use super::{row, Measured, Route};
use crate::ensure;
use crate::lab::harness::guest::sq;
use crate::lab::harness::uri::{hybrid_listener, hybrid_uri};
use crate::lab::harness::wait::wait_for_path;
use crate::lab::harness::Ctx;
use crate::util::{self, Context, Guarded, Result, TempDir};

/// Where guest files live.
const GDIR: &str = "/tmp/latency";

pub(super) struct Bench<'c, 'l> {
    ctx: &'c mut Ctx<'l>,
    samples: usize,
    dir: TempDir,
    hvcat: PathBuf,
    hvbench: PathBuf,
    sampler: PathBuf,
    socat: PathBuf,
}

impl<'c, 'l> Bench<'c, 'l> {
    pub(super) fn new(ctx: &'c mut Ctx<'l>, samples: usize, dir: TempDir) -> Result<Self> {
        let hvcat = ctx.host_hvcat()?;
        let host = |name: &str| ctx.lab.binaries.host(name).map_err(util::Error::msg);
        let (hvbench, sampler) = (host("hvbench")?, host("spawn-latency")?);
        ctx.need_guest_hvcat()?;
        let socat = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
            .map(|dir| dir.join("socat"))
            .find(|p| p.is_file())
            .context("no socat on this host's PATH")?;
        ctx.vm.sh_ok(&format!("mkdir -p {GDIR}"))?;
        Ok(Bench { ctx, samples, dir, hvcat, hvbench, sampler, socat })
    }

    pub(super) fn measure(&mut self, route: Route) -> Result<Measured> {
        let port = self.ctx.port();
        match route {
            Route::Loopback => {
                let job = self.guest_server(port)?;
                let uri = format!("vsock://1:{port}");
                let library = self.guest_library(&uri)?;
                let spawned = self.guest_spawned(&uri, &format!("VSOCK-CONNECT:1:{port}"), false)?;
                self.ctx.vm.sh_ok(&format!("bg_kill {job}"))?;
                row(route, library, spawned)
            }
            Route::GuestToHost => {
                let (uri, path) = hybrid_listener(self.ctx, port);
                let mut server = self.host_server(&uri, &path)?;
                let uri = format!("vsock://2:{port}");
                let library = self.guest_library(&uri)?;
                // The server closes at once: the device often resets the guest's side.
                let spawned = self.guest_spawned(&uri, &format!("VSOCK-CONNECT:2:{port}"), true)?;
                ensure!(server.try_wait()?.is_none(), "the host server ended early");
                row(route, library, spawned)
            }
            Route::HostToGuest => {
                let job = self.guest_server(port)?;
                let uri = hybrid_uri(self.ctx, port);
                let library = self.host_library(&uri)?;
                let spawned = self.host_spawned(&[vec![self.hvcat.display().to_string(), uri]])?;
                self.ctx.vm.sh_ok(&format!("bg_kill {job}"))?;
                row(route, library, spawned)
            }
            Route::HostUnix => {
                let path = self.dir.path().join(format!("server{port}.sock"));
                let uri = format!("unix://{}", path.display());
                let mut server = self.host_server(&uri, &path)?;
                let library = self.host_library(&uri)?;
                let hvcat = vec![self.hvcat.display().to_string(), uri];
                let socat = vec![
                    self.socat.display().to_string(),
                    "-".into(),
                    format!("UNIX-CONNECT:{}", path.display()),
                ];
                let spawned = self.host_spawned(&[hvcat, socat])?;
                ensure!(server.try_wait()?.is_none(), "the host server ended early");
                row(route, library, spawned)
            }
        }
    }

    /// How long one client's samples may take: a minute, plus a second per sample.
    fn limit(&self) -> Duration {
        Duration::from_secs(60 + self.samples as u64)
    }

    /// `hvbench -s` on guest port `port`, once it listens; returns its job name.
    fn guest_server(&mut self, port: u32) -> Result<String> {
        let job = format!("latency{port}");
        let cmd = format!("hvbench -v -s vsock://:{port}");
        self.ctx.vm.sh_ok(&format!("bg {job} 3600 {}", sq(&cmd)))?;
        self.ctx.vm.sh_ok(&format!("wait_text {job} 'serving benchmarks on' 30"))?;
        Ok(job)
    }

    /// `hvbench -s` on the host, listening on `uri` (whose socket file is `path`).
    fn host_server(&self, uri: &str, path: &Path) -> Result<Guarded> {
        let err = File::create(self.dir.path().join("server.err"))?;
        let server = Guarded::spawn(
            "hvbench server",
            Command::new(&self.hvbench)
                .args(["-v", "-s", uri])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(err),
        )?;
        wait_for_path(path)?;
        Ok(server)
    }

    /// Runs `script` in the guest; fails unless it exits 0; returns its output.
    fn guest(&mut self, script: &str) -> Result<String> {
        let out = self.ctx.vm.sh_timeout(script, self.limit())?;
        ensure!(out.status == 0, "in the guest, exit {}: {}", out.status, out.output.trim_end());
        Ok(out.output)
    }

    /// The library in the guest: `hvbench URI --latency-only`.
    fn guest_library(&mut self, uri: &str) -> Result<Pct> {
        let n = self.samples;
        let json = self.guest(&format!(
            "hvbench {uri} --latency-only --latency {n} --json > {GDIR}/lib.json 2> {GDIR}/lib.err \
             || {{ cat {GDIR}/lib.err; exit 1; }}; cat {GDIR}/lib.json"
        ))?;
        stats::parse_hvbench(&json)
    }

    /// hvcat and socat in the guest, through `spawn-latency` (`--reset-ok` if `reset_ok`).
    fn guest_spawned(&mut self, uri: &str, socat_address: &str, reset_ok: bool) -> Result<Vec<Vec<Spawned>>> {
        let n = self.samples;
        let flag = if reset_ok { "--reset-ok " } else { "" };
        let out = self.guest(&format!(
            "H=$(command -v hvcat) S=$(command -v socat) || exit 1
spawn-latency {flag}{n} $H {uri} -- $S - {socat_address} > {GDIR}/spawn.out 2> {GDIR}/spawn.err \
             || {{ cat {GDIR}/spawn.err; exit 1; }}; cat {GDIR}/spawn.out"
        ))?;
        stats::parse_spawned(&out, 2, n)
    }

    /// The library on the host: `hvbench URI --latency-only`.
    fn host_library(&self, uri: &str) -> Result<Pct> {
        let n = self.samples.to_string();
        let mut cmd = Command::new(&self.hvbench);
        cmd.args([uri, "--latency-only", "--latency", &n, "--json"]);
        stats::parse_hvbench(&self.host("hvbench", &mut cmd)?)
    }

    /// `commands` on the host, through `spawn-latency`.
    fn host_spawned(&self, commands: &[Vec<String>]) -> Result<Vec<Vec<Spawned>>> {
        let mut cmd = Command::new(&self.sampler);
        cmd.arg(self.samples.to_string()).args(commands.join(&"--".to_string()));
        stats::parse_spawned(&self.host("spawn-latency", &mut cmd)?, commands.len(), self.samples)
    }

    /// Runs a host command to its end (within [`Self::limit`]); returns its output.
    fn host(&self, name: &str, cmd: &mut Command) -> Result<String> {
        let (out, err) =
            (self.dir.path().join(format!("{name}.out")), self.dir.path().join(format!("{name}.err")));
        cmd.stdin(Stdio::null()).stdout(File::create(&out)?).stderr(File::create(&err)?);
        let status = Guarded::spawn(name, cmd)?.wait_timeout(self.limit())?;
        let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
        ensure!(status.success(), "{name} exited {status}: {}", read(&err).trim_end());
        Ok(read(&out))
    }
}
