//! Framed against plain: `hvbench` and `hvbench --framed` on the same routes, runs
//! interleaved, medians compared (the target of issue #14: framed ≥ 0.9× plain).
//!
//! Routes: inside the guest over vsock_loopback (both directions), and guest → host
//! through the device's hybrid socket (`recv`: plain `send` from the host needs the
//! half-close this device loses).

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use super::{median, Bench};
use crate::ensure;
use crate::lab::harness::guest::sq;
use crate::lab::harness::uri::hybrid_uri;
use crate::util::{self, Result};

/// hvbench's arguments for each run.
const ARGS: &str = "--sizes 64K,1M --bytes 32M --latency 0 --json";

/// (route, direction, write size) → MB/s of each run, plain and framed.
type Rates = BTreeMap<(&'static str, String, u64), (Vec<f64>, Vec<f64>)>;

impl<'c, 'l> Bench<'c, 'l> {
    /// Runs the comparison `runs` times and prints the table.
    pub(super) fn framed_vs_plain(&mut self, runs: usize) -> Result<()> {
        let (plain_port, framed_port) = (self.ctx.port(), self.ctx.port());
        for (job, port, flag) in [("hvbp", plain_port, ""), ("hvbf", framed_port, " --framed")] {
            let server = format!("hvbench -v -s vsock://:{port}{flag}");
            self.ctx.vm.sh_ok(&format!("bg {job} 3600 {}", sq(&server)))?;
            self.ctx.vm.sh_ok(&format!("wait_text {job} 'serving benchmarks on' 30"))?;
        }
        let hvbench = self.ctx.lab.binaries.host("hvbench").map_err(util::Error::msg)?;
        let mut rates = Rates::new();
        println!("\nframed vs plain: hvbench {ARGS}, {runs} runs each, interleaved");
        for round in 1..=runs {
            for (framed, port, flag) in [(false, plain_port, ""), (true, framed_port, " --framed")] {
                let out = self.ctx.vm.sh_timeout(
                    &format!("hvbench vsock://1:{port} {ARGS}{flag} 2>/tmp/hvbf.err || {{ cat /tmp/hvbf.err; exit 1; }}"),
                    Duration::from_secs(1800),
                )?;
                ensure!(out.status == 0, "guest hvbench{flag} failed: {}", out.output);
                record(&mut rates, "guest loopback", framed, &out.output);
                let uri = hybrid_uri(self.ctx, port);
                let mut host = Command::new(&hvbench);
                host.arg(&uri).args(ARGS.split_whitespace()).args(["--direction", "recv"]);
                if framed {
                    host.arg("--framed");
                }
                let out = host.output()?;
                ensure!(
                    out.status.success(),
                    "host hvbench{flag} failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                record(&mut rates, "guest -> host (hybrid)", framed, &String::from_utf8_lossy(&out.stdout));
            }
            eprintln!("  framed vs plain: run {round} of {runs} done");
        }
        print_rates(&rates);
        Ok(())
    }
}

/// Adds the samples of one hvbench `--json` report.
fn record(rates: &mut Rates, route: &'static str, framed: bool, json: &str) {
    for (direction, size, rate) in super::hvbench::samples(json) {
        let entry = rates.entry((route, direction, size)).or_default();
        if framed { &mut entry.1 } else { &mut entry.0 }.push(rate);
    }
}

fn print_rates(rates: &Rates) {
    println!();
    println!(
        "{:<24} {:<5} {:>6} {:>11} {:>12} {:>14}",
        "route", "dir", "write", "plain MB/s", "framed MB/s", "framed/plain"
    );
    for ((route, direction, size), (plain, framed)) in rates {
        let (p, f) = (median(plain.clone()), median(framed.clone()));
        let ratio = f / p;
        println!(
            "{route:<24} {direction:<5} {:>6} {p:>11.1} {f:>12.1} {ratio:>9.2}x {}",
            format!("{}K", size / 1024),
            if ratio >= 0.9 { "met" } else { "MISSED" }
        );
    }
    println!("target: framed >= 0.9x plain (median of the runs)");
}
