//! Framed against plain: `hvbench` and `hvbench --framed` on the same routes, runs
//! interleaved, medians compared (the target of issue #14: framed ≥ 0.9× plain).
//!
//! Routes: through vhost-device-vsock, the backend the protocol is for, both ways —
//! guest → host (a host client receiving from a guest server through the hybrid
//! socket) and host → guest (a guest client receiving from a host server on the
//! device's `<uds>_<port>`); both are `recv`, since plain `send` needs the half-close
//! this device loses. And inside the guest over vsock_loopback (both directions), where
//! nothing needs the protocol but its cost shows most.

use std::collections::BTreeMap;
use std::process::Command;

use super::{median, Bench};
use crate::ensure;
use crate::lab::harness::guest::sq;
use crate::lab::harness::uri::hybrid_uri;
use crate::util::{self, Result};

/// hvbench's arguments for each run.
const ARGS: &str = "--sizes 64K,1M --bytes 64M --latency 0 --json";

/// The routes through the device: the target is measured on these.
const DEVICE_IN: &str = "host -> guest (hybrid)";
const DEVICE_OUT: &str = "guest -> host (hybrid)";

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
        let (plain_host, _plain_server) = self.host_hvbench_server("")?;
        let (framed_host, _framed_server) = self.host_hvbench_server("--framed")?;
        let hvbench = self.ctx.lab.binaries.host("hvbench").map_err(util::Error::msg)?;
        let mut rates = Rates::new();
        println!("\nframed vs plain: hvbench {ARGS}, {runs} runs each, interleaved");
        for round in 1..=runs {
            let routes = [(false, plain_port, plain_host, ""), (true, framed_port, framed_host, " --framed")];
            for (framed, port, host_port, flag) in routes {
                let inside = self.guest_hvbench(&format!("vsock://1:{port} {ARGS}{flag}"))?;
                record(&mut rates, "guest loopback", framed, &inside);
                let into =
                    self.guest_hvbench(&format!("vsock://2:{host_port} {ARGS}{flag} --direction recv"))?;
                record(&mut rates, DEVICE_IN, framed, &into);
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
                record(&mut rates, DEVICE_OUT, framed, &String::from_utf8_lossy(&out.stdout));
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
        "{:<24} {:<5} {:>7} {:>11} {:>12} {:>13} {:>17}",
        "route", "dir", "write", "plain MB/s", "framed MB/s", "framed/plain", "run by run"
    );
    let mut device = (0, 0);
    for ((route, direction, size), (plain, framed)) in rates {
        let (p, f) = (median(plain.clone()), median(framed.clone()));
        let ratio = f / p;
        // Each run's framed figure over the plain one measured just before it: the
        // machine's drift between runs cancels out.
        let pairs: Vec<f64> = plain.iter().zip(framed).map(|(p, f)| f / p).collect();
        let (lo, hi) = pairs.iter().fold((f64::MAX, 0f64), |(lo, hi), &r| (lo.min(r), hi.max(r)));
        let paired = median(pairs.clone());
        let through_device = [DEVICE_IN, DEVICE_OUT].contains(route);
        let verdict = match (through_device, paired >= 0.9) {
            (true, true) => "met",
            (true, false) => "MISSED",
            (false, _) => "(no target)",
        };
        if through_device {
            device = (device.0 + usize::from(paired >= 0.9), device.1 + 1);
        }
        println!(
            "{route:<24} {direction:<5} {:>7} {p:>11.1} {f:>12.1} {ratio:>12.2}x {:>17} {verdict}",
            size_label(*size),
            format!("{lo:.2}..{paired:.2}..{hi:.2}"),
        );
    }
    println!(
        "target (#14): framed >= 0.9x plain through vhost-device-vsock (median of the run-by-run ratios): met on {} of {} rows",
        device.0, device.1
    );
    println!("guest loopback: for comparison only; that backend carries half-close itself");
}

/// A write size as hvbench takes it: `64K`, or the byte count if not whole KiB.
fn size_label(size: u64) -> String {
    if size.is_multiple_of(1024) {
        format!("{}K", size / 1024)
    } else {
        size.to_string()
    }
}
