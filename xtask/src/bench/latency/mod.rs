//! `cargo xtask bench latency`: connect latency, the time from starting a connection
//! until the server's first byte is back (connect + handshake + first byte), of the
//! hvsock library in-process, of `hvcat` started afresh as a netcat is, and of `socat`
//! started the same way, on each route of `bench lab`: inside the guest over
//! vsock_loopback (CID 1), guest -> host and host -> guest through vhost-device-vsock's
//! hybrid socket, and host-only over a Unix socket.
//!
//! On each route one server answers all three clients: `hvbench -s`, which answers a
//! client's `P` with one byte `P` at once and closes.
//! - library: `hvbench URI --latency-only --latency N` times N connections in-process
//!   (connect + handshake + `P` out + `P` back) and reports nearest-rank percentiles;
//! - hvcat and socat: `spawn-latency` (`crates/hvcat/examples/spawn-latency.rs`) starts
//!   `hvcat URI` and `socat - ADDRESS` N times each, taking turns, and times each from
//!   just before the spawn until the answer `P` arrives on the client's standard output
//!   (its standard input, a pipe holding `P`, stays open until then); it also times the
//!   exit, after closing that standard input. The answer must be `P` and the exit 0,
//!   except guest -> host, where an exit with ENOTCONN is taken and counted: the device
//!   often resets the guest's side when the host closes right after answering.
//!
//! Clients run where they would be used, and are timed by the clock of the machine they
//! run on: the samplers run in the guest for the loopback and guest -> host routes
//! (started by the control channel, their numbers read back afterwards), on the host for
//! host -> guest and host-only. socat cannot do the hybrid `CONNECT`/`OK` handshake, so
//! it has no host -> guest figure: a wrapper doing the handshake for it would time the
//! wrapper too, and a socket connected for it would leave the connect out.

mod routes;
pub mod stats;

use crate::lab::harness::Ctx;
use crate::lab::Lab;
use crate::util::{self, Context, Result, TempDir};
use crate::{bail, ensure};
use stats::Row;

/// What to measure.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Connections per client and route.
    pub samples: usize,
    /// Only these routes (by [`ROUTE_KEYS`]); all if empty.
    pub routes: Vec<String>,
    /// Where to write every spawned client's raw samples ([`stats::raw_lines`]), if anywhere.
    pub raw: Option<std::path::PathBuf>,
}

impl Default for Plan {
    fn default() -> Self {
        Plan { samples: 200, routes: Vec::new(), raw: None }
    }
}

/// The routes, by their names on the command line.
pub const ROUTE_KEYS: &[&str] = &["loopback", "guest-to-host", "host-to-guest", "host-unix"];

/// Where the connection goes, and which side the clients run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    Loopback,
    GuestToHost,
    HostToGuest,
    HostUnix,
}

const ROUTES: [Route; 4] = [Route::Loopback, Route::GuestToHost, Route::HostToGuest, Route::HostUnix];

impl Route {
    fn key(self) -> &'static str {
        ROUTE_KEYS[self as usize]
    }

    fn name(self) -> &'static str {
        match self {
            Route::Loopback => "guest loopback (CID 1)",
            Route::GuestToHost => "guest -> host (hybrid)",
            Route::HostToGuest => "host -> guest (hybrid)",
            Route::HostUnix => "host only (Unix socket)",
        }
    }
}

/// Why socat has no host -> guest figure.
const SOCAT_NO_HYBRID: &str = "socat cannot do the hybrid CONNECT/OK handshake; doing it for socat \
would either time a wrapper too or leave the connect out";

/// `cargo xtask bench latency`: prepares the lab and boots a guest of its own.
pub fn run(plan: &Plan) -> Result<()> {
    ensure!(plan.samples > 0, "nothing to measure");
    let lab = Lab::prepare()?;
    let mut ctx = Ctx::new(&lab)?;
    run_in(&mut ctx, plan)
}

/// The latency bench in a guest that is already up (as after `bench lab`).
pub fn run_in(ctx: &mut Ctx, plan: &Plan) -> Result<()> {
    ensure!(plan.samples > 0, "nothing to measure");
    for key in &plan.routes {
        if !ROUTE_KEYS.contains(&key.as_str()) {
            bail!("unknown route {key}: one of {}", ROUTE_KEYS.join(", "));
        }
    }
    let mut bench = routes::Bench::new(ctx, plan.samples, TempDir::new("hvsock-bench-latency")?)?;
    println!(
        "connect latency: connect + handshake + first byte back, {} connections per client and route \
         (spawned clients: 3 more first, not counted)",
        plan.samples
    );
    let (mut rows, mut tails, mut raw) = (Vec::new(), String::new(), String::from(stats::RAW_HEADER));
    for route in ROUTES {
        if !plan.routes.is_empty() && !plan.routes.iter().any(|r| r == route.key()) {
            continue;
        }
        let t = std::time::Instant::now();
        let (row, spawned) =
            bench.measure(route).map_err(|e| util::Error::msg(format!("{}: {e}", route.name())))?;
        eprintln!("  {}: measured in {}", route.name(), util::secs(t.elapsed()));
        for (client, samples) in CLIENTS.iter().zip(&spawned) {
            let first: Vec<f64> = samples.iter().map(|s| s.first_us).collect();
            tails.push_str(&format!("  {:<24} {client:<5} {}\n", route.name(), stats::tail(&first)));
        }
        raw.push_str(&stats::raw_lines(route.key(), CLIENTS, &spawned));
        rows.push(row);
    }
    println!();
    print!("{}", stats::table(&rows));
    println!("spawned clients to the first byte back, p90 / p95 / p99 / max (us):\n{tails}");
    if let Some(path) = &plan.raw {
        std::fs::write(path, raw).with_context(|| format!("writing {}", path.display()))?;
        println!("raw samples: {}", path.display());
    }
    Ok(())
}

/// The spawned clients, in the order `spawn-latency` is given them.
const CLIENTS: &[&str] = &["hvcat", "socat"];

/// A route's row and its spawned clients' samples (by [`CLIENTS`]).
type Measured = (Row, Vec<Vec<stats::Spawned>>);

/// A route's row from what its clients gave; hands their samples back with it.
fn row(route: Route, library: stats::Pct, spawned: Vec<Vec<stats::Spawned>>) -> Result<Measured> {
    let hvcat = stats::Cell::spawned(&spawned[0])?;
    let socat = match spawned.get(1) {
        Some(samples) => stats::Cell::spawned(samples)?,
        None => stats::Cell::NotApplicable(SOCAT_NO_HYBRID),
    };
    let row = Row {
        route: route.name(),
        library: stats::Cell::Done { first: library, exit_p50: None, resets: 0 },
        hvcat,
        socat,
    };
    Ok((row, spawned))
}
