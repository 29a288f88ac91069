//! hvstress: integrity of hypervisor sockets under parallel load. See `hvstress --help`.

use std::process::ExitCode;

use clap::Parser;
use hvsock::{ListenOptions, Listener, SeqpacketListener, SocketKind};
use hvtools::conventions::{parse_endpoint, ConnectArgs, Failure};
use hvtools::stress::{self, MessagePlan, Plan};
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
  Message mode: 10000 messages of up to 64 KiB (0 bytes and up; 1 over vsock, which
  carries no empty message), each checked whole and in its place:
                    hvstress -s vsock+seqpacket://:22100
                    hvstress -c vsock+seqpacket://1:22100 -i 1 --messages 10000
  Messages of one size, for a rate:  hvstress -c unix+seqpacket:///tmp/m.sock -i 1 --messages 100000 -l 64 --fixed-size

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

    /// The largest payload of one connection (e.g. 64K, 10M; default 10M), or in message
    /// mode the largest message (default 64K)
    #[arg(short = 'l', long, value_name = "SIZE", value_parser = parse_size)]
    max_len: Option<u64>,

    /// In message mode (+seqpacket URIs): messages each connection sends
    #[arg(long, value_name = "N", default_value = "1000")]
    messages: u64,

    /// In message mode: every message exactly -l bytes, instead of 0 to -l at random
    #[arg(long)]
    fixed_size: bool,

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
    hvtools::conventions::main("hvstress", |cli: &Cli| cli.verbose, |cli| cli.server.is_some(), run)
}

fn run(cli: &Cli) -> Result<(), Failure> {
    if let Some(uri) = &cli.server {
        let endpoint = parse_endpoint(uri)?;
        cli.connect.check_vsock_buffer([&endpoint.addr])?;
        serve(&endpoint, cli.framed, &cli.connect.listen_options());
    }
    let seed = cli.seed.unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64)
    });
    let target = parse_endpoint(cli.client.as_deref().unwrap_or_default())?;
    cli.connect.check_vsock_buffer([&target.addr])?;
    let message_mode = target.kind == SocketKind::Seqpacket;
    if message_mode && (cli.framed || cli.no_half_close) {
        return Err(Failure::Usage(
            "--framed and --no-half-close are for byte streams, not message mode".into(),
        ));
    }
    let plan = Plan {
        addr: target.addr,
        parallel: cli.parallel,
        connections: cli.connections,
        max_len: cli.max_len.unwrap_or(if message_mode { 64 << 10 } else { 10 << 20 }),
        seed,
        connect: cli.connect.options(),
        verbose: cli.verbose,
        half_close: !cli.no_half_close,
        framed: cli.framed,
        messages: message_mode.then_some(MessagePlan { count: cli.messages, fixed_size: cli.fixed_size }),
    };
    let summary = stress::run(&plan);
    let secs = summary.elapsed.as_secs_f64().max(1e-9);
    let moved = match plan.messages {
        Some(_) => format!("{} messages ({}) each way", summary.messages, human_bytes(summary.bytes)),
        None => format!("{} each way", human_bytes(summary.bytes)),
    };
    let rate = match plan.messages {
        Some(_) => format!(
            "{:.0} messages/s, {:.1} MB/s each way",
            summary.messages as f64 / secs,
            summary.bytes as f64 / 1e6 / secs
        ),
        None => format!("{:.1} MB/s each way", summary.bytes as f64 / 1e6 / secs),
    };
    println!(
        "hvstress: {} connections to {}, {moved}, {} mismatches, {} errors in {secs:.2} s ({rate}), seed {seed}",
        summary.connections,
        target_uri(&plan),
        summary.mismatches,
        summary.errors,
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

/// The target as the user asked for it (`+seqpacket` kept).
fn target_uri(plan: &Plan) -> hvsock::Endpoint {
    let kind = if plan.messages.is_some() { SocketKind::Seqpacket } else { SocketKind::Stream };
    hvsock::Endpoint::new(plan.addr.clone(), kind)
}

/// `-s`: echoes every connection on `endpoint`, concurrently, for ever: bytes (framed
/// or not), or in message mode every message as it came.
fn serve(endpoint: &hvsock::Endpoint, framed: bool, options: &ListenOptions) -> ! {
    fn failed(e: std::io::Error) -> ! {
        eprintln!("hvstress: {e}");
        std::process::exit(1)
    }
    if endpoint.kind == SocketKind::Seqpacket {
        let listener = SeqpacketListener::bind_with(&endpoint.addr, options).unwrap_or_else(|e| failed(e));
        tracing::info!("echoing on {} (message mode)", listener.local_addr());
        hvtools::messages::serve(&listener, &Default::default(), false, |conn| {
            if let Err(e) = hvtools::messages::echo(&conn) {
                tracing::warn!("{e}");
            }
        });
    }
    let listener = Listener::bind_with(&endpoint.addr, options).unwrap_or_else(|e| failed(e));
    tracing::info!("echoing on {}", listener.local_addr());
    if framed {
        hvtools::serve_each(&listener, |stream| hvtools::echo_framed(stream).map(drop));
    }
    hvtools::serve_each(&listener, |stream| hvtools::echo(&stream, &Default::default()).map(drop));
}
