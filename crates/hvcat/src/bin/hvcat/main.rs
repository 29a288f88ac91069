//! hvcat: a netcat for hypervisor sockets. See `hvcat --help`.

mod cli;
mod copy;
mod descriptors;
mod doctor;
mod exec;
mod messages;
mod relay;
#[cfg(unix)]
mod zerocopy;

use std::io;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hvsock::{Addr, Listener, PeerFilter, Stream};
use tracing::{info, warn};

use cli::Cli;
use copy::{Moved, Source, StdinPump};
use exec::Exec;
use hvsock::idle::{Activity, Watchdog};
use hvtools::conventions::{parse_endpoint, Failure};
use hvtools::serve::{self, Dispatch, Limits};

fn main() -> ExitCode {
    hvtools::conventions::main("hvcat", |cli: &Cli| cli.verbose, |cli| cli.listen, run)
}

/// What to do with each connection.
enum Mode {
    Stdio(Source),
    Echo,
    Exec(Exec),
}

/// How each connection is served, whatever the mode.
#[derive(Clone, Copy)]
struct Serving {
    /// Half-close at the end of standard input.
    shutdown: bool,
    verbose: bool,
    idle_timeout: Option<Duration>,
    expect_bytes: Option<u64>,
    framed: bool,
}

impl Serving {
    fn of(cli: &Cli) -> Serving {
        Serving {
            shutdown: !cli.no_shutdown,
            verbose: cli.verbose,
            idle_timeout: cli.idle_timeout,
            expect_bytes: cli.expect_bytes,
            framed: cli.framed,
        }
    }
}

fn run(cli: &Cli) -> Result<(), Failure> {
    if cli.local_cid {
        println!("{}", hvsock::local_cid()?);
        return Ok(());
    }
    if cli.doctor {
        return doctor::run(cli);
    }
    let uri = cli.uri.as_deref().unwrap_or_default();
    let endpoint = parse_endpoint(uri)?;
    let addr = endpoint.addr;
    if endpoint.kind == hvsock::SocketKind::Seqpacket {
        let limits = if cli.listen { limits(cli, &addr)? } else { Limits::default() };
        cli.connect.check_vsock_buffer([&addr])?;
        return messages::run(cli, &addr, limits);
    }
    if cli.register {
        register(&addr)?;
        if !cli.listen {
            return Ok(()); // the once-only administrator step, alone; with -l, go on to listen
        }
    }
    if cli.probe {
        return probe(&addr, cli);
    }
    let limits = if cli.listen { limits(cli, &addr)? } else { Limits::default() };
    if let Some(to) = &cli.relay {
        let to = parse_endpoint(to)?;
        if to.kind != hvsock::SocketKind::Stream {
            return Err(Failure::Usage(format!(
                "--relay from a byte stream ({addr}) to message mode ({to}) would have no message boundaries to keep: give both ends +seqpacket, or neither"
            )));
        }
        cli.connect.check_vsock_buffer([&addr, &to.addr])?;
        return relay(cli, &addr, to.addr, limits);
    }
    cli.connect.check_vsock_buffer([&addr])?;
    let mode = if cli.echo {
        Mode::Echo
    } else if let Some(cmd) = &cli.exec {
        Mode::Exec(Exec::direct(cmd).ok_or_else(|| Failure::Usage("--exec needs a command".into()))?)
    } else if let Some(cmd) = &cli.sh_exec {
        Mode::Exec(Exec::shell(cmd))
    } else {
        Mode::Stdio(if cli.keep_open { Source::Pump(StdinPump::start()) } else { Source::Stdin })
    };
    if cli.listen {
        listen(cli, &addr, mode, limits)
    } else {
        let stream = Stream::connect_with(&addr, &cli.connect.options())?;
        match &addr {
            Addr::Hyperkit(_) => info!(
                "connected to {} (hyperkit never confirms: if nothing listens in the guest, this shows as end-of-file)",
                stream.peer_addr()
            ),
            _ => info!("connected to {}{}", stream.peer_addr(), serve::window_note(&stream)),
        }
        serve(stream, &mode, cli)
    }
}

/// `-z`: connects and closes. hyperkit takes every connection, and closes it only once
/// the guest has refused, so there the connect waits [`HYPERKIT_VERDICT`] for that close
/// (`ConnectOptions::confirm`).
fn probe(addr: &Addr, cli: &Cli) -> Result<(), Failure> {
    let stream = Stream::connect_with(addr, &cli.connect.options().confirm(HYPERKIT_VERDICT))?;
    if cli.framed {
        // The peer must answer a framed Close: it listens, and speaks the protocol.
        hvsock::framed::Framed::new(stream)
            .close()
            .map_err(|e| io::Error::new(e.kind(), format!("{addr}: {e}")))?;
        info!("{addr} accepts connections and answers a framed close");
        return Ok(());
    }
    info!("{addr} accepts connections");
    Ok(())
}

/// How long `-z` waits for hyperkit to close a connection the guest refused (it does
/// so within milliseconds).
const HYPERKIT_VERDICT: Duration = Duration::from_millis(250);

fn listen(cli: &Cli, addr: &Addr, mode: Mode, limits: Limits) -> Result<(), Failure> {
    let listener = Listener::bind_with(addr, &cli.connect.listen_options().mode(cli.mode))?;
    info!("listening on {}", listener.local_addr());
    if !(cli.keep_open || cli.echo) {
        let stream = serve::accept_admitted(&listener, limits.filter.as_ref())?;
        drop(listener); // one connection: stop listening, as nc does
        info!("{}", serve::describe(&stream));
        return serve(stream, &mode, cli);
    }
    let dispatch = match mode {
        Mode::Stdio(_) => Dispatch::Inline, // standard input and output are one
        _ => Dispatch::Thread,
    };
    let serving = Serving::of(cli);
    serve::serve(&listener, &limits, dispatch, true, move |stream| {
        if let Err(e) = serve_one(stream, &mode, serving) {
            warn!("{e}");
        }
    })
}

/// Who may connect and how many at once, from `--allow`, `--allow-uid` and `-m`.
fn limits(cli: &Cli, addr: &Addr) -> Result<Limits, Failure> {
    if cli.max_conns.is_some() && !(cli.keep_open || cli.echo) {
        return Err(Failure::Usage(
            "--max-conns needs -k or --echo: without them hvcat serves one connection".into(),
        ));
    }
    let mut filter = PeerFilter::new(addr);
    let usage = |e: io::Error| match e.kind() {
        io::ErrorKind::InvalidInput | io::ErrorKind::Unsupported => Failure::Usage(e.to_string()),
        _ => Failure::Io(e),
    };
    for peer in &cli.allow {
        filter.allow(peer.trim()).map_err(|e| usage(io::Error::new(e.kind(), format!("--allow: {e}"))))?;
    }
    for &uid in &cli.allow_uid {
        filter.allow_uid(uid).map_err(|e| usage(io::Error::new(e.kind(), format!("--allow-uid: {e}"))))?;
    }
    Ok(Limits { max_conns: cli.max_conns.map(|n| n as usize), filter: filter.is_active().then_some(filter) })
}

fn serve(stream: Stream, mode: &Mode, cli: &Cli) -> Result<(), Failure> {
    serve_one(stream, mode, Serving::of(cli)).map_err(Failure::Io)
}

/// Serves one connection (through the framed protocol with `--framed`), and logs what
/// it moved.
fn serve_one(stream: Stream, mode: &Mode, serving: Serving) -> io::Result<()> {
    let peer = serve::peer_name(&stream);
    let (stream, framing) = hvtools::framing::wrap(stream, serving.framed)?;
    let served = serve_plain(stream, mode, serving);
    let framed = framing.finish(&peer);
    if let (Err(_), Err(e)) = (&served, &framed) {
        warn!("{e}");
    }
    served.and(framed)
}

fn serve_plain(stream: Stream, mode: &Mode, serving: Serving) -> io::Result<()> {
    let started = Instant::now();
    let peer = serve::peer_name(&stream);
    let activity = Arc::new(Activity::default());
    let watchdog = match serving.idle_timeout {
        Some(limit) => Some(Watchdog::start(&stream, &activity, limit)?),
        None => None,
    };
    let moved = match mode {
        Mode::Stdio(source) => copy::stdio(stream, source, serving.shutdown, &activity),
        Mode::Echo => copy::echo(&stream, &activity),
        Mode::Exec(exec) => exec.run(stream).and_then(|status| {
            if status.success() {
                Ok(Moved::default())
            } else {
                Err(io::Error::other(format!("{peer}: the command ended with {status}")))
            }
        }),
    };
    if let Some(watchdog) = watchdog {
        // An idle timeout is what ended the copying, if it fired.
        watchdog.finish().map_err(|e| io::Error::new(e.kind(), format!("{peer}: {e} (--idle-timeout)")))?;
    }
    let moved = moved?;
    if let Some(expected) = serving.expect_bytes.filter(|&n| n != moved.received) {
        return Err(short_transfer(&peer, moved.received, expected));
    }
    if serving.verbose && !matches!(mode, Mode::Exec(_)) {
        let secs = started.elapsed().as_secs_f64();
        let rate = (moved.sent + moved.received) as f64 / secs.max(1e-9) / 1e6;
        info!(
            "{peer}: sent {} bytes, received {} bytes in {secs:.3} s ({rate:.1} MB/s)",
            moved.sent, moved.received
        );
    }
    Ok(())
}

/// The error of a connection that did not bring the `--expect-bytes` it should have.
fn short_transfer(peer: &str, received: u64, expected: u64) -> io::Error {
    if received < expected {
        io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!(
                "{peer}: the peer closed after {received} of the {expected} expected bytes (--expect-bytes): the transfer was cut short"
            ),
        )
    } else {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{peer}: received {received} bytes, more than the {expected} expected (--expect-bytes)"),
        )
    }
}

fn relay(cli: &Cli, from: &Addr, to: Addr, limits: Limits) -> Result<(), Failure> {
    let plan = relay::Plan {
        listen: cli.connect.listen_options().mode(cli.mode),
        connect: cli.connect.options(),
        keep_open: cli.keep_open,
        idle: cli.idle_timeout,
        limits,
        framed: (cli.framed, cli.relay_framed),
    };
    Ok(relay::run(from, to, plan)?)
}

#[cfg(windows)]
fn register(addr: &Addr) -> Result<(), Failure> {
    let Addr::HyperV(hv) = addr else {
        return Err(Failure::Usage(format!("--register needs an hvsock:// address, not {addr}")));
    };
    hvsock::windows::register_service(&hv.service, &format!("hvsock {addr}"))?;
    info!("registered service {}", hv.service);
    Ok(())
}

#[cfg(not(windows))]
fn register(_: &Addr) -> Result<(), Failure> {
    Err(Failure::Usage(
        "--register works only on Windows: it registers a Hyper-V service GUID in the Windows registry"
            .into(),
    ))
}
