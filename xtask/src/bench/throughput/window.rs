//! The vsock credit window swept: hvbench with `--vsock-buffer` from 64 KiB to 4 MiB on
//! every lab route where a guest end receives or sends over vsock, runs interleaved,
//! medians (issue #18: the window that should be hvcat's default).
//!
//! Routes: inside the guest over vsock_loopback (both directions, the window set on
//! both ends); guest -> host through the hybrid socket (the guest sends; its window
//! only matters for what comes back); host -> guest (the guest receives: a guest
//! client asks a host hvbench server, listening on the device's `<uds>_<port>`, to
//! send).

use std::collections::BTreeMap;
use std::process::Command;

use super::{median, Bench};
use crate::ensure;
use crate::lab::harness::guest::sq;
use crate::lab::harness::uri::hybrid_uri;
use crate::util::{self, Result};

/// The windows tried, in KiB.
const WINDOWS_KIB: &[u64] = &[64, 128, 256, 512, 1024, 2048, 4096];

/// hvbench's arguments for each run.
const ARGS: &str = "--sizes 1M --bytes 32M --latency 0 --json";

/// (route, direction, window KiB) → MB/s of each run.
type Rates = BTreeMap<(&'static str, String, u64), Vec<f64>>;

impl<'c, 'l> Bench<'c, 'l> {
    /// Runs the sweep `runs` times and prints the table and each route's best window.
    pub(super) fn window_sweep(&mut self, runs: usize) -> Result<()> {
        let hvbench = self.ctx.lab.binaries.host("hvbench").map_err(util::Error::msg)?;
        let mut ports = Vec::new();
        for &kib in WINDOWS_KIB {
            let port = self.ctx.port();
            let server = format!("hvbench -v --vsock-buffer {kib}K -s vsock://:{port}");
            self.ctx.vm.sh_ok(&format!("bg hvbw{kib} 3600 {}", sq(&server)))?;
            self.ctx.vm.sh_ok(&format!("wait_text hvbw{kib} 'serving benchmarks on' 30"))?;
            ports.push(port);
        }
        // One host server for the host -> guest route; the guest's window is the client's.
        let (host_port, host_server) = self.host_hvbench_server("")?;
        let mut rates = Rates::new();
        println!("\nvsock window sweep: hvbench {ARGS} --vsock-buffer SIZE, {runs} runs each, interleaved");
        for round in 1..=runs {
            for (&kib, &port) in WINDOWS_KIB.iter().zip(&ports) {
                let window = format!("--vsock-buffer {kib}K");
                let inside = self.guest_hvbench(&format!("vsock://1:{port} {ARGS} {window}"))?;
                record(&mut rates, "guest loopback", kib, &inside);
                let into =
                    self.guest_hvbench(&format!("vsock://2:{host_port} {ARGS} {window} --direction recv"))?;
                record(&mut rates, "host -> guest (hybrid)", kib, &into);
                let out = Command::new(&hvbench)
                    .arg(hybrid_uri(self.ctx, port))
                    .args(ARGS.split_whitespace())
                    .args(["--direction", "recv"])
                    .output()?;
                ensure!(
                    out.status.success(),
                    "host hvbench failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                record(&mut rates, "guest -> host (hybrid)", kib, &String::from_utf8_lossy(&out.stdout));
            }
            eprintln!("  window sweep: run {round} of {runs} done");
        }
        drop(host_server);
        print_rates(&rates);
        Ok(())
    }
}

fn record(rates: &mut Rates, route: &'static str, kib: u64, json: &str) {
    for (direction, _, rate) in super::hvbench::samples(json) {
        rates.entry((route, direction, kib)).or_default().push(rate);
    }
}

fn print_rates(rates: &Rates) {
    println!("\n{:<24} {:<5} {:>8} {:>9}", "route", "dir", "window", "MB/s");
    let mut best: BTreeMap<(&str, &str), (u64, f64)> = BTreeMap::new();
    for ((route, direction, kib), runs) in rates {
        let rate = median(runs.clone());
        println!("{route:<24} {direction:<5} {:>7}K {rate:>9.1}", kib);
        let entry = best.entry((route, direction)).or_insert((*kib, rate));
        if rate > entry.1 {
            *entry = (*kib, rate);
        }
    }
    for ((route, direction), (kib, rate)) in best {
        let default = rates.get(&(route, direction.to_string(), 256)).map_or(0.0, |r| median(r.clone()));
        println!(
            "best: {route} {direction}: {kib}K, {rate:.1} MB/s ({:.2}x the 256K default)",
            rate / default
        );
    }
}
