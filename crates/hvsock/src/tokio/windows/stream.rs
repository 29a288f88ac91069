//! An async connected hypervisor socket on Windows: a blocking socket driven by a
//! reader thread and a writer thread.

use std::future::poll_fn;
use std::io::{self, IoSlice};
use std::net::Shutdown;
use std::os::windows::io::{AsRawSocket, AsSocket, BorrowedSocket, RawSocket};
use std::task::{Context, Poll};

use tokio::io::ReadBuf;

use crate::tokio::backend::StreamBackend;
use crate::tokio::emulated::{Config, Conn};
use crate::tokio::retry::with_retries;
use crate::{Addr, ConnectOptions, Retry};

/// A connected hypervisor socket for tokio; see [`crate::Stream`] for the transports.
///
/// On Windows the socket stays blocking and two threads of its own do the I/O: a
/// reader thread reads ahead (at most 256 KiB, in calls of at most 64 KiB) and a
/// writer thread sends what writes have queued. So:
///
/// - a write returns once its bytes are *queued* (at most 256 KiB in all: a larger
///   write is accepted in part, as `write` may be); `flush` waits until they are sent;
/// - `AsyncWriteExt::shutdown` sends everything queued, then half-closes
///   (`shutdown(SD_SEND)`): the peer sees end-of-file and can still answer;
/// - a failed send is reported by the next write, flush or shutdown (and every one
///   after it), never by a hang;
/// - data read before end-of-file or an error comes first; reads after end-of-file
///   return 0;
/// - dropping the stream never waits: what was queued is still sent (for at most 30 s),
///   then the connection is shut down both ways and closed once both threads have left
///   it. To be sure the peer got everything, `shutdown().await` first.
#[derive(Debug)]
pub struct Stream {
    io: Conn<crate::Stream>,
    pub(in crate::tokio) local: Addr,
    pub(in crate::tokio) peer: Addr,
}

impl Stream {
    /// Connects to `addr` as [`crate::Stream::connect_with`] does: each attempt is the
    /// blocking connect (bounded by its time limit) on tokio's blocking pool, and the
    /// waits between retries are async. Dropping the future stops the retries; an
    /// attempt under way finishes in the background and its connection is closed.
    pub async fn connect_with(addr: &Addr, options: &ConnectOptions) -> io::Result<Stream> {
        let once = options.clone().retry(Retry::Never);
        let stream = with_retries(options, || {
            let (addr, once) = (addr.clone(), once.clone());
            blocking(move || crate::Stream::connect_with(&addr, &once))
        })
        .await?;
        Self::from_std(stream)
    }

    /// Wraps a blocking stream, starting its two threads. Call it within a tokio
    /// runtime: the runtime times the linger of a dropped stream.
    pub fn from_std(stream: crate::Stream) -> io::Result<Stream> {
        stream.set_nonblocking(false)?;
        let (local, peer) = (stream.local_addr().clone(), stream.peer_addr().clone());
        Ok(Stream { io: Conn::new(stream, Config::default())?, local, peer })
    }

    /// The blocking stream again, once both threads have stopped (a pending read is
    /// cancelled, which loses nothing). Fails, closing the connection, if written bytes
    /// are not sent yet (`flush().await` first) or bytes were read ahead and not read.
    pub fn into_std(self) -> io::Result<crate::Stream> {
        self.io.into_inner()
    }

    /// Shuts down without waiting: for writing, after everything written before has
    /// been sent (later writes fail at once); for reading, at once (what was read ahead
    /// is still read, then end-of-file).
    pub fn shutdown_now(&self, how: Shutdown) -> io::Result<()> {
        self.io.shutdown_now(how)
    }

    /// Waits until something was read ahead, or reading has ended (end-of-file or an
    /// error).
    pub async fn readable(&self) -> io::Result<()> {
        poll_fn(|cx| self.io.poll_read_ready(cx)).await
    }

    /// Waits until a write would queue something, or fail.
    pub async fn writable(&self) -> io::Result<()> {
        poll_fn(|cx| self.io.poll_write_ready(cx)).await
    }

    /// Takes what was read ahead without waiting: `WouldBlock` if nothing is there yet.
    pub fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.try_read(buf)
    }

    /// Queues what fits of `buf` without waiting: `WouldBlock` if the queue is full.
    pub fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        self.io.try_write(buf)
    }
}

impl StreamBackend for Stream {
    fn poll_read_priv(&self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        self.io.poll_read(cx, buf)
    }

    fn poll_write_priv(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.io.poll_write(cx, &[IoSlice::new(buf)])
    }

    fn poll_write_vectored_priv(
        &self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.io.poll_write(cx, bufs)
    }

    fn poll_flush_priv(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io.poll_flush(cx)
    }

    fn poll_shutdown_priv(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io.poll_shutdown(cx)
    }

    fn poll_read_ready_priv(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io.poll_read_ready(cx)
    }

    fn poll_write_ready_priv(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.io.poll_write_ready(cx)
    }

    /// The reader thread cannot watch for a close without reading: never completes.
    async fn closed_priv(&self) -> io::Result<()> {
        std::future::pending().await
    }
}

/// Runs `f`, which blocks, on tokio's blocking pool.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> io::Result<T> + Send + 'static) -> io::Result<T> {
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(io::Error::other("the tokio runtime is shutting down")),
    }
}

#[cfg_attr(docsrs, doc(cfg(windows)))]
impl AsRawSocket for Stream {
    fn as_raw_socket(&self) -> RawSocket {
        self.io.get_ref().as_raw_socket()
    }
}

#[cfg_attr(docsrs, doc(cfg(windows)))]
impl AsSocket for Stream {
    fn as_socket(&self) -> BorrowedSocket<'_> {
        AsSocket::as_socket(self.io.get_ref())
    }
}
