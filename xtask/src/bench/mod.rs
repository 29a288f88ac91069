//! `cargo xtask bench ...`: benchmarks that print figures.

pub mod latency;
pub mod relay;
pub mod throughput;

use crate::lab::binaries;
use crate::lab::harness::Ctx;
use crate::lab::Lab;
use crate::util::{self, Context, Result};

const USAGE: &str = "\
usage: cargo xtask bench [lab|latency|relay] [OPTIONS]
       (no command: lab, then latency in the same guest, then relay)
  lab     [--mib N] [--host-mib N] [--runs N] [--route NAME].. [--tool NAME].. [--no-hvbench]
          [--no-framed | --framed-only] [--no-windows | --windows-only]
          hvcat vs socat vs raw through the lab guest, hvbench framed vs plain,
          the vsock window (--vsock-buffer) swept from 64K to 4M
  latency [--samples N] [--route loopback|guest-to-host|host-to-guest|host-unix].. [--raw FILE]
          connect + handshake + first byte back, p50 and p99: the library (hvbench),
          hvcat and socat started afresh for each connection (default 200 each), and
          the spawned clients' p90/p95/p99/max; --raw: every spawned sample to FILE
          (tab-separated: route client seq first_us exit_us reset, in the order taken)
  relay   [--idle N] [--idle-socat N] [--active N] [--mib N]
          [--scaling N,N,..] [--scaling-mib N] [--svg PATH] [--hvcat PATH]
          [--path direct|hvcat|socat|floor]...
          hvcat's relay vs socat's vs direct over Unix sockets: memory per idle
          connection, bulk throughput (ratio to direct), throughput by concurrent
          connections (default 1,8,64,512; 1024 MiB in all each; the plot goes to
          docs/bench/relay-scaling.svg); --hvcat: that binary, not this tree's build;
          --path: only those (no plot), as under a profiler; floor: the least a relay
          can do (a thread per direction, blocking splice), the kernel's share
  (docs/performance.md)";

/// Parses the bench command line and runs it.
pub fn main(args: &[String]) -> Result<()> {
    match args.first().map(String::as_str) {
        None => {
            {
                let lab = Lab::prepare()?;
                let mut ctx = Ctx::new(&lab)?;
                throughput::run_in(&mut ctx, &throughput::Plan::default())?;
                println!();
                latency::run_in(&mut ctx, &latency::Plan::default())?;
            }
            println!();
            relay_with(&relay::Plan::default())
        }
        Some("latency") => {
            let mut plan = latency::Plan::default();
            let mut rest = args[1..].iter();
            while let Some(flag) = rest.next() {
                match flag.as_str() {
                    "--samples" => plan.samples = number(flag, rest.next())?,
                    "--route" => plan.routes.push(one_of(flag, rest.next(), latency::ROUTE_KEYS)?),
                    "--raw" => {
                        let path = rest.next().with_context(|| format!("--raw needs a file\n{USAGE}"))?;
                        plan.raw = Some(path.into());
                    }
                    _ => crate::bail!("unknown option {flag}\n{USAGE}"),
                }
            }
            latency::run(&plan)
        }
        Some("lab") => {
            let mut plan = throughput::Plan::default();
            let mut rest = args[1..].iter();
            while let Some(flag) = rest.next() {
                if flag == "--no-hvbench" {
                    plan.hvbench = false;
                    continue;
                }
                if flag == "--no-framed" || flag == "--framed-only" {
                    plan.framed = flag == "--framed-only";
                    plan.framed_only = plan.framed;
                    continue;
                }
                if flag == "--no-windows" || flag == "--windows-only" {
                    plan.windows = flag == "--windows-only";
                    plan.windows_only = plan.windows;
                    continue;
                }
                if flag == "--route" {
                    plan.routes.push(one_of(flag, rest.next(), throughput::ROUTE_KEYS)?);
                    continue;
                }
                if flag == "--tool" {
                    plan.tools.push(one_of(flag, rest.next(), throughput::TOOL_KEYS)?);
                    continue;
                }
                let value = number(flag, rest.next())?;
                match flag.as_str() {
                    "--mib" => plan.mib = value,
                    "--host-mib" => plan.host_mib = value,
                    "--runs" => plan.runs = value,
                    _ => crate::bail!("unknown option {flag}\n{USAGE}"),
                }
            }
            throughput::run(&plan)
        }
        Some("relay-floor") => relay::floor_main(&args[1..]),
        Some("relay") => {
            let mut plan = relay::Plan::default();
            let mut hvcat = None;
            let mut rest = args[1..].iter();
            while let Some(flag) = rest.next() {
                if flag == "--scaling" {
                    let list =
                        rest.next().map(|l| l.split(',').map(str::parse).collect::<Result<Vec<usize>, _>>());
                    plan.scaling = match list {
                        Some(Ok(list)) if !list.contains(&0) => list,
                        _ => crate::bail!("--scaling needs connection counts, as in 1,8,64,512\n{USAGE}"),
                    };
                    continue;
                }
                if flag == "--path" {
                    plan.paths.push(one_of(flag, rest.next(), relay::PATHS)?);
                    continue;
                }
                if flag == "--hvcat" {
                    let path = rest
                        .next()
                        .ok_or_else(|| util::Error::msg(format!("--hvcat needs a path\n{USAGE}")))?;
                    hvcat = Some(std::path::PathBuf::from(path));
                    continue;
                }
                if flag == "--svg" {
                    plan.svg = rest
                        .next()
                        .ok_or_else(|| util::Error::msg(format!("--svg needs a path\n{USAGE}")))?
                        .into();
                    continue;
                }
                let value = number(flag, rest.next())?;
                match flag.as_str() {
                    "--idle" => plan.idle = value,
                    "--idle-socat" => plan.idle_socat = value,
                    "--active" => plan.active = value,
                    "--mib" => plan.bytes_each = value << 20,
                    "--scaling-mib" => plan.scaling_bytes = value << 20,
                    _ => crate::bail!("unknown option {flag}\n{USAGE}"),
                }
            }
            match hvcat {
                Some(hvcat) => relay::run(&hvcat, &plan),
                None => relay_with(&plan),
            }
        }
        _ => Err(util::Error::msg(USAGE)),
    }
}

/// The value after `flag`, which must be one of `keys`.
fn one_of(flag: &str, value: Option<&String>, keys: &[&str]) -> Result<String> {
    value
        .filter(|v| keys.contains(&v.as_str()))
        .cloned()
        .ok_or_else(|| util::Error::msg(format!("{flag} takes one of {}", keys.join(", "))))
}
fn number(flag: &str, value: Option<&String>) -> Result<usize> {
    value
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| util::Error::msg(format!("{flag} needs a number\n{USAGE}")))
}

fn relay_with(plan: &relay::Plan) -> Result<()> {
    let hvcat = binaries::build_host().map_err(util::Error::msg)?;
    relay::run(&hvcat, plan)
}
