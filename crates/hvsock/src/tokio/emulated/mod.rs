//! The async emulation behind the Windows backend: async I/O over blocking sockets, for
//! where the OS reports no readiness (Hyper-V sockets on Windows). Each connection gets a
//! reader thread and a writer thread, each listener an accept thread, and tasks exchange
//! data with them through bounded buffers.
//!
//! Nothing here is specific to Windows: it works over anything [`Blocking`] (or
//! [`BlockingListener`]), which is how its unit tests run on Unix sockets.
//!
//! The rules it keeps (the hazards of the OCaml implementation, reversed):
//! - closing never waits for a thread: a dropped connection's writer thread sends what
//!   was queued, then shuts the socket down and wakes the reader with
//!   [`Blocking::interrupt`]; a linger limit bounds the sending;
//! - a write larger than the buffer is accepted in part, never waited on whole;
//! - a failed send is reported to the next write, flush or shutdown, and to every one
//!   after it; nothing waits on a writer that has failed;
//! - the socket is owned by the threads' shared state and closed only when the last
//!   thread has left it, so a handle is never used after it was closed (or reused);
//! - data read before end-of-file or an error is delivered before it.

mod acceptor;
mod conn;
mod reader;
mod writer;

#[cfg(test)]
mod tests;

use std::io;
use std::net::Shutdown;
use std::task::Waker;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

pub(crate) use acceptor::Acceptor;
pub(crate) use conn::Conn;

/// A connected socket whose calls block.
pub(crate) trait Blocking: Send + Sync + 'static {
    /// Receives into `buf`; 0 at end-of-file.
    fn recv(&self, buf: &mut [u8]) -> io::Result<usize>;
    /// Sends from `buf`, perhaps only part of it.
    fn send(&self, buf: &[u8]) -> io::Result<usize>;
    /// `shutdown`.
    fn shutdown(&self, how: Shutdown) -> io::Result<()>;
    /// Makes a `recv` or `send` blocked in another thread return (with an error that
    /// [`Blocking::is_interruption`] recognises) without closing the socket. It may miss a
    /// call that is only about to block: callers repeat it until the thread has gone.
    fn interrupt(&self);
    /// Whether `err` is what an interrupted call returns.
    fn is_interruption(&self, err: &io::Error) -> bool {
        err.kind() == io::ErrorKind::Interrupted
    }
}

/// A listening socket whose `accept` blocks.
pub(crate) trait BlockingListener: Send + Sync + 'static {
    /// What `accept` gives.
    type Accepted: Send + 'static;
    /// Waits for a connection.
    fn accept(&self) -> io::Result<Self::Accepted>;
    /// As [`Blocking::interrupt`], for a blocked `accept`.
    fn interrupt(&self);
    /// As [`Blocking::is_interruption`].
    fn is_interruption(&self, err: &io::Error) -> bool {
        err.kind() == io::ErrorKind::Interrupted
    }
}

/// Sizes and limits of a connection's machinery.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Config {
    /// Bytes read ahead, and bytes queued for sending, at most (each way).
    pub buffer: usize,
    /// Bytes per `recv` or `send` call, at most.
    pub chunk: usize,
    /// How long a dropped connection may spend sending what was queued before it is
    /// aborted.
    pub linger: Duration,
}

impl Default for Config {
    fn default() -> Config {
        Config { buffer: 256 * 1024, chunk: 64 * 1024, linger: Duration::from_secs(30) }
    }
}

/// How long to keep interrupting a blocked thread that is being stopped.
const STOP_LIMIT: Duration = Duration::from_secs(5);

/// Calls `interrupt`, then waits a little for `stopped`, and again with growing pauses,
/// until `stopped` returns true or `limit` has passed; whether it stopped. `stopped`
/// waits at most the pause it is given for the thread to leave.
pub(crate) fn interrupt_until(
    interrupt: impl Fn(),
    mut stopped: impl FnMut(Duration) -> bool,
    limit: Duration,
) -> bool {
    let start = Instant::now();
    let mut pause = Duration::from_micros(200);
    loop {
        interrupt();
        if stopped(pause) {
            return true;
        }
        if start.elapsed() >= limit {
            return false;
        }
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// Waits on `signal` at most `pause` until `done` holds of the state behind `state`;
/// whether it does.
pub(crate) fn wait_for<T>(
    signal: &std::sync::Condvar,
    state: std::sync::MutexGuard<'_, T>,
    pause: Duration,
    done: impl Fn(&T) -> bool,
) -> bool {
    if done(&state) {
        return true;
    }
    let (state, _) = signal.wait_timeout(state, pause).unwrap_or_else(|poisoned| poisoned.into_inner());
    done(&state)
}

/// Starts a named thread with a small stack: these threads only make system calls.
fn spawn(name: &str, body: impl FnOnce() + Send + 'static) -> io::Result<JoinHandle<()>> {
    thread::Builder::new().name(name.into()).stack_size(256 * 1024).spawn(body)
}

/// The tasks waiting on one side of a connection.
#[derive(Debug, Default)]
struct Wakers(Vec<Waker>);

impl Wakers {
    /// Adds the waker of a task that waits, once.
    fn register(&mut self, waker: &Waker) {
        if !self.0.iter().any(|w| w.will_wake(waker)) {
            self.0.push(waker.clone());
        }
    }

    /// The wakers registered so far, to wake once the lock is released.
    fn take(&mut self) -> Wakers {
        Wakers(std::mem::take(&mut self.0))
    }

    /// Wakes every task.
    fn wake(self) {
        self.0.into_iter().for_each(Waker::wake);
    }
}

/// The state `shared` holds, once its threads are gone and no one else holds it.
fn sole<T>(shared: std::sync::Arc<T>) -> io::Result<T> {
    std::sync::Arc::try_unwrap(shared).map_err(|_| io::Error::other("the socket is still shared"))
}
