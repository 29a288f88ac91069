//! A listener driven by an accept thread, which accepts one connection ahead.

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::thread::JoinHandle;
use std::time::Duration;

use super::{interrupt_until, spawn, BlockingListener, Wakers, STOP_LIMIT};

/// Connections accepted and not yet taken, at most.
const AHEAD: usize = 1;

/// A listening socket for async use. Cancel-safe: a connection the thread has accepted
/// waits for the next [`Acceptor::poll_accept`], whoever polled before.
///
/// Dropping it never waits: the thread is interrupted (again and again, from a
/// short-lived thread, until it has left `accept`), and the socket is closed once it has
/// gone. A connection accepted and not taken is closed with it.
pub(crate) struct Acceptor<L: BlockingListener> {
    shared: Arc<Shared<L>>,
    thread: Option<JoinHandle<()>>,
}

struct Shared<L: BlockingListener> {
    io: L,
    state: Mutex<State<L::Accepted>>,
    /// The thread waits here for the accepted connection to be taken; whoever stops it
    /// waits here for it to exit.
    signal: Condvar,
}

struct State<T> {
    ready: VecDeque<io::Result<T>>,
    stop: bool,
    exited: bool,
    wakers: Wakers,
}

impl<L: BlockingListener> Acceptor<L> {
    /// Starts the accept thread for `io`, a blocking listening socket.
    pub(crate) fn new(io: L) -> io::Result<Acceptor<L>> {
        let state = State { ready: VecDeque::new(), stop: false, exited: false, wakers: Wakers::default() };
        let shared = Arc::new(Shared { io, state: Mutex::new(state), signal: Condvar::new() });
        let for_thread = Arc::clone(&shared);
        let thread = spawn("hvsock-accept", move || for_thread.run())?;
        Ok(Acceptor { shared, thread: Some(thread) })
    }

    /// The listening socket.
    #[cfg_attr(not(windows), expect(dead_code, reason = "used by the Windows types"))]
    pub(crate) fn get_ref(&self) -> &L {
        &self.shared.io
    }

    /// The next connection (or accept error), or waits for one.
    pub(crate) fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<L::Accepted>> {
        let mut state = self.shared.lock();
        match state.ready.pop_front() {
            Some(accepted) => {
                drop(state);
                self.shared.signal.notify_all();
                Poll::Ready(accepted)
            }
            None => {
                state.wakers.register(cx.waker());
                Poll::Pending
            }
        }
    }

    /// Stops the thread and gives the socket back. Fails, closing the listener, if a
    /// connection was accepted and not taken, or if the thread cannot be interrupted.
    pub(crate) fn into_inner(mut self) -> io::Result<L> {
        let shared = Arc::clone(&self.shared);
        let untaken = || io::Error::other("a connection was accepted and not taken");
        if !shared.lock().ready.is_empty() {
            return Err(untaken());
        }
        shared.stop();
        if !shared.interrupt_until_exited() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the accept thread could not be interrupted",
            ));
        }
        if !shared.lock().ready.is_empty() {
            return Err(untaken());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        drop(self);
        Ok(super::sole(shared)?.io)
    }

    /// See [`super::Conn::watch`].
    #[cfg(test)]
    pub(crate) fn watch(&self) -> std::sync::Weak<dyn std::any::Any + Send + Sync> {
        let weak: std::sync::Weak<Shared<L>> = Arc::downgrade(&self.shared);
        weak
    }
}

impl<L: BlockingListener> Drop for Acceptor<L> {
    fn drop(&mut self) {
        if self.thread.take().is_none() {
            return; // detached by `into_inner`
        }
        self.shared.stop();
        if self.shared.lock().exited {
            return;
        }
        let shared = Arc::clone(&self.shared);
        let interrupter = spawn("hvsock-unaccept", move || {
            if !shared.interrupt_until_exited() {
                tracing::debug!("the accept thread of a closed listener is still blocked");
            }
        });
        if interrupter.is_err() {
            self.shared.io.interrupt();
        }
    }
}

impl<L: BlockingListener + fmt::Debug> fmt::Debug for Acceptor<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acceptor").field("io", &self.shared.io).finish_non_exhaustive()
    }
}

impl<L: BlockingListener> Shared<L> {
    fn lock(&self) -> MutexGuard<'_, State<L::Accepted>> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The accept thread: accepts while fewer than [`AHEAD`] connections wait, until
    /// stopped. An accepted connection is always queued, even when stopping, so that
    /// none is lost unseen.
    fn run(&self) {
        loop {
            let mut state = self.lock();
            while state.ready.len() >= AHEAD && !state.stop {
                state = self.signal.wait(state).unwrap_or_else(|poisoned| poisoned.into_inner());
            }
            if state.stop {
                break;
            }
            drop(state);
            let accepted = self.io.accept();
            if matches!(&accepted, Err(e) if self.io.is_interruption(e)) {
                continue;
            }
            let mut state = self.lock();
            state.ready.push_back(accepted);
            let wakers = state.wakers.take();
            drop(state);
            wakers.wake();
        }
        self.lock().exited = true;
        self.signal.notify_all();
    }

    fn stop(&self) {
        self.lock().stop = true;
        self.signal.notify_all();
    }

    fn interrupt_until_exited(&self) -> bool {
        interrupt_until(|| self.io.interrupt(), |pause| self.wait_exited(pause), STOP_LIMIT)
    }

    fn wait_exited(&self, pause: Duration) -> bool {
        super::wait_for(&self.signal, self.lock(), pause, |state| state.exited)
    }
}
