//! Moving bytes: standard input and output to and from a connection, and echo.

use std::io::{self, IsTerminal, Read, Write};
use std::net::Shutdown;
#[cfg(unix)]
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use hvsock::Stream;

#[cfg(not(unix))]
use hvtools::pipe;
use hvtools::{named, CHUNK};

use hvsock::idle::Activity;

/// Bytes moved in each direction.
#[derive(Debug, Default, Clone, Copy)]
pub struct Moved {
    /// From us to the peer.
    pub sent: u64,
    /// From the peer to us.
    pub received: u64,
}

/// Sends a connection back everything it sends, then shuts down for writing. Every
/// read and write is recorded in `activity`.
pub fn echo(stream: &Stream, activity: &Activity) -> io::Result<Moved> {
    let n = hvtools::echo(stream, activity)?;
    Ok(Moved { sent: n, received: n })
}

/// Reads standard input on a thread of its own, in chunks, so that a connection can
/// take over where the previous one stopped (`-k`) and reading overlaps sending.
pub struct StdinPump {
    chunks: Mutex<Receiver<io::Result<Vec<u8>>>>,
    spare: SyncSender<Vec<u8>>,
}

impl StdinPump {
    /// Starts the reader thread.
    pub fn start() -> Arc<StdinPump> {
        let (chunk_tx, chunk_rx) = mpsc::sync_channel(2);
        let (spare_tx, spare_rx) = mpsc::sync_channel::<Vec<u8>>(4);
        thread::spawn(move || {
            let mut stdin = raw_stdin();
            loop {
                let mut buf = spare_rx.try_recv().unwrap_or_default();
                buf.resize(CHUNK, 0);
                let message = match stdin.read(&mut buf) {
                    Ok(0) => return,
                    Ok(n) => {
                        buf.truncate(n);
                        Ok(buf)
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(e) => Err(e),
                };
                let failed = message.is_err();
                if chunk_tx.send(message).is_err() || failed {
                    return;
                }
            }
        });
        Arc::new(StdinPump { chunks: Mutex::new(chunk_rx), spare: spare_tx })
    }

    /// Sends standard input to `stream` until it ends (then shuts `stream` down for
    /// writing, if `shutdown`) or `stop` is set.
    fn forward(
        &self,
        stream: &Stream,
        shutdown: bool,
        stop: &AtomicBool,
        activity: &Activity,
    ) -> io::Result<u64> {
        let chunks = self.chunks.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut sent = 0;
        loop {
            match chunks.recv_timeout(Duration::from_millis(100)) {
                Ok(Ok(buf)) => {
                    activity
                        .count(stream)
                        .write_all(&buf)
                        .map_err(|e| named(e, "writing", &hvtools::serve::peer_name(stream)))?;
                    sent += buf.len() as u64;
                    let _ = self.spare.try_send(buf);
                }
                Ok(Err(e)) => return Err(named(e, "reading", "standard input")),
                Err(RecvTimeoutError::Timeout) if stop.load(Ordering::Relaxed) => return Ok(sent),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {
                    if shutdown {
                        stream.shutdown(Shutdown::Write)?;
                    }
                    return Ok(sent);
                }
            }
        }
    }
}

/// Where the bytes sent to a connection come from.
pub enum Source {
    /// Standard input, read directly (and without copies where the kernel allows):
    /// one connection.
    Stdin,
    /// Standard input through the pump, shared by connection after connection (`-k`).
    Pump(Arc<StdinPump>),
}

/// Standard input to `stream` and `stream` to standard output, at the same time.
///
/// Ends when both directions have: the peer closed its side, and standard input ended
/// (or is a terminal, which is not waited for once the peer has closed); or when the
/// connection was shut down for idling (see [`Activity::idled_out`]). Every move is
/// recorded in `activity`.
pub fn stdio(stream: Stream, source: &Source, shutdown: bool, activity: &Arc<Activity>) -> io::Result<Moved> {
    let stream = Arc::new(stream);
    let stop = Arc::new(AtomicBool::new(false));
    let (done_tx, done) = mpsc::channel();
    {
        let (stream, stop, activity) = (Arc::clone(&stream), Arc::clone(&stop), Arc::clone(activity));
        let pump = match source {
            Source::Stdin => None,
            Source::Pump(pump) => Some(Arc::clone(pump)),
        };
        thread::Builder::new().spawn(move || {
            let sent = match pump {
                Some(pump) => pump.forward(&stream, shutdown, &stop, &activity),
                None => stdin_to(&stream, &activity).and_then(|sent| {
                    if shutdown {
                        stream.shutdown(Shutdown::Write)?;
                    }
                    Ok(sent)
                }),
            };
            let _ = done_tx.send(sent);
        })?;
    }
    let received = to_stdout(&stream, activity);
    if matches!(&received, Err(e) if e.kind() == io::ErrorKind::BrokenPipe) {
        // Standard output was closed under us (`| head -c 10`): end as cat does.
        hvtools::signals::stdout_closed();
    }
    let terminal = io::stdin().is_terminal();
    let idled_out = || {
        // Shut down for idling: stop sending (the pump stops by itself; a direct reader
        // blocked in read(2) is left behind); the caller reports the timeout.
        stop.store(true, Ordering::Relaxed);
        Ok(Moved { received: *received.as_ref().unwrap_or(&0), sent: 0 })
    };
    if activity.idled_out() {
        return idled_out();
    }
    loop {
        match done.recv_timeout(Duration::from_millis(100)) {
            Ok(sent) => return Ok(Moved { received: received?, sent: sent? }),
            Err(RecvTimeoutError::Disconnected) => {
                return Err(io::Error::other("the sending thread panicked"))
            }
            Err(RecvTimeoutError::Timeout)
                if received.is_err() || terminal || activity.idled_out() || peer_gone(&stream) =>
            {
                // A sender with data in hand fails at once (EPIPE) when the peer is
                // gone: give it a moment to say so, so that a transfer cut short is
                // reported, not taken for an idle standard input.
                if activity.idled_out() {
                    return idled_out();
                }
                if let Ok(sent) = done.recv_timeout(SENDER_GRACE) {
                    return Ok(Moved { received: received?, sent: sent? });
                }
                // Nothing more can reach the peer, or nobody will type more: stop
                // sending. The pump stops by itself; a direct reader may be blocked in
                // read(2), and is left behind.
                stop.store(true, Ordering::Relaxed);
                if matches!(source, Source::Stdin) {
                    tracing::info!(
                        "{}: the peer has closed; not waiting for standard input",
                        hvtools::serve::peer_name(&stream)
                    );
                    return Ok(Moved { received: received?, sent: 0 });
                }
            }
            Err(RecvTimeoutError::Timeout) => {}
        }
    }
}

/// How long the sending side may take to report its own failure once the peer is gone.
const SENDER_GRACE: Duration = Duration::from_millis(250);

/// Whether the peer has closed both directions, as when it exits, rather than only its
/// sending side: then nothing we send can arrive.
///
/// Unix sockets say so with `POLLHUP`. vsock raises `POLLHUP` only once this end has
/// shut down too, so a peer's full close (or reset) shows only as `EPIPE` from a send;
/// a zero-length send checks that without sending anything (after a mere half-close
/// it succeeds).
#[cfg(unix)]
fn peer_gone(stream: &Stream) -> bool {
    use std::os::fd::AsRawFd;
    let fd = stream.as_raw_fd();
    let mut fds = libc::pollfd { fd, events: 0, revents: 0 };
    // SAFETY: one valid pollfd, count 1, no waiting.
    let ready = unsafe { libc::poll(&mut fds, 1, 0) };
    if ready == 1 && fds.revents & (libc::POLLHUP | libc::POLLERR) != 0 {
        return true;
    }
    // SAFETY: a zero-length buffer is never read; MSG_DONTWAIT, so it cannot block.
    let sent = unsafe { libc::send(fd, [0u8; 0].as_ptr().cast(), 0, libc::MSG_DONTWAIT) };
    sent < 0 && matches!(io::Error::last_os_error().raw_os_error(), Some(libc::EPIPE | libc::ECONNRESET))
}

#[cfg(not(unix))]
fn peer_gone(_: &Stream) -> bool {
    false
}

#[cfg(unix)]
fn stdin_to(stream: &Stream, activity: &Activity) -> io::Result<u64> {
    crate::zerocopy::to_socket(io::stdin().as_fd(), "standard input", stream, activity)
}

#[cfg(unix)]
fn to_stdout(stream: &Stream, activity: &Activity) -> io::Result<u64> {
    crate::zerocopy::from_socket(stream, io::stdout().as_fd(), "standard output", activity)
}

#[cfg(unix)]
fn raw_stdin() -> impl Read {
    RawStdin
}

/// Standard input without a buffer in between.
#[cfg(unix)]
struct RawStdin;

#[cfg(unix)]
impl Read for RawStdin {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // SAFETY: `buf` is valid for writes of its length; fd 0 is open for the life of
        // the process.
        let n = unsafe { libc::read(0, buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(n as usize)
        }
    }
}

#[cfg(not(unix))]
fn stdin_to(stream: &Stream, activity: &Activity) -> io::Result<u64> {
    pipe(io::stdin(), "standard input", activity.count(stream), &hvtools::serve::peer_name(stream))
}

#[cfg(not(unix))]
fn to_stdout(stream: &Stream, activity: &Activity) -> io::Result<u64> {
    pipe(activity.count(stream), &hvtools::serve::peer_name(stream), io::stdout(), "standard output")
}

#[cfg(not(unix))]
fn raw_stdin() -> impl Read {
    io::stdin()
}
