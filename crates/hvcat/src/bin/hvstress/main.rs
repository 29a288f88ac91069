//! hvstress: integrity of hypervisor sockets under parallel load. See `hvstress --help`.

use std::process::ExitCode;

use clap::Parser;
use hvtools::conventions::{ConnectArgs, Failure};
use hvtools::stress::{self, Plan};
use hvtools::{human_bytes, parse_size};

const AFTER_HELP: &str = "\
Each client connection sends a random payload of random length (0 to -l bytes) in randomly
sized writes, half-closes, and checks that the server's echo has the same SHA-256. Payloads
come from --seed and the connection number, so a failure can be reproduced.

EXAMPLES:
  In a guest:       hvstress -s vsock://:22099
  On the host:      hvstress -c hybrid://:22099/run/vm/v.sock -p 8 -i 200 -l 10M
  Short smoke run:  hvstress -c vsock://1:22099 -i 20 -l 64K
  Through Firecracker or vhost-device-vsock (no half-close):
                    hvstress -c hybrid://:22099/run/vm/v.sock --no-half-close

EXIT STATUS:
  0 every echo intact, 1 a mismatch or a failed connection, 2 bad usage.";

/// Integrity under load: many connections at once, each checked with SHA-256.
#[derive(Parser, Debug)]
#[command(name = "hvstress", version, after_help = AFTER_HELP)]
struct Cli {
    /// Serve: echo every connection on URI, concurrently
    #[arg(short = 's', long, value_name = "URI", conflicts_with = "client")]
    server: Option<String>,

    /// Run the client against the echo server at URI
    #[arg(short = 'c', long, value_name = "URI", required_unless_present = "server")]
    client: Option<String>,

    /// Connections at the same time
    #[arg(short = 'p', long, default_value = "1")]
    parallel: usize,

    /// Connections in all
    #[arg(short = 'i', long, default_value = "100")]
    connections: u64,

    /// The largest payload of one connection (e.g. 64K, 10M)
    #[arg(short = 'l', long, value_name = "SIZE", value_parser = parse_size, default_value = "10M")]
    max_len: u64,

    /// Seeds payload lengths and contents (default: from the clock, printed)
    #[arg(long)]
    seed: Option<u64>,

    /// Do not half-close: read back exactly what was sent, then close (for backends that
    /// turn a half-close into a full close, such as vhost-device-vsock and Firecracker)
    #[arg(long)]
    no_half_close: bool,

    /// Speak the framed protocol (both ends: with -s too): half-close and close carried
    /// in-band, so the half-close survives backends that lose it
    #[arg(long)]
    framed: bool,

    #[command(flatten)]
    connect: ConnectArgs,

    /// Report every connection
    #[arg(short = 'v', long)]
    verbose: bool,
}

fn main() -> ExitCode {
    hvtools::conventions::main("hvstress", |cli: &Cli| cli.verbose, run)
}

fn run(cli: &Cli) -> Result<(), Failure> {
    if let Some(uri) = &cli.server {
        let listener = cli.connect.listen(uri)?;
        tracing::info!("echoing on {}", listener.local_addr());
        if cli.framed {
            hvtools::serve_each(&listener, |stream| hvtools::echo_framed(stream).map(drop));
        }
        hvtools::serve_each(&listener, |stream| hvtools::echo(&stream, &Default::default()).map(drop));
    }
    let seed = cli.seed.unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64)
    });
    let plan = Plan {
        addr: cli.connect.client_addr(cli.client.as_deref().unwrap_or_default())?,
        parallel: cli.parallel,
        connections: cli.connections,
        max_len: cli.max_len,
        seed,
        connect: cli.connect.options(),
        verbose: cli.verbose,
        half_close: !cli.no_half_close,
        framed: cli.framed,
    };
    let summary = stress::run(&plan);
    let secs = summary.elapsed.as_secs_f64();
    println!(
        "hvstress: {} connections to {}, {} each way, {} mismatches, {} errors in {secs:.2} s ({:.1} MB/s each way), seed {seed}",
        summary.connections,
        plan.addr,
        human_bytes(summary.bytes),
        summary.mismatches,
        summary.errors,
        summary.bytes as f64 / 1e6 / secs.max(1e-9),
    );
    for failure in &summary.first_failures {
        eprintln!("hvstress: {failure}");
    }
    if summary.ok() {
        Ok(())
    } else {
        Err(Failure::Io(std::io::Error::other(format!(
            "{} of {} connections failed the check",
            summary.mismatches + summary.errors,
            summary.connections
        ))))
    }
}
