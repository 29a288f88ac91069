//! The one accept loop of the tools (`hvcat -l -k`, `--echo`, `--exec`, `hvstress -s`,
//! `hvbench -s`): who may connect, how many at once, and a server that outlives every
//! failure a client can provoke — out of descriptors, out of threads.

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::Duration;

use hvsock::{Addr, Listener, PeerFilter, Stream};
use tracing::{debug, info, warn};

mod failures;

pub use failures::AcceptFailures;

/// How long a listener pauses after a failed accept or a thread it could not start (out
/// of file descriptors or tasks, say), so that it neither spins nor floods the log, and
/// the shortage can pass.
pub const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

/// What a server admits.
#[derive(Clone, Debug, Default)]
pub struct Limits {
    /// At most this many connections at once; beyond it, accepting waits.
    pub max_conns: Option<usize>,
    /// Who may connect; a refused peer is closed at once and logged.
    pub filter: Option<PeerFilter>,
}

/// Where each connection is served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dispatch {
    /// One after another, on the accepting thread (`hvcat -l -k` with standard input).
    Inline,
    /// Each on a thread of its own.
    Thread,
}

/// "connection from PEER", or where the transport does not name the peer, the address
/// it came in on: what `hvcat -v` says of each connection it accepts.
pub fn describe(accepted: &Stream) -> String {
    match accepted.peer_addr() {
        Addr::Unnamed => format!("accepted a connection on {}", accepted.local_addr()),
        peer => format!("connection from {peer}{}", window_note(accepted)),
    }
}

/// ", vsock buffer SIZE" for a vsock connection (its credit window, as `-v` reports
/// it), nothing for other transports.
pub fn window_note(stream: &Stream) -> String {
    #[cfg(target_os = "linux")]
    if let (Addr::Vsock(_), Ok(size)) = (stream.local_addr(), stream.vsock_buffer_size()) {
        return format!(", vsock buffer {}", crate::human_bytes(size));
    }
    let _ = stream;
    String::new()
}

/// The peer of a connection for messages: its address, or where the transport does not
/// name it, the listening address.
pub fn peer_name(stream: &Stream) -> String {
    name_peer(stream.peer_addr(), stream.local_addr())
}

/// `peer`, or where the transport does not name it (`Addr::Unnamed`), `local`: the
/// name of a connection's peer in messages, blocking or async.
pub fn name_peer(peer: &Addr, local: &Addr) -> String {
    match peer {
        Addr::Unnamed => local.to_string(),
        named => named.to_string(),
    }
}

/// Accepts the next connection that `filter` admits; refused ones are closed and logged.
pub fn accept_admitted(listener: &Listener, filter: Option<&PeerFilter>) -> io::Result<Stream> {
    loop {
        let (stream, _) = listener.accept()?;
        if admits(filter.map_or(Ok(()), |f| f.check(&stream))) {
            return Ok(stream);
        }
    }
}

/// Whether a filter's verdict on a connection admits it; a refusal is logged (the
/// caller drops the connection, which closes it).
pub fn admits(verdict: io::Result<()>) -> bool {
    verdict.map_err(|refusal| warn!("{refusal}")).is_ok()
}

/// Says, once per server, that `max` connections are open and no more are accepted.
pub fn say_full(max: usize, said: &AtomicBool) {
    if !said.swap(true, Ordering::Relaxed) {
        info!("{max} connections open (--max-conns): not accepting more until one ends");
    } else {
        debug!("{max} connections open: waiting");
    }
}

/// A listener the accept loop ([`serve`]) can serve: a byte-stream [`Listener`], or a
/// message-mode [`hvsock::SeqpacketListener`] (`crate::messages`).
pub trait Accepting {
    /// What it accepts.
    type Conn: Send + 'static;
    /// The next connection `filter` admits; refused ones are closed and logged.
    fn accept_admitted(&self, filter: Option<&PeerFilter>) -> io::Result<Self::Conn>;
    /// What `-v` says of an accepted connection.
    fn describe(conn: &Self::Conn) -> String;
    /// The connection's peer, for messages.
    fn peer_name(conn: &Self::Conn) -> String;
}

impl Accepting for Listener {
    type Conn = Stream;

    fn accept_admitted(&self, filter: Option<&PeerFilter>) -> io::Result<Stream> {
        accept_admitted(self, filter)
    }

    fn describe(conn: &Stream) -> String {
        describe(conn)
    }

    fn peer_name(conn: &Stream) -> String {
        peer_name(conn)
    }
}

/// Serves connections on `listener` forever with `handler`, within `limits`; with
/// `announce`, each accepted connection is logged (at info level, in accept order) as
/// [`describe`] says. Nothing a client does stops the loop: a failed accept or a thread
/// that cannot be started is logged, that connection closed, and the loop pauses
/// [`ACCEPT_PAUSE`].
pub fn serve<L, H>(listener: &L, limits: &Limits, dispatch: Dispatch, announce: bool, handler: H) -> !
where
    L: Accepting,
    H: Fn(L::Conn) + Send + Sync + 'static,
{
    let handler = Arc::new(handler);
    let slots = Arc::new(Slots::new(limits.max_conns));
    let mut failures = AcceptFailures::default();
    loop {
        slots.wait_for_room();
        let stream = match listener.accept_admitted(limits.filter.as_ref()) {
            Ok(stream) => stream,
            Err(e) => {
                if let Some(said) = failures.failed(&e) {
                    warn!("{said}");
                }
                thread::sleep(ACCEPT_PAUSE);
                continue;
            }
        };
        if let Some(said) = failures.succeeded() {
            warn!("{said}");
        }
        if announce {
            info!("{}", L::describe(&stream));
        }
        let slot = Slots::take(&slots);
        match dispatch {
            Dispatch::Inline => {
                handler(stream);
                drop(slot);
            }
            Dispatch::Thread => {
                let (handler, name) = (Arc::clone(&handler), L::peer_name(&stream));
                let spawned = thread::Builder::new().spawn(move || {
                    handler(stream);
                    drop(slot);
                });
                if let Err(e) = spawned {
                    warn!("{name}: cannot start a thread for the connection ({e}); closed it");
                    thread::sleep(ACCEPT_PAUSE);
                }
            }
        }
    }
}

/// Counts the connections being served, against an optional maximum.
struct Slots {
    max: Option<usize>,
    open: Mutex<usize>,
    freed: Condvar,
    said: AtomicBool,
}

/// One connection's place; given back when dropped.
struct Slot(Arc<Slots>);

impl Slots {
    fn new(max: Option<usize>) -> Slots {
        Slots { max, open: Mutex::new(0), freed: Condvar::new(), said: AtomicBool::new(false) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, usize> {
        self.open.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Waits until fewer than the maximum are open.
    fn wait_for_room(&self) {
        let Some(max) = self.max else { return };
        let mut open = self.lock();
        if *open >= max {
            say_full(max, &self.said);
        }
        while *open >= max {
            open = self.freed.wait(open).unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }

    fn take(slots: &Arc<Slots>) -> Slot {
        *slots.lock() += 1;
        Slot(Arc::clone(slots))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        *self.0.lock() -= 1;
        self.0.freed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn slots_hold_the_maximum_and_wake_a_waiter_when_one_is_given_back() {
        let slots = Arc::new(Slots::new(Some(2)));
        let (a, _b) = (Slots::take(&slots), Slots::take(&slots));
        let waiter = {
            let slots = Arc::clone(&slots);
            thread::spawn(move || {
                let started = Instant::now();
                slots.wait_for_room();
                started.elapsed()
            })
        };
        thread::sleep(Duration::from_millis(200));
        assert!(!waiter.is_finished(), "room was found with 2 of 2 taken");
        drop(a);
        assert!(waiter.join().unwrap() >= Duration::from_millis(150));
        Slots::new(None).wait_for_room(); // no maximum: never waits
    }
}
