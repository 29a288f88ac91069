//! Project automation: `cargo xtask <command>` (alias in .cargo/config.toml).
//!
//! xtask does not depend on the `hvsock` crate (its only dependencies are
//! `libc` and `sha2`): it checks hvsock from the outside. It builds `hvcat`,
//! `hvstress`, `hvbench` and the `hvraw` and `spawn-latency` examples with cargo
//! as programs (`lab/binaries.rs`) and runs them, in the guest and on the host, as
//! processes. It talks to the guest through its own control channel (a serial
//! port, `lab/control.rs`), and where it needs the host side of
//! vhost-device-vsock's hybrid socket itself (the `lab/*` plumbing checks, the
//! hyperkit shim, timing marks in `bench lab`) it uses its own small
//! implementation (`lab/hybrid.rs`). That keeps the lab's plumbing checks
//! independent of the code under test (`lab/scenarios/plumbing.rs`: when they
//! pass and an hvcat scenario fails, the fault is hvcat's). xtask opens no
//! AF_VSOCK socket itself; vsock is used only inside the guest.

mod bench;
mod cross;
mod dist;
mod dist_check;
mod docs_check;
mod fuzz;
mod lab;
mod test;
mod util;
mod wine_hvcat;

use util::Result;

const USAGE: &str = "\
usage: cargo xtask <command>
  lab setup|run|shell   the VM lab (see `cargo xtask lab`)
  demo                  hvcat host -> guest and guest -> host through real vsock
  test                  fmt, clippy, unit tests, Windows/macOS checks, every lab scenario
  cross                 type-check Windows and macOS, run the Windows tests under Wine
  fuzz [SECONDS]         run every fuzz target (60 s each by default)
  package               the docs as docs.rs builds them, then cargo publish --dry-run of both crates
  dist [check]          static x86_64 and aarch64 Linux archives in target/dist; `check`
                        also installs them as README says and proves them (aarch64 under qemu)
  bench [lab|latency|relay]
                        hvcat vs socat vs raw through the lab guest; connect latency of the
                        library, hvcat and socat; hvcat's relay vs socat (no argument: all)";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result: Result<()> = match args.first().map(String::as_str) {
        Some("lab") => lab::main(&args[1..]),
        Some("demo") => lab::demo::run(),
        Some("test") => test::main(),
        Some("cross") => cross::cross_check().and_then(|()| wine_hvcat::run()).map_err(util::Error::msg),
        Some("bench") => bench::main(&args[1..]),
        Some("fuzz") => fuzz::main(&args[1..]),
        Some("dist") if args.get(1).map(String::as_str) == Some("check") => dist_check::run(),
        Some("dist") => dist::main(&args[1..]),
        Some("package") => docs_check::doc().and_then(|()| docs_check::publish_dry_run()),
        _ => Err(util::Error::msg(USAGE)),
    };
    if let Err(e) = result {
        eprintln!("xtask: {e}");
        std::process::exit(1);
    }
}
