//! A connection driven by a reader thread and a writer thread.

use std::fmt;
use std::io::{self, IoSlice};
use std::net::Shutdown;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll};
use std::thread::JoinHandle;

use tokio::io::ReadBuf;

use super::reader::{self, ReadSide};
use super::writer::{self, WriteSide};
use super::{interrupt_until, spawn, Blocking, Config, STOP_LIMIT};

/// A connected socket for async use: a reader thread reads ahead, a writer thread sends
/// what the writes queued. All methods take `&self`, so that halves can share it.
///
/// Dropping it never waits. The writer thread still sends what was queued (for at most
/// `config.linger`, timed on the tokio runtime the connection was made in), then shuts
/// the socket down both ways and interrupts the reader; the socket is closed when both
/// threads have left it.
pub(crate) struct Conn<S: Blocking> {
    shared: Arc<Shared<S>>,
    threads: Option<[JoinHandle<()>; 2]>,
    config: Config,
    runtime: Option<tokio::runtime::Handle>,
}

/// What the connection's threads share; the socket lives as long as any of them.
#[derive(Debug)]
struct Shared<S> {
    io: S,
    read: ReadSide,
    write: WriteSide,
}

impl<S: Blocking> Shared<S> {
    /// Shuts the socket down both ways and interrupts whatever is blocked on it.
    fn abort(&self) {
        let _ = self.io.shutdown(Shutdown::Both);
        self.io.interrupt();
    }
}

impl<S: Blocking> Conn<S> {
    /// Starts the two threads for `io`, a blocking socket.
    pub(crate) fn new(io: S, config: Config) -> io::Result<Conn<S>> {
        let shared = Arc::new(Shared { io, read: ReadSide::default(), write: WriteSide::default() });
        let for_reader = Arc::clone(&shared);
        let reader = spawn("hvsock-read", move || reader::run(&for_reader.io, &for_reader.read, config))?;
        let for_writer = Arc::clone(&shared);
        let writer = spawn("hvsock-write", move || {
            writer::run(&for_writer.io, &for_writer.write, &for_writer.read, config)
        });
        let writer = match writer {
            Ok(writer) => writer,
            Err(e) => {
                shared.read.stop();
                interrupt_until(|| shared.abort(), |pause| shared.read.wait_exited(pause), STOP_LIMIT);
                return Err(e);
            }
        };
        let runtime = tokio::runtime::Handle::try_current().ok();
        Ok(Conn { shared, threads: Some([reader, writer]), config, runtime })
    }

    /// The socket.
    #[cfg_attr(not(windows), expect(dead_code, reason = "used by the Windows types"))]
    pub(crate) fn get_ref(&self) -> &S {
        &self.shared.io
    }

    /// See [`ReadSide::poll_read`].
    pub(crate) fn poll_read(&self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        self.shared.read.poll_read(cx, buf)
    }

    /// See [`ReadSide::try_read`].
    pub(crate) fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.shared.read.try_read(buf)
    }

    /// See [`ReadSide::poll_ready`].
    pub(crate) fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.shared.read.poll_ready(cx)
    }

    /// Queues what fits of `bufs` (a partial write when the queue is nearly full), or
    /// waits for room; fails once a send has failed or after the half-close.
    pub(crate) fn poll_write(&self, cx: &mut Context<'_>, bufs: &[IoSlice<'_>]) -> Poll<io::Result<usize>> {
        self.shared.write.poll_write(cx, bufs, self.config.buffer)
    }

    /// As [`Conn::poll_write`] without waiting: `WouldBlock` instead.
    pub(crate) fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        self.shared.write.try_write(buf, self.config.buffer)
    }

    /// Ready once a write would not wait.
    pub(crate) fn poll_write_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.shared.write.poll_ready(cx, self.config.buffer)
    }

    /// Ready once everything written has been sent; the send's error if it failed.
    pub(crate) fn poll_flush(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.shared.write.poll_flush(cx)
    }

    /// Sends everything written, then `shutdown(Write)`; ready when that is done.
    pub(crate) fn poll_shutdown(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.shared.write.poll_shutdown(cx)
    }

    /// Shuts down without waiting: for writing, after what is queued (later writes
    /// fail at once); for reading, at once (what was read ahead is still read, then
    /// end-of-file).
    pub(crate) fn shutdown_now(&self, how: Shutdown) -> io::Result<()> {
        if how != Shutdown::Read {
            self.shared.write.shut();
        }
        if how == Shutdown::Write {
            return Ok(());
        }
        self.shared.read.shut();
        self.shared.io.shutdown(Shutdown::Read)
    }

    /// Stops both threads and gives the socket back, as it is. Fails, closing the
    /// connection, if written bytes are not sent yet, if bytes were read ahead and not
    /// taken (or a read error not reported), or if the reader cannot be interrupted.
    pub(crate) fn into_inner(mut self) -> io::Result<S> {
        let shared = Arc::clone(&self.shared);
        let unsent = shared.write.unsent();
        if unsent > 0 {
            return Err(io::Error::other(format!("{unsent} written bytes are not sent yet: flush first")));
        }
        shared.read.stop();
        if !interrupt_until(|| shared.io.interrupt(), |pause| shared.read.wait_exited(pause), STOP_LIMIT) {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the reader thread could not be interrupted",
            ));
        }
        let unread = shared.read.leftover()?;
        if unread > 0 {
            return Err(io::Error::other(format!("{unread} bytes were read ahead and not taken")));
        }
        shared.write.detach();
        for thread in self.threads.take().into_iter().flatten() {
            let _ = thread.join();
        }
        drop(self);
        Ok(super::sole(shared)?.io)
    }

    /// The threads' shared state, which lives until both threads and the connection are
    /// gone: for tests that check that they are.
    #[cfg(test)]
    pub(crate) fn watch(&self) -> std::sync::Weak<dyn std::any::Any + Send + Sync> {
        let weak: Weak<Shared<S>> = Arc::downgrade(&self.shared);
        weak
    }

    /// Aborts the connection once `config.linger` has passed, if its threads are still
    /// there by then.
    fn limit_linger(&self) {
        let Some(runtime) = &self.runtime else { return };
        let shared: Weak<Shared<S>> = Arc::downgrade(&self.shared);
        let linger = self.config.linger;
        runtime.spawn(async move {
            tokio::time::sleep(linger).await;
            if let Some(shared) = shared.upgrade() {
                tracing::debug!("a closed connection still sends after {linger:?}: aborting it");
                shared.abort();
            }
        });
    }
}

impl<S: Blocking> Drop for Conn<S> {
    fn drop(&mut self) {
        if self.threads.is_none() {
            return; // detached by `into_inner`
        }
        self.shared.read.stop();
        if self.shared.write.close() {
            self.limit_linger();
        }
    }
}

impl<S: Blocking + fmt::Debug> fmt::Debug for Conn<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Conn")
            .field("io", &self.shared.io)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}
