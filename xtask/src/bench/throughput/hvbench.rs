//! `hvbench` inside the guest and from the host, its JSON and SVG into docs/bench/.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::tools::GDIR;
use super::Bench;
use crate::ensure;
use crate::lab::harness::guest::sq;
use crate::lab::harness::uri::{hybrid_listener, hybrid_uri};
use crate::util::{self, Result};

impl<'c, 'l> Bench<'c, 'l> {
    /// hvbench inside the guest (both directions) and from the host (guest -> host
    /// only: its `send` test half-closes and waits for an answer, which this device
    /// cannot carry); JSON and SVG into docs/bench/.
    pub(super) fn hvbench(&mut self) -> Result<()> {
        let docs = crate::lab::binaries::workspace_root().join("docs/bench");
        std::fs::create_dir_all(&docs)?;
        let port = self.ctx.port();
        self.ctx.vm.sh_ok(&format!("bg hvbench 3600 {}", sq(&format!("hvbench -v -s vsock://:{port}"))))?;
        self.ctx.vm.sh_ok("wait_text hvbench 'serving benchmarks on' 30")?;
        let args = "--bytes 32M --latency 500";
        println!("\nhvbench {args}, guest over vsock_loopback:");
        let t = Instant::now();
        let out = self.ctx.vm.sh_timeout(
            &format!("hvbench vsock://1:{port} {args} --json --svg {GDIR}/hvbench.svg > {GDIR}/hvbench.json 2> {GDIR}/hvbench.err; rc=$?; cat {GDIR}/hvbench.err; exit $rc"),
            Duration::from_secs(1800),
        )?;
        ensure!(out.status == 0, "guest hvbench failed: {}", out.output);
        let json = self.ctx.vm.sh_ok(&format!("cat {GDIR}/hvbench.json"))?;
        let svg = self.ctx.vm.sh_ok(&format!("cat {GDIR}/hvbench.svg"))?;
        std::fs::write(docs.join("hvbench-guest-loopback.json"), &json)?;
        std::fs::write(docs.join("hvbench-guest-loopback.svg"), &svg)?;
        println!("{}(in {})", json, util::secs(t.elapsed()));

        let hvbench = self.ctx.lab.binaries.host("hvbench").map_err(util::Error::msg)?;
        let uri = hybrid_uri(self.ctx, port);
        let send = Command::new(&hvbench)
            .args([uri.as_str(), "--direction", "send", "--sizes", "64K", "--bytes", "1M", "--latency", "0"])
            .output()?;
        println!(
            "host hvbench --direction send (expected to fail: the device turns its half-close into a close): exit {}, {}",
            send.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&send.stderr).trim()
        );
        println!("\nhvbench {args} --direction recv, host through the hybrid socket (guest -> host):");
        let t = Instant::now();
        let svg = docs.join("hvbench-guest-to-host.svg");
        let out = Command::new(&hvbench)
            .arg(&uri)
            .args(args.split_whitespace())
            .args(["--direction", "recv", "--json", "--svg"])
            .arg(&svg)
            .output()?;
        ensure!(out.status.success(), "host hvbench failed: {}", String::from_utf8_lossy(&out.stderr));
        std::fs::write(docs.join("hvbench-guest-to-host.json"), &out.stdout)?;
        println!("{}(in {})", String::from_utf8_lossy(&out.stdout), util::secs(t.elapsed()));
        println!("written: {}/hvbench-{{guest-loopback,guest-to-host}}.{{json,svg}}", docs.display());
        Ok(())
    }
}

/// The samples of one hvbench `--json` report: (direction, write size, MB/s) each.
pub(super) fn samples(json: &str) -> Vec<(String, u64, f64)> {
    let mut out = Vec::new();
    for sample in json.split("{\"direction\":\"").skip(1) {
        let direction = sample.split('"').next().unwrap_or("").to_string();
        let field = |name: &str| -> Option<f64> {
            let at = sample.find(&format!("\"{name}\":"))? + name.len() + 3;
            sample[at..].split([',', '}']).next()?.parse().ok()
        };
        if let (Some(size), Some(rate)) = (field("write_size"), field("mb_per_s")) {
            out.push((direction, size as u64, rate));
        }
    }
    out
}

impl<'c, 'l> Bench<'c, 'l> {
    /// hvbench in the guest with `args`; its JSON report.
    pub(super) fn guest_hvbench(&mut self, args: &str) -> Result<String> {
        let out = self.ctx.vm.sh_timeout(
            &format!("hvbench {args} 2>/tmp/hvbw.err || {{ cat /tmp/hvbw.err; exit 1; }}"),
            Duration::from_secs(1800),
        )?;
        ensure!(out.status == 0, "guest hvbench {args} failed: {}", out.output);
        Ok(out.output)
    }

    /// A host `hvbench -s` (with `flags`) on the device's `<uds>_<port>`, where the
    /// guest's connections to the host's port arrive; its port, and the server.
    pub(super) fn host_hvbench_server(&mut self, flags: &str) -> Result<(u32, HostServer)> {
        let hvbench = self.ctx.lab.binaries.host("hvbench").map_err(util::Error::msg)?;
        let port = self.ctx.port();
        let (listen_uri, path) = hybrid_listener(self.ctx, port);
        let server = HostServer(
            Command::new(&hvbench)
                .args(["-s", listen_uri.as_str()])
                .args(flags.split_whitespace())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()?,
        );
        crate::lab::harness::wait::wait_for_path(&path)?;
        Ok((port, server))
    }
}

/// A host hvbench server, killed when dropped.
pub(super) struct HostServer(Child);

impl Drop for HostServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
