//! The lab's scenarios: the registry ([`all`]) and the runner.
//!
//! One guest is booted per run and every scenario uses it through the
//! control channel; if a scenario leaves the guest dead, the next one boots
//! a fresh guest. Each scenario asserts real outcomes (exit codes, SHA-256 of
//! what was sent and received, messages) and returns an error otherwise.
//!
//! A scenario file holds one group (`group/name`) and imports only
//! [`crate::lab::harness`] and `crate::util`, never another scenario file.

mod adapters;
mod async_relay;
mod doctor;
mod faults;
mod framed;
mod host_guest;
mod hyperkit;
mod loopback;
mod peers;
mod plumbing;
mod seqpacket;
mod server;
mod stress;

use std::time::Instant;

use super::harness::{Ctx, Scenario};
use super::Lab;
use crate::util::{self, Result};
use crate::{bail, ensure};

/// Every scenario, in run order.
pub fn all() -> Vec<Scenario> {
    [
        plumbing::SCENARIOS,
        loopback::SCENARIOS,
        doctor::SCENARIOS,
        host_guest::SCENARIOS,
        hyperkit::SCENARIOS,
        peers::SCENARIOS,
        faults::SCENARIOS,
        async_relay::SCENARIOS,
        server::SCENARIOS,
        stress::SCENARIOS,
        framed::SCENARIOS,
        adapters::SCENARIOS,
        seqpacket::SCENARIOS,
    ]
    .concat()
}

/// `cargo xtask lab run [--list] [NAME...]`.
pub fn run_command(args: &[String]) -> Result<()> {
    let scenarios = all();
    if args.iter().any(|a| a == "--list") {
        for s in &scenarios {
            println!("{}", s.name);
        }
        return Ok(());
    }
    let selected = select(&scenarios, args)?;
    let lab = Lab::prepare()?;
    let (passed, failed) = run_scenarios(&lab, &selected)?;
    println!("{passed} passed, {failed} failed");
    ensure!(failed == 0, "lab: {failed} scenario(s) failed");
    Ok(())
}

/// The scenarios named (exactly, or by group prefix) in `names`; all if none.
fn select<'s>(scenarios: &'s [Scenario], names: &[String]) -> Result<Vec<&'s Scenario>> {
    if names.is_empty() {
        return Ok(scenarios.iter().collect());
    }
    let mut out = Vec::new();
    for name in names {
        let before = out.len();
        for s in scenarios {
            let matches = s.name == name || s.name.starts_with(&format!("{name}/"));
            if matches && !out.iter().any(|o: &&Scenario| o.name == s.name) {
                out.push(s);
            }
        }
        if out.len() == before {
            bail!("no scenario matches {name:?}; see `cargo xtask lab run --list`");
        }
    }
    Ok(out)
}

/// Runs scenarios on one guest (rebooting if one kills it), emptying the
/// guest's `/tmp` after each; prints a PASS or FAIL line each. Returns (passed, failed).
fn run_scenarios(lab: &Lab, selected: &[&Scenario]) -> Result<(usize, usize)> {
    let mut ctx = Ctx::new(lab)?;
    let (mut passed, mut failed) = (0, 0);
    for s in selected {
        if !ctx.vm.is_running() || ctx.vm.sh("true").is_err() {
            eprintln!("lab: the guest is gone; booting a new one\n{}", ctx.vm.diagnostics());
            ctx.vm = lab.boot()?;
        }
        let t = Instant::now();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (s.run)(&mut ctx)))
            .unwrap_or_else(|_| Err(util::Error::msg("scenario panicked")));
        let took = util::secs(t.elapsed());
        // Scratch files go with their scenario: the guest's root file system
        // is a RAM disk of half its memory, and a full one fails later ones.
        let _ = ctx.vm.sh("rm -rf /tmp/*");
        match result {
            Ok(()) => {
                passed += 1;
                println!("PASS {} ({took})", s.name);
            }
            Err(e) => {
                failed += 1;
                println!("FAIL {} ({took}): {e}", s.name);
                println!("{}", ctx.vm.diagnostics());
            }
        }
    }
    Ok((passed, failed))
}
