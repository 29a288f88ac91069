//! What reading the input costs on each route: `hvraw read -` (1 MiB `read(2)`s of the
//! payload, nothing sent) on the sender's side, run with the others. A sender that
//! moves a file must at least read it; raw sends a 1 MiB buffer filled once and never
//! reads anything, so raw + this read is the yardstick such a sender is held to.

use std::collections::BTreeMap;
use std::fs::File;
use std::process::Command;

use super::tools::{Route, Tool, GDIR, ROUTES};
use super::{median, Bench};
use crate::ensure;
use crate::util::{Context, Result};

impl<'c, 'l> Bench<'c, 'l> {
    /// Seconds the sending side of `route` takes to read its payload alone.
    pub(super) fn read_cost(&mut self, route: Route) -> Result<f64> {
        let report = match route {
            Route::Loopback | Route::GuestToHost => {
                self.ctx.vm.sh_ok(&format!("hvraw read - < {GDIR}/payload 2>&1"))?
            }
            Route::HostToGuest | Route::HostUnix => {
                let payload = if route == Route::HostUnix { &self.host_payload } else { &self.payload };
                let out =
                    Command::new(&self.hvraw).args(["read", "-"]).stdin(File::open(payload)?).output()?;
                let err = String::from_utf8_lossy(&out.stderr).into_owned();
                ensure!(out.status.success(), "hvraw read failed: {err}");
                err
            }
        };
        hvraw_read_secs(&report)
    }
}

/// The seconds in hvraw's `hvraw: read N bytes in S s (R MB/s)`.
fn hvraw_read_secs(report: &str) -> Result<f64> {
    report
        .lines()
        .find_map(|l| l.strip_prefix("hvraw: read "))
        .and_then(|rest| rest.split(" bytes in ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|secs| secs.parse::<f64>().ok())
        .filter(|secs| *secs > 0.0)
        .with_context(|| format!("hvraw read reported no time: {report:?}"))
}

/// For each route with hvcat, raw and read figures: the read alone, raw plus the read
/// (the least a sender of a file can take), and hvcat against that.
pub(super) fn print_input_costs(
    rates: &BTreeMap<(usize, usize), f64>,
    reads: &BTreeMap<usize, Vec<f64>>,
    bytes: usize,
    host_bytes: usize,
) {
    println!("\nthe input: hvraw read - (1 MiB read(2)s of the payload) on the sending side, median");
    for route in ROUTES {
        let (Some(hv), Some(raw), Some(read)) = (
            rates.get(&(route as usize, Tool::Hvcat as usize)),
            rates.get(&(route as usize, Tool::Raw as usize)),
            reads.get(&(route as usize)),
        ) else {
            continue;
        };
        let mb = if route == Route::HostUnix { host_bytes } else { bytes } as f64 / 1e6;
        let read = median(read.clone());
        let floor = mb / (mb / raw + read);
        println!(
            "{:<24} read alone {:>8.1} MB/s; raw + read {:>8.1} MB/s; hvcat/(raw + read) {:.2}x",
            route.name(),
            mb / read,
            floor,
            hv / floor
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_time_is_taken_from_hvraws_report() {
        let report = "noise\nhvraw: read 2147483648 bytes in 0.703 s (3055.1 MB/s)\n";
        assert_eq!(hvraw_read_secs(report).unwrap(), 0.703);
        assert!(hvraw_read_secs("hvraw: received 10 bytes in 0.1 s (1 MB/s)").is_err());
        assert!(hvraw_read_secs("hvraw: read 0 bytes in 0.000 s (0.0 MB/s)").is_err());
    }
}
