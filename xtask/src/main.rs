//! Project automation: `cargo xtask <command>` (alias in .cargo/config.toml).

mod lab;
mod test;
mod util;

use util::Result;

const USAGE: &str = "\
usage: cargo xtask <command>
  lab setup|run|shell   the VM lab (see `cargo xtask lab`)
  demo                  hvcat host -> guest and guest -> host through real vsock
  test                  fmt, clippy, unit tests, then every lab scenario";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result: Result<()> = match args.first().map(String::as_str) {
        Some("lab") => lab::main(&args[1..]),
        Some("demo") => lab::scenarios::demo::run(),
        Some("test") => test::main(),
        _ => Err(util::Error::msg(USAGE)),
    };
    if let Err(e) = result {
        eprintln!("xtask: {e}");
        std::process::exit(1);
    }
}
