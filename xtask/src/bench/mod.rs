//! `cargo xtask bench ...`: benchmarks that print figures.

pub mod relay;

use crate::lab::binaries;
use crate::util::{self, Result};

const USAGE: &str = "usage: cargo xtask bench relay [--idle N] [--idle-socat N] [--active N] [--mib N]";

/// Parses the bench command line and runs it.
pub fn main(args: &[String]) -> Result<()> {
    match args.first().map(String::as_str) {
        Some("relay") => {
            let mut plan = relay::Plan::default();
            let mut rest = args[1..].iter();
            while let Some(flag) = rest.next() {
                let value: usize = rest
                    .next()
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| util::Error::msg(format!("{flag} needs a number\n{USAGE}")))?;
                match flag.as_str() {
                    "--idle" => plan.idle = value,
                    "--idle-socat" => plan.idle_socat = value,
                    "--active" => plan.active = value,
                    "--mib" => plan.bytes_each = value << 20,
                    _ => crate::bail!("unknown option {flag}\n{USAGE}"),
                }
            }
            let hvcat = binaries::build().host_hvcat.map_err(util::Error::msg)?;
            relay::run(&hvcat, &plan)
        }
        _ => Err(util::Error::msg(USAGE)),
    }
}
