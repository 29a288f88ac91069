//! hvbench: throughput by write size and connect latency. See `hvbench --help`.

use std::process::ExitCode;

use clap::{Parser, ValueEnum};
use hvtools::bench::{self, Direction, Latency};
use hvtools::conventions::{ConnectArgs, Failure};
use hvtools::progress::Progress;
use hvtools::report::Report;
use hvtools::{human_bytes, parse_size};

const AFTER_HELP: &str = "\
Throughput: for each write size, one connection moves --bytes in writes of that size
(send: client to server; recv: server to client), timed from the first byte to the last
acknowledged. Latency: connect + handshake + one byte back, over --latency connections.

EXAMPLES:
  In a guest:   hvbench -s vsock://:5201
  On the host:  hvbench hybrid://:5201/run/vm/v.sock --svg throughput.svg
  JSON only:    hvbench vsock://1:5201 --sizes 4K,64K,1M --bytes 128M --json
  Latency only: hvbench unix:///run/b.sock --latency-only --latency 200

EXIT STATUS:
  0 success, 1 connection or I/O failure, 2 bad usage.";

/// Throughput by write size, each direction, and connect latency percentiles.
#[derive(Parser, Debug)]
#[command(name = "hvbench", version, after_help = AFTER_HELP)]
struct Cli {
    /// The benchmark server to measure against
    #[arg(value_name = "URI", required_unless_present = "server")]
    uri: Option<String>,

    /// Serve benchmark connections on URI, concurrently
    #[arg(short = 's', long, value_name = "URI", conflicts_with = "uri")]
    server: Option<String>,

    /// Write sizes to sweep
    #[arg(long, value_delimiter = ',', value_parser = parse_size, default_value = "1K,4K,16K,64K,256K,1M")]
    sizes: Vec<u64>,

    /// Bytes per throughput run
    #[arg(long, value_parser = parse_size, default_value = "64M")]
    bytes: u64,

    /// Which directions to measure
    #[arg(long, value_enum, default_value = "both")]
    direction: Which,

    /// Connections for the latency percentiles (0: skip)
    #[arg(long, value_name = "N", default_value = "1000")]
    latency: usize,

    /// Measure only the latency: no throughput runs
    #[arg(long)]
    latency_only: bool,

    /// Print JSON instead of a table
    #[arg(long)]
    json: bool,

    /// Also write an SVG plot of throughput by write size to FILE
    #[arg(long, value_name = "FILE")]
    svg: Option<std::path::PathBuf>,

    /// Speak the framed protocol (both ends: with -s too)
    #[arg(long)]
    framed: bool,

    #[command(flatten)]
    connect: ConnectArgs,

    /// Say what happens
    #[arg(short = 'v', long)]
    verbose: bool,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Which {
    Send,
    Recv,
    Both,
}

fn main() -> ExitCode {
    hvtools::conventions::main("hvbench", |cli: &Cli| cli.verbose, |cli| cli.server.is_some(), run)
}

fn run(cli: &Cli) -> Result<(), Failure> {
    if let Some(uri) = &cli.server {
        let listener = cli.connect.listen(uri)?;
        tracing::info!("serving benchmarks on {}", listener.local_addr());
        hvtools::serve_each(&listener, if cli.framed { bench::serve_framed } else { bench::serve });
    }
    if cli.sizes.iter().any(|&s| s == 0 || s > 64 << 20) {
        return Err(Failure::Usage("write sizes must be from 1 byte to 64M".into()));
    }
    let addr = cli.connect.client_addr(cli.uri.as_deref().unwrap_or_default())?;
    let options = cli.connect.options();
    let directions: &[Direction] = match cli.direction {
        Which::Send => &[Direction::Send],
        Which::Recv => &[Direction::Recv],
        Which::Both => &[Direction::Send, Direction::Recv],
    };
    let sizes = if cli.latency_only { &[][..] } else { &cli.sizes[..] };
    let runs: Vec<(Direction, u64)> =
        sizes.iter().flat_map(|&size| directions.iter().map(move |&d| (d, size))).collect();
    let mut progress = Progress::new("hvbench", runs.len() as u64 + cli.latency as u64, true);
    let mut samples = Vec::new();
    for (done, (direction, size)) in runs.iter().enumerate() {
        progress.update(done as u64, &format!("{} {}", direction.name(), human_bytes(*size)));
        samples.push(bench::throughput(&addr, &options, cli.framed, *direction, *size as usize, cli.bytes)?);
    }
    let mut pings = Vec::with_capacity(cli.latency);
    for i in 0..cli.latency {
        progress.update((runs.len() + i) as u64, "latency");
        pings.push(bench::ping(&addr, &options, cli.framed)?);
    }
    progress.finish();
    let report = Report { uri: addr.to_string(), samples, latency: Latency::of(pings) };
    if let Some(path) = &cli.svg {
        std::fs::write(path, report.svg())
            .map_err(|e| std::io::Error::new(e.kind(), format!("writing {}: {e}", path.display())))?;
    }
    print!("{}", if cli.json { report.json() } else { report.table() });
    Ok(())
}
