//! Message mode (`vsock+seqpacket://`, `unix+seqpacket://`): each line of standard
//! input (or each length-prefixed block, `--length-prefixed`) is one message; each
//! message received is written out as one line (or length-prefixed). `-l`, `-k`,
//! `--echo`, `--relay` and `-z` work as for streams, keeping every message whole.

use std::io::{self, BufReader, Write};
use std::net::Shutdown;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use hvsock::{Addr, ConnectOptions, Seqpacket, SeqpacketListener, SocketKind};
use hvtools::conventions::{parse_endpoint, Failure};
use hvtools::messages::{self, read_message, write_message, Format};
use hvtools::named;
use hvtools::serve::Limits;
use tracing::{info, warn};

use crate::cli::Cli;

/// Runs hvcat in message mode on `addr` (parsed from a `+seqpacket` URI).
pub fn run(cli: &Cli, addr: &Addr, limits: Limits) -> Result<(), Failure> {
    refuse_stream_options(cli)?;
    let format = if cli.length_prefixed { Format::LengthPrefixed } else { Format::Lines };
    let options = cli.connect.options();
    if let Some(to) = &cli.relay {
        let to = parse_endpoint(to)?;
        if to.kind != SocketKind::Seqpacket {
            return Err(Failure::Usage(format!(
                "--relay from message mode ({}+seqpacket) to a byte stream ({}) would lose the message boundaries: give both ends +seqpacket",
                addr.scheme(),
                to
            )));
        }
        return relay(cli, addr, to.addr, options, limits);
    }
    if cli.probe {
        Seqpacket::connect_with(addr, &options)?;
        info!("{addr} accepts message-mode connections");
        return Ok(());
    }
    if !cli.listen {
        let conn = Seqpacket::connect_with(addr, &options)?;
        info!("connected to {} (message mode)", conn.peer_addr());
        return stdio(conn, &Pump::start(format), format, cli).map_err(Failure::Io);
    }
    let listener = SeqpacketListener::bind_with(addr, &cli.connect.listen_options().mode(cli.mode))?;
    info!("listening on {} (message mode)", listener.local_addr());
    if cli.echo {
        messages::serve(&listener, &limits, true, |conn| match messages::echo(&conn) {
            Ok(n) => info!("{}: echoed {n} messages", messages::peer_name(&conn)),
            Err(e) => warn!("{e}"),
        });
    }
    let pump = Pump::start(format);
    loop {
        let conn = messages::accept_admitted(&listener, limits.filter.as_ref())?;
        info!("{}", messages::describe(&conn));
        if !cli.keep_open {
            drop(listener); // one connection: stop listening, as nc does
            return stdio(conn, &pump, format, cli).map_err(Failure::Io);
        }
        if let Err(e) = stdio(conn, &pump, format, cli) {
            warn!("{e}");
        }
    }
}

/// The options that have no meaning in message mode, refused by name.
fn refuse_stream_options(cli: &Cli) -> Result<(), Failure> {
    let refused = [
        (cli.exec.is_some(), "--exec"),
        (cli.sh_exec.is_some(), "--sh-exec"),
        (cli.framed, "--framed"),
        (cli.relay_framed, "--relay-framed"),
        (cli.expect_bytes.is_some(), "--expect-bytes"),
        (cli.idle_timeout.is_some(), "--idle-timeout"),
        (cli.register, "--register"),
    ];
    match refused.iter().find(|(given, _)| *given) {
        Some((_, option)) => Err(Failure::Usage(format!(
            "{option} is not available in message mode (+seqpacket): it works on byte streams only"
        ))),
        None => Ok(()),
    }
}

/// Standard input read as messages on a thread of its own, shared by connection after
/// connection (`-k`): `None` from [`Pump::next`] once standard input has ended.
struct Pump {
    messages: Mutex<Receiver<io::Result<Vec<u8>>>>,
    /// A message taken for a connection that was gone before it could be sent: the
    /// next connection's first.
    unsent: Mutex<Option<Vec<u8>>>,
    ended: AtomicBool,
}

impl Pump {
    fn start(format: Format) -> Arc<Pump> {
        let (tx, rx) = mpsc::sync_channel(64);
        thread::spawn(move || {
            let mut input = BufReader::with_capacity(hvtools::CHUNK, io::stdin().lock());
            loop {
                let mut buf = Vec::new();
                let next = match read_message(&mut input, format, &mut buf) {
                    Ok(false) => return,
                    Ok(true) => Ok(buf),
                    Err(e) => Err(named(e, "reading", "standard input")),
                };
                let failed = next.is_err();
                if tx.send(next).is_err() || failed {
                    return;
                }
            }
        });
        Arc::new(Pump { messages: Mutex::new(rx), unsent: Mutex::new(None), ended: AtomicBool::new(false) })
    }

    /// The next message of standard input, `None` at its end; `Err(None)` if `stop`
    /// was set while waiting.
    fn next(&self, stop: &AtomicBool) -> Result<Option<Vec<u8>>, Option<io::Error>> {
        let messages = self.messages.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(msg) = self.unsent.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take() {
            return Ok(Some(msg));
        }
        loop {
            if self.ended.load(Ordering::Relaxed) {
                return Ok(None);
            }
            match messages.recv_timeout(Duration::from_millis(100)) {
                Ok(Ok(msg)) => return Ok(Some(msg)),
                Ok(Err(e)) => return Err(Some(e)),
                Err(RecvTimeoutError::Disconnected) => {
                    self.ended.store(true, Ordering::Relaxed);
                    return Ok(None);
                }
                Err(RecvTimeoutError::Timeout) if stop.load(Ordering::Relaxed) => return Err(None),
                Err(RecvTimeoutError::Timeout) => {}
            }
        }
    }
}

impl Pump {
    /// Keeps `msg`, which could not be sent, for the next connection.
    fn put_back(&self, msg: Vec<u8>) {
        *self.unsent.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(msg);
    }
}

/// Standard input to `conn` and `conn` to standard output, message by message, until
/// both have ended (a send that fails ends the sending side).
fn stdio(conn: Seqpacket, pump: &Arc<Pump>, format: Format, cli: &Cli) -> io::Result<()> {
    let started = Instant::now();
    let peer = messages::peer_name(&conn);
    let (sender, shutdown) = (conn.try_clone()?, !cli.no_shutdown);
    let stop = Arc::new(AtomicBool::new(false));
    let sending = {
        let (pump, stop, peer) = (Arc::clone(pump), Arc::clone(&stop), peer.clone());
        thread::Builder::new().spawn(move || -> io::Result<u64> {
            let mut sent = 0;
            loop {
                match pump.next(&stop) {
                    Ok(Some(msg)) => {
                        if let Err(e) = sender.send(&msg) {
                            if sender.peer_gone() {
                                pump.put_back(msg); // gone before it could take it
                            }
                            let _ = sender.shutdown(Shutdown::Both); // ends the receiving side too
                            break Err(named(e, "sending to", &peer));
                        }
                    }
                    Ok(None) if shutdown => break sender.shutdown(Shutdown::Write).map(|()| sent),
                    Ok(None) | Err(None) => break Ok(sent),
                    Err(Some(e)) => break Err(e),
                }
                sent += 1;
            }
        })?
    };
    let received = receive(&conn, format, &peer);
    // The peer's end: go on sending standard input while the peer can still receive
    // (it may only have shut down its side), not once it has closed.
    while !sending.is_finished() {
        if received.is_err() || conn.peer_gone() {
            stop.store(true, Ordering::Relaxed);
            break;
        }
        thread::sleep(Duration::from_millis(50));
    }
    let sent = sending.join().unwrap_or_else(|_| Err(io::Error::other("the sending thread panicked")));
    let (sent, received) = (sent?, received?);
    if cli.verbose {
        info!(
            "{peer}: sent {sent} messages, received {received} in {:.3} s",
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

/// Every message from `conn` to standard output, each flushed as it comes.
fn receive(conn: &Seqpacket, format: Format, peer: &str) -> io::Result<u64> {
    let (mut out, mut buf, mut count) = (io::stdout().lock(), Vec::new(), 0);
    while conn.recv_vec(&mut buf).map_err(|e| named(e, "receiving from", peer))?.is_some() {
        let written = write_message(&mut out, format, &buf).and_then(|()| out.flush());
        if let Err(e) = written {
            if e.kind() == io::ErrorKind::BrokenPipe {
                hvtools::signals::stdout_closed();
            }
            return Err(named(e, "writing", "standard output"));
        }
        count += 1;
    }
    Ok(count)
}

/// `--relay` in message mode: each accepted connection to a new one to `to`, every
/// message carried whole, both ways.
fn relay(cli: &Cli, from: &Addr, to: Addr, options: ConnectOptions, limits: Limits) -> Result<(), Failure> {
    let listener = SeqpacketListener::bind_with(from, &cli.connect.listen_options().mode(cli.mode))?;
    info!("relaying {} to {to} (message mode)", listener.local_addr());
    let one = move |client: Seqpacket| -> io::Result<()> {
        let started = Instant::now();
        let name = messages::peer_name(&client);
        let upstream = Seqpacket::connect_with(&to, &options)?;
        let (there, back) = messages::relay(&client, &upstream)
            .map_err(|e| named(e, "relaying", &format!("{name} to {to}")))?;
        info!(
            "{name} -> {to}: {there} messages there, {back} back in {:.3} s",
            started.elapsed().as_secs_f64()
        );
        Ok(())
    };
    if !cli.keep_open {
        let client = messages::accept_admitted(&listener, limits.filter.as_ref())?;
        drop(listener);
        return one(client).map_err(Failure::Io);
    }
    messages::serve(&listener, &limits, false, move |client| {
        if let Err(e) = one(client) {
            warn!("{e}");
        }
    })
}
